#include <catch2/catch.hpp>

#include "mtop/address.hpp"

using mtop::Address;

TEST_CASE("addresses print as hosts and host:port", "[address]") {
  CHECK(Address::from_ipv4({192, 0, 2, 7}, 80).to_string() == "192.0.2.7:80");
  std::array<std::uint8_t, 16> v6{0x20, 0x01, 0x0d, 0xb8};
  v6[15] = 1;
  CHECK(Address::from_ipv6(v6, 443).to_string() == "[2001:db8::1]:443");
  CHECK(Address::from_ipv6({}, 1).host_string() == "::");
  std::array<std::uint8_t, 16> one{};
  one[15] = 1;
  CHECK(Address::from_ipv6(one, 1).host_string() == "::1");
  std::array<std::uint8_t, 16> mid{0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3};
  CHECK(Address::from_ipv6(mid, 1).host_string() == "1:0:0:2::3");
  CHECK(Address::from_domain("example.com", 8080).to_string() == "example.com:8080");
}

TEST_CASE("IPv6 text follows RFC 5952 on ties and single zero groups", "[address]") {
  // Two zero runs of equal length: the first is compressed (RFC 5952 4.2.3).
  const std::array<std::uint8_t, 16> tie{0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4};
  CHECK(Address::from_ipv6(tie, 1).host_string() == "1::2:0:0:3:4");
  // A single zero group is never "::" (RFC 5952 4.2.2).
  const std::array<std::uint8_t, 16> single{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1,
                                            0,    1,    0,    1,    0, 1, 0, 1};
  CHECK(Address::from_ipv6(single, 1).host_string() == "2001:db8:0:1:1:1:1:1");
  // The longer run wins even when it comes second.
  const std::array<std::uint8_t, 16> longer{0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3};
  CHECK(Address::from_ipv6(longer, 1).host_string() == "1:0:0:2::3");
}

TEST_CASE("domain names: exactly the documented set", "[address]") {
  CHECK(mtop::is_valid_domain("example.com"));
  CHECK(mtop::is_valid_domain("example.com."));
  CHECK(mtop::is_valid_domain("_sip._tcp.example-1.org"));
  CHECK(mtop::is_valid_domain("xn--bcher-kva.example"));
  CHECK(mtop::is_valid_domain(std::string(255, 'a')));
  CHECK_FALSE(mtop::is_valid_domain(""));
  CHECK_FALSE(mtop::is_valid_domain(std::string(256, 'a')));
  CHECK_FALSE(mtop::is_valid_domain(".example.com"));
  CHECK_FALSE(mtop::is_valid_domain("a..b"));
  CHECK_FALSE(mtop::is_valid_domain(std::string("a\0b", 3)));
  CHECK_FALSE(mtop::is_valid_domain("a b"));
  CHECK_FALSE(mtop::is_valid_domain("a\nb"));
  CHECK_FALSE(mtop::is_valid_domain("host:80"));
  CHECK_FALSE(mtop::is_valid_domain("user@host"));
  CHECK_FALSE(mtop::is_valid_domain("b\xc3\xbc" "cher.de"));
}

TEST_CASE("domain names: every byte outside the documented set is refused", "[address]") {
  // docs/PROTOCOL.md 2.1: a-z A-Z 0-9 - . _ and nothing else; in particular NUL and control
  // bytes, space, '/', ':', '@', '%' and every byte >= 0x80. Each byte is tried in the
  // middle of a name, at its start and at its end.
  const std::string allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._";
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    const bool ok = allowed.find(c) != std::string::npos;
    CAPTURE(b);
    CHECK(mtop::is_valid_domain(std::string("a") + c + "b") == ok);
    if (c != '.') CHECK(mtop::is_valid_domain(std::string(1, c) + "ab") == ok);
    CHECK(mtop::is_valid_domain(std::string("ab") + c) == ok);
  }
  for (char named : {'/', '%', ' ', ':', '@', '\0', '\t', '\x7f', '\x80', '\xff'}) {
    CAPTURE(int(static_cast<unsigned char>(named)));
    CHECK_FALSE(mtop::is_valid_domain(std::string("exa") + named + "mple.com"));
  }
}
