#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>
#include <string>

#include "auth/target_policy.hpp"

using namespace mtop::auth;

namespace {

// Builds a sockaddr for `text` and asks the policy, the way ConnectOptions::allow would.
bool allowed(const TargetPolicy& p, const char* text) {
  sockaddr_storage ss{};
  if (std::strchr(text, ':')) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&ss);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(443);
    REQUIRE(inet_pton(AF_INET6, text, &sa->sin6_addr) == 1);
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&ss);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(443);
    REQUIRE(inet_pton(AF_INET, text, &sa->sin_addr) == 1);
  }
  const bool direct = p.allow(reinterpret_cast<const sockaddr*>(&ss));
  CHECK(p.hook()(reinterpret_cast<const sockaddr*>(&ss)) == direct);
  return direct;
}

}  // namespace

TEST_CASE("policy: every default-denied range is denied", "[auth][policy]") {
  const TargetPolicy p;
  const char* denied[] = {
      // loopback, unspecified
      "127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3", "::1", "::",
      // private
      "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.0.1",
      "192.168.255.255", "fc00::1", "fdff:ffff::1",
      // CGNAT, link-local
      "100.64.0.1", "100.127.255.255", "169.254.169.254", "fe80::1", "febf::1",
      // multicast, reserved, broadcast
      "224.0.0.1", "239.255.255.255", "ff02::1", "ff0e::1", "240.0.0.1", "255.255.255.255",
      // other special-purpose blocks
      "192.0.0.8", "198.18.0.1", "198.19.255.255", "100::1", "fec0::1", "64:ff9b:1::1",
      // IPv4-mapped and -compatible, judged by the inner IPv4 address
      "::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:169.254.169.254", "::ffff:0.0.0.0",
      "::127.0.0.1", "::192.168.1.1",
      // NAT64 well-known prefix
      "64:ff9b::7f00:1", "64:ff9b::10.0.0.1", "64:ff9b::a9fe:a9fe",
  };
  for (const char* a : denied) {
    INFO(a);
    CHECK_FALSE(allowed(p, a));
  }
}

TEST_CASE("policy: public addresses are allowed", "[auth][policy]") {
  const TargetPolicy p;
  const char* ok[] = {"8.8.8.8",        "1.1.1.1",          "2001:4860::8888",
                      "2606:4700::1111", "::ffff:8.8.8.8",  "64:ff9b::8.8.8.8",
                      "100.63.255.255",  "100.128.0.0",     "172.15.255.255",
                      "172.32.0.0",      "192.167.255.255", "223.255.255.255",
                      "fbff:ffff::1",    "2001:db8::1"};
  for (const char* a : ok) {
    INFO(a);
    CHECK(allowed(p, a));
  }
}

TEST_CASE("policy: classify names the reason", "[auth][policy]") {
  CHECK(TargetPolicy::classify(*IpAddress::parse("127.0.0.1")) == "loopback");
  CHECK(TargetPolicy::classify(*IpAddress::parse("::ffff:127.0.0.1")) == "loopback");
  CHECK(TargetPolicy::classify(*IpAddress::parse("64:ff9b::a00:1")) == "private");
  CHECK(TargetPolicy::classify(*IpAddress::parse("100.64.1.1")) == "cgnat");
  CHECK(TargetPolicy::classify(*IpAddress::parse("ff02::1")) == "multicast");
  CHECK(TargetPolicy::classify(*IpAddress::parse("::")) == "unspecified");
  CHECK(TargetPolicy::classify(*IpAddress::parse("8.8.8.8")).empty());
}

TEST_CASE("policy: the allow-list re-allows exactly its CIDRs", "[auth][policy]") {
  TargetPolicy p;
  std::string error;
  REQUIRE(p.allow_cidrs({"127.0.0.1/32", "10.0.0.0/8", "::1/128", "fd00:1::/32"}, error));
  CHECK(allowed(p, "127.0.0.1"));
  CHECK_FALSE(allowed(p, "127.0.0.2"));
  CHECK(allowed(p, "::ffff:127.0.0.1"));   // the same IPv4 address, mapped
  CHECK(allowed(p, "64:ff9b::7f00:1"));    // and through NAT64
  CHECK(allowed(p, "10.0.0.0"));
  CHECK(allowed(p, "10.255.255.255"));
  CHECK_FALSE(allowed(p, "172.16.0.1"));
  CHECK(allowed(p, "::1"));
  CHECK_FALSE(allowed(p, "::"));
  CHECK(allowed(p, "fd00:1:ffff::1"));
  CHECK_FALSE(allowed(p, "fd00:2::1"));
  CHECK(allowed(p, "8.8.8.8"));
}

TEST_CASE("policy: odd prefix lengths", "[auth][policy]") {
  TargetPolicy p;
  std::string error;
  REQUIRE(p.allow_cidrs({"192.168.4.0/23", "169.254.169.254"}, error));
  CHECK(allowed(p, "192.168.4.1"));
  CHECK(allowed(p, "192.168.5.255"));
  CHECK_FALSE(allowed(p, "192.168.6.0"));
  CHECK_FALSE(allowed(p, "192.168.3.255"));
  CHECK(allowed(p, "169.254.169.254"));
  CHECK_FALSE(allowed(p, "169.254.169.253"));
}

TEST_CASE("policy: malformed CIDRs are rejected with a clear error", "[auth][policy]") {
  struct Case {
    const char* cidr;
    const char* why;
  };
  const Case cases[] = {
      {"", "not an IP address"},
      {"10.0.0.0/33", "bad prefix length"},
      {"::1/129", "bad prefix length"},
      {"10.0.0.0/", "bad prefix length"},
      {"10.0.0.0/-1", "bad prefix length"},
      {"10.0.0.0/8x", "bad prefix length"},
      {"10.0.0/8", "not an IP address"},
      {"localhost/8", "not an IP address"},
      {"10.0.0.1/8", "host bits set"},
      {"fe80::1%eth0/64", "not an IP address"},
      {"[::1]/128", "not an IP address"},
  };
  for (const auto& c : cases) {
    INFO(c.cidr);
    TargetPolicy p;
    std::string error;
    CHECK_FALSE(p.allow_cidrs({"127.0.0.1/32", c.cidr}, error));
    CHECK_THAT(error, Catch::Contains(c.why));
    CHECK_THAT(error, Catch::Contains(std::string("\"") + c.cidr + "\""));
    CHECK(p.allowed().empty());  // all or nothing
    CHECK_FALSE(allowed(p, "127.0.0.1"));
  }
  std::string why;
  CHECK_FALSE(IpPrefix::parse("10.0.0.1/8", &why));
  CHECK_THAT(why, Catch::Contains("10.0.0.0/8"));
}

TEST_CASE("policy: other address families are denied", "[auth][policy]") {
  const TargetPolicy p;
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  CHECK_FALSE(p.allow(reinterpret_cast<const sockaddr*>(&un)));
  CHECK_FALSE(p.allow(static_cast<const sockaddr*>(nullptr)));
}
