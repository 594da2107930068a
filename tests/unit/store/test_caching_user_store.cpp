// CachingUserStore against a scripted backend: the test decides when and how each backend
// query is answered, so single flight, TTLs, outage handling and bounds are checked exactly.
#include <catch2/catch.hpp>

#include <deque>

#include "loop_helpers.hpp"
#include "store/caching_user_store.hpp"

using namespace mtop;
using namespace mtop::storetest;
using auth::LookupResult;
using auth::LookupStatus;

namespace {

// Holds every query until the test answers it (answers are delivered on the loop, later).
class ScriptedStore final : public auth::UserStore {
 public:
  struct Query {
    std::string name;
    LookupCallback cb;
  };
  void lookup(std::string_view username, LookupCallback cb) override {
    queries.push_back({std::string(username), std::move(cb)});
    ++total;
  }
  void add_usage(std::string_view username, std::uint64_t bytes) override {
    usage.emplace_back(std::string(username), bytes);
  }
  void flush() override { ++flushes; }
  std::string_view kind() const override { return "scripted"; }

  /// Answers the oldest query: found (with `hash`), not_found or unavailable.
  void answer(LookupStatus st, const std::string& hash = "$h") {
    REQUIRE_FALSE(queries.empty());
    Query q = std::move(queries.front());
    queries.pop_front();
    LookupResult r{st, {}};
    if (st == LookupStatus::found) {
      r.user.username = q.name;
      r.user.password_hash = hash;
    }
    q.cb(std::move(r));
  }

  std::deque<Query> queries;
  std::vector<std::pair<std::string, std::uint64_t>> usage;
  int total = 0;
  int flushes = 0;
};

struct Fixture {
  Loop loop;
  ScriptedStore* backend = nullptr;
  std::unique_ptr<store::CachingUserStore> cache;
  std::vector<std::pair<bool, std::string>> status;

  explicit Fixture(store::CacheOptions o = {}) {
    auto b = std::make_unique<ScriptedStore>();
    backend = b.get();
    auto c = store::CachingUserStore::create(loop.get(), std::move(b), o);
    REQUIRE(c);
    cache = std::move(*c);
    cache->set_status_callback([this](bool up, const std::string& why) {
      status.emplace_back(up, why);
    });
  }

  // Starts a lookup; the answer lands in the returned slot.
  std::shared_ptr<std::optional<LookupResult>> ask(const std::string& name) {
    auto slot = std::make_shared<std::optional<LookupResult>>();
    cache->lookup(name, [slot](LookupResult r) { *slot = std::move(r); });
    return slot;
  }
  LookupResult settle(const std::shared_ptr<std::optional<LookupResult>>& slot) {
    REQUIRE(run_until(loop.get(), [&] { return slot->has_value(); }));
    return **slot;
  }
};

store::CacheOptions fast() {
  store::CacheOptions o;
  // Wide gaps between the bounds, so a slow, loaded machine cannot blur them.
  o.ttl_ms = 300;
  o.negative_ttl_ms = 50;
  o.grace_ms = 1000;
  o.retry_min_ms = 20;
  o.retry_max_ms = 80;
  return o;
}

}  // namespace

TEST_CASE("caching: hits are answered on a later loop turn, never inside lookup()", "[store]") {
  Fixture f;
  auto first = f.ask("alice");
  REQUIRE(f.backend->queries.size() == 1);
  f.backend->answer(LookupStatus::found);
  REQUIRE(first->has_value());  // the backend's own callback delivered it
  auto hit = f.ask("alice");
  CHECK_FALSE(hit->has_value());
  CHECK(f.settle(hit).status == LookupStatus::found);
  CHECK(f.backend->total == 1);
}

TEST_CASE("caching: one query per user however many callers, each caller answered once",
          "[store]") {
  Fixture f;
  std::vector<std::shared_ptr<std::optional<LookupResult>>> alice, bob;
  for (int i = 0; i < 1000; ++i) alice.push_back(f.ask("alice"));
  for (int i = 0; i < 10; ++i) bob.push_back(f.ask("bob"));
  REQUIRE(f.backend->queries.size() == 2);
  f.backend->answer(LookupStatus::found, "$a");
  f.backend->answer(LookupStatus::not_found);
  for (auto& s : alice) {
    REQUIRE(s->has_value());
    CHECK((*s)->user.password_hash == "$a");
  }
  for (auto& s : bob) CHECK((*s)->status == LookupStatus::not_found);
  CHECK(f.backend->total == 2);
}

TEST_CASE("caching: TTL and negative TTL come from the loop clock", "[store]") {
  Fixture f(fast());
  f.ask("alice");
  f.backend->answer(LookupStatus::found, "$old");
  f.ask("ghost");
  f.backend->answer(LookupStatus::not_found);
  CHECK(f.settle(f.ask("ghost")).status == LookupStatus::not_found);
  CHECK(f.backend->total == 2);
  run_for(f.loop.get(), 60);  // negative TTL over, positive not
  f.ask("ghost");
  CHECK(f.backend->queries.size() == 1);
  f.backend->answer(LookupStatus::found);
  CHECK(f.settle(f.ask("alice")).user.password_hash == "$old");
  CHECK(f.backend->total == 3);
  run_for(f.loop.get(), 250);  // positive TTL over
  auto fresh = f.ask("alice");
  REQUIRE(f.backend->queries.size() == 1);
  f.backend->answer(LookupStatus::found, "$new");
  CHECK(f.settle(fresh).user.password_hash == "$new");
  f.cache->invalidate("alice");
  f.ask("alice");
  CHECK(f.backend->queries.size() == 1);
}

