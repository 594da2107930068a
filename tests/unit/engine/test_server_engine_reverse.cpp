// The server engine's answers to REVERSE requests (docs/PROTOCOL.md 9.2) over in-memory
// loopback pairs: the publish grant, port in use, a bind that is not the server's, and a
// "quic" tunnel with no QUIC connection under it. Visitors end to end: test_reverse.py.
#include <algorithm>

#include "test_server_engine_support.hpp"

using namespace mtop;
using namespace mtop::srvtest;

namespace {

/// Opens a control tunnel over a pair labelled `transport` (the engine reads only the label).
Client& open_reverse(Fixture& f, Address bind, std::string_view transport = "tls") {
  auto p = test::make_pair(f.loop);
  f.engine->serve(std::move(p.server), transport);
  f.clients.push_back(std::make_unique<Client>(std::move(p.client), reverse_to(bind), ""));
  return *f.clients.back();
}

/// The bound port of a REVERSE success in `raw` (VER, STATUS, PORT, ...).
std::uint16_t granted_port(const std::string& raw) {
  REQUIRE(raw.size() >= kReverseResponseSize);
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(raw[2]) << 8) |
                                    static_cast<std::uint8_t>(raw[3]));
}

/// A custom user check (no account behind it) that allows everyone with `publish`.
class GrantingCheck final : public UserCheck {
 public:
  explicit GrantingCheck(std::string publish) : publish_(std::move(publish)) {}
  void check(const UserCheckRequest&, UserCheckReply reply) override {
    UserGrant grant;
    grant.publish = publish_;
    reply.allow(std::move(grant));
  }

 private:
  std::string publish_;
};

}  // namespace

TEST_CASE("server engine reverse: a custom user check grants publishing in its UserGrant",
          "[server_engine][reverse]") {
  const int which = GENERATE(0, 1, 2);  // a grant, none, one that does not parse
  const std::string publish = which == 0   ? "10.0.0.1:80, 127.0.0.1:20000-60000"
                              : which == 1 ? std::string()
                                           : "127.0.0.1:20000-70000";
  INFO(publish);
  Fixture f;  // its store has alice without a grant: the custom check decides alone
  f.engine->set_check(std::make_shared<GrantingCheck>(publish));
  Client& c = open_reverse(f, local(0));
  REQUIRE(f.run_until([&] { return c.established || c.finished(); }));
  if (which == 0) {
    CHECK(c.established);
    CHECK(granted_port(c.raw) >= 20000);
    CHECK(f.engine->stats().reverse_ports == 1);
  } else {
    CHECK(c.rejected == Status::not_permitted);
    CHECK(f.failed(TunnelFailure::target_denied) == 1);
    CHECK(f.engine->stats().reverse_ports == 0);
  }
  CHECK(f.logged("publish ignored") == (which == 2));
}

TEST_CASE("server engine reverse: no publish grant is not_permitted, in stealth mode too",
          "[server_engine][reverse]") {
  Fixture f;  // stealth: the credentials were good, so the status is sent anyway
  Client& c = open_reverse(f, local(0));
  REQUIRE(f.run_until([&] { return c.finished(); }));
  CHECK(c.rejected == Status::not_permitted);
  CHECK(f.failed(TunnelFailure::target_denied) == 1);
}

TEST_CASE("server engine reverse: a granted port, then the same port again is port_in_use",
          "[server_engine][reverse]") {
  Fixture f;
  f.store.users["alice"].publish = "127.0.0.1:20000-60000";
  Client& first = open_reverse(f, local(0));
  REQUIRE(f.run_until([&] { return first.established; }));
  const std::uint16_t port = granted_port(first.raw);
  CHECK(port >= 20000);
  CHECK(f.engine->stats().reverse_ports == 1);
  // The pool's OPEN frames follow the response: 2 by default, 18 bytes each.
  REQUIRE(f.run_until([&] { return first.raw.size() >= kReverseResponseSize + 2 * 18; }));
  CHECK(first.raw.substr(kReverseResponseSize, 2) == std::string("\x03\x10", 2));
  const auto live = f.engine->live_tunnels();
  REQUIRE(live.size() == 1);
  CHECK(live[0].stage == "control");

  Client& second = open_reverse(f, local(port));
  REQUIRE(f.run_until([&] { return second.finished(); }));
  CHECK(second.rejected == Status::port_in_use);
  CHECK(first.established);

  Client& outside = open_reverse(f, local(1000));
  REQUIRE(f.run_until([&] { return outside.finished(); }));
  CHECK(outside.rejected == Status::not_permitted);
}

