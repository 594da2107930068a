#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>
#include <string>

#include "auth/target_policy.hpp"

using namespace mtop::auth;

namespace {

// Builds a sockaddr for `text` and asks the policy, the way ConnectOptions::refuse would.
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
  CHECK(p.hook()(reinterpret_cast<const sockaddr*>(&ss)).empty() == direct);
  CHECK(p.refusal(reinterpret_cast<const sockaddr*>(&ss)).empty() == direct);
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
  const char* ok[] = {"8.8.8.8",        "1.1.1.1",          "2001:4860::8888", "2606:4700::1111",
                      "::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "100.63.255.255",  "100.128.0.0",
                      "172.15.255.255", "172.32.0.0",       "192.167.255.255", "223.255.255.255",
                      "fbff:ffff::1",   "2002:808:808::1"};
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
  CHECK(TargetPolicy::classify(*IpAddress::parse("2002:7f00:1::1")) == "loopback");
  CHECK(TargetPolicy::classify(*IpAddress::parse("8.8.8.8")).empty());
}

TEST_CASE("policy: the allow-list re-allows exactly its CIDRs", "[auth][policy]") {
  TargetPolicy p;
  REQUIRE(p.allow_cidrs({"127.0.0.1/32", "10.0.0.0/8", "::1/128", "fd00:1::/32"}));
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
  REQUIRE(p.allow_cidrs({"192.168.4.0/23", "169.254.169.254"}));
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
    const auto r = p.allow_cidrs({"127.0.0.1/32", c.cidr});
    REQUIRE_FALSE(r);
    CHECK(r.error() == mtop::Errc::invalid_argument);
    const std::string error(r.message());
    CHECK_THAT(error, Catch::Contains(c.why));
    CHECK_THAT(error, Catch::Contains(std::string("\"") + c.cidr + "\""));
    CHECK(p.allowed().empty());  // all or nothing
    CHECK_FALSE(allowed(p, "127.0.0.1"));
  }
  const auto host_bits = IpPrefix::parse("10.0.0.1/8");
  REQUIRE_FALSE(host_bits);
  CHECK_THAT(std::string(host_bits.message()), Catch::Contains("10.0.0.0/8"));
}

TEST_CASE("policy: other address families are denied", "[auth][policy]") {
  const TargetPolicy p;
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  CHECK_FALSE(p.allow(reinterpret_cast<const sockaddr*>(&un)));
  CHECK_FALSE(p.allow(static_cast<const sockaddr*>(nullptr)));
}

// --- the special-purpose table -----------------------------------------------------------

