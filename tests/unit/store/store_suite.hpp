// The behaviour every database store must show, run against SQLite, PostgreSQL and MariaDB.
// One TEST_CASE per backend calls run_store_suite(); each SECTION starts from an empty
// mtop_users table, and the database server is shared by all sections (one start-up).
#pragma once

#include <catch2/catch.hpp>

#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "loop_helpers.hpp"
#include "store/caching_user_store.hpp"
#include "store/database_user_store.hpp"
#include "store/user_admin.hpp"

namespace mtop::storetest {

using auth::LookupResult;
using auth::LookupStatus;
using auth::UserRecord;

struct SuiteBackend {
  std::string kind;                                          // "sqlite", "postgres", "mysql"
  std::function<std::unique_ptr<store::UserAdmin>()> admin;  // a synchronous connection
  std::function<std::unique_ptr<store::DatabaseUserStore>(uv_loop_t*)> open_store;
  std::function<void()> break_db;   // make the database unreachable (kill the server)
  std::function<void()> repair_db;  // and bring it back
  std::function<void(const std::string&)> run_sql;  // a script, outside the code under test
};

/// The version a migrate_schema() that must succeed returns.
inline int migrated(const Result<int>& r) {
  INFO(r.message());
  REQUIRE(r);
  return *r;
}

/// The backend's schema from before versions were recorded (tests/support/db/schema_v1).
inline std::string schema_v1(const std::string& kind) {
  std::ifstream in(std::string(MTOP_SCHEMA_V1_DIR) + "/" + kind + ".sql");
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline UserRecord user(const std::string& name, const std::string& hash = "$scrypt$ln=4$x$y") {
  UserRecord u;
  u.username = name;
  u.password_hash = hash;
  return u;
}

/// One lookup, run to its answer.
inline LookupResult lookup_now(uv_loop_t* loop, auth::UserStore& s, const std::string& name) {
  std::optional<LookupResult> got;
  s.lookup(name, [&](LookupResult r) { got = std::move(r); });
  REQUIRE_FALSE(got.has_value());  // never answered inside lookup()
  REQUIRE(run_until(loop, [&] { return got.has_value(); }));
  return *got;
}

inline Result<void> flush_now(uv_loop_t* loop, store::DatabaseUserStore& s) {
  std::optional<Result<void>> got;
  s.flush([&](Result<void> r) { got = r; });
  REQUIRE(run_until(loop, [&] { return got.has_value(); }));
  return *got;
}

inline std::unique_ptr<store::CachingUserStore> cached(uv_loop_t* loop,
                                                       std::unique_ptr<store::DatabaseUserStore> db,
                                                       store::CacheOptions o) {
  auto c = store::CachingUserStore::create(loop, std::move(db), o);
  REQUIRE(c);
  return std::move(*c);
}

inline void run_store_suite(SuiteBackend& b) {
  auto admin = b.admin();
  REQUIRE(admin->init_schema());
  {
    auto all = admin->list();
    REQUIRE(all);
    for (const auto& u : *all) REQUIRE(admin->del(u.username));
  }
  Loop loop;

  SECTION("init_schema is idempotent and keeps the data") {
    REQUIRE(admin->add(user("keep")));
    REQUIRE(admin->init_schema());
    REQUIRE(admin->init_schema());
    auto all = admin->list();
    REQUIRE(all);
    REQUIRE(all->size() == 1);
    CHECK(all->front().username == "keep");
  }

  SECTION("add, list, get, del and the admin errors") {
    UserRecord a = user("alice", "$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA");
    a.expires_at = 4102444800;
    a.max_tunnels = 7;
    a.quota_bytes = 5'000'000'000ULL;
    a.used_bytes = 12;
    a.rate_limit = 1'000'000;
    a.publish = "8000-8099, [2001:db8::1]:443";
    REQUIRE(admin->add(a));
    REQUIRE(admin->add(user("bob")));
    auto dup = admin->add(user("alice"));
    REQUIRE_FALSE(dup);
    CHECK(dup.error() == Errc::store_duplicate_user);
    CHECK(admin->last_error().find("alice") != std::string::npos);

    auto all = admin->list();
    REQUIRE(all);
    REQUIRE(all->size() == 2);
    CHECK((*all)[0].username == "alice");
    CHECK((*all)[1].username == "bob");
    const UserRecord& got = (*all)[0];
    CHECK(got.password_hash == a.password_hash);
    CHECK(got.enabled);
    CHECK(got.expires_at == a.expires_at);
    CHECK(got.max_tunnels == a.max_tunnels);
    CHECK(got.quota_bytes == a.quota_bytes);
    CHECK(got.used_bytes == 12);
    CHECK(got.rate_limit == a.rate_limit);
    CHECK(got.publish == a.publish);
    CHECK((*all)[1].publish.empty());
    CHECK_FALSE((*all)[1].expires_at);
    CHECK_FALSE((*all)[1].quota_bytes);

    REQUIRE(admin->set_password_hash("bob", "$scrypt$new"));
    REQUIRE(admin->set_enabled("bob", false));
    REQUIRE(admin->set_enabled("bob", false));  // unchanged value is still "found"
    REQUIRE(admin->set_quota("alice", 100, true));
    REQUIRE(admin->set_rate_limit("alice", std::nullopt));
    REQUIRE(admin->set_max_tunnels("alice", 0));
    REQUIRE(admin->set_expiry("alice", std::nullopt));
    REQUIRE(admin->set_publish("bob", "*:2222"));
    REQUIRE(admin->set_publish("alice", ""));
    auto bob = admin->get("bob");
    REQUIRE(bob);
    CHECK(bob->password_hash == "$scrypt$new");
    CHECK_FALSE(bob->enabled);
    CHECK(bob->publish == "*:2222");
    auto alice = admin->get("alice");
    REQUIRE(alice);
    CHECK(alice->quota_bytes == 100u);
    CHECK(alice->used_bytes == 0);
    CHECK_FALSE(alice->rate_limit);
    CHECK(alice->max_tunnels == 0u);
    CHECK_FALSE(alice->expires_at);
    CHECK(alice->publish.empty());
    // Grants that do not parse are refused with the parser's words, and nothing is written.
    auto bad = admin->set_publish("bob", "8000-70000");
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == Errc::invalid_argument);
    CHECK(admin->last_error().find("publish: \"8000-70000\"") != std::string::npos);
    CHECK(admin->get("bob")->publish == "*:2222");
    UserRecord c = user("carl");
    c.publish = "everything";
    CHECK(admin->add(c).error() == Errc::invalid_argument);
    CHECK(admin->get("carl").error() == Errc::store_no_such_user);
    CHECK(admin->set_publish("nobody", "80").error() == Errc::store_no_such_user);

    REQUIRE(admin->del("bob"));
    auto gone = admin->del("bob");
    REQUIRE_FALSE(gone);
    CHECK(gone.error() == Errc::store_no_such_user);
    CHECK(admin->last_error() == "no user 'bob'");
    for (auto r : {admin->set_enabled("nobody", true), admin->set_password_hash("nobody", "$x"),
                   admin->set_quota("nobody", 1, false), admin->set_expiry("nobody", 1)}) {
      REQUIRE_FALSE(r);
      CHECK(r.error() == Errc::store_no_such_user);
    }
    CHECK(admin->get("nobody").error() == Errc::store_no_such_user);
    CHECK(admin->add(user("")).error() == Errc::invalid_argument);
    CHECK(admin->add(user(std::string(256, 'x'))).error() == Errc::invalid_argument);
    CHECK(admin->set_quota("alice", ~0ULL, false).error() == Errc::invalid_argument);
    CHECK(admin->set_password_hash("alice", "").error() == Errc::invalid_argument);
    // Text that would break hand-built SQL is only ever a parameter.
    REQUIRE(admin->add(user("x'; DROP TABLE mtop_users; --")));
    CHECK(admin->get("x'; DROP TABLE mtop_users; --"));
    CHECK(admin->list()->size() == 2);
  }

  SECTION("lookup: found with every field, disabled, expired, not found") {
    UserRecord a = user("alice", "$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA");
    a.max_tunnels = 3;
    a.quota_bytes = 1000;
    a.rate_limit = 2048;
    a.publish = "192.0.2.10:443";
    REQUIRE(admin->add(a));
    UserRecord off = user("off");
    off.enabled = false;
    REQUIRE(admin->add(off));
    UserRecord old = user("old");
    old.expires_at = 1000;
    REQUIRE(admin->add(old));
    auto s = b.open_store(loop.get());
    auto r = lookup_now(loop.get(), *s, "alice");
    REQUIRE(r.status == LookupStatus::found);
    CHECK(r.user.username == "alice");
    CHECK(r.user.password_hash == a.password_hash);
    CHECK(r.user.enabled);
    CHECK(r.user.max_tunnels == 3u);
    CHECK(r.user.quota_bytes == 1000u);
    CHECK(r.user.rate_limit == 2048u);
    CHECK(r.user.publish == "192.0.2.10:443");
    CHECK_FALSE(r.user.expires_at);
    r = lookup_now(loop.get(), *s, "off");
    REQUIRE(r.status == LookupStatus::found);
    CHECK_FALSE(r.user.enabled);
    r = lookup_now(loop.get(), *s, "old");
    REQUIRE(r.status == LookupStatus::found);
    CHECK(r.user.expires_at == 1000);
    CHECK(lookup_now(loop.get(), *s, "nobody").status == LookupStatus::not_found);
    CHECK(lookup_now(loop.get(), *s, "").status == LookupStatus::not_found);
    CHECK(lookup_now(loop.get(), *s, std::string(300, 'a')).status == LookupStatus::not_found);
    CHECK(s->kind() == b.kind);
    CHECK(s->queries() == 6);
  }

  SECTION("schema version 1: works without publish grants until migrate_schema upgrades it") {
    CHECK(migrated(admin->migrate_schema()) == kUserSchemaVersion);  // current: nothing to do
    b.run_sql("DROP TABLE mtop_users");
    b.run_sql("DROP TABLE mtop_schema");
    auto empty = b.admin();
    auto none = empty->migrate_schema();
    REQUIRE_FALSE(none);
    CHECK(none.error() == Errc::store_query_failed);
    CHECK(empty->last_error().find("db init") != std::string::npos);
    b.run_sql(schema_v1(b.kind));

    // The admin side: users without grants are written; grants and init say to migrate.
    auto old = b.admin();
    UserRecord a = user("alice");
    a.used_bytes = 42;
    a.quota_bytes = 1000;
    REQUIRE(old->add(a));
    REQUIRE(old->add(user("bob")));
    UserRecord p = user("pub");
    p.publish = "8000";
    CHECK(old->add(p).error() == Errc::store_query_failed);
    CHECK(old->last_error().find("schema version 1") != std::string::npos);
    CHECK(old->last_error().find("db migrate") != std::string::npos);
    CHECK(old->set_publish("alice", "8000").error() == Errc::store_query_failed);
    CHECK(old->init_schema().error() == Errc::store_query_failed);
    CHECK(old->last_error().find("db migrate") != std::string::npos);
    CHECK(old->get("alice")->publish.empty());

    // A running store: lookups and usage work, nobody has grants, and it says so once.
    auto s = b.open_store(loop.get());
    std::vector<bool> notes;
    s->set_schema_callback([&](bool column) { notes.push_back(column); });
    for (int i = 0; i < 3; ++i) {
      auto r = lookup_now(loop.get(), *s, "alice");
      REQUIRE(r.status == LookupStatus::found);
      CHECK(r.user.publish.empty());
      CHECK(r.user.quota_bytes == 1000u);
    }
    s->add_usage("alice", 8);
    REQUIRE(flush_now(loop.get(), *s));
    run_for(loop.get(), 20);
    CHECK(notes == std::vector<bool>{false});

    // Migrated once; again (this connection or another) is a no-op.
    CHECK(migrated(old->migrate_schema()) == 1);
    CHECK(migrated(old->migrate_schema()) == kUserSchemaVersion);
    CHECK(migrated(b.admin()->migrate_schema()) == kUserSchemaVersion);
    REQUIRE(old->init_schema());
    auto all = old->list();
    REQUIRE(all);
    REQUIRE(all->size() == 2);
    CHECK((*all)[0].username == "alice");
    CHECK((*all)[0].used_bytes == 50);
    CHECK((*all)[0].quota_bytes == 1000u);
    CHECK((*all)[1].username == "bob");

    // Grants are stored now, and a store's lookups return them.
    REQUIRE(old->set_publish("alice", "8000-8099"));
    REQUIRE(old->add(p));
    auto s2 = b.open_store(loop.get());
    CHECK(lookup_now(loop.get(), *s2, "alice").user.publish == "8000-8099");
    CHECK(lookup_now(loop.get(), *s2, "pub").user.publish == "8000");
    s2->add_usage("alice", 1);
    REQUIRE(flush_now(loop.get(), *s2));
    CHECK(old->get("alice")->used_bytes == 51);
  }

  SECTION("a schema newer than this program is refused, not written over") {
    b.run_sql("UPDATE mtop_schema SET version = 99");
    auto newer = b.admin();
    CHECK(newer->init_schema().error() == Errc::store_query_failed);
    CHECK(newer->last_error().find("newer") != std::string::npos);
    CHECK(newer->migrate_schema().error() == Errc::store_query_failed);
    b.run_sql("UPDATE mtop_schema SET version = 2");
    CHECK(newer->init_schema());
  }

  SECTION("a password hash changed in the database is seen after the TTL") {
    REQUIRE(admin->add(user("alice", "$scrypt$one")));
    auto db = b.open_store(loop.get());
    auto* raw = db.get();
    store::CacheOptions o;
    o.ttl_ms = 500;  // wide enough that the admin update below always lands inside it
    auto c = cached(loop.get(), std::move(db), o);
    CHECK(lookup_now(loop.get(), *c, "alice").user.password_hash == "$scrypt$one");
    REQUIRE(admin->set_password_hash("alice", "$scrypt$two"));
    CHECK(lookup_now(loop.get(), *c, "alice").user.password_hash == "$scrypt$one");  // cached
    CHECK(raw->queries() == 1);
    run_for(loop.get(), 520);
    CHECK(lookup_now(loop.get(), *c, "alice").user.password_hash == "$scrypt$two");
    CHECK(raw->queries() == 2);
  }

  SECTION("negative cache: a missing user is not asked for again within its TTL") {
    auto db = b.open_store(loop.get());
    auto* raw = db.get();
    store::CacheOptions o;
    o.negative_ttl_ms = 500;
    auto c = cached(loop.get(), std::move(db), o);
    CHECK(lookup_now(loop.get(), *c, "ghost").status == LookupStatus::not_found);
    REQUIRE(admin->add(user("ghost")));
    CHECK(lookup_now(loop.get(), *c, "ghost").status == LookupStatus::not_found);
    CHECK(raw->queries() == 1);
    run_for(loop.get(), 520);
    CHECK(lookup_now(loop.get(), *c, "ghost").status == LookupStatus::found);
    CHECK(raw->queries() == 2);
  }

  SECTION("single flight: 1000 concurrent lookups of one user make one query") {
    REQUIRE(admin->add(user("alice")));
    auto db = b.open_store(loop.get());
    auto* raw = db.get();
    auto c = cached(loop.get(), std::move(db), {});
    int found = 0, answered = 0;
    for (int i = 0; i < 1000; ++i)
      c->lookup("alice", [&](LookupResult r) {
        ++answered;
        if (r.status == LookupStatus::found && r.user.username == "alice") ++found;
      });
    CHECK(answered == 0);
    REQUIRE(run_until(loop.get(), [&] { return answered == 1000; }));
    CHECK(found == 1000);
    CHECK(raw->queries() == 1);
  }

  SECTION("usage write-back adds up exactly across two stores sharing the database") {
    REQUIRE(admin->add(user("alice")));
    REQUIRE(admin->add(user("bob")));
    auto s1 = b.open_store(loop.get());
    auto s2 = b.open_store(loop.get());
    std::uint64_t expect_alice = 0, expect_bob = 0;
    for (int round = 0; round < 5; ++round) {
      for (int i = 1; i <= 200; ++i) {
        s1->add_usage("alice", static_cast<std::uint64_t>(i));
        s2->add_usage("alice", 3);
        s2->add_usage("bob", 1);
        expect_alice += static_cast<std::uint64_t>(i) + 3;
        expect_bob += 1;
      }
      s1->add_usage("nobody", 5);  // a user deleted meanwhile: skipped, not an error
      CHECK(s1->pending_usage("alice") > 0);
      REQUIRE(flush_now(loop.get(), *s1));
      REQUIRE(flush_now(loop.get(), *s2));
      CHECK(s1->pending_usage("alice") == 0);
    }
    CHECK(admin->get("alice")->used_bytes == expect_alice);
    CHECK(admin->get("bob")->used_bytes == expect_bob);
    // The destructor writes what is still pending.
    s2->add_usage("bob", 10);
    s2.reset();
    CHECK(admin->get("bob")->used_bytes == expect_bob + 10);
  }

  SECTION("the write-back timer flushes by itself") {
    REQUIRE(admin->add(user("alice")));
    auto s = b.open_store(loop.get());  // flush_interval_ms is short in the suite's stores
    s->add_usage("alice", 4096);
    REQUIRE(run_until(loop.get(), [&] { return s->pending_usage("alice") == 0; }));
    // The write is committed when the pending count is gone; read it back.
    REQUIRE(run_until(loop.get(), [&] { return admin->get("alice")->used_bytes == 4096; }));
  }

  SECTION("outage: grace for known users, unavailable for others, one status report, recovery") {
    REQUIRE(admin->add(user("alice")));
    REQUIRE(admin->add(user("carl")));
    auto db = b.open_store(loop.get());
    auto* raw = db.get();
    store::CacheOptions o;
    o.ttl_ms = 100;
    o.negative_ttl_ms = 100;
    o.grace_ms = 60000;
    o.retry_min_ms = 50;
    o.retry_max_ms = 200;
    auto c = cached(loop.get(), std::move(db), o);
    std::vector<std::pair<bool, std::string>> status;
    c->set_status_callback([&](bool up, const std::string& why) { status.emplace_back(up, why); });

    REQUIRE(lookup_now(loop.get(), *c, "alice").status == LookupStatus::found);
    b.break_db();
    run_for(loop.get(), 120);  // alice's entry is now past its TTL
    for (int i = 0; i < 20; ++i) {
      auto a = lookup_now(loop.get(), *c, "alice");
      CHECK(a.status == LookupStatus::found);  // within grace
      CHECK(a.user.username == "alice");
      CHECK(lookup_now(loop.get(), *c, "carl").status == LookupStatus::unavailable);
    }
    CHECK_FALSE(c->available());
    REQUIRE(status.size() == 1);
    CHECK_FALSE(status[0].first);
    CHECK_FALSE(status[0].second.empty());
    // Usage counted during the outage is kept when the write fails.
    raw->add_usage("alice", 777);
    auto failed = flush_now(loop.get(), *raw);
    REQUIRE_FALSE(failed);
    CHECK(raw->pending_usage("alice") == 777);
    run_for(loop.get(), 300);  // several probes fail: still one report
    CHECK(status.size() == 1);

    b.repair_db();
    admin = b.admin();  // the old session died with the server
    REQUIRE(run_until(loop.get(), [&] { return c->available(); }));
    REQUIRE(status.size() == 2);
    CHECK(status[1].first);
    CHECK(lookup_now(loop.get(), *c, "carl").status == LookupStatus::found);
    REQUIRE(flush_now(loop.get(), *raw));
    CHECK(admin->get("alice")->used_bytes == 777);
    CHECK(status.size() == 2);
  }
}

}  // namespace mtop::storetest
