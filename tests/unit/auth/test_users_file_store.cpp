#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "auth/users_file_store.hpp"

using namespace mtop::auth;

namespace {

constexpr const char* kHash =
    "$pbkdf2-sha256$i=1000$c2FsdHNhbHRzYWx0MTIzNA$w7/Z+TtKe2706ziYqntGWEpywycBhHRgtLIN+hknDGQ";

// A temporary folder removed (with its files) at the end of the test.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/mtop-users-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    for (const char* f : {"/users.json", "/users.json.tmp"}) ::unlink((path + f).c_str());
    ::rmdir(path.c_str());
  }
};

void write_file(const std::string& path, const std::string& text) {
  // Write aside and rename: the watcher never sees a half-written file, and the new inode
  // is a change even within the same second and size.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << text;
  }
  REQUIRE(std::rename(tmp.c_str(), path.c_str()) == 0);
}

std::string users(std::initializer_list<std::string> entries) {
  std::string s = "{\"users\": [";
  bool first = true;
  for (const auto& e : entries) {
    if (!first) s += ",";
    first = false;
    s += e;
  }
  return s + "]}";
}

std::string user(const std::string& name, const std::string& extra = "") {
  return R"({"username": ")" + name + R"(", "password": ")" + kHash + "\"" + extra + "}";
}

struct Loop {
  uv_loop_t loop;
  Loop() { REQUIRE(uv_loop_init(&loop) == 0); }
  ~Loop() {
    // Let closing handles finish, then close the loop.
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
  // Runs the loop until `done()` or a safety bound of 10 s (then the test fails).
  template <class F>
  bool run_until(F done) {
    const std::uint64_t deadline = uv_now(&loop) + 10'000;
    uv_timer_t guard;
    uv_timer_init(&loop, &guard);
    uv_timer_start(&guard, [](uv_timer_t*) {}, 20, 20);  // wakes the loop to re-check
    while (!done() && uv_now(&loop) < deadline) uv_run(&loop, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);
    return done();
  }
};

std::optional<LookupResult> lookup_now(Loop& l, UsersFileStore& s, const std::string& name) {
  std::optional<LookupResult> out;
  s.lookup(name, [&](LookupResult r) { out = std::move(r); });
  CHECK_FALSE(out);  // never inside lookup()
  l.run_until([&] { return out.has_value(); });
  return out;
}

}  // namespace

TEST_CASE("users store: load and look up", "[auth][users]") {
  TempDir dir;
  const std::string path = dir.path + "/users.json";
  write_file(path, users({user("alice", R"(, "max_tunnels": 3)"),
                          user("bob", R"(, "enabled": false)")}));
  Loop l;
  auto opened = UsersFileStore::open(&l.loop, path, {});
  INFO(opened.message());
  REQUIRE(opened);
  auto store = std::move(*opened);
  CHECK(store->kind() == "file");
  CHECK(store->user_count() == 2);

  auto a = lookup_now(l, *store, "alice");
  REQUIRE(a);
  CHECK(a->status == LookupStatus::found);
  CHECK(a->user.username == "alice");
  CHECK(a->user.password_hash == kHash);
  CHECK(a->user.max_tunnels == 3u);

  // A disabled user is returned as it is; deciding is the caller's job.
  auto b = lookup_now(l, *store, "bob");
  REQUIRE(b);
  CHECK(b->status == LookupStatus::found);
  CHECK_FALSE(b->user.enabled);

  auto c = lookup_now(l, *store, "carol");
  REQUIRE(c);
  CHECK(c->status == LookupStatus::not_found);
  auto case_sensitive = lookup_now(l, *store, "Alice");
  REQUIRE(case_sensitive);
  CHECK(case_sensitive->status == LookupStatus::not_found);
}

TEST_CASE("users store: many lookups, each answered once, in order", "[auth][users]") {
  TempDir dir;
  const std::string path = dir.path + "/users.json";
  write_file(path, users({user("alice")}));
  Loop l;
  auto opened = UsersFileStore::open(&l.loop, path, {});
  INFO(opened.message());
  REQUIRE(opened);
  auto store = std::move(*opened);
  std::vector<std::string> answers;
  for (const char* n : {"alice", "x", "alice"}) {
    store->lookup(n, [&answers, n](LookupResult r) {
      answers.push_back(std::string(n) + (r.status == LookupStatus::found ? "+" : "-"));
    });
  }
  // A lookup from inside a callback is answered later, not inside that callback either.
  bool nested_done = false;
  store->lookup("alice", [&](LookupResult) {
    bool inner_called = false;
    store->lookup("alice", [&](LookupResult r) {
      inner_called = true;
      nested_done = r.status == LookupStatus::found;
    });
    CHECK_FALSE(inner_called);
  });
  CHECK(answers.empty());
  REQUIRE(l.run_until([&] { return nested_done; }));
  CHECK(answers == std::vector<std::string>{"alice+", "x-", "alice+"});
}

