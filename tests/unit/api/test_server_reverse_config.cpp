// mtop-server's "reverse" section (docs/CONFIG.md): keep-alive, grace, pool, visitor rules.
#include <catch2/catch.hpp>

#include <string>

#include "mtop/server.hpp"

using mtop::parse_server_config;

namespace {

mtop::Result<mtop::ServerConfig> with_reverse(const std::string& reverse) {
  return parse_server_config(R"({"listen": "127.0.0.1:443", "cert": "c", "key": "k",
      "users": {"path": "u.json"}, "reverse": )" +
                                 reverse + "}",
                             "/");
}

}  // namespace

TEST_CASE("server config: reverse defaults and values", "[config][reverse]") {
  auto none = parse_server_config(R"({"listen": "127.0.0.1:443", "cert": "c", "key": "k",
      "users": {"path": "u.json"}})",
                                  "/");
  REQUIRE(none);
  CHECK(none->engine.reverse == mtop::ReverseOptions{});
  CHECK(none->engine.reverse.keepalive_s == 15);
  CHECK(none->engine.reverse.grace_ms == 30'000);
  CHECK(none->engine.reverse.pool == 2);

  auto c = with_reverse(R"({"keepalive": 5, "grace": 0, "pool": 4, "max_visitors": 10,
      "visitors": [{"ports": "8000-8099", "allow": ["10.0.0.0/8"], "deny": ["10.1.0.0/16"],
                    "max_visitors": 3}, {"ports": 2222}]})");
  REQUIRE(c);
  const auto& r = c->engine.reverse;
  CHECK((r.keepalive_s == 5 && r.grace_ms == 0 && r.pool == 4 && r.max_visitors == 10));
  REQUIRE(r.visitors.size() == 2);
  CHECK((r.visitors[0].first_port == 8000 && r.visitors[0].last_port == 8099));
  CHECK(r.visitors[0].allow == std::vector<std::string>{"10.0.0.0/8"});
  CHECK(r.visitors[0].deny == std::vector<std::string>{"10.1.0.0/16"});
  CHECK(r.visitors[0].max_visitors == 3);
  CHECK((r.visitors[1].first_port == 2222 && r.visitors[1].last_port == 2222));
  CHECK(r.visitors[1].max_visitors == 0);
}

TEST_CASE("server config: reverse errors name the key", "[config][reverse]") {
  const std::pair<const char*, const char*> cases[] = {
      {R"([])", "config.reverse"},
      {R"({"keepalive": 0})", "config.reverse.keepalive"},
      {R"({"keepalive": 3601})", "config.reverse.keepalive"},
      {R"({"pool": 65})", "config.reverse.pool"},
      {R"({"typo": 1})", "config.reverse"},
      {R"({"visitors": [{"ports": "9-8"}]})", "config.reverse.visitors[0].ports"},
      {R"({"visitors": [{"ports": "*:80"}]})", "config.reverse.visitors[0].ports"},
      {R"({"visitors": [{"allow": ["10.0.0.1/8"]}]})", "config.reverse.visitors[0].allow"},
      {R"({"visitors": [{"deny": ["nope"]}]})", "config.reverse.visitors[0].deny"},
  };
  for (const auto& [text, key] : cases) {
    INFO(text);
    auto c = with_reverse(text);
    REQUIRE_FALSE(c);
    CHECK(std::string(c.message()).find(key) != std::string::npos);
  }
}
