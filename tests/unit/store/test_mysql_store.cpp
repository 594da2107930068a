// MysqlUserStore against a real MariaDB 10.11 started once for this executable.
// Built only with the backend (an empty test program otherwise).
#ifdef MTOP_HAVE_MYSQL

#include "../../support/db/mariadb_server.hpp"
#include "store/mysql_user_store.hpp"
#include "store_suite.hpp"

using namespace mtop;
using namespace mtop::storetest;

namespace {

// One server for every section of this executable, stopped by PID at exit.
testdb::MariadbServer& server() {
  static testdb::MariadbServer s;
  return s;
}

store::MysqlConfig config_of(const testdb::MariadbServer& s) {
  auto c = store::parse_mysql_uri(s.uri());
  REQUIRE(c);
  c->connect_timeout_s = 2;
  c->io_timeout_s = 5;
  return *c;
}

void byte_compare(testdb::MariadbServer& my) {
  auto c = store::open_mysql(config_of(my));
  INFO(c.message());
  REQUIRE(c);
  REQUIRE((*c)->init_schema());
  (void)(*c)->del("Case");
  (void)(*c)->del("case");
  REQUIRE((*c)->add(storetest::user("Case")));
  REQUIRE((*c)->add(storetest::user("case")));  // a different user, unlike MySQL's default
  CHECK((*c)->get("CASE").error() == Errc::store_no_such_user);
}

// A script of several statements, as the mariadb client would run it.
void run_sql(testdb::MariadbServer& my, const std::string& sql) {
  const store::MysqlConfig c = config_of(my);
  MYSQL* m = mysql_init(nullptr);
  std::string err;
  if (!mysql_real_connect(m, c.host.c_str(), c.user.c_str(), c.password.c_str(), c.database.c_str(),
                          c.port, nullptr, CLIENT_MULTI_STATEMENTS) ||
      mysql_query(m, sql.c_str()) != 0) {
    err = mysql_error(m);
  } else {
    int more = 0;
    do {
      if (MYSQL_RES* res = mysql_store_result(m)) mysql_free_result(res);
      more = mysql_next_result(m);
    } while (more == 0);
    if (more > 0) err = mysql_error(m);
  }
  mysql_close(m);
  INFO(err);
  REQUIRE(err.empty());
}

void connection_errors(testdb::MariadbServer& my) {
  store::MysqlConfig wrong = config_of(my);
  wrong.password = "nope";
  auto denied = store::open_mysql(wrong);
  REQUIRE_FALSE(denied);
  CHECK(denied.error() == Errc::store_unavailable);
  CHECK(denied.message().find("Access denied") != std::string::npos);
  wrong = config_of(my);
  wrong.port = testdb::free_loopback_port();
  auto refused = store::open_mysql(wrong);
  REQUIRE_FALSE(refused);
  CHECK(refused.message().find("MySQL connection failed") != std::string::npos);
}

}  // namespace

TEST_CASE("mysql store: the shared store behaviour", "[store][mysql]") {
  testdb::MariadbServer& my = server();
  store::MysqlConfig config = config_of(my);
  SuiteBackend b;
  b.kind = "mysql";
  b.admin = [&] {
    auto c = store::open_mysql(config);
    INFO(c.message());
    REQUIRE(c);
    return std::unique_ptr<store::UserAdmin>(std::move(*c));
  };
  b.open_store = [&](uv_loop_t* loop) {
    store::DatabaseStoreOptions o;
    o.flush_interval_ms = 50;
    auto s = store::MysqlUserStore::open(loop, config, o);
    REQUIRE(s);
    return std::unique_ptr<store::DatabaseUserStore>(std::move(*s));
  };
  b.break_db = [&] { my.kill_now(); };
  b.repair_db = [&] { my.start(); };
  b.run_sql = [&](const std::string& sql) { run_sql(my, sql); };
  run_store_suite(b);
  // Sections of this one test case, so that ctest (one process per test case) also starts
  // the server only once.
  SECTION("user names compare byte for byte") { byte_compare(my); }
  SECTION("connection errors in words") { connection_errors(my); }
}

TEST_CASE("mysql store: URIs", "[store][mysql]") {
  auto u = store::parse_mysql_uri("mysql://us%40er:p%3Ass@db.example:3307/mtop%5Fusers");
  REQUIRE(u);
  CHECK(u->user == "us@er");
  CHECK(u->password == "p:ss");
  CHECK(u->host == "db.example");
  CHECK(u->port == 3307);
  CHECK(u->database == "mtop_users");
  auto v6 = store::parse_mysql_uri("mariadb://root@[::1]/x");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 3306);
  for (const char* bad :
       {"", "http://x/y", "mysql://", "mysql://h:0/d", "mysql://h:99999/d", "mysql://h:12a/d",
        "mysql://u:%zz@h/d", "mysql://[::1/d", "mysql://h/d?ssl=1", "mysql://u:%00@h/d",
        // refused since the one host:port parser (mtop/host_port.hpp):
        "mysql://h:/d", "mysql://::1/d", "mysql://[db.example]/d"})
    CHECK_FALSE(store::parse_mysql_uri(bad));
}

#endif  // MTOP_HAVE_MYSQL