TEST_CASE("users store: destroying the store from a callback is safe", "[auth][users]") {
  TempDir dir;
  const std::string path = dir.path + "/users.json";
  write_file(path, users({user("alice")}));
  Loop l;
  auto opened = UsersFileStore::open(&l.loop, path, {});
  INFO(opened.message());
  REQUIRE(opened);
  auto store = std::move(*opened);
  int called = 0;
  store->lookup("alice", [&](LookupResult) {
    ++called;
    store.reset();
  });
  store->lookup("alice", [&](LookupResult) { ++called; });
  REQUIRE(l.run_until([&] { return store == nullptr; }));
  CHECK(called == 1);  // the second lookup was dropped with the store
}

TEST_CASE("users store: start-up errors", "[auth][users]") {
  TempDir dir;
  const std::string path = dir.path + "/users.json";
  Loop l;
  auto missing = UsersFileStore::open(&l.loop, path, {});
  CHECK_FALSE(missing);
  CHECK_THAT(std::string(missing.message()), Catch::Contains(path) && Catch::Contains("No such file"));

  write_file(path, "{\"users\": [\n" + user("alice", R"(, "max_tunnels": -2)") + "]}");
  auto broken = UsersFileStore::open(&l.loop, path, {});
  CHECK_FALSE(broken);
  CHECK_THAT(std::string(broken.message()), Catch::Contains("users[0] (\"alice\"): field \"max_tunnels\""));

  auto folder = UsersFileStore::open(&l.loop, dir.path, {});
  CHECK_FALSE(folder);
  CHECK_THAT(std::string(folder.message()), Catch::Contains("not a regular file"));
}

TEST_CASE("users store: reloads a changed file, a broken one keeps the old users",
          "[auth][users]") {
  TempDir dir;
  const std::string path = dir.path + "/users.json";
  write_file(path, users({user("alice")}));
  Loop l;
  std::vector<std::string> errors;
  std::vector<std::size_t> reloads;
  UsersFileStore::Options opts;
  opts.poll_interval_ms = 20;
  opts.on_error = [&](std::string_view e) { errors.emplace_back(e); };
  opts.on_reload = [&](std::size_t n) { reloads.push_back(n); };
  auto opened = UsersFileStore::open(&l.loop, path, opts);
  INFO(opened.message());
  REQUIRE(opened);
  auto store = std::move(*opened);

  store->add_usage("alice", 100);
  store->add_usage("alice", 23);
  store->add_usage("nobody", 5);  // unknown users are not counted

  // 1. A valid change: bob appears, alice keeps her usage.
  write_file(path, users({user("alice"), user("bob", R"(, "rate_limit": 7)")}));
  REQUIRE(l.run_until([&] { return !reloads.empty(); }));
  CHECK(reloads.back() == 2);
  CHECK(store->user_count() == 2);
  auto b = lookup_now(l, *store, "bob");
  REQUIRE(b);
  CHECK(b->status == LookupStatus::found);
  CHECK(b->user.rate_limit == 7u);
  auto a = lookup_now(l, *store, "alice");
  REQUIRE(a);
  CHECK(a->user.used_bytes == 123);
  auto n = lookup_now(l, *store, "nobody");
  REQUIRE(n);
  CHECK(n->status == LookupStatus::not_found);

  // 2. A broken change: reported, old users kept.
  write_file(path, users({user("carol")}) + ",");
  REQUIRE(l.run_until([&] { return !errors.empty(); }));
  CHECK_THAT(errors.back(), Catch::Contains(path) && Catch::Contains("line 1") &&
                                Catch::Contains("keeping 2 users"));
  CHECK(store->user_count() == 2);
  auto c = lookup_now(l, *store, "carol");
  REQUIRE(c);
  CHECK(c->status == LookupStatus::not_found);
  auto b2 = lookup_now(l, *store, "bob");
  REQUIRE(b2);
  CHECK(b2->status == LookupStatus::found);

  // 3. The file disappears: reported once, users kept; it comes back: reloaded.
  errors.clear();
  REQUIRE(::unlink(path.c_str()) == 0);
  REQUIRE(l.run_until([&] { return !errors.empty(); }));
  CHECK(store->user_count() == 2);
  const std::size_t reloads_before = reloads.size();
  write_file(path, users({user("dave")}));
  REQUIRE(l.run_until([&] { return reloads.size() > reloads_before; }));
  CHECK(store->user_count() == 1);
  auto d = lookup_now(l, *store, "dave");
  REQUIRE(d);
  CHECK(d->status == LookupStatus::found);
  // alice left the file: her usage went with her.
  write_file(path, users({user("dave"), user("alice")}));
  REQUIRE(l.run_until([&] { return store->user_count() == 2; }));
  auto a2 = lookup_now(l, *store, "alice");
  REQUIRE(a2);
  CHECK(a2->user.used_bytes == 0);
}
