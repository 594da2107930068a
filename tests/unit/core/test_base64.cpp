#include <catch2/catch.hpp>

#include "mtop/base64.hpp"

using mtop::as_bytes;
using mtop::base64_decode;
using mtop::base64_encode;

TEST_CASE("base64: RFC 4648 test vectors both ways", "[base64]") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (auto [plain, coded] : vectors) {
    CAPTURE(plain);
    CHECK(base64_encode(as_bytes(plain)) == coded);
    auto d = base64_decode(coded);
    REQUIRE(d);
    CHECK(*d == plain);
  }
  CHECK(base64_encode(as_bytes("user:pass")) == "dXNlcjpwYXNz");
  CHECK(base64_decode("+/+/") == std::string("\xfb\xff\xbf"));
}

TEST_CASE("base64: every byte value round-trips", "[base64]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t len = 0; len <= all.size(); len += 37) {
    const std::string part = all.substr(all.size() - len);
    auto d = base64_decode(base64_encode(as_bytes(part)));
    REQUIRE(d);
    CHECK(*d == part);
  }
}

TEST_CASE("base64: only the canonical spelling decodes", "[base64]") {
  const char* bad[] = {
      "Zg",        // no padding
      "Zg=",       // short padding
      "Zh==",      // stray low bits in the last character
      "Zm9=",      // stray low bits with one '='
      "Zg==Zg==",  // padding in the middle
      "Z===",      // three '='
      "====",      // padding only
      "Zm=v",      // '=' before data
      "Zm9v\n",    // whitespace
      " Zm9v",     // leading space
      "Zm9 v",     // inner space
      "Zm-_",      // URL-safe alphabet
      "Zm9v====",  // a whole quantum of padding
      "Zm9\x80",   // a byte outside ASCII
  };
  for (const char* b : bad) {
    CAPTURE(b);
    CHECK_FALSE(base64_decode(b).has_value());
  }
}
