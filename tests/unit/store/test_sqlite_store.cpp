// SqliteUserStore and SqliteConnection on temp files, through the shared store suite.
// Built only with the backend (an empty test program otherwise).
#ifdef MTOP_HAVE_SQLITE

#include <sqlite3.h>

#include "../../support/db/process.hpp"
#include "store/sqlite_user_store.hpp"
#include "store_suite.hpp"

using namespace mtop;
using namespace mtop::storetest;

namespace {

// An outage SQLite can have: the statement fails (here the table is renamed away by another
// connection, as a botched migration would). The caching layer must treat it like a dead server.
void exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string why = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  INFO(why);
  REQUIRE(rc == SQLITE_OK);
}

}  // namespace

TEST_CASE("sqlite store: the shared store behaviour", "[store][sqlite]") {
  testdb::TempDir dir("mtop-sqlite", "root");
  const std::string path = dir.path() + "/users.db";
  store::SqliteConfig config{path, 200};
  SuiteBackend b;
  b.kind = "sqlite";
  b.admin = [&] {
    auto c = store::open_sqlite(config);
    INFO(c.message());
    REQUIRE(c);
    return std::unique_ptr<store::UserAdmin>(std::move(*c));
  };
  b.open_store = [&](uv_loop_t* loop) {
    store::DatabaseStoreOptions o;
    o.workers = 1;
    o.flush_interval_ms = 50;
    auto s = store::SqliteUserStore::open(loop, config, o);
    REQUIRE(s);
    return std::unique_ptr<store::DatabaseUserStore>(std::move(*s));
  };
  b.break_db = [&] { exec(path, "ALTER TABLE mtop_users RENAME TO mtop_users_away"); };
  b.repair_db = [&] { exec(path, "ALTER TABLE mtop_users_away RENAME TO mtop_users"); };
  b.run_sql = [&](const std::string& sql) { exec(path, sql); };
  run_store_suite(b);
}

TEST_CASE("sqlite store: errors in words", "[store][sqlite]") {
  auto bad = store::open_sqlite({"/nonexistent-dir/x/users.db", 100});
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == Errc::store_unavailable);
  CHECK(bad.message().find("/nonexistent-dir/x/users.db") != std::string::npos);

  testdb::TempDir dir("mtop-sqlite", "root");
  auto c = store::open_sqlite({dir.path() + "/u.db", 100});
  REQUIRE(c);
  // No schema yet: a clear statement error, not a crash.
  auto r = (*c)->list();
  REQUIRE_FALSE(r);
  CHECK(r.error() == Errc::store_query_failed);
  CHECK((*c)->last_error().find("mtop_users") != std::string::npos);

  // A store whose database cannot be opened answers unavailable, with the reason.
  Loop loop;
  auto s = store::SqliteUserStore::open(loop.get(), {"/nonexistent-dir/x/users.db", 100});
  REQUIRE(s);
  CHECK(lookup_now(loop.get(), **s, "alice").status == auth::LookupStatus::unavailable);
  CHECK((*s)->last_error().find("cannot open") != std::string::npos);
  store::DatabaseStoreOptions zero;
  zero.workers = 0;
  CHECK(store::SqliteUserStore::open(loop.get(), {"x.db", 1}, zero).error() ==
        Errc::invalid_argument);
}

#endif  // MTOP_HAVE_SQLITE
