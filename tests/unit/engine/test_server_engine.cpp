// ServerEngine: the tunnel from the auth message to the relay, and every way it is refused.
#include "test_server_engine_support.hpp"

using namespace mtop;
using mtop::srvtest::auth_to;
using mtop::srvtest::Client;
using mtop::srvtest::Fixture;
using mtop::srvtest::local;

TEST_CASE("server engine: success, echo, early data first, one log line", "[server_engine]") {
  Fixture f;
  Client& c = f.open_alice("EARLY");
  REQUIRE(f.run_until([&] { return c.established || c.finished(); }));
  REQUIRE(c.established);
  c.send("LATER");
  REQUIRE(f.run_until([&] { return c.payload.size() == 10; }));
  CHECK(c.payload == "EARLYLATER");
  CHECK(f.target.received() == "EARLYLATER");  // the held early data reached it first
  CHECK(c.raw.substr(0, 2) == std::string("\x01\x00", 2));
  c.shutdown();
  REQUIRE(f.run_until([&] { return c.eof && f.engine->stats().live == 0; }));
  const auto st = f.engine->stats();
  CHECK(st.total == 1);
  CHECK(st.accepted == 1);
  CHECK(st.bytes_up == 10);
  CHECK(st.bytes_down == 10);
  CHECK(f.store.usage["alice"] == 20);
  CHECK(f.logged("tunnel user=alice source=127.0.0.1:"));
  CHECK(f.logged("target=127.0.0.1:" + std::to_string(f.target.port()) + " up=10 down=10"));
  CHECK(f.logged("reason=\"closed\""));
}

TEST_CASE("server engine: wrong password and unknown user are refused", "[server_engine]") {
  const bool reply = GENERATE(false, true);
  const bool unknown = GENERATE(false, true);
  auto o = Fixture::defaults();
  o.reply_status = reply;
  Fixture f(o);
  Client& c = f.open(auth_to(unknown ? "mallory" : "alice", unknown ? "secret" : "guess",
                             local(f.target.port())),
                     "EARLY");
  REQUIRE(f.run_until([&] { return c.finished() && f.engine->stats().live == 0; }));
  if (reply) {
    REQUIRE(c.rejected);
    CHECK(*c.rejected == Status::auth_failed);
    CHECK(c.raw == std::string("\x01\x02", 2));
  } else {
    CHECK(c.closed_without_status);
    CHECK(c.raw.empty());  // stealth: not one byte
  }
  CHECK_FALSE(c.established);
  CHECK(f.target.accepted() == 0);
  CHECK(f.failed(TunnelFailure::auth_failed) == 1);
  // The unknown user costs a verification too (against the dummy hash).
  CHECK(f.engine->stats().password_checks == 1);
  CHECK(f.logged(unknown ? "reason=\"unknown user\"" : "reason=\"wrong password\""));
}

TEST_CASE("server engine: the dummy hash follows the cost of the store's hashes",
          "[server_engine]") {
  Fixture f;
  CHECK(f.check->dummy_hash().rfind("$scrypt$ln=15,r=8,p=1$", 0) == 0);
  Client& c = f.open_alice();
  REQUIRE(f.run_until([&] { return c.established; }));
  CHECK(f.check->dummy_hash().rfind("$scrypt$ln=10,r=8,p=1$", 0) == 0);
}

TEST_CASE("server engine: an unreachable target gives connect-failed", "[server_engine]") {
  // 1: refused (a port nobody listens on), 2: denied by policy, 3: DNS failure.
  const int which = GENERATE(1, 2, 3);
  auto o = Fixture::defaults();
  o.reply_status = true;
  if (which == 2) o.allow_targets.clear();  // 127.0.0.1 is loopback: denied by default
  Fixture f(o);
  std::uint16_t closed_port = 0;
  {
    auto l = io::TcpListener::listen(f.loop.get(), "127.0.0.1", 0, [](io::StreamPtr) {});
    REQUIRE(l);
    closed_port = (*l)->port();
  }
  Address target = which == 1   ? local(closed_port)
                   : which == 2 ? local(f.target.port())
                                : Address::from_domain("x.invalid", 80);
  Client& c = f.open(auth_to("alice", "secret", target), "EARLY");
  REQUIRE(f.run_until([&] { return c.finished() && f.engine->stats().live == 0; }));
  REQUIRE(c.rejected);
  CHECK(*c.rejected == Status::connect_failed);
  CHECK(f.target.accepted() == 0);  // the policy stopped it before any connection
  if (which == 2) {
    CHECK(f.failed(TunnelFailure::target_denied) == 1);
    CHECK(f.logged("denied by policy: loopback"));
  } else {
    CHECK(f.failed(TunnelFailure::target_failed) == 1);
  }
}

