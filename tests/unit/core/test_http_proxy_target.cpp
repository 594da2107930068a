#include <catch2/catch.hpp>

#include "mtop/http_proxy.hpp"

using mtop::Address;
using mtop::Errc;
using mtop::http::parse_request_target;

namespace {

Errc target_error(std::string_view method, std::string_view target) {
  auto r = parse_request_target(method, target);
  REQUIRE_FALSE(r.ok());
  return r.error();
}

std::array<std::uint8_t, 16> v6(std::initializer_list<std::uint16_t> groups) {
  std::array<std::uint8_t, 16> out{};
  int i = 0;
  for (std::uint16_t g : groups) {
    out[2 * i] = static_cast<std::uint8_t>(g >> 8);
    out[2 * i + 1] = static_cast<std::uint8_t>(g & 0xff);
    ++i;
  }
  return out;
}

}  // namespace

TEST_CASE("CONNECT authority-form: domain, IPv4, IPv6", "[http][target]") {
  auto d = parse_request_target("CONNECT", "example.com:443");
  REQUIRE(d);
  CHECK(d->address == Address::from_domain("example.com", 443));
  CHECK_FALSE(d->absolute);
  CHECK(d->authority.empty());
  CHECK(d->origin_form.empty());

  auto a4 = parse_request_target("CONNECT", "192.0.2.7:8443");
  REQUIRE(a4);
  CHECK(a4->address == Address::from_ipv4({192, 0, 2, 7}, 8443));

  auto a6 = parse_request_target("CONNECT", "[2001:db8::1]:443");
  REQUIRE(a6);
  CHECK(a6->address == Address::from_ipv6(v6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 1}), 443));

  auto mapped = parse_request_target("CONNECT", "[::ffff:192.0.2.1]:65535");
  REQUIRE(mapped);
  CHECK(mapped->address == Address::from_ipv6(v6({0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201}), 65535));

  const std::pair<const char*, std::array<std::uint8_t, 16>> forms[] = {
      {"[::]:1", v6({})},
      {"[::1]:1", v6({0, 0, 0, 0, 0, 0, 0, 1})},
      {"[1::]:1", v6({1})},
      {"[1:2:3:4:5:6:7:8]:1", v6({1, 2, 3, 4, 5, 6, 7, 8})},
      {"[1:2:3:4:5:6::8]:1", v6({1, 2, 3, 4, 5, 6, 0, 8})},
      {"[FE80::aBcD]:1", v6({0xfe80, 0, 0, 0, 0, 0, 0, 0xabcd})},
      {"[1:2:3:4:5:6:1.2.3.4]:1", v6({1, 2, 3, 4, 5, 6, 0x0102, 0x0304})},
  };
  for (const auto& [text, bytes] : forms) {
    CAPTURE(text);
    auto r = parse_request_target("CONNECT", text);
    REQUIRE(r);
    CHECK(r->address == Address::from_ipv6(bytes, 1));
  }
  // Leading zeros in the port are still the same port.
  auto z = parse_request_target("CONNECT", "example.com:00443");
  REQUIRE(z);
  CHECK(z->address.port == 443);
}