namespace {

// One row per entry of IANA's IPv4 and IPv6 Special-Purpose Address Registries (plus
// multicast, site-local and ::/8), written out independently of the table in
// target_policy.cpp: its first and last address, and the rule expected for both ("" =
// allowed). Where a more specific row sits inside, "last" is picked outside it.
struct IanaRow {
  const char* block;
  const char* first;
  const char* last;
  const char* rule;
};

constexpr IanaRow kIanaRows[] = {
    {"0.0.0.0/8", "0.0.0.1", "0.255.255.255", "this-network"},
    {"0.0.0.0/32", "0.0.0.0", "0.0.0.0", "unspecified"},
    {"10.0.0.0/8", "10.0.0.0", "10.255.255.255", "private"},
    {"100.64.0.0/10", "100.64.0.0", "100.127.255.255", "cgnat"},
    {"127.0.0.0/8", "127.0.0.0", "127.255.255.255", "loopback"},
    {"169.254.0.0/16", "169.254.0.0", "169.254.255.255", "link-local"},
    {"172.16.0.0/12", "172.16.0.0", "172.31.255.255", "private"},
    {"192.0.0.0/24", "192.0.0.11", "192.0.0.255", "ietf-protocol-assignments"},
    {"192.0.0.0/29", "192.0.0.0", "192.0.0.7", "ipv4-service-continuity"},
    {"192.0.0.8/32", "192.0.0.8", "192.0.0.8", "dummy"},
    {"192.0.0.9/32", "192.0.0.9", "192.0.0.9", "pcp-anycast"},
    {"192.0.0.10/32", "192.0.0.10", "192.0.0.10", "turn-anycast"},
    {"192.0.0.170/32, 192.0.0.171/32", "192.0.0.170", "192.0.0.171", "nat64-discovery"},
    {"192.0.2.0/24", "192.0.2.0", "192.0.2.255", "documentation"},
    {"192.31.196.0/24", "192.31.196.0", "192.31.196.255", ""},
    {"192.52.193.0/24", "192.52.193.0", "192.52.193.255", ""},
    {"192.88.99.0/24", "192.88.99.0", "192.88.99.255", "6to4-relay-anycast"},
    {"192.168.0.0/16", "192.168.0.0", "192.168.255.255", "private"},
    {"192.175.48.0/24", "192.175.48.0", "192.175.48.255", ""},
    {"198.18.0.0/15", "198.18.0.0", "198.19.255.255", "benchmarking"},
    {"198.51.100.0/24", "198.51.100.0", "198.51.100.255", "documentation"},
    {"203.0.113.0/24", "203.0.113.0", "203.0.113.255", "documentation"},
    {"224.0.0.0/4", "224.0.0.0", "239.255.255.255", "multicast"},
    {"240.0.0.0/4", "240.0.0.0", "255.255.255.254", "reserved"},
    {"255.255.255.255/32", "255.255.255.255", "255.255.255.255", "broadcast"},
    {"::/8", "0:0:0:1::", "ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "reserved"},
    {"::1/128", "::1", "::1", "loopback"},
    {"::/128", "::", "::", "unspecified"},
    {"64:ff9b:1::/48", "64:ff9b:1::", "64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "nat64-local"},
    {"100::/64", "100::", "100::ffff:ffff:ffff:ffff", "discard"},
    {"100:0:0:1::/64", "100:0:0:1::", "100::1:ffff:ffff:ffff:ffff", "dummy"},
    {"2001::/23", "2001:1::", "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",
     "ietf-protocol-assignments"},
    {"2001:1::1/128", "2001:1::1", "2001:1::1", "pcp-anycast"},
    {"2001:1::2/128", "2001:1::2", "2001:1::2", "turn-anycast"},
    {"2001:1::3/128", "2001:1::3", "2001:1::3", "dns-sd-srp-anycast"},
    {"2001:2::/48", "2001:2::", "2001:2:0:ffff:ffff:ffff:ffff:ffff", "benchmarking"},
    {"2001:3::/32", "2001:3::", "2001:3:ffff:ffff:ffff:ffff:ffff:ffff", ""},
    {"2001:4:112::/48", "2001:4:112::", "2001:4:112:ffff:ffff:ffff:ffff:ffff", ""},
    {"2001:10::/28", "2001:10::", "2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", "orchid"},
    {"2001:20::/28", "2001:20::", "2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", "orchid"},
    {"2001:30::/28", "2001:30::", "2001:3f:ffff:ffff:ffff:ffff:ffff:ffff", "drone-remote-id"},
    {"2001:db8::/32", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "documentation"},
    {"2620:4f:8000::/48", "2620:4f:8000::", "2620:4f:8000:ffff:ffff:ffff:ffff:ffff", ""},
    {"3fff::/20", "3fff::", "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", "documentation"},
    {"5f00::/16", "5f00::", "5f00:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "segment-routing"},
    {"fc00::/7", "fc00::", "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "private"},
    {"fe80::/10", "fe80::", "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "link-local"},
    {"fec0::/10", "fec0::", "feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "site-local"},
    {"ff00::/8", "ff00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "multicast"},
};

std::string_view rule_of(const char* text) {
  const auto a = IpAddress::parse(text);
  REQUIRE(a);
  return TargetPolicy::classify(*a);
}

}  // namespace

TEST_CASE("policy: every IANA special-purpose row gets its rule", "[auth][policy][table]") {
  const TargetPolicy p;
  for (const auto& row : kIanaRows) {
    INFO(row.block);
    CHECK(rule_of(row.first) == row.rule);
    CHECK(rule_of(row.last) == row.rule);
    CHECK(allowed(p, row.first) == std::string_view(row.rule).empty());
    CHECK(allowed(p, row.last) == std::string_view(row.rule).empty());
  }
}

TEST_CASE("policy: the table's rows are well-formed and each decides its own range",
          "[auth][policy][table]") {
  REQUIRE(special_ranges().size() >= 50);
  for (const auto& row : special_ranges()) {
    INFO(row.cidr);
    const auto prefix = IpPrefix::parse(row.cidr);
    REQUIRE(prefix);  // parses, with no host bits set
    CHECK_FALSE(row.name.empty());
    IpAddress last = prefix->base;
    for (unsigned bit = prefix->length; bit < last.bit_length(); ++bit) {
      last.bytes[bit / 8] |= static_cast<std::uint8_t>(0x80u >> (bit % 8));
    }
    // A nested row that holds the last address decides it instead (255.255.255.255 in 240/4).
    bool nested = false;
    for (const auto& other : special_ranges()) {
      const auto o = IpPrefix::parse(other.cidr);
      nested = nested || (o->length > prefix->length && o->contains(last));
    }
    if (nested) continue;
    switch (row.rule) {
      case RangeRule::deny:
        CHECK(TargetPolicy::classify(last) == row.name);
        break;
      case RangeRule::allow:
        CHECK(TargetPolicy::classify(last).empty());
        break;
      case RangeRule::embeds_low32:
      case RangeRule::embeds_6to4:
      case RangeRule::embeds_teredo:
        // All ones decodes to 255.255.255.255 (and 0.0.0.0 for a Teredo client): broadcast.
        CHECK(TargetPolicy::classify(last) == "broadcast");
        break;
    }
  }
}

// --- IPv6 forms that carry an IPv4 address -------------------------------------------------

TEST_CASE("policy: every IPv6 form carrying a private IPv4 address, every spelling, is refused",
          "[auth][policy][embedded]") {
  struct Case {
    const char* text;
    const char* refusal;
  };
  const Case cases[] = {
      // IPv4-mapped
      {"::ffff:127.0.0.1", "loopback (127.0.0.1 in IPv4-mapped)"},
      {"::ffff:7f00:1", "loopback (127.0.0.1 in IPv4-mapped)"},
      {"::FFFF:7F00:0001", "loopback (127.0.0.1 in IPv4-mapped)"},
      {"0:0:0:0:0:ffff:127.0.0.1", "loopback (127.0.0.1 in IPv4-mapped)"},
      {"0000:0000:0000:0000:0000:ffff:7f00:0001", "loopback (127.0.0.1 in IPv4-mapped)"},
      {"::ffff:169.254.169.254", "link-local (169.254.169.254 in IPv4-mapped)"},
      // IPv4-compatible
      {"::127.0.0.1", "loopback (127.0.0.1 in IPv4-compatible)"},
      {"::7f00:1", "loopback (127.0.0.1 in IPv4-compatible)"},
      {"0:0:0:0:0:0:a00:1", "private (10.0.0.1 in IPv4-compatible)"},
      {"::2", "this-network (0.0.0.2 in IPv4-compatible)"},
      // NAT64, well-known prefix (RFC 6052)
      {"64:ff9b::127.0.0.1", "loopback (127.0.0.1 in NAT64)"},
      {"64:ff9b::7f00:1", "loopback (127.0.0.1 in NAT64)"},
      {"64:FF9B:0:0:0:0:7F00:1", "loopback (127.0.0.1 in NAT64)"},
      {"0064:ff9b:0000:0000:0000:0000:c0a8:0101", "private (192.168.1.1 in NAT64)"},
      // NAT64, local-use prefix (RFC 8215): the IPv4 position is the operator's choice
      {"64:ff9b:1::7f00:1", "nat64-local"},
      {"64:ff9b:1:7f00:1::", "nat64-local"},
      {"64:ff9b:1::8.8.8.8", "nat64-local"},
      // 6to4 (RFC 3056): IPv4 in bits 16-47
      {"2002:7f00:1::1", "loopback (127.0.0.1 in 6to4)"},
      {"2002:7f00:0001::", "loopback (127.0.0.1 in 6to4)"},
      {"2002:7F00:1:0:0:0:0:1", "loopback (127.0.0.1 in 6to4)"},
      {"2002:7f00:1::127.0.0.1", "loopback (127.0.0.1 in 6to4)"},
      {"2002:a9fe:a9fe::", "link-local (169.254.169.254 in 6to4)"},
      {"2002:0a00:0001:ffff:ffff:ffff:ffff:ffff", "private (10.0.0.1 in 6to4)"},
      {"2002:c000:204::1", "documentation (192.0.2.4 in 6to4)"},
      {"2002::1", "unspecified (0.0.0.0 in 6to4)"},
      // Teredo (RFC 4380): server IPv4 in bits 32-63, client IPv4 XOR-ed in the last 32 bits
      {"2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback (127.0.0.1 as Teredo client)"},
      {"2001:0000:4136:E378:8000:63BF:5601:5601", "link-local (169.254.169.254 as Teredo client)"},
      {"2001:0:a00:1:8000:63bf:f7f7:f7f7", "private (10.0.0.1 as Teredo server)"},
      {"2001::", "unspecified (0.0.0.0 as Teredo server)"},
  };
  const TargetPolicy p;
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK_FALSE(allowed(p, c.text));
    const auto a = IpAddress::parse(c.text);
    REQUIRE(a);
    CHECK(p.refusal(*a) == c.refusal);
  }
}

TEST_CASE("policy: IPv6 forms carrying a public IPv4 address are allowed",
          "[auth][policy][embedded]") {
  const TargetPolicy p;
  for (const char* a : {"2002:808:808::1", "2002:0808:0808:1234::5", "64:ff9b::8.8.8.8",
                        "::ffff:1.1.1.1", "2001:0:4136:e378:8000:63bf:f7f7:f7f7"}) {
    INFO(a);
    CHECK(allowed(p, a));
  }
}

TEST_CASE("policy: allow-list re-allows embedding forms by inner or outer CIDR",
          "[auth][policy][embedded]") {
  TargetPolicy inner;
  REQUIRE(inner.allow_cidrs({"127.0.0.1/32"}));
  CHECK(allowed(inner, "2002:7f00:1::1"));                        // 6to4 of an allowed IPv4
  CHECK_FALSE(allowed(inner, "2002:7f00:2::1"));                  // 127.0.0.2: still loopback
  CHECK(allowed(inner, "2001:0:4136:e378:8000:63bf:80ff:fffe"));  // Teredo client allowed
  // Both Teredo addresses must pass: a listed client does not excuse a private server.
  CHECK_FALSE(allowed(inner, "2001:0:a00:1:8000:63bf:80ff:fffe"));
  CHECK_FALSE(allowed(inner, "64:ff9b:1::7f00:1"));  // not decoded: the prefix decides

  TargetPolicy outer;
  REQUIRE(outer.allow_cidrs({"2002::/16", "64:ff9b:1::/48", "2001::/32"}));
  CHECK(allowed(outer, "2002:7f00:1::1"));
  CHECK(allowed(outer, "64:ff9b:1::7f00:1"));
  CHECK(allowed(outer, "2001:0:a00:1:8000:63bf:80ff:fffe"));
  CHECK_FALSE(allowed(outer, "127.0.0.1"));
  CHECK_FALSE(allowed(outer, "2001:2::1"));  // benchmarking, outside 2001::/32
}

TEST_CASE("policy: refusal names the rule; empty when allowed", "[auth][policy]") {
  TargetPolicy p;
  REQUIRE(p.allow_cidrs({"10.0.0.0/8"}));
  CHECK(p.refusal(*IpAddress::parse("127.0.0.1")) == "loopback");
  CHECK(p.refusal(*IpAddress::parse("2001:db8::1")) == "documentation");
  CHECK(p.refusal(*IpAddress::parse("10.1.2.3")).empty());
  CHECK(p.refusal(*IpAddress::parse("2002:a01:203::")).empty());  // 10.1.2.3 in 6to4
  CHECK(p.refusal(*IpAddress::parse("8.8.8.8")).empty());
  CHECK(p.refusal(static_cast<const sockaddr*>(nullptr)) == "not an IP address");
}

TEST_CASE("target policy: denied ports, whatever the address", "[auth][policy]") {
  TargetPolicy p;
  CHECK(p.port_refusal(25).empty());  // a bare policy denies no port; the server adds 25
  p.deny_ports({25, 465});
  CHECK(p.port_refusal(25) == "port 25 denied");
  CHECK(p.port_refusal(465) == "port 465 denied");
  CHECK(p.port_refusal(587).empty());
  const auto at = [&](const char* text, std::uint16_t port) {
    sockaddr_storage ss{};
    if (std::strchr(text, ':')) {
      auto* sa = reinterpret_cast<sockaddr_in6*>(&ss);
      sa->sin6_family = AF_INET6;
      sa->sin6_port = htons(port);
      REQUIRE(inet_pton(AF_INET6, text, &sa->sin6_addr) == 1);
    } else {
      auto* sa = reinterpret_cast<sockaddr_in*>(&ss);
      sa->sin_family = AF_INET;
      sa->sin_port = htons(port);
      REQUIRE(inet_pton(AF_INET, text, &sa->sin_addr) == 1);
    }
    return p.hook()(reinterpret_cast<const sockaddr*>(&ss));
  };
  // A public address on a denied port is refused; the port is named before any address rule.
  CHECK(at("198.51.100.1", 25) == "port 25 denied");
  CHECK(at("2001:4860::1", 465) == "port 465 denied");
  CHECK(at("127.0.0.1", 25) == "port 25 denied");
  CHECK(at("8.8.8.8", 443).empty());
  CHECK(at("127.0.0.1", 443) == "loopback");
  // allow_targets does not re-allow a denied port.
  REQUIRE(p.allow_cidrs({"127.0.0.1/32"}));
  CHECK(at("127.0.0.1", 25) == "port 25 denied");
  CHECK(at("127.0.0.1", 443).empty());
  p.deny_ports({});
  CHECK(at("127.0.0.1", 25).empty());
}
