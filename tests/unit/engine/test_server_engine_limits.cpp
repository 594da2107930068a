// ServerEngine: what it enforces while tunnels live — per-user tunnel limit, re-check of the
// account, quota, bandwidth limit — and drain.
#include "engine/server_rate_gate.hpp"
#include "test_server_engine_support.hpp"

using namespace mtop;
using mtop::srvtest::Client;
using mtop::srvtest::Fixture;

TEST_CASE("rate gate: a full burst, then pauses that pay the debt back", "[server_engine]") {
  std::uint64_t now = 1'000;
  RateGate g(1'000, [&] { return now; });
  CHECK(g.delay_ms(io::Direction::a_to_b, 1'000) == 0);  // the burst
  CHECK(g.delay_ms(io::Direction::a_to_b, 500) == 500);  // 500 bytes owed at 1000 B/s
  CHECK(g.delay_ms(io::Direction::b_to_a, 1'000) == 0);  // the other direction is separate
  now += 500;
  CHECK(g.delay_ms(io::Direction::a_to_b, 250) == 250);
  now += 10'000;  // refill is capped at one second's worth
  CHECK(g.delay_ms(io::Direction::a_to_b, 1'000) == 0);
  CHECK(g.delay_ms(io::Direction::a_to_b, 1) == 1);
  CHECK(g.bytes(io::Direction::a_to_b) == 2'751);
  CHECK(g.delayed_ms(io::Direction::a_to_b) == 751);
  g.set_rate(0);  // no limit
  CHECK(g.delay_ms(io::Direction::a_to_b, 1'000'000) == 0);
  g.set_rate(2'000);  // a new limit starts with a full burst
  CHECK(g.delay_ms(io::Direction::a_to_b, 2'000) == 0);
  CHECK(g.delay_ms(io::Direction::a_to_b, 2'000) == 1'000);
}

TEST_CASE("server engine: a user's max_tunnels", "[server_engine]") {
  auto o = Fixture::defaults();
  o.reply_status = true;
  Fixture f(o);
  f.store.users["alice"].max_tunnels = 1;
  Client& a = f.open_alice();
  REQUIRE(f.run_until([&] { return a.established; }));
  Client& b = f.open_alice();
  REQUIRE(f.run_until([&] { return b.finished() && f.engine->stats().live == 1; }));
  CHECK(b.rejected == Status::auth_failed);
  CHECK(f.failed(TunnelFailure::user_tunnel_limit) == 1);
  a.shutdown();
  REQUIRE(f.run_until([&] { return a.eof && f.engine->stats().live == 0; }));
  CHECK(f.engine->active_users() == 0);
  Client& c = f.open_alice();  // the slot is free again
  REQUIRE(f.run_until([&] { return c.established; }));
}

TEST_CASE("server engine: the re-check closes tunnels of a changed account", "[server_engine]") {
  const int which = GENERATE(1, 2, 3, 4);  // disabled, deleted, expired, over quota
  auto o = Fixture::defaults();
  o.recheck_interval_ms = 50;
  Fixture f(o);
  Client& a = f.open_alice();
  Client& b = f.open_alice();
  REQUIRE(f.run_until([&] { return a.established && b.established; }));
  CHECK(f.engine->active_users() == 1);
  if (which == 1) f.store.users["alice"].enabled = false;
  if (which == 2) f.store.users.erase("alice");
  if (which == 3) f.store.users["alice"].expires_at = 1;
  if (which == 4) f.store.users["alice"].quota_bytes = 0;
  REQUIRE(f.run_until([&] {
    return a.finished() && b.finished() && f.engine->stats().live == 0;
  }));
  CHECK(f.failed(TunnelFailure::revoked) == 2);
  CHECK(f.engine->active_users() == 0);
  const std::string reason = which == 1   ? "user disabled"
                             : which == 2 ? "user deleted"
                             : which == 3 ? "user expired"
                                          : "quota exceeded";
  CHECK(f.logged("reason=\"" + reason + "\""));
}

TEST_CASE("server engine: the re-check keeps tunnels while the store is down",
          "[server_engine]") {
  auto o = Fixture::defaults();
  o.recheck_interval_ms = 20;
  Fixture f(o);
  Client& a = f.open_alice();
  REQUIRE(f.run_until([&] { return a.established; }));
  f.store.unavailable = true;
  const int before = f.store.lookups;
  REQUIRE(f.run_until([&] { return f.store.lookups >= before + 3; }));
  CHECK_FALSE(a.finished());
  CHECK(f.engine->stats().relaying == 1);
  a.send("still here");
  REQUIRE(f.run_until([&] { return a.payload == "still here"; }));
}

TEST_CASE("server engine: the quota closes the user's tunnels when it is passed",
          "[server_engine]") {
  auto o = Fixture::defaults();
  o.reply_status = true;
  o.recheck_interval_ms = 60'000;  // the quota is checked on the traffic itself
  Fixture f(o);
  f.target.echo = false;
  f.store.users["alice"].quota_bytes = 10'000;
  Client& a = f.open_alice();
  Client& b = f.open_alice();
  REQUIRE(f.run_until([&] { return a.established && b.established; }));
  const std::string chunk = test::pattern(6'000, 3);
  a.send(chunk);
  // (the two target connections may be accepted in either order)
  REQUIRE(f.run_until([&] { return f.target.total_received() == 6'000; }));
  CHECK_FALSE(a.finished());
  b.send(chunk);  // 12,000 > 10,000: both tunnels of the user go
  REQUIRE(f.run_until([&] {
    return a.finished() && b.finished() && f.engine->stats().live == 0;
  }));
  CHECK(f.target.total_received() == 6'000);  // the chunk that passed the quota was not forwarded
  CHECK(f.failed(TunnelFailure::revoked) == 2);
  CHECK(f.logged("reason=\"quota exceeded\""));
  // The store now holds the usage: a new tunnel is refused outright.
  CHECK(f.store.usage["alice"] >= 10'000);
  Client& c = f.open_alice();
  REQUIRE(f.run_until([&] { return c.finished(); }));
  CHECK(c.rejected == Status::auth_failed);
  REQUIRE(f.run_until([&] { return f.engine->stats().live == 0; }));
  CHECK(f.failed(TunnelFailure::account_refused) == 1);
}

TEST_CASE("server engine: the rate limit holds a user to rate x time + burst",
          "[server_engine]") {
  Fixture f;
  constexpr std::uint64_t kRate = 100'000;
  f.store.users["alice"].rate_limit = kRate;
  Client& a = f.open_alice();
  REQUIRE(f.run_until([&] { return a.established; }));
  const std::uint64_t start = uv_now(f.loop.get());
  const std::string data = test::pattern(250'000, 9);
  a.send(data);
  REQUIRE(f.run_until([&] { return a.payload.size() == data.size(); }));
  uv_update_time(f.loop.get());
  const std::uint64_t elapsed = uv_now(f.loop.get()) - start;
  CHECK(a.payload == data);
  const auto st = f.engine->stats();
  CHECK(st.rate_limit_delay_ms > 0);
  // Gate accounting: what passed each way is bounded by rate * time + one burst + one read.
  const std::uint64_t allowed = kRate * elapsed / 1000 + kRate + io::TcpStream::kReadSize;
  CHECK(st.bytes_up <= allowed);
  CHECK(st.bytes_down <= allowed);
  CHECK(st.bytes_up == data.size());
}

TEST_CASE("server engine: without a rate limit nothing is paused", "[server_engine]") {
  Fixture f;
  Client& a = f.open_alice();
  REQUIRE(f.run_until([&] { return a.established; }));
  const std::string data = test::pattern(1'000'000, 5);
  a.send(data);
  REQUIRE(f.run_until([&] { return a.payload.size() == data.size(); }));
  CHECK(f.engine->stats().rate_limit_delay_ms == 0);
}

TEST_CASE("server engine: drain refuses new streams and closes the rest at its time-out",
          "[server_engine]") {
  auto o = Fixture::defaults();
  o.drain_timeout_ms = 100;
  Fixture f(o);
  Client& a = f.open_alice();
  REQUIRE(f.run_until([&] { return a.established; }));
  int done = 0;
  f.engine->drain([&] { ++done; });
  CHECK(done == 0);
  CHECK(f.engine->draining());
  auto p = test::make_pair(f.loop);
  f.engine->serve(std::move(p.server));
  CHECK(f.failed(TunnelFailure::draining) == 1);
  REQUIRE(f.run_until([&] { return done == 1 && a.finished(); }));
  CHECK(f.engine->stats().live == 0);
  CHECK(f.failed(TunnelFailure::revoked) == 1);
  CHECK(f.logged("reason=\"drain timeout\""));
  f.loop.spin(5);
  CHECK(done == 1);
}

TEST_CASE("server engine: drain ends as soon as the last tunnel does", "[server_engine]") {
  auto o = Fixture::defaults();
  o.drain_timeout_ms = 60'000;
  Fixture f(o);
  Client& a = f.open_alice();
  REQUIRE(f.run_until([&] { return a.established; }));
  bool done = false;
  f.engine->drain([&] { done = true; });
  a.send("bye");
  a.shutdown();
  REQUIRE(f.run_until([&] { return done; }, 10'000));
  CHECK(a.payload == "bye");
  CHECK(f.failed(TunnelFailure::revoked) == 0);
  CHECK(f.logged("reason=\"closed\""));
}

TEST_CASE("server engine: drain with nothing live calls back on the next turn",
          "[server_engine]") {
  Fixture f;
  bool done = false;
  f.engine->drain([&] { done = true; });
  CHECK_FALSE(done);
  REQUIRE(f.run_until([&] { return done; }, 5'000));
}
