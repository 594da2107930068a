// Pieces of the admin listener: the "admin" config section (strict keys), redacted DSNs in
// the config view, bearer tokens read from files and compared.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include "admin/bearer_token.hpp"
#include "api/config_view.hpp"
#include "mtop/server.hpp"

using namespace mtop;

namespace {

std::string config_with_admin(const std::string& admin) {
  return R"({"listen": "127.0.0.1:443", "cert": "c.pem", "key": "k.pem",
             "users": {"type": "file", "path": "users.json"}, "admin": )" +
         admin + "}";
}

}  // namespace

TEST_CASE("admin config: parsed, paths resolved, a bare port is loopback", "[admin]") {
  auto c = parse_server_config(config_with_admin(R"({"listen": 9443, "token_file": "admin.token",
                            "metrics_token_file": "/etc/m.token", "per_user_metrics": true})"),
                               "/etc/mtop");
  REQUIRE(c);
  CHECK(c->admin.listen == "127.0.0.1:9443");
  CHECK(c->admin.token_file == "/etc/mtop/admin.token");
  CHECK(c->admin.metrics_token_file == "/etc/m.token");
  CHECK(c->admin.per_user_metrics);
  auto off = parse_server_config(R"({"listen": "127.0.0.1:443", "cert": "c", "key": "k",
                                     "users": {"path": "u"}})",
                                 "/");
  REQUIRE(off);
  CHECK(off->admin.listen.empty());  // off by default
}

TEST_CASE("admin config: unknown keys, a missing token file and bad addresses are refused",
          "[admin]") {
  const auto message = [](const std::string& admin) {
    auto c = parse_server_config(config_with_admin(admin), "/");
    REQUIRE_FALSE(c);
    return std::string(c.message());
  };
  CHECK(message(R"({"listen": 9443, "token_file": "t", "tokn": 1})").find("tokn") !=
        std::string::npos);
  CHECK(message(R"({"listen": 9443})").find("config.admin.token_file") != std::string::npos);
  CHECK(message(R"({"token_file": "t"})").find("config.admin.listen") != std::string::npos);
  CHECK(message(R"({"listen": "nowhere", "token_file": "t"})").find("config.admin.listen") !=
        std::string::npos);
  CHECK(message(R"("127.0.0.1:9443")").find("config.admin") != std::string::npos);
}

TEST_CASE("config view: DSN passwords redacted in every spelling", "[admin]") {
  CHECK(redact_dsn("postgres://mtop:s3cret@db:5432/mtop") == "postgres://mtop:***@db:5432/mtop");
  CHECK(redact_dsn("mysql://mtop:p%40ss@db/mtop?ssl=1") == "mysql://mtop:***@db/mtop?ssl=1");
  CHECK(redact_dsn("postgresql://db/mtop?user=m&password=s3cret&x=1") ==
        "postgresql://db/mtop?user=m&password=***&x=1");
  CHECK(redact_dsn("host=db password=s3cret user=mtop") == "host=db password=*** user=mtop");
  CHECK(redact_dsn("host=db password = 's3 cret' user=mtop") == "host=db password = *** user=mtop");
  CHECK(redact_dsn("host=db user=mtop") == "host=db user=mtop");
  CHECK(redact_dsn("postgres://db/mtop") == "postgres://db/mtop");

  ServerConfig c;
  c.users.type = "postgres";
  c.users.dsn = "postgres://mtop:s3cret@db/mtop";
  c.admin.token_file = "/etc/mtop/admin.token";
  const std::string view = config_view(c).dump();
  CHECK(view.find("s3cret") == std::string::npos);
  CHECK(view.find("/etc/mtop/admin.token") != std::string::npos);
}

TEST_CASE("bearer tokens: read from a file, compared whole", "[admin]") {
  const std::string path = "admin_parts_token.txt";
  { std::ofstream(path) << "  0123456789abcdef-token\n"; }
  auto token = admin::read_token_file(path);
  REQUIRE(token);
  CHECK(*token == "0123456789abcdef-token");
  CHECK(admin::bearer_matches("Bearer 0123456789abcdef-token", *token));
  CHECK(admin::bearer_matches("bearer 0123456789abcdef-token", *token));
  CHECK_FALSE(admin::bearer_matches("Bearer 0123456789abcdef-toke", *token));
  CHECK_FALSE(admin::bearer_matches("Bearer 0123456789abcdef-tokenX", *token));
  CHECK_FALSE(admin::bearer_matches("Basic 0123456789abcdef-token", *token));
  CHECK_FALSE(admin::bearer_matches("", *token));
  { std::ofstream(path) << "short\n"; }
  auto short_token = admin::read_token_file(path);
  REQUIRE_FALSE(short_token);
  CHECK(std::string(short_token.message()).find("16 to 4096") != std::string::npos);
  { std::ofstream(path) << "0123456789 abcdef-token\n"; }
  REQUIRE_FALSE(admin::read_token_file(path));
  std::remove(path.c_str());
  auto missing = admin::read_token_file("/nonexistent/admin.token");
  REQUIRE_FALSE(missing);
  CHECK(std::string(missing.message()).find("/nonexistent/admin.token") != std::string::npos);
}
