// parse_host_port, the one host:port parser (include/mtop/host_port.hpp): every form it
// accepts and every rule it enforces, with the options each caller uses. Where the three
// parsers it replaced disagreed, the case says which old rule was kept.
#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "mtop/host_port.hpp"

using mtop::Errc;
using mtop::HostPort;
using mtop::HostPortOptions;
using mtop::parse_host_port;

namespace {

// The value, or nullopt: lets a CHECK compare a parse with what it should give.
std::optional<HostPort> parsed(std::string_view text, const HostPortOptions& options = {}) {
  auto r = parse_host_port(text, options);
  if (!r) return std::nullopt;
  return *r;
}

std::optional<std::uint16_t> port_of(std::string_view text, bool zero_ok = false) {
  auto r = mtop::parse_port(text, zero_ok);
  if (!r) return std::nullopt;
  return *r;
}

HostPortOptions with_default(std::uint16_t port) {
  HostPortOptions o;
  o.default_port = port;
  return o;
}

HostPortOptions without_zone() {
  HostPortOptions o;
  o.zone = false;
  return o;
}

}  // namespace

TEST_CASE("host:port: accepted forms", "[host_port]") {
  struct Case {
    const char* text;
    HostPort want;
  };
  for (const Case& c : {
           Case{"example.com:443", {"example.com", 443}},
           Case{"example.com.:1", {"example.com.", 1}},
           Case{"_svc.example-1.org:65535", {"_svc.example-1.org", 65535}},
           Case{"127.0.0.1:1", {"127.0.0.1", 1}}, Case{"[::1]:65535", {"::1", 65535}},
           Case{"[2001:db8::1]:8080", {"2001:db8::1", 8080}},
           Case{"[::ffff:192.0.2.1]:80", {"::ffff:192.0.2.1", 80}},
           Case{"[fe80::1%eth0]:80", {"fe80::1%eth0", 80}},
           Case{"[fe80::1%2]:80", {"fe80::1%2", 80}},
           Case{"h:0080", {"h", 80}},  // leading zeros, as every URI parser reads them
       }) {
    INFO(c.text);
    auto r = parse_host_port(c.text);
    REQUIRE(r);
    CHECK(*r == c.want);
  }
}

TEST_CASE("host:port: refused forms, each with the rule it breaks", "[host_port]") {
  struct Case {
    std::string text;
    const char* why;
  };
  for (const Case& c : {
           Case{"", "empty host"},
           Case{":80", "empty host"},
           Case{"example.com", "missing :port"},
           Case{"example.com:", "port must be 1-65535"},
           Case{"host:0", "port must be 1-65535"},
           Case{"host:65536", "port must be 1-65535"},
           Case{"host:123456", "port must be 1-65535"},
           Case{"host:99999999999999999999", "port must be 1-65535"},
           Case{"host:+80", "port must be 1-65535"},
           Case{"host:-1", "port must be 1-65535"},
           Case{"host:80x", "port must be 1-65535"},  // trailing garbage
           Case{"host:80 ", "port must be 1-65535"},
           Case{"host:8 0", "port must be 1-65535"},
           Case{"::1:80", "brackets"},  // which ':' starts the port would be a guess
           Case{"2001:db8::1", "brackets"},
           Case{"[::1]", "missing :port"},
           Case{"[::1]80", "after ']'"},
           Case{"[::1]:", "port must be 1-65535"},
           Case{"[::1]:80x", "port must be 1-65535"},
           Case{"[::1]:80]", "port must be 1-65535"},
           Case{"[::1", "']'"},
           Case{"[]:80", "only an IPv6 address"},
           Case{"[example.com]:80", "only an IPv6 address"},
           Case{"[1.2.3.4]:80", "only an IPv6 address"},
           Case{"[::zz]:80", "only an IPv6 address"},
           Case{"[1:2:3:4:5:6:7:8:9]:80", "only an IPv6 address"},
           Case{"[::1%]:80", "zone"},
           Case{"[::1%a b]:80", "zone"},
           Case{"[::1%" + std::string(65, 'e') + "]:80", "zone"},
           Case{"a b:80", "neither an IP address nor a valid name"},
           Case{"a\tb:80", "neither an IP address nor a valid name"},
           Case{"a/b:80", "neither an IP address nor a valid name"},
           Case{"a]:80", "neither an IP address nor a valid name"},
           Case{"a%b:80", "neither an IP address nor a valid name"},
           Case{"u@h:80", "neither an IP address nor a valid name"},
           Case{"b\xc3\xbc"
                "cher.de:80",
                "neither an IP address nor a valid name"},
           Case{"..:80", "neither an IP address nor a valid name"},
           Case{std::string(256, 'a') + ":80", "neither an IP address nor a valid name"},
           Case{std::string("a\0b:80", 6), "neither an IP address nor a valid name"},
       }) {
    INFO(c.text);
    auto r = parse_host_port(c.text);
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::invalid_argument);
    CHECK(std::string(r.message()).find(c.why) != std::string::npos);
  }
}

