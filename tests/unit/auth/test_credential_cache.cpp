#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include "auth/credential_cache.hpp"

using namespace mtop;
using namespace mtop::auth;

namespace {

constexpr const char* kHashA = "$pbkdf2-sha256$i=1000$c2FsdHNhbHRzYWx0MTIzNA$AAAA";
constexpr const char* kHashB = "$pbkdf2-sha256$i=1000$c2FsdHNhbHRzYWx0MTIzNA$BBBB";

std::unique_ptr<CredentialCache> make(std::size_t max_entries, std::uint64_t ttl_ms) {
  auto c = CredentialCache::create({max_entries, ttl_ms});
  REQUIRE(c);
  return std::move(*c);
}

// HMAC-SHA256 in one shot over the length-prefixed fields, as credential_cache.hpp defines
// the digest: the reference the cache's reused context must match, call after call.
CredentialCache::Digest reference_digest(const CredentialCache::Key& key,
                                         std::initializer_list<std::string_view> fields) {
  std::string in;
  for (std::string_view f : fields) {
    for (int i = 7; i >= 0; --i) in += static_cast<char>((f.size() >> (8 * i)) & 0xff);
    in += f;
  }
  CredentialCache::Digest d{};
  unsigned len = 0;
  REQUIRE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
               reinterpret_cast<const unsigned char*>(in.data()), in.size(), d.data(),
               &len) != nullptr);
  REQUIRE(len == d.size());
  return d;
}

}  // namespace

TEST_CASE("cache: each digest is HMAC-SHA256 of its own fields, however many came before",
          "[auth][cache]") {
  CredentialCache::Key key{};
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i * 7 + 1);
  auto c = CredentialCache::create({10, 1000}, key);
  REQUIRE(c);
  CredentialCache::Digest d{};
  for (int round = 0; round < 3; ++round) {
    REQUIRE((*c)->digest("alice", "pw", kHashA, d));
    CHECK(d == reference_digest(key, {"alice", "pw", kHashA}));
    REQUIRE((*c)->digest("bob", std::string(300, 'x'), kHashB, d));
    CHECK(d == reference_digest(key, {"bob", std::string(300, 'x'), kHashB}));
    REQUIRE((*c)->digest("", "", "", d));
    CHECK(d == reference_digest(key, {"", "", ""}));
  }
}

TEST_CASE("cache: miss, then hit after remember", "[auth][cache]") {
  auto c = make(10, 1000);
  CHECK_FALSE(c->check("alice", "pw", kHashA, 0));
  c->remember("alice", "pw", kHashA, 0);
  CHECK(c->size() == 1);
  CHECK(c->check("alice", "pw", kHashA, 10));
  // Any of the three parts different: a miss.
  CHECK_FALSE(c->check("alice", "pw2", kHashA, 10));
  CHECK_FALSE(c->check("alicf", "pw", kHashA, 10));
  CHECK_FALSE(c->check("alice", "", kHashA, 10));
  // Field boundaries are part of the digest: ("alic", "epw") is not ("alice", "pw").
  CHECK_FALSE(c->check("alic", "epw", kHashA, 10));
}

TEST_CASE("cache: a changed stored hash invalidates the entry", "[auth][cache]") {
  auto c = make(10, 1000);
  c->remember("alice", "pw", kHashA, 0);
  CHECK_FALSE(c->check("alice", "pw", kHashB, 1));
  CHECK(c->check("alice", "pw", kHashA, 1));
}

TEST_CASE("cache: entries expire after the TTL", "[auth][cache]") {
  auto c = make(10, 1000);
  c->remember("alice", "pw", kHashA, 5000);
  CHECK(c->check("alice", "pw", kHashA, 5999));
  CHECK_FALSE(c->check("alice", "pw", kHashA, 6000));
  CHECK(c->size() == 0);  // the expired entry was dropped
  // A hit does not extend the TTL; remembering again does.
  c->remember("alice", "pw", kHashA, 7000);
  CHECK(c->check("alice", "pw", kHashA, 7999));
  c->remember("alice", "pw", kHashA, 7500);
  CHECK(c->size() == 1);
  CHECK(c->check("alice", "pw", kHashA, 8400));
  CHECK_FALSE(c->check("alice", "pw", kHashA, 8500));
}

TEST_CASE("cache: bounded, least recently used evicted", "[auth][cache]") {
  auto c = make(3, 1'000'000);
  c->remember("u1", "pw", kHashA, 0);
  c->remember("u2", "pw", kHashA, 0);
  c->remember("u3", "pw", kHashA, 0);
  CHECK(c->check("u1", "pw", kHashA, 1));  // u1 is now the most recent; u2 the least
  c->remember("u4", "pw", kHashA, 2);
  CHECK(c->size() == 3);
  CHECK_FALSE(c->check("u2", "pw", kHashA, 3));
  CHECK(c->check("u1", "pw", kHashA, 3));
  CHECK(c->check("u3", "pw", kHashA, 3));
  CHECK(c->check("u4", "pw", kHashA, 3));
  for (int i = 0; i < 100; ++i) c->remember("x" + std::to_string(i), "pw", kHashA, 4);
  CHECK(c->size() == 3);
  c->clear();
  CHECK(c->size() == 0);
  CHECK_FALSE(c->check("x99", "pw", kHashA, 5));
}

TEST_CASE("cache: digests depend on the per-cache key", "[auth][cache]") {
  CredentialCache::Key k1{}, k2{};
  k2[0] = 1;
  auto a = CredentialCache::create({10, 1000}, k1);
  auto b = CredentialCache::create({10, 1000}, k2);
  REQUIRE(a);
  REQUIRE(b);
  (*a)->remember("alice", "pw", kHashA, 0);
  CHECK((*a)->check("alice", "pw", kHashA, 0));
  CHECK_FALSE((*b)->check("alice", "pw", kHashA, 0));
  CHECK(CredentialCache::create({0, 1000}).error() == Errc::invalid_argument);
}

TEST_CASE("cache: a huge TTL does not wrap around", "[auth][cache]") {
  auto c = make(10, UINT64_MAX);
  c->remember("alice", "pw", kHashA, 1000);
  CHECK(c->check("alice", "pw", kHashA, UINT64_MAX - 1));
}

TEST_CASE("cache: check and remember by digest match the ones by credentials",
          "[auth][cache]") {
  auto c = make(10, 1000);
  CredentialCache::Digest d{};
  REQUIRE(c->digest("alice", "pw", kHashA, d));
  CHECK_FALSE(c->check(d, 0));
  c->remember(d, 0);
  CHECK(c->check("alice", "pw", kHashA, 10));
  CHECK_FALSE(c->check("alice", "pw2", kHashA, 10));
  c->remember("bob", "pw", kHashA, 0);
  REQUIRE(c->digest("bob", "pw", kHashA, d));
  CHECK(c->check(d, 10));
  CHECK(c->size() == 2);
  // Expiry and refresh behave the same: remember() again moves the deadline.
  c->remember(d, 900);
  CHECK(c->check(d, 1500));
  CHECK_FALSE(c->check(d, 1900));
  CHECK(c->size() == 1);
}