TEST_CASE("CONNECT authority-form: every bad target is http_bad_target", "[http][target]") {
  const char* bad[] = {
      "example.com",            // no port
      "example.com:",           // empty port
      "example.com:0",          // port 0
      "example.com:65536",      // port too large
      "example.com:99999999999999999999",
      "example.com:-1",
      "example.com:http",       // named port
      "example.com:443/",       // a path
      "example.com:443?q",      // a query
      "user@example.com:443",   // userinfo
      "::1:443",                // unbracketed IPv6
      "[::1]",                  // IPv6 without port
      "[::1]443",               // no ':' after ']'
      "[::1:443",               // no ']'
      "[1::2::3]:443",          // two "::"
      "[1:2:3:4:5:6:7:8:9]:443",
      "[1:2:3:4:5:6:7]:443",    // seven groups, no "::"
      "[1::2:3:4:5:6:7:8]:443", // "::" standing for no group
      "[12345::]:443",          // group of five digits
      "[:1::]:443",             // single leading ':'
      "[1:]:443",               // single trailing ':'
      "[::1%25eth0]:443",       // zone id
      "[1.2.3.4]:443",          // IPv4 in brackets
      "[::1.2.3]:443",          // short embedded IPv4
      "[1:2:3:4:5:6:7:1.2.3.4]:443",
      "[g::1]:443",
      "127.1:80",               // short IPv4 forms resolvers would accept
      "0x7f.0.0.1:80",
      "0x7f000001:80",
      "2130706433:80",
      "010.0.0.1:80",           // octal-looking part
      "1.2.3.256:80",
      "1.2.3.4.:80",
      "a..b:80",
      ".example.com:80",
      ":80",
      "exa%6dple.com:80",       // percent-encoding
      "exa mple.com:80",
      "b\xc3\xbc" "cher.de:80",  // NOLINT(bugprone-suspicious-missing-comma): split so \xbc stops before 'c'
  };
  for (const char* t : bad) {
    CAPTURE(t);
    CHECK(target_error("CONNECT", t) == Errc::http_bad_target);
  }
  CHECK(target_error("CONNECT", "") == Errc::http_bad_target);
  CHECK(target_error("CONNECT", "http://example.com:80/") == Errc::http_bad_target);
}

TEST_CASE("absolute-form http URIs", "[http][target]") {
  struct Case {
    const char* uri;
    Address address;
    const char* authority;
    const char* origin_form;
  };
  const Case cases[] = {
      {"http://example.com/", Address::from_domain("example.com", 80), "example.com", "/"},
      {"http://example.com", Address::from_domain("example.com", 80), "example.com", "/"},
      {"http://example.com:8080/a/b?x=1&y=2", Address::from_domain("example.com", 8080),
       "example.com:8080", "/a/b?x=1&y=2"},
      {"http://example.com?x=1", Address::from_domain("example.com", 80), "example.com", "/?x=1"},
      {"HTTP://Example.COM/P", Address::from_domain("Example.COM", 80), "Example.COM", "/P"},
      {"http://192.0.2.7/", Address::from_ipv4({192, 0, 2, 7}, 80), "192.0.2.7", "/"},
      {"http://[::1]:8080/a", Address::from_ipv6(v6({0, 0, 0, 0, 0, 0, 0, 1}), 8080), "[::1]:8080",
       "/a"},
      {"http://[::1]/", Address::from_ipv6(v6({0, 0, 0, 0, 0, 0, 0, 1}), 80), "[::1]", "/"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.uri);
    auto r = parse_request_target("GET", c.uri);
    REQUIRE(r);
    CHECK(r->absolute);
    CHECK(r->address == c.address);
    CHECK(r->authority == c.authority);
    CHECK(r->origin_form == c.origin_form);
  }
}

TEST_CASE("absolute-form: schemes we do not proxy and targets that are not absolute",
          "[http][target]") {
  CHECK(target_error("GET", "https://example.com/") == Errc::http_unsupported);
  CHECK(target_error("GET", "HTTPS://example.com/") == Errc::http_unsupported);
  CHECK(target_error("GET", "ftp://example.com/") == Errc::http_unsupported);
  CHECK(target_error("GET", "ws://example.com/") == Errc::http_unsupported);
  const char* bad[] = {
      "/index.html",                 // origin-form: a proxy needs the host
      "*",                           // asterisk-form
      "example.com:80",              // authority-form for a method other than CONNECT
      "://example.com/",             // no scheme
      "1http://example.com/",        // a scheme starts with a letter
      "ht tp://example.com/",
      "http://",                     // no authority
      "http:///path",
      "http://user:pw@example.com/", // userinfo
      "http://example.com/#frag",    // fragment
      "http://example.com:/",        // empty port
      "http://example.com:0/",
      "http://example.com:65536/",
      "http://127.1/",
      "http://[::1/",
      "http://exa_mple..com/",
      "http://example.com/\x7f",
      "http://example.com/\xc3\xa9",
  };
  for (const char* t : bad) {
    CAPTURE(t);
    CHECK(target_error("GET", t) == Errc::http_bad_target);
  }
}