TEST_CASE("host:port: a default port makes the port optional, never empty", "[host_port]") {
  CHECK(parsed("example.com", with_default(443)) == HostPort{"example.com", 443});
  CHECK(parsed("[::1]", with_default(443)) == HostPort{"::1", 443});
  CHECK(parsed("example.com:8443", with_default(443)) == HostPort{"example.com", 8443});
  CHECK(parsed("[::1]:1", with_default(443)) == HostPort{"::1", 1});
  // "host:" is a typo, not "the default": the mysql:// parser used to take it.
  CHECK_FALSE(parse_host_port("example.com:", with_default(443)));
  CHECK_FALSE(parse_host_port("[::1]:", with_default(443)));
  CHECK_FALSE(parse_host_port("example.com:0", with_default(443)));
  CHECK_FALSE(parse_host_port("", with_default(443)));
}

TEST_CASE("host:port: port 0 only for listen addresses", "[host_port]") {
  CHECK(parsed("127.0.0.1:0", mtop::kListenAddress) == HostPort{"127.0.0.1", 0});
  CHECK(parsed("[::]:0", mtop::kListenAddress) == HostPort{"::", 0});
  CHECK(parsed("0.0.0.0:65535", mtop::kListenAddress) == HostPort{"0.0.0.0", 65535});
  auto r = parse_host_port("127.0.0.1:65536", mtop::kListenAddress);
  REQUIRE_FALSE(r);
  CHECK(r.message() == "port must be 0-65535");
  CHECK_FALSE(parse_host_port("127.0.0.1", mtop::kListenAddress));
  CHECK_FALSE(parse_host_port("127.0.0.1:0"));
}

TEST_CASE("host:port: zones can be refused (HTTP request targets)", "[host_port]") {
  CHECK(parsed("[fe80::1]:80", without_zone()) == HostPort{"fe80::1", 80});
  auto r = parse_host_port("[fe80::1%eth0]:80", without_zone());
  REQUIRE_FALSE(r);
  CHECK(r.message() == "no IPv6 zone allowed here");
}

TEST_CASE("host:port: to_string reads back", "[host_port]") {
  for (const HostPort& hp : {HostPort{"example.com", 443}, HostPort{"192.0.2.1", 1},
                             HostPort{"2001:db8::1", 65535}, HostPort{"fe80::1%eth0", 80}}) {
    INFO(hp.to_string());
    CHECK(parsed(hp.to_string()) == hp);
  }
  CHECK(HostPort{"::1", 80}.to_string() == "[::1]:80");
  CHECK(HostPort{"127.0.0.1", 0}.to_string() == "127.0.0.1:0");
}

TEST_CASE("ports alone", "[host_port]") {
  CHECK(port_of("1") == std::uint16_t{1});
  CHECK(port_of("65535") == std::uint16_t{65535});
  CHECK(port_of("0", true) == std::uint16_t{0});
  for (const char* bad : {"", "0", "65536", "-1", "+1", "1x", " 1", "0x10"}) {
    INFO(bad);
    CHECK_FALSE(port_of(bad));
  }
}

TEST_CASE("IP literals", "[host_port]") {
  using A4 = std::array<std::uint8_t, 4>;
  CHECK(mtop::parse_ipv4("192.0.2.255") == A4{192, 0, 2, 255});
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "01.2.3.4", "256.1.1.1", "1.2.3.4 ", "1..2.3",
                          "a.b.c.d", "1.2.3.4:80"}) {
    INFO(bad);
    CHECK_FALSE(mtop::parse_ipv4(bad));
  }
  std::array<std::uint8_t, 16> one{};
  one[15] = 1;
  CHECK(mtop::parse_ipv6("::1") == one);
  CHECK(mtop::parse_ipv6("0:0:0:0:0:0:0:1") == one);
  std::array<std::uint8_t, 16> mapped{};
  mapped[10] = mapped[11] = 0xff;
  mapped[12] = 192;
  mapped[15] = 1;
  CHECK(mtop::parse_ipv6("::ffff:192.0.0.1") == mapped);
  for (const char* bad : {"", ":", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::",
                          "12345::", "::1%eth0", "[::1]", "1:2:3:4:5:6:7", "::1:", ":1::"}) {
    INFO(bad);
    CHECK_FALSE(mtop::parse_ipv6(bad));
  }
}
