// A found user's used_bytes includes the usage this process counted and has not written yet,
// both from the database store and from the cache in front of it: the server's quota check
// (used + bytes since the last lookup, reset at each re-check) relies on it. Before this, a
// re-check answered from the cache, or before a flush, made the engine forget its own traffic
// and a quota could be overrun by a flush interval's worth of bytes.
#ifdef MTOP_HAVE_SQLITE

#include "../../support/db/process.hpp"
#include "store/sqlite_user_store.hpp"
#include "store_suite.hpp"

using namespace mtop;
using namespace mtop::storetest;

namespace {

struct Db {
  testdb::TempDir dir{"mtop-usage", "root"};
  store::SqliteConfig config{dir.path() + "/users.db", 200};

  std::unique_ptr<store::UserAdmin> admin() {
    auto c = store::open_sqlite(config);
    INFO(c.message());
    REQUIRE(c);
    return std::unique_ptr<store::UserAdmin>(std::move(*c));
  }
  std::unique_ptr<store::DatabaseUserStore> open(uv_loop_t* loop) {
    store::DatabaseStoreOptions o;
    o.workers = 1;
    o.flush_interval_ms = 3'600'000;  // only explicit flushes
    auto s = store::SqliteUserStore::open(loop, config, o);
    REQUIRE(s);
    return std::unique_ptr<store::DatabaseUserStore>(std::move(*s));
  }
};

}  // namespace

TEST_CASE("usage: a lookup counts usage not yet written, once", "[store][sqlite]") {
  Db db;
  auto admin = db.admin();
  REQUIRE(admin->init_schema());
  auto alice = user("alice");
  alice.used_bytes = 1000;
  REQUIRE(admin->add(alice));
  Loop loop;
  auto s = db.open(loop.get());
  CHECK(lookup_now(loop.get(), *s, "alice").user.used_bytes == 1000);
  s->add_usage("alice", 234);
  CHECK(lookup_now(loop.get(), *s, "alice").user.used_bytes == 1234);
  REQUIRE(flush_now(loop.get(), *s));
  CHECK(admin->get("alice")->used_bytes == 1234);
  CHECK(lookup_now(loop.get(), *s, "alice").user.used_bytes == 1234);  // not twice
  // Another server's writes add up with ours.
  s->add_usage("alice", 6);
  auto other = db.open(loop.get());
  other->add_usage("alice", 4000);
  REQUIRE(flush_now(loop.get(), *other));
  CHECK(lookup_now(loop.get(), *s, "alice").user.used_bytes == 5240);
  CHECK(lookup_now(loop.get(), *other, "alice").user.used_bytes == 5234);
  CHECK(lookup_now(loop.get(), *s, "nobody").status == LookupStatus::not_found);
}

TEST_CASE("usage: the cache adds our traffic to the cached user", "[store][sqlite]") {
  Db db;
  auto admin = db.admin();
  REQUIRE(admin->init_schema());
  REQUIRE(admin->add(user("alice")));
  Loop loop;
  store::CacheOptions o;
  o.ttl_ms = 3'600'000;  // every lookup below is a cache hit
  auto c = cached(loop.get(), db.open(loop.get()), o);
  CHECK(lookup_now(loop.get(), *c, "alice").user.used_bytes == 0);
  c->add_usage("alice", 700);
  c->add_usage("alice", 300);
  c->add_usage("nobody", 5);  // not cached: nothing to update, no entry made
  CHECK(lookup_now(loop.get(), *c, "alice").user.used_bytes == 1000);
  CHECK(c->cached() == 1);
  // A refetch (after a change notice) says the same: the backend adds what it has not written.
  c->invalidate("alice");
  CHECK(lookup_now(loop.get(), *c, "alice").user.used_bytes == 1000);
  auto* backend = dynamic_cast<store::DatabaseUserStore*>(&c->backend());
  REQUIRE(backend);
  REQUIRE(flush_now(loop.get(), *backend));
  c->invalidate("alice");
  CHECK(lookup_now(loop.get(), *c, "alice").user.used_bytes == 1000);
  CHECK(admin->get("alice")->used_bytes == 1000);
}

#endif