TEST_CASE("server engine: a denied target in stealth mode closes without a byte",
          "[server_engine]") {
  auto o = Fixture::defaults();
  o.allow_targets.clear();
  Fixture f(o);
  Client& c = f.open_alice();
  REQUIRE(f.run_until([&] { return c.finished() && f.engine->stats().live == 0; }));
  CHECK(c.closed_without_status);
  CHECK(c.raw.empty());
  CHECK(f.target.accepted() == 0);
}

TEST_CASE("server engine: bad version gets 0x01 in reply mode, other junk just a close",
          "[server_engine]") {
  const bool reply = GENERATE(false, true);
  const bool bad_version = GENERATE(false, true);
  auto o = Fixture::defaults();
  o.reply_status = reply;
  Fixture f(o);
  auto p = test::make_pair(f.loop);
  f.engine->serve(std::move(p.server));
  test::Recorder rec;
  p.client->set_handler(&rec);
  p.client->start_read();
  // VER 0x02; or VER 0x01 with METHOD 0x07.
  p.client->write(as_bytes(bad_version ? std::string("\x02\x01", 2) : std::string("\x01\x07", 2)));
  REQUIRE(f.run_until([&] { return (rec.eof || rec.errors > 0) && f.engine->stats().live == 0; }));
  if (reply && bad_version) {
    CHECK(rec.data == std::string("\x01\x01", 2));
  } else {
    CHECK(rec.data.empty());
  }
  CHECK(f.failed(TunnelFailure::protocol_error) == 1);
  CHECK(f.store.lookups == 0);
}

TEST_CASE("server engine: a silent client is closed at the handshake time-out",
          "[server_engine]") {
  const bool partial = GENERATE(false, true);
  auto o = Fixture::defaults();
  o.handshake_timeout_ms = 100;
  o.reply_status = true;  // a time-out has no status even in reply mode
  Fixture f(o);
  auto p = test::make_pair(f.loop);
  f.engine->serve(std::move(p.server));
  test::Recorder rec;
  p.client->set_handler(&rec);
  p.client->start_read();
  if (partial) p.client->write(as_bytes(std::string("\x01\x01\x05" "ali", 6)));
  REQUIRE(f.run_until([&] { return (rec.eof || rec.errors > 0) && f.engine->stats().live == 0; }));
  CHECK(rec.data.empty());
  CHECK(f.failed(TunnelFailure::handshake_timeout) == 1);
  CHECK(f.logged("handshake timed out"));
}

TEST_CASE("server engine: a client that half-closes before the decision still reaches the "
          "target's EOF", "[server_engine]") {
  Fixture f;
  f.store.hold = true;  // the decision waits until the EOF has been read
  Client& c = f.open_alice("QUESTION");
  c.shutdown();
  f.loop.spin(20);
  REQUIRE(f.store.lookups == 1);
  f.store.release();
  REQUIRE(f.run_until([&] { return c.eof && f.engine->stats().live == 0; }));
  CHECK(c.established);
  CHECK(f.target.received() == "QUESTION");
  CHECK(f.target.got_eof());
  CHECK(c.payload == "QUESTION");  // the echo came back, then the target's EOF
  CHECK(f.logged("reason=\"closed\""));
}

