// The climber over a real QUIC pool whose limit is reached: a ClimberEngine on a QuicClient
// (pool of 2) to a QuicServer granting 4 streams per connection, with the server engine and
// an echo target behind it. Eight tunnels fit; the ninth is answered at once (SOCKS5 0x01,
// HTTP 503) with a log line naming the limit, and a tunnel that ends makes room again.
#ifdef MTOP_HAVE_QUIC

#include <memory>
#include <string>
#include <vector>

#include "../quic/quic_test_support.hpp"
#include "climber_test_support.hpp"
#include "engine/climber_engine.hpp"
#include "mtop/http_proxy.hpp"
#include "must.hpp"
#include "test_server_engine_support.hpp"

using namespace mtop;

namespace {

constexpr const char* kPoolFull =
    "at limit: QUIC pool full: 2 connections x 4 streams (limits.quic_connections)";

/// SOCKS5 greeting (no auth) and CONNECT to 127.0.0.1:port in one write.
std::string socks_connect(std::uint16_t port) {
  return test::bytes_of({5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, port >> 8, port & 0xff});
}

struct PoolHarness {
  srvtest::Fixture f;  // loop, server engine, echo target; destroyed last
  qt::Certs certs;
  std::unique_ptr<quic::QuicServer> server;
  std::unique_ptr<quic::QuicClient> client;
  std::unique_ptr<ClimberEngine> climber;
  std::vector<std::string> logs;
  std::vector<std::unique_ptr<test::LocalClient>> locals;

  PoolHarness() {
    REQUIRE(certs.ok);
    auto so = qt::server_options(certs);
    so.limits.max_streams = 4;
    server = must(quic::QuicServer::create(
        f.loop.get(), so, [this](io::StreamPtr s) { f.engine->serve(std::move(s)); }));
    REQUIRE(server);
    auto co = qt::client_options(certs, server->port());
    co.max_connections = 2;
    co.max_connections_name = "limits.quic_connections";  // as dialer_factory names it
    client = must(quic::QuicClient::create(f.loop.get(), co));
    REQUIRE(client);
    ClimberOptions o;
    o.socks_listen = "127.0.0.1:0";
    o.http_listen = "127.0.0.1:0";
    climber = std::make_unique<ClimberEngine>(
        f.loop.get(), o, "alice", "secret", *client,
        Logger(LogLevel::debug, [this](LogLevel, std::string_view m) { logs.emplace_back(m); }));
    auto started = climber->start();
    INFO(started.message());
    REQUIRE(started);
  }
  ~PoolHarness() {
    locals.clear();
    climber.reset();
    client.reset();
    server.reset();
  }
  test::LocalClient& socks() {
    locals.push_back(std::make_unique<test::LocalClient>(f.loop, climber->socks_port()));
    locals.back()->send(socks_connect(f.target.port()));
    return *locals.back();
  }
  int logged(std::string_view needle) const {
    int n = 0;
    for (const auto& l : logs) n += l.find(needle) != std::string::npos ? 1 : 0;
    return n;
  }
};

}  // namespace

TEST_CASE("climber over QUIC: a full pool answers at once with 0x01 / 503 and names the limit",
          "[climber][quic]") {
  PoolHarness h;
  // SOCKS5: method reply (2 bytes) + CONNECT reply (10 bytes), then the echo of "ping".
  std::vector<test::LocalClient*> up;
  for (int i = 0; i < 8; ++i) up.push_back(&h.socks());
  REQUIRE(h.f.run_until([&] {
    for (auto* c : up) {
      if (c->rec.data.size() < 12) return false;
    }
    return true;
  }));
  for (auto* c : up) {
    CHECK(c->rec.data.substr(0, 4) == test::bytes_of({5, 0, 5, 0}));
    c->send("ping");
  }
  REQUIRE(h.f.run_until([&] {
    for (auto* c : up) {
      if (c->rec.data.size() < 16) return false;
    }
    return true;
  }));
  CHECK(h.client->connection_count() == 2);
  CHECK(h.f.target.accepted() == 8);

  // The ninth tunnel over SOCKS5 and one over HTTP: refused while all eight still relay.
  test::LocalClient& ninth = h.socks();
  REQUIRE(ninth.wait_closed());
  CHECK(ninth.rec.data == test::bytes_of({5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0}));
  test::LocalClient web(h.f.loop, h.climber->http_port());
  web.send("CONNECT 127.0.0.1:" + std::to_string(h.f.target.port()) + " HTTP/1.1\r\n\r\n");
  REQUIRE(web.wait_closed());
  CHECK(web.rec.data == std::string(http::proxy_response(http::ProxyStatus::service_unavailable)));
  CHECK(h.logged(kPoolFull) == 2);
  for (auto* c : up) CHECK_FALSE(c->rec.eof);
  CHECK(h.f.target.accepted() == 8);
  CHECK(h.client->handshakes() == 2);

  // One tunnel ends: its slot comes back and the next tunnel gets it, on the same pool.
  up[3]->stream.reset();
  REQUIRE(h.f.run_until([&] { return h.climber->active_connections() == 7; }));
  test::LocalClient& again = h.socks();
  REQUIRE(again.wait_bytes(12));
  CHECK(again.rec.data == test::bytes_of({5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
  CHECK(h.client->handshakes() == 2);
  CHECK(h.logged(kPoolFull) == 2);
}

#endif  // MTOP_HAVE_QUIC
