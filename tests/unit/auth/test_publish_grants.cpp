// Reverse-tunnel publish grants: the text every user store keeps (UserRecord::publish) and the
// questions the server asks of it.
#include <catch2/catch.hpp>

#include <string>

#include "auth/publish_grants.hpp"

using namespace mtop::auth;

namespace {

IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  REQUIRE(a);
  return *a;
}

PublishGrants grants(const char* text) {
  auto g = PublishGrants::parse(text);
  INFO(g.message());
  REQUIRE(g);
  return *g;
}

}  // namespace

TEST_CASE("publish grants: empty text grants nothing", "[auth][publish]") {
  for (const char* text : {"", "  ", "\t"}) {
    const auto g = grants(text);
    CHECK(g.empty());
    CHECK_FALSE(g.allows(ip("0.0.0.0"), 8000));
    CHECK(g.candidate_ports(ip("0.0.0.0"), 10).empty());
    CHECK(g.to_string().empty());
  }
}

TEST_CASE("publish grants: ports and ranges on any address", "[auth][publish]") {
  const auto g = grants("8000-8002, 2222");
  REQUIRE(g.grants().size() == 2);
  for (const char* bind : {"0.0.0.0", "::", "192.0.2.1", "2001:db8::1"}) {
    CHECK(g.allows(ip(bind), 8000));
    CHECK(g.allows(ip(bind), 8002));
    CHECK(g.allows(ip(bind), 2222));
    CHECK_FALSE(g.allows(ip(bind), 7999));
    CHECK_FALSE(g.allows(ip(bind), 8003));
    CHECK_FALSE(g.allows(ip(bind), 0));
  }
  CHECK(g.to_string() == "8000-8002,2222");
}

TEST_CASE("publish grants: an address grant matches that bind address only", "[auth][publish]") {
  const auto g = grants("192.0.2.10:443,[2001:db8::1]:8080-8081,*:9000");
  CHECK(g.allows(ip("192.0.2.10"), 443));
  CHECK_FALSE(g.allows(ip("192.0.2.11"), 443));
  CHECK_FALSE(g.allows(ip("0.0.0.0"), 443));
  CHECK(g.allows(ip("2001:db8::1"), 8081));
  CHECK_FALSE(g.allows(ip("::"), 8081));
  CHECK(g.allows(ip("::"), 9000));
  CHECK(g.allows(ip("0.0.0.0"), 9000));
  CHECK(g.to_string() == "192.0.2.10:443,[2001:db8::1]:8080-8081,9000");
  CHECK(grants(g.to_string().c_str()).grants() == g.grants());
}

TEST_CASE("publish grants: port 0 picks from the matching grants, each port once, bounded",
          "[auth][publish]") {
  const auto g = grants("8000-8001,192.0.2.10:7000,8001-8003");
  CHECK(g.candidate_ports(ip("0.0.0.0"), 100) == std::vector<std::uint16_t>{8000, 8001, 8002, 8003});
  CHECK(g.candidate_ports(ip("192.0.2.10"), 100) ==
        std::vector<std::uint16_t>{8000, 8001, 7000, 8002, 8003});
  CHECK(g.candidate_ports(ip("0.0.0.0"), 2) == std::vector<std::uint16_t>{8000, 8001});
  CHECK(grants("1-65535").candidate_ports(ip("::"), 3) == std::vector<std::uint16_t>{1, 2, 3});
}

TEST_CASE("publish grants: bad text is refused with the grant named", "[auth][publish]") {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : {
           Case{"0", "\"0\": ports are"},
           Case{"70000", "\"70000\""},
           Case{"80-70", "first port is above"},
           Case{"8000,", "\"\""},
           Case{"abc", "\"abc\""},
           Case{"1.2.3:80", "not an IPv4"},
           Case{"2001:db8::1:80", "not an IPv4"},
           Case{"[1.2.3.4]:80", "not an IPv6"},
           Case{"[::1]80", "[address]:ports"},
           Case{"[::1", "[address]:ports"},
           Case{"*:", "ports are"},
           Case{"8000-", "ports are"},
           Case{"+80", "ports are"},
       }) {
    INFO(c.text);
    auto g = PublishGrants::parse(c.text);
    REQUIRE_FALSE(g);
    CHECK(g.error() == mtop::Errc::invalid_argument);
    CHECK(std::string(g.message()).find(c.says) != std::string::npos);
  }
  std::string many;
  for (int i = 1; i <= 65; ++i) many += (i > 1 ? "," : "") + std::to_string(i);
  CHECK_FALSE(PublishGrants::parse(many));
  CHECK_FALSE(PublishGrants::parse(std::string(1025, '1')));
}
