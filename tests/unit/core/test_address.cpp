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