TEST_CASE("caching: an outage is reported once, known users get grace, others fail closed, "
          "probes back off and recovery is automatic",
          "[store]") {
  Fixture f(fast());
  f.ask("alice");
  f.backend->answer(LookupStatus::found);
  run_for(f.loop.get(), 310);  // past the TTL, within grace

  auto a = f.ask("alice");
  auto u = f.ask("unknown");
  f.backend->answer(LookupStatus::unavailable);
  f.backend->answer(LookupStatus::unavailable);
  CHECK(f.settle(a).status == LookupStatus::found);
  CHECK(f.settle(u).status == LookupStatus::unavailable);
  REQUIRE(f.status.size() == 1);
  CHECK_FALSE(f.status[0].first);
  CHECK(f.status[0].second == "scripted store unavailable");
  CHECK_FALSE(f.cache->available());

  // While down, lookups do not reach the backend; the probe does, with back-off.
  const int before = f.backend->total;
  for (int i = 0; i < 50; ++i) {
    CHECK(f.settle(f.ask("alice")).status == LookupStatus::found);
    CHECK(f.settle(f.ask("unknown")).status == LookupStatus::unavailable);
  }
  CHECK(f.backend->total == before);
  for (int probe = 0; probe < 4; ++probe) {
    REQUIRE(run_until(f.loop.get(), [&] { return !f.backend->queries.empty(); }, 2000));
    CHECK(f.backend->queries.front().name == "alice");
    f.backend->answer(LookupStatus::unavailable);
  }
  CHECK(f.status.size() == 1);

  // Grace is bounded: after grace_ms even alice fails closed.
  run_for(f.loop.get(), 1000);
  CHECK(f.settle(f.ask("alice")).status == LookupStatus::unavailable);

  REQUIRE(run_until(f.loop.get(), [&] { return !f.backend->queries.empty(); }, 2000));
  f.backend->answer(LookupStatus::found, "$back");
  CHECK(f.cache->available());
  REQUIRE(f.status.size() == 2);
  CHECK(f.status[1].first);
  CHECK(f.settle(f.ask("alice")).user.password_hash == "$back");
  auto n = f.ask("unknown");
  f.backend->answer(LookupStatus::not_found);
  CHECK(f.settle(n).status == LookupStatus::not_found);
  CHECK(f.status.size() == 2);
}

TEST_CASE("caching: bounded in flight and in memory", "[store]") {
  store::CacheOptions o;
  o.max_inflight = 4;
  o.max_entries = 10;
  Fixture f(o);
  for (int i = 0; i < 4; ++i) f.ask("u" + std::to_string(i));
  CHECK(f.settle(f.ask("one-too-many")).status == LookupStatus::unavailable);
  CHECK(f.backend->queries.size() == 4);
  CHECK(f.cache->available());  // our own limit is not an outage
  for (int i = 0; i < 4; ++i) f.backend->answer(LookupStatus::not_found);
  for (int i = 0; i < 100; ++i) {
    f.ask("n" + std::to_string(i));
    f.backend->answer(i % 2 ? LookupStatus::found : LookupStatus::not_found);
    CHECK(f.cache->cached() <= 10);
  }
}

TEST_CASE("caching: usage and flush go to the backend; bad options are refused", "[store]") {
  Fixture f;
  f.cache->add_usage("alice", 10);
  f.cache->flush();
  REQUIRE(f.backend->usage.size() == 1);
  CHECK(f.backend->usage[0].second == 10);
  CHECK(f.backend->flushes == 1);
  CHECK(f.cache->kind() == "scripted");

  Loop loop;
  store::CacheOptions bad;
  bad.ttl_ms = 0;
  CHECK(store::CachingUserStore::create(loop.get(), std::make_unique<ScriptedStore>(), bad)
            .error() == Errc::invalid_argument);
  bad = {};
  bad.retry_min_ms = 10;
  bad.retry_max_ms = 5;
  CHECK(store::CachingUserStore::create(loop.get(), std::make_unique<ScriptedStore>(), bad)
            .error() == Errc::invalid_argument);
  CHECK(store::CachingUserStore::create(loop.get(), nullptr, {}).error() ==
        Errc::invalid_argument);
}

TEST_CASE("caching: a callback may destroy the store, and pending answers are then dropped",
          "[store]") {
  Fixture f;
  f.ask("alice");
  f.backend->answer(LookupStatus::found);
  int calls = 0;
  for (int i = 0; i < 3; ++i)
    f.cache->lookup("alice", [&](LookupResult) {
      ++calls;
      f.cache.reset();
    });
  run_for(f.loop.get(), 20);
  CHECK(calls == 1);
}

TEST_CASE("caching: invalidation forces a refetch but keeps grace, and a query out at the "
          "time is not trusted",
          "[store]") {
  Fixture f(fast());
  f.ask("alice");
  f.backend->answer(LookupStatus::found, "$1");
  f.ask("bob");
  f.backend->answer(LookupStatus::found, "$b");
  f.cache->invalidate("alice");
  CHECK(f.settle(f.ask("bob")).status == LookupStatus::found);  // bob untouched
  CHECK(f.backend->queries.empty());
  auto a = f.ask("alice");
  REQUIRE(f.backend->queries.size() == 1);
  f.cache->invalidate("alice");  // changed again while the query was out
  f.backend->answer(LookupStatus::found, "$2");
  CHECK(f.settle(a).user.password_hash == "$2");
  f.ask("alice");
  REQUIRE(f.backend->queries.size() == 1);  // the answer above was not trusted further
  f.backend->answer(LookupStatus::found, "$3");

  f.cache->invalidate("");  // everything
  auto b = f.ask("bob");
  REQUIRE(f.backend->queries.size() == 1);
  f.backend->answer(LookupStatus::unavailable);  // outage right now: stale bob keeps working
  CHECK(f.settle(b).user.password_hash == "$b");
  CHECK(f.status.size() == 1);
}
