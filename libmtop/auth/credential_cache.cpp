#include "auth/credential_cache.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cstdint>
#include <cstring>

namespace mtop::auth {

namespace {

// Feeds a field as (64-bit big-endian length, bytes) so that no two different triples
// (e.g. "ab"+"c" and "a"+"bc") produce the same MAC input.
bool update_field(EVP_MAC_CTX* ctx, std::string_view field) {
  std::uint8_t len[8];
  std::uint64_t n = field.size();
  for (int i = 7; i >= 0; --i) {
    len[i] = static_cast<std::uint8_t>(n & 0xff);
    n >>= 8;
  }
  return EVP_MAC_update(ctx, len, sizeof len) == 1 &&
         EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(field.data()),
                        field.size()) == 1;
}

}  // namespace

std::size_t CredentialCache::DigestHash::operator()(const Digest& d) const noexcept {
  // The digest is already uniformly random; its first bytes make a fine hash.
  std::size_t h = 0;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

Result<std::unique_ptr<CredentialCache>> CredentialCache::create(Options options) {
  Key key;
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) return Errc::invalid_state;
  auto r = create(options, key);
  OPENSSL_cleanse(key.data(), key.size());
  return r;
}

Result<std::unique_ptr<CredentialCache>> CredentialCache::create(Options options,
                                                                 const Key& key) {
  if (options.max_entries == 0) return Errc::invalid_argument;
  // Keyed once here: every digest() then only re-initialises this context, which restarts
  // HMAC from the key's precomputed pads (OpenSSL: EVP_MAC_init with a null key). Fetching the
  // MAC, allocating a context and hashing the key on every tunnel was a measurable part of
  // the server's CPU per tunnel (bench/QUIC_NOTES.md, section 5).
  std::unique_ptr<EVP_MAC, MacFree> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) return Errc::invalid_state;
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_new(mac.get()));
  if (!ctx) return Errc::invalid_state;
  char sha256[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, sha256, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1) return Errc::invalid_state;
  return std::unique_ptr<CredentialCache>(new CredentialCache(options, std::move(ctx)));
}

CredentialCache::CredentialCache(Options options, std::unique_ptr<EVP_MAC_CTX, MacCtxFree> mac)
    : options_(options), mac_(std::move(mac)) {}

CredentialCache::~CredentialCache() = default;  // EVP_MAC_CTX_free cleanses the key

bool CredentialCache::digest(std::string_view username, std::string_view password,
                             std::string_view phc, Digest& out) {
  EVP_MAC_CTX* ctx = mac_.get();
  if (EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1) return false;  // same key, fresh state
  if (!update_field(ctx, username) || !update_field(ctx, password) || !update_field(ctx, phc)) {
    return false;
  }
  std::size_t len = 0;
  return EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == out.size();
}

bool CredentialCache::check(std::string_view username, std::string_view password,
                            std::string_view phc, std::uint64_t now_ms) {
  Digest d;
  if (!digest(username, password, phc, d)) return false;  // fail closed: verify the slow way
  return check(d, now_ms);
}

bool CredentialCache::check(const Digest& d, std::uint64_t now_ms) {
  const auto it = index_.find(d);
  if (it == index_.end()) return false;
  if (now_ms >= it->second->expires_at) {
    lru_.erase(it->second);
    index_.erase(it);
    return false;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  return true;
}

void CredentialCache::remember(std::string_view username, std::string_view password,
                               std::string_view phc, std::uint64_t now_ms) {
  Digest d;
  if (!digest(username, password, phc, d)) return;  // not cached: the next check verifies again
  remember(d, now_ms);
}

void CredentialCache::remember(const Digest& d, std::uint64_t now_ms) {
  // Saturating: a huge TTL means "until evicted", not a wrap-around into the past.
  const std::uint64_t expires =
      options_.ttl_ms > UINT64_MAX - now_ms ? UINT64_MAX : now_ms + options_.ttl_ms;
  if (const auto it = index_.find(d); it != index_.end()) {
    it->second->expires_at = expires;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  if (lru_.size() >= options_.max_entries) {
    index_.erase(lru_.back().digest);
    lru_.pop_back();
  }
  lru_.push_front(Entry{d, expires});
  index_.emplace(d, lru_.begin());
}

void CredentialCache::clear() {
  index_.clear();
  lru_.clear();
}

}  // namespace mtop::auth
