#include <catch2/catch.hpp>

#include <string>

#include "auth/password_hash.hpp"
#include "auth/phc_base64.hpp"

using namespace mtop;
using namespace mtop::auth;

namespace {

// Known answers computed independently with Python's hashlib:
//   salt = b"saltsaltsalt1234", password = b"correct horse"
//   hashlib.scrypt(pw, salt=salt, n=1024, r=8, p=1, dklen=32)
//   hashlib.pbkdf2_hmac("sha256", pw, salt, 1000, 32)
constexpr const char* kScryptVector =
    "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHRzYWx0MTIzNA$sBRFYJxJyR9gnQuMQio24Q6ZTaugiqeT1tSTvyCASoM";
constexpr const char* kPbkdf2Vector =
    "$pbkdf2-sha256$i=1000$c2FsdHNhbHRzYWx0MTIzNA$w7/Z+TtKe2706ziYqntGWEpywycBhHRgtLIN+hknDGQ";

HashParams fast_scrypt() {
  HashParams p;
  p.scheme = HashScheme::scrypt;
  p.scrypt_log2_n = 10;
  return p;
}

HashParams fast_pbkdf2() {
  HashParams p;
  p.scheme = HashScheme::pbkdf2_sha256;
  p.pbkdf2_iterations = 1000;
  return p;
}

}  // namespace

TEST_CASE("PHC base64 round-trips and is strict", "[auth][hash]") {
  const Bytes data = {0x00, 0xff, 0x10, 0x80, 0x7f};
  for (std::size_t n = 0; n <= data.size(); ++n) {
    const ByteView part(data.data(), n);
    const std::string enc = phc_b64_encode(part);
    CHECK(enc.find('=') == std::string::npos);
    const auto dec = phc_b64_decode(enc);
    REQUIRE(dec);
    CHECK(*dec == Bytes(part.begin(), part.end()));
  }
  CHECK(phc_b64_encode(as_bytes("saltsaltsalt1234")) == "c2FsdHNhbHRzYWx0MTIzNA");
  CHECK_FALSE(phc_b64_decode("c2Fs="));     // padding is not PHC
  CHECK_FALSE(phc_b64_decode("c2F-"));      // URL-safe alphabet is not PHC
  CHECK_FALSE(phc_b64_decode("c2Fsd"));     // length 1 mod 4
  CHECK_FALSE(phc_b64_decode("AB"));        // non-zero unused bits ("AA" is canonical)
  CHECK(phc_b64_decode("AA"));
  CHECK_FALSE(phc_b64_decode("c2 F"));
}

TEST_CASE("known-answer vectors verify", "[auth][hash]") {
  auto s = verify_password(kScryptVector, "correct horse");
  REQUIRE(s);
  CHECK(*s);
  auto p = verify_password(kPbkdf2Vector, "correct horse");
  REQUIRE(p);
  CHECK(*p);

  auto s_wrong = verify_password(kScryptVector, "correct horsf");
  REQUIRE(s_wrong);
  CHECK_FALSE(*s_wrong);
  auto p_wrong = verify_password(kPbkdf2Vector, "");
  REQUIRE(p_wrong);
  CHECK_FALSE(*p_wrong);

  // parse + format is the identity on canonical strings.
  auto parsed = parse_phc(kScryptVector);
  REQUIRE(parsed);
  CHECK(parsed->scrypt_log2_n == 10);
  CHECK(parsed->scrypt_r == 8);
  CHECK(parsed->scrypt_p == 1);
  CHECK(parsed->salt.size() == 16);
  CHECK(parsed->hash.size() == 32);
  CHECK(format_phc(*parsed) == kScryptVector);
  auto parsed2 = parse_phc(kPbkdf2Vector);
  REQUIRE(parsed2);
  CHECK(parsed2->scheme == HashScheme::pbkdf2_sha256);
  CHECK(parsed2->pbkdf2_iterations == 1000);
  CHECK(format_phc(*parsed2) == kPbkdf2Vector);
}

TEST_CASE("hash_password then verify_password, both schemes", "[auth][hash]") {
  for (const HashParams& params : {fast_scrypt(), fast_pbkdf2()}) {
    auto h = hash_password("s3cret pässword", params);
    REQUIRE(h);
    const std::string prefix =
        params.scheme == HashScheme::scrypt ? "$scrypt$ln=10,r=8,p=1$" : "$pbkdf2-sha256$i=1000$";
    CHECK(h->rfind(prefix, 0) == 0);
    auto parsed = parse_phc(*h);
    REQUIRE(parsed);
    CHECK(parsed->salt.size() == 16);
    CHECK(parsed->hash.size() == 32);

    auto ok = verify_password(*h, "s3cret pässword");
    REQUIRE(ok);
    CHECK(*ok);
    auto bad = verify_password(*h, "s3cret passwort");
    REQUIRE(bad);
    CHECK_FALSE(*bad);

    // A fresh salt every time: the same password never gives the same string.
    auto h2 = hash_password("s3cret pässword", params);
    REQUIRE(h2);
    CHECK(*h2 != *h);
  }
}

