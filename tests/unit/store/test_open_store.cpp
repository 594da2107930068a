// Database URIs: which backend, which location, clear errors; a SQLite round trip through the
// generic entry points.
#include <catch2/catch.hpp>

#include "../../support/db/process.hpp"
#include "loop_helpers.hpp"
#include "must.hpp"
#include "store/open_store.hpp"

using namespace mtop;
using store::Backend;

TEST_CASE("database URIs name the backend and the location", "[store]") {
#ifdef MTOP_HAVE_SQLITE
  auto s = store::parse_database_uri("sqlite:///var/lib/mtop/users.db");
  REQUIRE(s);
  CHECK(s->backend == Backend::sqlite);
  CHECK(s->location == "/var/lib/mtop/users.db");
  CHECK(store::parse_database_uri("sqlite:users.db")->location == "users.db");
#else
  {
    auto r = store::parse_database_uri("sqlite:users.db");
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::invalid_argument);
    CHECK(r.message().find("MTOP_WITH_SQLITE") != std::string::npos);
  }
#endif
#ifdef MTOP_HAVE_POSTGRES
  auto p = store::parse_database_uri("postgresql://u:p@db:5432/mtop");
  REQUIRE(p);
  CHECK(p->backend == Backend::postgres);
  CHECK(p->location == "postgresql://u:p@db:5432/mtop");
  CHECK(store::parse_database_uri("postgres:host=db dbname=mtop")->location ==
        "host=db dbname=mtop");
#else
  {
    auto r = store::parse_database_uri("postgresql://u:p@db:5432/mtop");
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::invalid_argument);
    CHECK(r.message().find("MTOP_WITH_POSTGRES") != std::string::npos);
  }
#endif
#ifdef MTOP_HAVE_MYSQL
  auto m = store::parse_database_uri("mariadb://u:p@db/mtop");
  REQUIRE(m);
  CHECK(m->backend == Backend::mysql);
#else
  {
    auto r = store::parse_database_uri("mariadb://u:p@db/mtop");
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::invalid_argument);
    CHECK(r.message().find("MTOP_WITH_MYSQL") != std::string::npos);
  }
#endif

  for (const char* bad :
       {"", "users.db", "redis://x", "sqlite:", "sqlite://", "postgres:", "mysql://u@:0/x"}) {
    auto r = store::parse_database_uri(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::invalid_argument);
    CHECK_FALSE(r.message().empty());
  }
}

#ifdef MTOP_HAVE_SQLITE
TEST_CASE("open_user_admin and open_user_store work end to end on SQLite", "[store]") {
  testdb::TempDir dir("mtop-sqlite", "root");
  const std::string uri = "sqlite:" + dir.path() + "/users.db";
  auto admin = store::open_user_admin(uri);
  INFO(failure_of(admin));
  REQUIRE(admin);
  REQUIRE((*admin)->init_schema());
  auth::UserRecord u;
  u.username = "alice";
  u.password_hash = "$scrypt$x";
  REQUIRE((*admin)->add(u));

  storetest::Loop loop;
  auto s = store::open_user_store(loop.get(), uri);
  REQUIRE(s);
  CHECK((*s)->kind() == "sqlite");
  std::optional<auth::LookupResult> got;
  (*s)->lookup("alice", [&](auth::LookupResult r) { got = std::move(r); });
  REQUIRE(storetest::run_until(loop.get(), [&] { return got.has_value(); }));
  CHECK(got->status == auth::LookupStatus::found);

  auto bad = store::open_user_admin("sqlite:/nonexistent-dir/x/users.db");
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == Errc::store_unavailable);
  CHECK(bad.message().find("cannot open") != std::string::npos);
}
#endif  // MTOP_HAVE_SQLITE
