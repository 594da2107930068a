// PostgresUserStore against a real PostgreSQL 15 started once for this executable.
// Built only with the backend (an empty test program otherwise).
#ifdef MTOP_HAVE_POSTGRES

#include "../../support/db/postgres_server.hpp"
#include "store/postgres_user_store.hpp"
#include "store_suite.hpp"

using namespace mtop;
using namespace mtop::storetest;

namespace {

// One server for every section of this executable, stopped by PID at exit.
testdb::PostgresServer& server() {
  static testdb::PostgresServer s;
  return s;
}

void listen_notify(testdb::PostgresServer& pg) {
  store::PostgresConfig config{pg.conninfo(), 5, true};
  auto admin = store::open_postgres(config);
  INFO(admin.message());
  REQUIRE(admin);
  REQUIRE((*admin)->init_schema());
  (void)(*admin)->del("notified");
  REQUIRE((*admin)->add(user("notified", "$scrypt$one")));

  Loop loop;
  auto db = store::PostgresUserStore::open(loop.get(), config);
  REQUIRE(db);
  auto* raw = db->get();
  store::CacheOptions o;
  o.ttl_ms = 60000;  // the TTL alone would hide the change for a minute
  auto c = cached(loop.get(), std::move(*db), o);
  // The listener reports "anything changed" once it is listening.
  REQUIRE(run_until(loop.get(), [&] { return raw->changes() >= 1; }));
  CHECK(lookup_now(loop.get(), *c, "notified").user.password_hash == "$scrypt$one");
  CHECK(lookup_now(loop.get(), *c, "notified").user.password_hash == "$scrypt$one");
  CHECK(raw->queries() == 1);

  // Usage write-back does not notify (used_bytes is not in the trigger's column list).
  raw->add_usage("notified", 5);
  REQUIRE(flush_now(loop.get(), *raw));
  REQUIRE((*admin)->set_password_hash("notified", "$scrypt$two"));
  REQUIRE(run_until(loop.get(), [&] { return raw->changes() >= 2; }));
  CHECK(raw->changes() == 2);
  CHECK(lookup_now(loop.get(), *c, "notified").user.password_hash == "$scrypt$two");
  CHECK(raw->queries() == 2);
}

void connection_errors(testdb::PostgresServer& pg) {
  auto wrong =
      store::open_postgres({"host=127.0.0.1 port=1 user=admin dbname=mtop connect_timeout=2", 2});
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error() == Errc::store_unavailable);
  CHECK(wrong.message().find("PostgreSQL connection failed") != std::string::npos);

  std::string conn = pg.conninfo();
  conn.replace(conn.find("password=") + 9, 3, "bad");
  auto denied = store::open_postgres({conn, 5});
  REQUIRE_FALSE(denied);
  CHECK(denied.message().find("password authentication failed") != std::string::npos);
  CHECK(store::postgres_placeholders("a = ? AND b = ?") == "a = $1 AND b = $2");
}

}  // namespace

TEST_CASE("postgres store: the shared store behaviour", "[store][postgres]") {
  testdb::PostgresServer& pg = server();
  store::PostgresConfig config{pg.conninfo(), 5};
  SuiteBackend b;
  b.kind = "postgres";
  b.admin = [&] {
    auto c = store::open_postgres(config);
    INFO(c.message());
    REQUIRE(c);
    return std::unique_ptr<store::UserAdmin>(std::move(*c));
  };
  b.open_store = [&](uv_loop_t* loop) {
    store::DatabaseStoreOptions o;
    o.flush_interval_ms = 50;
    auto s = store::PostgresUserStore::open(loop, config, o);
    REQUIRE(s);
    return std::unique_ptr<store::DatabaseUserStore>(std::move(*s));
  };
  b.break_db = [&] { pg.kill_now(); };
  b.repair_db = [&] { pg.start(); };
  b.run_sql = [&](const std::string& sql) { pg.exec_admin("mtop", sql); };
  run_store_suite(b);
  // Sections of this one test case, so that ctest (one process per test case) also starts
  // the server only once.
  SECTION("LISTEN/NOTIFY makes a change visible before the TTL") {
    listen_notify(pg);
  }
  SECTION("connection errors in words") {
    connection_errors(pg);
  }
}

#endif  // MTOP_HAVE_POSTGRES
