// ClimberEngine against a fake MTop server on loopback: SOCKS5, HTTP proxy, mixed port and
// port-forwards; what the server sees (auth message, early data) and the exact answers the
// local application gets for every outcome (docs/CLIMBER.md, "Status mapping").
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "climber_test_support.hpp"
#include "mtop/base64.hpp"

using namespace mtop;
using namespace mtop::test;

namespace {

const std::string kSocksOk = bytes_of({5, 0, 0, 1, 0, 0, 0, 0, 0, 0});

std::string socks_reply(int code) { return bytes_of({5, code, 0, 1, 0, 0, 0, 0, 0, 0}); }

/// SOCKS5 CONNECT to example.com:443.
std::string socks_connect_domain() {
  std::string r = bytes_of({5, 1, 0, 3, 11});
  r += "example.com";
  r += bytes_of({0x01, 0xBB});
  return r;
}

struct Harness {
  explicit Harness(ClimberOptions o = {}, std::uint16_t dial_port = 0)
      : server(loop), dialer(loop.get(), dial_port ? dial_port : server.port()) {
    if (o.socks_listen.empty() && o.http_listen.empty() && o.forwards.empty()) {
      o.socks_listen = "127.0.0.1:0";
      o.http_listen = "127.0.0.1:1";  // replaced below: separate ports by default
      o.http_listen = "";
    }
    engine = std::make_unique<ClimberEngine>(
        loop.get(), o, "alice", "s3cret-pass", dialer,
        Logger(LogLevel::debug, [this](LogLevel, std::string_view m) { logs.emplace_back(m); }));
    auto started = engine->start();
    INFO(started.message());
    REQUIRE(started);
  }
  ~Harness() { engine.reset(); }
  bool logged(std::string_view needle) const {
    for (const auto& l : logs) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  bool idle() { return loop.run_until([&] { return engine->active_connections() == 0; }); }

  TestLoop loop;
  FakeServer server;
  TcpDialer dialer;
  std::vector<std::string> logs;
  std::unique_ptr<ClimberEngine> engine;
};

ClimberOptions socks_options() {
  ClimberOptions o;
  o.socks_listen = "127.0.0.1:0";
  return o;
}

ClimberOptions http_options() {
  ClimberOptions o;
  o.http_listen = "127.0.0.1:0";
  return o;
}

}  // namespace

TEST_CASE("climber socks5: no-auth domain target, pipelined payload is early data, relay echoes",
          "[climber][socks]") {
  Harness h(socks_options());
  {
    LocalClient c(h.loop, h.engine->socks_port());
    c.send(bytes_of({5, 1, 0}) + socks_connect_domain() + "PING");
    REQUIRE(c.wait_bytes(2 + kSocksOk.size() + 4));
    CHECK(c.rec.data == bytes_of({5, 0}) + kSocksOk + "PING");
    REQUIRE(h.server.auths.size() == 1);
    CHECK(h.server.auths[0].username == "alice");
    CHECK(h.server.auths[0].password == "s3cret-pass");
    CHECK(h.server.auths[0].target == Address::from_domain("example.com", 443));
    CHECK(h.server.received == "PING");
    c.send("more");
    REQUIRE(c.wait_bytes(2 + kSocksOk.size() + 8));
    CHECK(c.rec.data.substr(2 + kSocksOk.size()) == "PINGmore");
    c.stream->shutdown();
    REQUIRE(c.wait_closed());
  }
  REQUIRE(h.idle());
  CHECK(h.logged("tunnel socks"));
  CHECK(h.logged("-> example.com:443 up=8 down=8"));
  for (const auto& l : h.logs) CHECK(l.find("s3cret-pass") == std::string::npos);
}

TEST_CASE("climber socks5: IPv4 and IPv6 targets reach the server exactly", "[climber][socks]") {
  Harness h(socks_options());
  const bool v6 = GENERATE(false, true);
  LocalClient c(h.loop, h.engine->socks_port());
  std::array<std::uint8_t, 16> ip6{};
  ip6[15] = 1;
  ip6[0] = 0x20;
  ip6[1] = 0x01;
  if (v6) {
    std::string req = bytes_of({5, 1, 0, 5, 1, 0, 4});
    for (auto b : ip6) req.push_back(static_cast<char>(b));
    req += bytes_of({0x1F, 0x90});
    c.send(req);
  } else {
    c.send(bytes_of({5, 1, 0, 5, 1, 0, 1, 10, 1, 2, 3, 0x00, 0x50}));
  }
  REQUIRE(c.wait_bytes(2 + kSocksOk.size()));
  CHECK(c.rec.data == bytes_of({5, 0}) + kSocksOk);
  REQUIRE(h.server.auths.size() == 1);
  if (v6) {
    CHECK(h.server.auths[0].target == Address::from_ipv6(ip6, 8080));
  } else {
    CHECK(h.server.auths[0].target == Address::from_ipv4({10, 1, 2, 3}, 80));
  }
}

TEST_CASE("climber socks5: RFC 1929 local credentials, good and bad", "[climber][socks]") {
  ClimberOptions o = socks_options();
  o.local_username = "bob";
  o.local_password = "hunter2";
  Harness h(o);
  SECTION("good credentials open the tunnel") {
    LocalClient c(h.loop, h.engine->socks_port());
    c.send(bytes_of({5, 1, 2}) + bytes_of({1, 3}) + "bob" + bytes_of({7}) + "hunter2" +
           socks_connect_domain());
    REQUIRE(c.wait_bytes(4 + kSocksOk.size()));
    CHECK(c.rec.data == bytes_of({5, 2, 1, 0}) + kSocksOk);
    CHECK(h.server.auths.size() == 1);
  }
  SECTION("a wrong password is refused and no tunnel is opened") {
    LocalClient c(h.loop, h.engine->socks_port());
    c.send(bytes_of({5, 1, 2}) + bytes_of({1, 3}) + "bob" + bytes_of({7}) + "hunter3" +
           socks_connect_domain());
    REQUIRE(c.wait_closed());
    CHECK(c.rec.data == bytes_of({5, 2, 1, 1}));
    CHECK(h.dialer.opens == 0);
    CHECK(h.server.auths.empty());
  }
  SECTION("offering only no-auth gets 0xFF") {
    LocalClient c(h.loop, h.engine->socks_port());
    c.send(bytes_of({5, 1, 0}));
    REQUIRE(c.wait_closed());
    CHECK(c.rec.data == bytes_of({5, 0xFF}));
    CHECK(h.dialer.opens == 0);
  }
}

TEST_CASE("climber socks5: every tunnel failure maps to its exact reply", "[climber][socks]") {
  struct Case {
    ServerMode mode;
    int reply;
  };
  const Case k = GENERATE(Case{ServerMode::reject_auth, 0x02}, Case{ServerMode::reject_connect, 0x05},
                          Case{ServerMode::stealth, 0x01}, Case{ServerMode::silent, 0x06});
  ClimberOptions o = socks_options();
  o.handshake_timeout_ms = 400;  // the silent server case ends on it
  Harness h(o);
  h.server.mode = k.mode;
  LocalClient c(h.loop, h.engine->socks_port());
  c.send(bytes_of({5, 1, 0}) + socks_connect_domain());
  REQUIRE(c.wait_closed());
  CHECK(c.rec.data == bytes_of({5, 0}) + socks_reply(k.reply));
  REQUIRE(h.idle());
}

TEST_CASE("climber socks5: BIND and UDP ASSOCIATE get reply 0x07 and open no tunnel",
          "[climber][socks]") {
  Harness h(socks_options());
  const int cmd = GENERATE(0x02, 0x03);
  CAPTURE(cmd);
  LocalClient c(h.loop, h.engine->socks_port());
  c.send(bytes_of({5, 1, 0}) + bytes_of({5, cmd, 0, 1, 127, 0, 0, 1, 0x00, 0x50}));
  REQUIRE(c.wait_bytes(2 + kSocksOk.size()));
  CHECK(c.rec.data == bytes_of({5, 0}) + socks_reply(0x07));
  // The climber lingers for the app's close after a refusal; closing ends it at once.
  c.stream->shutdown();
  REQUIRE(c.wait_closed());
  CHECK(c.rec.data == bytes_of({5, 0}) + socks_reply(0x07));
  CHECK(h.dialer.opens == 0);
  CHECK(h.server.auths.empty());
  REQUIRE(h.idle());
}

TEST_CASE("climber socks5: an unreachable server is reply 0x01", "[climber][socks]") {
  TestLoop probe;
  const std::uint16_t dead = closed_port(probe);
  REQUIRE(probe.close() == 0);
  Harness h(socks_options(), dead);
  LocalClient c(h.loop, h.engine->socks_port());
  c.send(bytes_of({5, 1, 0}) + socks_connect_domain());
  REQUIRE(c.wait_closed());
  CHECK(c.rec.data == bytes_of({5, 0}) + socks_reply(0x01));
  CHECK(h.logged("server unreachable"));
}

TEST_CASE("climber socks5: payload sent with the server's response reaches the app first",
          "[climber][socks]") {
  Harness h(socks_options());
  h.server.greeting = "WELCOME";
  LocalClient c(h.loop, h.engine->socks_port());
  c.send(bytes_of({5, 1, 0}) + socks_connect_domain());
  REQUIRE(c.wait_bytes(2 + kSocksOk.size() + 7));
  CHECK(c.rec.data == bytes_of({5, 0}) + kSocksOk + "WELCOME");
  c.send("x");
  REQUIRE(c.wait_bytes(2 + kSocksOk.size() + 8));
  CHECK(c.rec.data.substr(2 + kSocksOk.size()) == "WELCOMEx");
}

TEST_CASE("climber http: CONNECT answers 200 then relays", "[climber][http]") {
  Harness h(http_options());
  LocalClient c(h.loop, h.engine->http_port());
  c.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nhello");
  const std::string ok(http::proxy_response(http::ProxyStatus::connection_established));
  REQUIRE(c.wait_bytes(ok.size() + 5));
  CHECK(c.rec.data == ok + "hello");
  REQUIRE(h.server.auths.size() == 1);
  CHECK(h.server.auths[0].target == Address::from_domain("example.com", 443));
  CHECK(h.server.received == "hello");
}

TEST_CASE("climber http: absolute-form GET sends the rewritten head as early data",
          "[climber][http]") {
  Harness h(http_options());
  LocalClient c(h.loop, h.engine->http_port());
  c.send("GET http://example.com:8080/a?b=1 HTTP/1.1\r\nHost: other\r\nProxy-Connection: keep-alive\r\n"
         "Accept: */*\r\n\r\n");
  const std::string head =
      "GET /a?b=1 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  REQUIRE(h.loop.run_until([&] { return h.server.received.size() >= head.size(); }));
  CHECK(h.server.received == head);
  REQUIRE(h.server.auths.size() == 1);
  CHECK(h.server.auths[0].target == Address::from_domain("example.com", 8080));
  // No status line of our own: the origin's answer (here the echo) is all the app sees.
  REQUIRE(c.wait_bytes(head.size()));
  CHECK(c.rec.data == head);
}

TEST_CASE("climber http: Proxy-Authorization missing or wrong is 407, right is served",
          "[climber][http]") {
  ClimberOptions o = http_options();
  o.local_username = "bob";
  o.local_password = "hunter2";
  Harness h(o);
  const std::string denied(http::proxy_response(http::ProxyStatus::proxy_auth_required));
  const std::string req = "CONNECT example.com:443 HTTP/1.1\r\n";
  SECTION("missing") {
    LocalClient c(h.loop, h.engine->http_port());
    c.send(req + "\r\n");
    REQUIRE(c.wait_closed());
    CHECK(c.rec.data == denied);
  }
  SECTION("wrong") {
    LocalClient c(h.loop, h.engine->http_port());
    c.send(req + "Proxy-Authorization: Basic " + base64_encode(as_bytes("bob:hunter3")) + "\r\n\r\n");
    REQUIRE(c.wait_closed());
    CHECK(c.rec.data == denied);
  }
  SECTION("right") {
    LocalClient c(h.loop, h.engine->http_port());
    c.send(req + "Proxy-Authorization: Basic " + base64_encode(as_bytes("bob:hunter2")) + "\r\n\r\n");
    const std::string ok(http::proxy_response(http::ProxyStatus::connection_established));
    REQUIRE(c.wait_bytes(ok.size()));
    CHECK(c.rec.data == ok);
    CHECK(h.server.auths.size() == 1);
  }
  CHECK(h.dialer.opens == static_cast<int>(h.server.auths.size()));
}

TEST_CASE("climber http: every failure maps to its exact status line", "[climber][http]") {
  struct Case {
    ServerMode mode;
    http::ProxyStatus status;
  };
  const Case k = GENERATE(Case{ServerMode::reject_auth, http::ProxyStatus::bad_gateway},
                          Case{ServerMode::reject_connect, http::ProxyStatus::bad_gateway},
                          Case{ServerMode::stealth, http::ProxyStatus::bad_gateway},
                          Case{ServerMode::silent, http::ProxyStatus::gateway_timeout});
  ClimberOptions o = http_options();
  o.handshake_timeout_ms = 400;
  Harness h(o);
  h.server.mode = k.mode;
  LocalClient c(h.loop, h.engine->http_port());
  c.send("CONNECT example.com:443 HTTP/1.1\r\n\r\n");
  REQUIRE(c.wait_closed());
  CHECK(c.rec.data == std::string(http::proxy_response(k.status)));
}

TEST_CASE("climber http: unreachable server is 502, a bad request is 400", "[climber][http]") {
  TestLoop probe;
  const std::uint16_t dead = closed_port(probe);
  REQUIRE(probe.close() == 0);
  Harness h(http_options(), dead);
  {
    LocalClient c(h.loop, h.engine->http_port());
    c.send("CONNECT example.com:443 HTTP/1.1\r\n\r\n");
    REQUIRE(c.wait_closed());
    CHECK(c.rec.data == std::string(http::proxy_response(http::ProxyStatus::bad_gateway)));
  }
  {
    LocalClient c(h.loop, h.engine->http_port());
    c.send("GET /relative HTTP/1.1\r\n\r\n");
    REQUIRE(c.wait_closed());
    CHECK(c.rec.data == std::string(http::proxy_response(http::ProxyStatus::bad_request)));
    CHECK(h.dialer.opens == 1);
  }
}

TEST_CASE("climber forward: bytes sent before the tunnel opens go with the auth message",
          "[climber][forward]") {
  ClimberOptions o;
  ForwardRule r;
  r.bind_host = "127.0.0.1";
  r.bind_port = 0;
  r.target_host = "db.internal";
  r.target_port = 5432;
  o.forwards.push_back(r);
  Harness h(o);
  REQUIRE(h.engine->forward_ports().size() == 1);
  h.server.greeting = "G";
  LocalClient c(h.loop, h.engine->forward_ports()[0]);
  c.send("early bytes");
  REQUIRE(c.wait_bytes(1 + 11));
  CHECK(c.rec.data == "Gearly bytes");
  REQUIRE(h.server.auths.size() == 1);
  CHECK(h.server.auths[0].target == Address::from_domain("db.internal", 5432));
  CHECK(h.server.received == "early bytes");
}

TEST_CASE("climber forward: an app that half-closes during set-up still ends cleanly",
          "[climber][forward]") {
  ClimberOptions o;
  ForwardRule r;
  r.target_host = "10.0.0.7";
  r.target_port = 22;
  o.forwards.push_back(r);
  Harness h(o);
  {
    LocalClient c(h.loop, h.engine->forward_ports()[0]);
    c.send("abc");
    c.stream->shutdown();
    REQUIRE(c.wait_closed());
    CHECK(c.rec.eof);
    CHECK(c.rec.data == "abc");
    CHECK(h.server.eofs == 1);
  }
  REQUIRE(h.idle());
  CHECK(h.logged("tunnel forward"));
}

TEST_CASE("climber mixed port: SOCKS5 and HTTP on one listener", "[climber][mixed]") {
  ClimberOptions o;
  o.socks_listen = o.http_listen = "127.0.0.1:0";
  Harness h(o);
  REQUIRE(h.engine->socks_port() == h.engine->http_port());
  LocalClient s(h.loop, h.engine->socks_port());
  s.send(bytes_of({5, 1, 0}) + socks_connect_domain());
  LocalClient w(h.loop, h.engine->http_port());
  w.send("CONNECT example.com:443 HTTP/1.1\r\n\r\n");
  const std::string ok(http::proxy_response(http::ProxyStatus::connection_established));
  REQUIRE(s.wait_bytes(2 + kSocksOk.size()));
  REQUIRE(w.wait_bytes(ok.size()));
  CHECK(s.rec.data == bytes_of({5, 0}) + kSocksOk);
  CHECK(w.rec.data == ok);
  CHECK(h.server.auths.size() == 2);
}

TEST_CASE("climber: max_connections refuses the extra connection", "[climber]") {
  ClimberOptions o = socks_options();
  o.max_connections = 1;
  Harness h(o);
  LocalClient a(h.loop, h.engine->socks_port());
  a.send(bytes_of({5, 1, 0}) + socks_connect_domain());
  REQUIRE(a.wait_bytes(2 + kSocksOk.size()));
  LocalClient b(h.loop, h.engine->socks_port());
  REQUIRE(b.wait_closed());
  CHECK(b.rec.data.empty());
  CHECK(h.engine->refused_connections() == 1);
}

TEST_CASE("climber: drain waits for live connections, then stops", "[climber][drain]") {
  ClimberOptions o = socks_options();
  o.drain_timeout_ms = 60'000;
  Harness h(o);
  const std::uint16_t port = h.engine->socks_port();
  LocalClient c(h.loop, port);
  c.send(bytes_of({5, 1, 0}) + socks_connect_domain() + "PING");
  REQUIRE(c.wait_bytes(2 + kSocksOk.size() + 4));
  int done = 0;
  h.engine->drain([&] { ++done; });
  CHECK(done == 0);  // never inside drain()
  REQUIRE(h.loop.run_until([&] { return h.logged("draining: 1 connection(s)"); }));
  CHECK(done == 0);  // the tunnel is still live
  // The listener is gone while draining: another engine can bind its port.
  ClimberOptions again = socks_options();
  again.socks_listen = "127.0.0.1:" + std::to_string(port);
  ClimberEngine other(h.loop.get(), again, "alice", "pw", h.dialer, {});
  CHECK(other.start());
  // The live one still relays, and its end ends the drain.
  c.send("more");
  REQUIRE(c.wait_bytes(2 + kSocksOk.size() + 8));
  c.stream->shutdown();
  REQUIRE(c.wait_closed());
  REQUIRE(h.loop.run_until([&] { return done == 1; }));
  CHECK(h.engine->active_connections() == 0);
  CHECK_FALSE(h.logged("drain time over"));
}

TEST_CASE("climber: drain cuts what is left at drain_timeout_ms", "[climber][drain]") {
  ClimberOptions o = socks_options();
  o.drain_timeout_ms = 200;
  Harness h(o);
  LocalClient c(h.loop, h.engine->socks_port());
  c.send(bytes_of({5, 1, 0}) + socks_connect_domain());
  REQUIRE(c.wait_bytes(2 + kSocksOk.size()));
  int done = 0;
  h.engine->drain([&] { ++done; });
  h.engine->drain([&] { done += 10; });  // replaces the callback, keeps the deadline
  REQUIRE(c.wait_closed());
  REQUIRE(h.loop.run_until([&] { return done != 0; }));
  CHECK(done == 10);
  CHECK(h.logged("drain time over: closing 1 connection(s)"));
  CHECK(h.engine->active_connections() == 0);
}

TEST_CASE("climber: drain with nothing live is done on the next turn", "[climber][drain]") {
  Harness h(socks_options());
  int done = 0;
  h.engine->drain([&] { ++done; });
  CHECK(done == 0);
  REQUIRE(h.loop.run_until([&] { return done == 1; }));
}

TEST_CASE("climber: start() errors are clear", "[climber]") {
  TestLoop loop;
  TcpDialer dialer(loop.get(), 1);
  {
    // Nothing to listen on is fine: such an engine serves open_tunnel() only.
    ClimberEngine e(loop.get(), {}, "alice", "pw", dialer, {});
    CHECK(e.start());
    CHECK(e.socks_port() == 0);
  }
  {
    ClimberOptions o = socks_options();
    ClimberEngine first(loop.get(), o, "alice", "pw", dialer, {});
    REQUIRE(first.start());
    o.socks_listen = "127.0.0.1:" + std::to_string(first.socks_port());
    ClimberEngine second(loop.get(), o, "alice", "pw", dialer, {});
    auto r = second.start();
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::listen_failed);
    CHECK(r.message().find("address already in use") != std::string::npos);
    CHECK(r.message().find("socks") == 0);
  }
  {
    ClimberOptions o = socks_options();
    o.socks_listen = "localhost:1080";
    ClimberEngine e(loop.get(), o, "alice", "pw", dialer, {});
    auto r = e.start();
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::config_invalid);
    CHECK(r.message().find("IP address") != std::string::npos);
  }
  {
    ClimberEngine e(loop.get(), socks_options(), "", "pw", dialer, {});
    auto r = e.start();
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::config_invalid);
    CHECK(r.message().find("username") != std::string::npos);
  }
  {
    ClimberOptions o;
    ForwardRule r;
    r.target_host = "bad_name!";
    r.target_port = 1;
    o.forwards.push_back(r);
    ClimberEngine e(loop.get(), o, "alice", "pw", dialer, {});
    auto started = e.start();
    REQUIRE_FALSE(started);
    CHECK(started.error() == Errc::config_invalid);
    CHECK(started.message().find("bad_name!") != std::string::npos);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("climber: listen addresses go through the one host:port parser", "[climber]") {
  // The rules themselves are tested in tests/unit/core/test_host_port.cpp; here: that the
  // engine uses them with port 0 allowed, and names the address and the rule broken.
  TestLoop loop;
  TcpDialer dialer(loop.get(), 1);
  {
    ClimberOptions o;
    o.http_listen = "127.0.0.1:0";
    ClimberEngine e(loop.get(), o, "alice", "pw", dialer, {});
    REQUIRE(e.start());
    CHECK(e.http_port() != 0);
  }
  struct Bad {
    const char* address;
    const char* why;
  };
  for (const Bad& b :
       {Bad{"::1:1080", "brackets"}, Bad{"127.0.0.1", "port"}, Bad{"127.0.0.1:65536", "0-65535"},
        Bad{":80", "empty host"}, Bad{"1.2.3.4:8x", "0-65535"}, Bad{"[127.0.0.1]:80", "IPv6"}}) {
    INFO(b.address);
    ClimberOptions o;
    o.http_listen = b.address;
    ClimberEngine e(loop.get(), o, "alice", "pw", dialer, {});
    auto r = e.start();
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::config_invalid);
    CHECK(r.message().find(std::string("http: \"") + b.address + "\"") == 0);
    CHECK(r.message().find(b.why) != std::string::npos);
  }
  CHECK(loop.close() == 0);
}