TEST_CASE("server engine: early data beyond the bound waits in the transport, nothing is lost",
          "[server_engine]") {
  auto o = Fixture::defaults();
  o.early_data_limit = 16;
  Fixture f(o);
  f.store.hold = true;
  const std::string early = test::pattern(300'000, 7);
  Client& c = f.open_alice(early);
  f.loop.spin(50);
  f.store.release();
  REQUIRE(f.run_until([&] { return c.payload.size() >= early.size(); }));
  CHECK(f.target.received() == early);
  CHECK(c.payload == early);
}

TEST_CASE("server engine: identical logins at once share one verification",
          "[server_engine]") {
  // A cold cache and many tunnels of one user at once (a browser starting up): one hash runs,
  // the others wait for its answer instead of queueing their own behind the thread pool.
  Fixture f;
  std::vector<Client*> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(&f.open_alice());
  Client& wrong = f.open(auth_to("alice", "Secret", local(f.target.port())));
  REQUIRE(f.run_until([&] {
    for (Client* c : clients) {
      if (!c->established) return false;
    }
    return wrong.finished();
  }));
  const auto st = f.engine->stats();
  CHECK(st.relaying == 20);
  CHECK_FALSE(wrong.established);  // a different password is its own verification...
  CHECK(st.password_checks == 2);   // ...so two in all, not twenty-one
  CHECK(f.failed(TunnelFailure::auth_failed) == 1);  // only the wrong password
}

TEST_CASE("server engine: the credential cache spares the second tunnel the hash",
          "[server_engine]") {
  Fixture f;
  Client& a = f.open_alice();
  REQUIRE(f.run_until([&] { return a.established; }));
  Client& b = f.open_alice();
  REQUIRE(f.run_until([&] { return b.established; }));
  const auto st = f.engine->stats();
  CHECK(st.password_checks == 1);
  CHECK(st.cache_hits == 1);
  CHECK(st.relaying == 2);
  // A wrong password is not a cache hit: it costs a verification.
  Client& c = f.open(auth_to("alice", "Secret", local(f.target.port())));
  REQUIRE(f.run_until([&] { return c.finished(); }));
  CHECK(f.engine->stats().password_checks == 2);
}

TEST_CASE("server engine: the source is throttled after max_failures", "[server_engine]") {
  auto o = Fixture::defaults();
  o.max_failures = 2;
  o.reply_status = true;
  Fixture f(o);
  for (int i = 0; i < 2; ++i) {
    Client& c = f.open(auth_to("alice", "wrong", local(f.target.port())));
    REQUIRE(f.run_until([&] { return c.finished() && f.engine->stats().live == 0; }));
    CHECK(c.rejected == Status::auth_failed);
  }
  CHECK(f.engine->stats().password_checks == 2);
  // Now even the right password is refused, before any hash or store lookup.
  const int lookups = f.store.lookups;
  Client& c = f.open_alice();
  REQUIRE(f.run_until([&] { return c.finished() && f.engine->stats().live == 0; }));
  CHECK(c.rejected == Status::auth_failed);
  CHECK(f.failed(TunnelFailure::throttled) == 1);
  CHECK(f.engine->stats().password_checks == 2);
  CHECK(f.store.lookups == lookups);
}

TEST_CASE("server engine: account states refuse a right password", "[server_engine]") {
  const int which = GENERATE(1, 2, 3, 4);  // disabled, expired, over quota, store down
  auto o = Fixture::defaults();
  o.reply_status = true;
  Fixture f(o);
  auto& u = f.store.users["alice"];
  if (which == 1) u.enabled = false;
  if (which == 2) u.expires_at = 1;  // 1970
  if (which == 3) {
    u.quota_bytes = 100;
    u.used_bytes = 100;
  }
  if (which == 4) f.store.unavailable = true;
  Client& c = f.open_alice();
  REQUIRE(f.run_until([&] { return c.finished() && f.engine->stats().live == 0; }));
  CHECK(c.rejected == Status::auth_failed);
  CHECK(f.target.accepted() == 0);
  CHECK(f.failed(which == 4 ? TunnelFailure::store_unavailable
                            : TunnelFailure::account_refused) == 1);
  CHECK(f.logged(which == 1   ? "user disabled"
                 : which == 2 ? "user expired"
                 : which == 3 ? "quota exceeded"
                              : "user store unavailable"));
}

TEST_CASE("server engine: beyond max_tunnels new streams are closed at once",
          "[server_engine]") {
  auto o = Fixture::defaults();
  o.max_tunnels = 1;
  Fixture f(o);
  Client& a = f.open_alice();
  REQUIRE(f.run_until([&] { return a.established; }));
  auto p = test::make_pair(f.loop);
  f.engine->serve(std::move(p.server));
  test::Recorder rec;
  p.client->set_handler(&rec);
  p.client->start_read();
  REQUIRE(f.run_until([&] { return rec.eof || rec.errors > 0; }));
  CHECK(rec.data.empty());
  CHECK(f.failed(TunnelFailure::overloaded) == 1);
  CHECK(f.engine->stats().live == 1);
  CHECK(f.store.lookups == 1);
}
