#include <catch2/catch.hpp>

#include <string>

#include "auth/users_file.hpp"

using namespace mtop::auth;

namespace {

constexpr const char* kHash =
    "$pbkdf2-sha256$i=1000$c2FsdHNhbHRzYWx0MTIzNA$w7/Z+TtKe2706ziYqntGWEpywycBhHRgtLIN+hknDGQ";

std::string user_json(const std::string& fields) {
  return R"({"users": [{"username": "alice", "password": ")" + std::string(kHash) + "\"" + fields +
         "}]}";
}

}  // namespace

TEST_CASE("users file: minimal and full records", "[auth][users]") {
  auto r = parse_users_file(user_json(""));
  REQUIRE(r);
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].username == "alice");
  CHECK((*r)[0].password_hash == kHash);
  CHECK((*r)[0].enabled);
  CHECK_FALSE((*r)[0].expires_at);
  CHECK_FALSE((*r)[0].max_tunnels);
  CHECK_FALSE((*r)[0].quota_bytes);
  CHECK_FALSE((*r)[0].rate_limit);
  CHECK((*r)[0].publish.empty());  // no grants by default

  r = parse_users_file(user_json(R"(, "enabled": false, "expires_at": 1900000000,
      "max_tunnels": 10, "quota_bytes": 18446744073709551615, "rate_limit": 1000000,
      "publish": "8000-8099, [2001:db8::1]:443")"));
  REQUIRE(r);
  const auto& u = (*r)[0];
  CHECK_FALSE(u.enabled);
  CHECK(u.expires_at == 1900000000);
  CHECK(u.max_tunnels == 10u);
  CHECK(u.quota_bytes == 18446744073709551615ull);
  CHECK(u.rate_limit == 1000000u);
  CHECK(u.publish == "8000-8099, [2001:db8::1]:443");  // kept as written

  r = parse_users_file(R"({"users": []})");
  REQUIRE(r);
  CHECK(r->empty());
}

TEST_CASE("users file: errors say where and what", "[auth][users]") {
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"", "line 1, column 1"},
      {"{\"users\": [\n  {\"username\": \"a\",,}\n]}", "line 2, column 20: syntax error"},
      {"[]", "top level: expected an object"},
      {R"({"user": []})", "top level: unknown field \"user\""},
      {R"({})", "\"users\" must be an array"},
      {R"({"users": {}})", "\"users\" must be an array"},
      {R"({"users": [1]})", "users[0]: expected an object"},
      {R"({"users": [{"password": ")" + std::string(kHash) + "\"}]}",
       "users[0]: missing field \"username\""},
      {R"({"users": [{"username": "bob"}]})", "users[0] (\"bob\"): missing field \"password\""},
      {R"({"users": [{"username": "", "password": "x"}]})", "field \"username\": must be 1-255"},
      {R"({"users": [{"username": 7}]})", "field \"username\": expected a string"},
      {R"({"users": [{"username": "bob", "password": "hunter2"}]})",
       "users[0] (\"bob\"): field \"password\": not a PHC string"},
      {R"({"users": [{"username": "bob", "password": "$scrypt$ln=30,r=8,p=1$c2FsdHNhbHRzYWx0MTIzNA$c2FsdHNhbHRzYWx0MTIzNA"}]})",
       "field \"password\": scrypt ln out of range"},
      {user_json(R"(, "enabled": "yes")"), "field \"enabled\": expected true or false"},
      {user_json(R"(, "expires_at": 1.5)"), "field \"expires_at\""},
      {user_json(R"(, "max_tunnels": -1)"), "field \"max_tunnels\""},
      {user_json(R"(, "max_tunnels": 4294967296)"), "field \"max_tunnels\""},
      {user_json(R"(, "quota_bytes": "10GB")"), "field \"quota_bytes\""},
      {user_json(R"(, "rate_limit": -5)"), "field \"rate_limit\""},
      {user_json(R"(, "expire_at": 5)"), "unknown field \"expire_at\""},
      {user_json(R"(, "publish": 8000)"),
       "users[0] (\"alice\"): field \"publish\": expected a string of publish grants"},
      {user_json(R"(, "publish": "8000-70000")"),
       "users[0] (\"alice\"): publish: \"8000-70000\": "},
      {user_json(R"(, "publish": "*:22,")"), "users[0] (\"alice\"): publish: "},
      {R"({"users": [{"username": "a", "password": ")" + std::string(kHash) +
           R"("}, {"username": "a", "password": ")" + std::string(kHash) + "\"}]}",
       "users[1] (\"a\"): duplicate username"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto r = parse_users_file(c.text);
    CHECK_FALSE(r);
    CHECK_THAT(std::string(r.message()), Catch::Contains(c.error));
  }
}

TEST_CASE("users file: error messages do not echo file contents", "[auth][users]") {
  // The syntax error sits right after a hash; nlohmann's "last read" would print it.
  auto r = parse_users_file(R"({"users": [{"username": "a", "password": "$pbkdf2-sha256$i=1$x" x}]})");
  REQUIRE_FALSE(r);
  CHECK_THAT(std::string(r.message()), Catch::Contains("line 1"));
  CHECK_THAT(std::string(r.message()), !Catch::Contains("pbkdf2"));
  // Control characters in names are escaped, so an error stays one log line.
  r = parse_users_file("{\"users\": [{\"username\": \"a\\nb\"}]}");
  REQUIRE_FALSE(r);
  CHECK(r.message().find('\n') == std::string_view::npos);
}

TEST_CASE("users file: oversized input is refused before parsing", "[auth][users]") {
  std::string big(kMaxUsersFileSize + 1, ' ');
  auto r = parse_users_file(big);
  CHECK_FALSE(r);
  CHECK_THAT(std::string(r.message()), Catch::Contains("larger than"));
}
