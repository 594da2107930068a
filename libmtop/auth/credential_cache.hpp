// CredentialCache: remembers recently verified credentials so that only the first tunnel of
// a user pays for the slow password hash.
//
// Theory of operation: an entry is the HMAC-SHA256, under a random per-cache key, of
// (username, password, stored PHC string), each length-prefixed. The password itself is
// never stored, and the digest is useless outside this process. Because the stored hash is
// part of the digest, changing a user's password in the store makes old entries miss by
// themselves; they then age out. Entries live `ttl_ms` from when they were remembered; the
// cache holds at most `max_entries`, evicting the least recently used. Time comes in as an
// argument (milliseconds on any monotonic clock, e.g. uv_now()); there is no clock inside.
// Not thread-safe.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "mtop/result.hpp"

namespace mtop::auth {

class CredentialCache {
 public:
  struct Options {
    std::size_t max_entries = 10'000;   ///< >= 1
    std::uint64_t ttl_ms = 5 * 60'000;  ///< how long a verified credential is trusted
  };
  using Key = std::array<std::uint8_t, 32>;

  /// Creates a cache with a fresh random HMAC key. Errors: invalid_argument (max_entries 0),
  /// invalid_state (no randomness or no HMAC in OpenSSL).
  static Result<std::unique_ptr<CredentialCache>> create(Options options);
  /// The same with a given key (tests).
  static Result<std::unique_ptr<CredentialCache>> create(Options options, const Key& key);

  ~CredentialCache();
  CredentialCache(const CredentialCache&) = delete;
  CredentialCache& operator=(const CredentialCache&) = delete;

  /// True if (username, password, phc) was remembered less than ttl_ms before `now_ms`.
  /// A hit makes the entry the most recently used; an expired entry is dropped.
  bool check(std::string_view username, std::string_view password, std::string_view phc,
             std::uint64_t now_ms);

  /// Records that `password` verified against `phc` for `username` at `now_ms`. Call it only
  /// after verify_password() said true.
  void remember(std::string_view username, std::string_view password, std::string_view phc,
                std::uint64_t now_ms);

  /// Drops every entry (e.g. after the store was reloaded and you want to be strict).
  void clear();

  std::size_t size() const { return lru_.size(); }

  /// The keyed digest of (username, password, phc) that entries are stored under: equal
  /// credentials give equal digests, and the digest reveals nothing outside this process.
  /// The server uses it to run one verification for many identical attempts at once.
  /// Not const: it reuses the cache's one HMAC context (one thread at a time, like the rest).
  using Digest = std::array<std::uint8_t, 32>;
  bool digest(std::string_view username, std::string_view password, std::string_view phc,
              Digest& out);
  /// check() and remember() for a digest the caller already has: a caller that needs the
  /// digest anyway (the server keys its shared verifications by it) computes it once.
  bool check(const Digest& d, std::uint64_t now_ms);
  void remember(const Digest& d, std::uint64_t now_ms);

 private:
  struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept;
  };
  struct Entry {
    Digest digest;
    std::uint64_t expires_at;
  };
  struct MacFree {
    void operator()(EVP_MAC* m) const noexcept { EVP_MAC_free(m); }
  };
  struct MacCtxFree {
    void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
  };

  CredentialCache(Options options, std::unique_ptr<EVP_MAC_CTX, MacCtxFree> mac);

  Options options_;
  // HMAC-SHA256 keyed at creation; digest() re-initialises it for each triple (one thread).
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> mac_;
  std::list<Entry> lru_;  ///< front = most recently used
  std::unordered_map<Digest, std::list<Entry>::iterator, DigestHash> index_;
};

}  // namespace mtop::auth