TEST_CASE("hash_password defaults are scrypt ln=15 r=8 p=1", "[auth][hash]") {
  const HashParams d;
  CHECK(d.scheme == HashScheme::scrypt);
  CHECK(d.scrypt_log2_n == 15);
  CHECK(d.scrypt_r == 8);
  CHECK(d.scrypt_p == 1);
  CHECK(d.pbkdf2_iterations == 600'000);
  // One real run at the defaults (scrypt needs 32 MiB here: within OpenSSL's limits).
  auto h = hash_password("pw");
  REQUIRE(h);
  CHECK(h->rfind("$scrypt$ln=15,r=8,p=1$", 0) == 0);
  auto ok = verify_password(*h, "pw");
  REQUIRE(ok);
  CHECK(*ok);
}

TEST_CASE("hash_password refuses parameters outside the bounds", "[auth][hash]") {
  HashParams p = fast_scrypt();
  p.scrypt_log2_n = 21;
  CHECK(hash_password("x", p).error() == Errc::invalid_argument);
  p = fast_scrypt();
  p.scrypt_p = 17;
  CHECK(hash_password("x", p).error() == Errc::invalid_argument);
  p = fast_scrypt();
  p.salt_len = 4;
  CHECK(hash_password("x", p).error() == Errc::invalid_argument);
  p = fast_pbkdf2();
  p.pbkdf2_iterations = 0;
  CHECK(hash_password("x", p).error() == Errc::invalid_argument);
  p = fast_pbkdf2();
  p.pbkdf2_iterations = HashLimits::max_pbkdf2_iterations + 1;
  CHECK(hash_password("x", p).error() == Errc::invalid_argument);
  CHECK(hash_password(std::string(HashLimits::max_password_len + 1, 'a'), fast_pbkdf2())
            .error() == Errc::invalid_argument);
}

TEST_CASE("malformed and hostile hash strings are errors, not false", "[auth][hash]") {
  const std::string salt = "c2FsdHNhbHRzYWx0MTIzNA";
  const std::string hash = "sBRFYJxJyR9gnQuMQio24Q6ZTaugiqeT1tSTvyCASoM";
  struct Case {
    std::string phc;
    std::string why;  // a fragment of the expected reason
  };
  const Case cases[] = {
      {"", "not a PHC string"},
      {"plaintext", "not a PHC string"},
      {"$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$" + hash, "unknown hash scheme"},
      {"$scrypt$ln=10,r=8,p=1$" + salt, "missing fields"},
      {"$scrypt$ln=10,r=8,p=1$" + salt + "$", "hash length"},
      {"$scrypt", "missing fields"},
      {"$scrypt$$$", "ln=..,r=..,p=.."},
      {"$scrypt$ln=10,r=8$" + salt + "$" + hash, "ln=..,r=..,p=.."},
      {"$scrypt$r=8,ln=10,p=1$" + salt + "$" + hash, "ln=..,r=..,p=.."},
      {"$scrypt$ln=10,r=8,p=1,x=1$" + salt + "$" + hash, "ln=..,r=..,p=.."},
      {"$scrypt$ln=010,r=8,p=1$" + salt + "$" + hash, "ln=..,r=..,p=.."},
      {"$scrypt$ln=+10,r=8,p=1$" + salt + "$" + hash, "ln=..,r=..,p=.."},
      {"$scrypt$ln=99999999999,r=8,p=1$" + salt + "$" + hash, "ln=..,r=..,p=.."},
      {"$scrypt$ln=21,r=8,p=1$" + salt + "$" + hash, "ln out of range"},
      {"$scrypt$ln=0,r=8,p=1$" + salt + "$" + hash, "ln out of range"},
      {"$scrypt$ln=10,r=8,p=17$" + salt + "$" + hash, "p out of range"},
      {"$scrypt$ln=10,r=33,p=1$" + salt + "$" + hash, "r out of range"},
      {"$scrypt$ln=20,r=16,p=1$" + salt + "$" + hash, "memory"},
      {"$scrypt$ln=20,r=8,p=16$" + salt + "$" + hash, "work"},
      {"$pbkdf2-sha256$i=5000001$" + salt + "$" + hash, "iterations out of range"},
      {"$pbkdf2-sha256$i=0$" + salt + "$" + hash, "iterations out of range"},
      {"$pbkdf2-sha256$rounds=1000$" + salt + "$" + hash, "i=.."},
      {"$pbkdf2-sha256$i=1000$c2FsdHNh*HRzYWx0MTIzNA$" + hash, "salt is not valid base64"},
      {"$pbkdf2-sha256$i=1000$" + salt + "$" + hash + "=", "hash is not valid base64"},
      {"$pbkdf2-sha256$i=1000$c2FsdA$" + hash, "salt length"},
      {"$pbkdf2-sha256$i=1000$" + salt + "$c2FsdA", "hash length"},
      {"$pbkdf2-sha256$i=1000$" + salt + "$" + hash + "$extra", "too many"},
      {"$pbkdf2-sha256$i=1000$" + salt + "$" + std::string(600, 'A'), "too long"},
  };
  for (const auto& c : cases) {
    INFO(c.phc);
    auto parsed = parse_phc(c.phc);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error() == Errc::invalid_argument);
    CHECK_THAT(std::string(parsed.message()), Catch::Contains(c.why));
    auto v = verify_password(c.phc, "correct horse");
    REQUIRE_FALSE(v);
    CHECK(v.error() == Errc::invalid_argument);
  }
}

TEST_CASE("an over-long password is simply wrong", "[auth][hash]") {
  auto v = verify_password(kPbkdf2Vector, std::string(HashLimits::max_password_len + 1, 'a'));
  REQUIRE(v);
  CHECK_FALSE(*v);
}