TEST_CASE("server engine reverse: a bind that is not the server's is bad_request",
          "[server_engine][reverse]") {
  Fixture f;
  f.store.users["alice"].publish = "8080";
  Client& c = open_reverse(f, Address::from_ipv4({192, 0, 2, 1}, 8080));  // TEST-NET-1
  REQUIRE(f.run_until([&] { return c.finished(); }));
  CHECK(c.rejected == Status::bad_request);
  CHECK(f.engine->stats().reverse_ports == 0);
}

TEST_CASE("server engine reverse: a \"quic\" tunnel without a QUIC connection is bad_request",
          "[server_engine][reverse]") {
  Fixture f;  // over a real QUIC connection: test_server_engine_reverse_quic.cpp
  f.store.users["alice"].publish = "127.0.0.1:20000-60000";
  Client& c = open_reverse(f, local(0), "quic");
  REQUIRE(f.run_until([&] { return c.finished(); }));
  CHECK(c.rejected == Status::bad_request);
  CHECK(f.logged("reverse tunnels need TLS or a live QUIC connection"));
  CHECK(f.engine->stats().reverse_ports == 0);
}

TEST_CASE("server engine reverse: a revoked user's port closes at once, without grace",
          "[server_engine][reverse]") {
  Fixture f;
  f.store.users["alice"].publish = "127.0.0.1:20000-60000";
  Client& c = open_reverse(f, local(0));
  REQUIRE(f.run_until([&] { return c.established; }));
  CHECK(f.engine->revoke_user("alice") == 1);
  REQUIRE(f.run_until([&] { return f.engine->stats().live == 0; }));
  CHECK(f.engine->stats().reverse_ports == 0);
  CHECK(f.logged("port closed"));
}

TEST_CASE("server engine reverse: the re-check closes a control tunnel its grant no longer covers",
          "[server_engine][reverse]") {
  const int which = GENERATE(1, 2, 3);  // removed, narrowed to other ports, malformed
  auto o = Fixture::defaults();
  o.recheck_interval_ms = 20;
  Fixture f(o);
  f.store.users["alice"].publish = "127.0.0.1:20000-60000";
  Client& c = open_reverse(f, local(0));
  REQUIRE(f.run_until([&] { return c.established; }));
  const std::uint16_t port = granted_port(c.raw);
  // Still covered (a wider grant, another address added): the tunnel stays.
  f.store.users["alice"].publish = "10.0.0.1:80, 127.0.0.1:" + std::to_string(port);
  const int before = f.store.lookups;
  REQUIRE(f.run_until([&] { return f.store.lookups >= before + 3; }));
  CHECK_FALSE(c.finished());
  CHECK(f.engine->stats().reverse_ports == 1);

  const std::string other = std::to_string(port == 20000 ? 20001 : port - 1);
  f.store.users["alice"].publish = which == 1   ? std::string()
                                   : which == 2 ? "127.0.0.1:" + other
                                                : std::string("127.0.0.1:99999");
  REQUIRE(f.run_until([&] { return c.finished() && f.engine->stats().live == 0; }));
  CHECK(f.failed(TunnelFailure::revoked) == 1);
  CHECK(f.engine->stats().reverse_ports == 0);  // no grace for a revoked grant
  CHECK(f.logged("no longer in the user's publish grant"));
  CHECK(f.logged("ended (publish grant withdrawn), port closed"));
  CHECK(f.logged("publish ignored") == (which == 3));
}
