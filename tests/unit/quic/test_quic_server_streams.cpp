// Server-initiated streams (PROTOCOL.md 9.5) over a real QuicServer / QuicClient pair on
// loopback: the server opens streams on the connection that carries a client's tunnel
// (ConnectionHandle), the client receives them through on_peer_stream and grants the credit
// for them; bytes, half-closes and reset codes both ways; client tunnels on the same
// connection carry on.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "must.hpp"
#include "quic/app_error.hpp"
#include "quic/connection_handle.hpp"
#include "quic_test_support.hpp"
#include "uv/relay.hpp"

using namespace qt;
using mtop::Errc;
using mtop::quic::ConnectionHandle;
using mtop::quic::QuicClient;
using mtop::quic::QuicServer;

namespace {

/// What the client answers on a server stream: every byte XOR 0x5a, sent after the server's
/// FIN (so the client's direction outlives the server's half-close).
Bytes answer_to(const Bytes& data) {
  Bytes out(data);
  for (auto& b : out) b ^= 0x5a;
  return out;
}

/// Client side of a server stream: collects to EOF, then answers and shuts down.
struct Answerer : Collector {
  bool answer = true;
  void on_eof() override {
    Collector::on_eof();
    if (!answer) return;
    s->write(answer_to(data));
    s->shutdown();
  }
};

struct Fixture {
  Loop loop;
  Certs certs;
  EchoServer echo;  // the server's side of client-opened tunnels
  std::unique_ptr<QuicServer> server;
  std::unique_ptr<QuicClient> client;
  std::vector<std::unique_ptr<Answerer>> visitors;  // server streams the client received

  explicit Fixture(std::uint64_t grant, bool with_handler = true) {
    REQUIRE(certs.ok);
    server = must(QuicServer::create(loop.get(), server_options(certs), echo.acceptor()));
    auto co = client_options(certs, server->port());
    co.limits.server_streams = grant;
    client = must(QuicClient::create(loop.get(), co));
    if (!with_handler) return;
    client->on_peer_stream([this](StreamPtr s) {
      auto a = std::make_unique<Answerer>();
      a->s = std::move(s);
      a->s->set_handler(a.get());
      a->s->start_read();
      visitors.push_back(std::move(a));
    });
  }
  ~Fixture() {
    visitors.clear();
    client.reset();
    echo.sessions.clear();
    server.reset();
  }

  /// Opens a client tunnel (echoed by the server); returns the client's end, and in `on_server`
  /// the handle on the server's connection that carries it.
  std::unique_ptr<Collector> tunnel(std::shared_ptr<ConnectionHandle>* on_server = nullptr) {
    auto c = std::make_unique<Collector>();
    std::string error;
    const std::size_t before = echo.sessions.size();
    c->s = open_stream(loop, *client, error);
    REQUIRE(error == "");
    REQUIRE(c->s);
    c->s->set_handler(c.get());
    c->s->start_read();
    c->s->write(ByteView(reinterpret_cast<const std::uint8_t*>("hello"), 5));
    // The server sees the stream with its first bytes.
    REQUIRE(loop.run_until([&] { return echo.sessions.size() > before && c->bytes == 5; }));
    if (on_server) {
      *on_server = ConnectionHandle::of(*echo.sessions.back()->s);
      REQUIRE(*on_server);
    }
    return c;
  }
};

/// Opens a server stream on `h`, reading into a new Collector.
std::unique_ptr<Collector> open_on(ConnectionHandle& h) {
  auto c = std::make_unique<Collector>();
  c->s = must(h.open_stream());
  c->s->set_handler(c.get());
  c->s->start_read();
  return c;
}

}  // namespace

TEST_CASE("the server opens streams to the client: bytes both ways, half-close both ways",
          "[quic][server_streams]") {
  constexpr std::size_t kStreams = 8;
  Fixture f(kStreams);
  std::shared_ptr<ConnectionHandle> h;
  auto tunnel = f.tunnel(&h);
  REQUIRE(h->usable());
  CHECK(h->streams_left() == kStreams);

  std::vector<Bytes> payloads;
  std::vector<std::unique_ptr<Collector>> out;
  for (std::size_t i = 0; i < kStreams; ++i) {
    payloads.push_back(random_bytes(64 * 1024 + 4099 * i, 500 + static_cast<std::uint32_t>(i)));
    out.push_back(open_on(*h));
    out.back()->s->write(payloads.back());
    out.back()->s->shutdown();  // half-close: the client's answer comes after this FIN
  }
  CHECK(h->streams_left() == 0);
  // A client tunnel on the same connection works meanwhile.
  Bytes tunnel_bytes = random_bytes(300 * 1024, 9);
  tunnel->s->write(tunnel_bytes);
  tunnel->s->shutdown();

  REQUIRE(f.loop.run_until([&] {
    return std::all_of(out.begin(), out.end(),
                       [](auto& c) { return c->eof || !c->error.empty(); }) &&
           (tunnel->eof || !tunnel->error.empty());
  }));
  REQUIRE(f.visitors.size() == kStreams);
  // Streams arrive in the order they were opened (one packet flow), each with its own bytes.
  for (std::size_t i = 0; i < kStreams; ++i) {
    INFO("stream " << i);
    CHECK(f.visitors[i]->error == "");
    CHECK(f.visitors[i]->eof);
    CHECK(fnv1a(f.visitors[i]->data) == fnv1a(payloads[i]));
    CHECK(out[i]->error == "");
    CHECK(fnv1a(out[i]->data) == fnv1a(answer_to(payloads[i])));
    CHECK(out[i]->data == answer_to(payloads[i]));
  }
  CHECK(tunnel->error == "");
  Bytes echoed(tunnel->data.begin() + 5, tunnel->data.end());  // after "hello"
  CHECK(echoed == tunnel_bytes);
  // All on one connection, and the server's streams never counted as the client's tunnels.
  CHECK(f.client->connection_count() == 1);
  CHECK(f.server->connection_count() == 1);
  CHECK(f.server->stats().streams == 1);

  // Both sides done: the slots come back to the server.
  out.clear();
  f.visitors.clear();
  REQUIRE(f.loop.run_until([&] { return h->streams_left() == kStreams; }));
  auto client_side = ConnectionHandle::of(*tunnel->s);
  REQUIRE(client_side);
  CHECK(client_side->peer_streams_open() == 0);
  CHECK(client_side->peer_stream_grant() == kStreams);
}

TEST_CASE("reset codes on server streams are seen on the other side", "[quic][server_streams]") {
  Fixture f(4);
  std::shared_ptr<ConnectionHandle> h;
  auto tunnel = f.tunnel(&h);

  SECTION("the client resets with CONNECT_FAILED") {
    auto c = open_on(*h);
    c->s->write(ByteView(reinterpret_cast<const std::uint8_t*>("visitor"), 7));
    REQUIRE(f.loop.run_until([&] { return f.visitors.size() == 1; }));
    f.visitors[0]->answer = false;
    f.visitors[0]->s.release()->abort(mtop::quic::kConnectFailed);
    REQUIRE(f.loop.run_until([&] { return !c->error.empty(); }));
    CHECK(c->error == "reset by peer: 0x4 (CONNECT_FAILED)");
  }
  SECTION("the server resets with REFUSED") {
    auto c = open_on(*h);
    c->s->write(ByteView(reinterpret_cast<const std::uint8_t*>("visitor"), 7));
    REQUIRE(f.loop.run_until([&] { return f.visitors.size() == 1 && f.visitors[0]->bytes == 7; }));
    f.visitors[0]->answer = false;
    c->s.release()->abort(mtop::quic::kRefused);
    REQUIRE(f.loop.run_until([&] { return !f.visitors[0]->error.empty(); }));
    CHECK(f.visitors[0]->error == "reset by peer: 0x3 (REFUSED)");
  }
  // Either way the stream is gone on both sides and its slot is back; the tunnel is intact.
  f.visitors.clear();
  REQUIRE(f.loop.run_until([&] { return h->streams_left() == 4; }));
  tunnel->s->write(ByteView(reinterpret_cast<const std::uint8_t*>("!"), 1));
  REQUIRE(f.loop.run_until([&] { return tunnel->bytes == 6 || !tunnel->error.empty(); }));
  CHECK(tunnel->error == "");
}

TEST_CASE("a client without a handler for server streams refuses them", "[quic][server_streams]") {
  Fixture f(1, /*with_handler=*/false);
  std::shared_ptr<ConnectionHandle> h;
  auto tunnel = f.tunnel(&h);
  auto c = open_on(*h);
  c->s->write(ByteView(reinterpret_cast<const std::uint8_t*>("visitor"), 7));
  REQUIRE(f.loop.run_until([&] { return !c->error.empty(); }));
  CHECK(c->error == "reset by peer: 0x3 (REFUSED)");
  c.reset();
  // The refused stream's slot comes back.
  REQUIRE(f.loop.run_until([&] { return h->streams_left() == 1; }));
}

TEST_CASE("without stream credit an open is refused until the client grants some",
          "[quic][server_streams]") {
  Fixture f(0);  // a climber without control tunnels grants none
  std::shared_ptr<ConnectionHandle> h;
  auto tunnel = f.tunnel(&h);
  CHECK(h->streams_left() == 0);
  auto r = h->open_stream();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == Errc::limit_reached);

  // The caller waits for credit; the client grants it on the connection of its tunnel.
  int notified = 0;
  std::vector<std::unique_ptr<Collector>> opened;
  h->on_credit([&] {
    ++notified;
    while (h->streams_left() > 0) opened.push_back(open_on(*h));
  });
  f.loop.run_for(50);
  CHECK(notified == 0);  // nothing granted yet: no wake-up
  auto client_side = ConnectionHandle::of(*tunnel->s);
  REQUIRE(client_side);
  client_side->set_peer_stream_grant(2);
  REQUIRE(f.loop.run_until([&] { return opened.size() == 2; }));
  CHECK(notified >= 1);
  r = h->open_stream();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == Errc::limit_reached);
  // The opened streams carry bytes at once (no round trip before the first bytes).
  for (auto& c : opened) {
    c->s->write(ByteView(reinterpret_cast<const std::uint8_t*>("abc"), 3));
    c->s->shutdown();
  }
  REQUIRE(f.loop.run_until([&] { return opened[0]->eof && opened[1]->eof; }));
  CHECK(opened[0]->data == answer_to(Bytes{'a', 'b', 'c'}));
  CHECK(opened[1]->data == answer_to(Bytes{'a', 'b', 'c'}));
}

TEST_CASE(
    "credit comes back as server streams close: many streams over time, never more at "
    "once than granted",
    "[quic][server_streams]") {
  constexpr std::size_t kGrant = 3;
  constexpr std::size_t kTotal = 24;
  Fixture f(kGrant);
  std::shared_ptr<ConnectionHandle> h;
  auto tunnel = f.tunnel(&h);
  auto client_side = ConnectionHandle::of(*tunnel->s);
  REQUIRE(client_side);

  std::vector<std::unique_ptr<Collector>> out;
  std::size_t refused = 0;
  auto open_more = [&] {
    while (out.size() < kTotal) {
      auto r = h->open_stream();
      if (!r.ok()) {
        CHECK(r.error() == Errc::limit_reached);
        ++refused;
        return;
      }
      auto c = std::make_unique<Collector>();
      c->s = std::move(r).value();
      c->s->set_handler(c.get());
      c->s->start_read();
      Bytes payload =
          random_bytes(10'000 + out.size(), 900 + static_cast<std::uint32_t>(out.size()));
      c->s->write(payload);
      c->s->shutdown();
      out.push_back(std::move(c));
    }
  };
  h->on_credit(open_more);
  open_more();
  CHECK(out.size() == kGrant);

  std::uint64_t most_at_once = 0;
  std::size_t done = 0;
  REQUIRE(f.loop.run_until(
      [&] {
        most_at_once = std::max(most_at_once, client_side->peer_streams_open());
        // Finished streams are let go on both sides, which returns their slots.
        for (auto& c : out) {
          if (c && c->s && (c->eof || !c->error.empty())) {
            CHECK(c->error == "");
            ++done;
            c->s.reset();
          }
        }
        for (auto& v : f.visitors) {
          if (v && v->s && v->eof && v->s->write_queue_size() == 0) v->s.reset();
        }
        return done == kTotal;
      },
      30'000));
  CHECK(out.size() == kTotal);
  CHECK(refused > 0);  // the grant did hold the server back
  CHECK(most_at_once <= kGrant);
  CHECK(f.visitors.size() == kTotal);
  // Every answer matched its payload.
  for (std::size_t i = 0; i < kTotal; ++i) {
    INFO("stream " << i);
    Bytes payload = random_bytes(10'000 + i, 900 + static_cast<std::uint32_t>(i));
    CHECK(out[i]->data == answer_to(payload));
  }
  REQUIRE(f.loop.run_until([&] { return h->streams_left() == kGrant; }));
}

TEST_CASE(
    "a lowered grant holds back slots until the server is under it; raising it again "
    "gives them back",
    "[quic][server_streams]") {
  Fixture f(4);
  std::shared_ptr<ConnectionHandle> h;
  auto tunnel = f.tunnel(&h);
  auto client_side = ConnectionHandle::of(*tunnel->s);
  REQUIRE(client_side);

  std::vector<std::unique_ptr<Collector>> out;
  for (int i = 0; i < 3; ++i) {
    out.push_back(open_on(*h));
    out.back()->s->write(ByteView(reinterpret_cast<const std::uint8_t*>("x"), 1));
  }
  REQUIRE(f.loop.run_until([&] { return client_side->peer_streams_open() == 3; }));
  // Credit already granted cannot be taken back: the server keeps its fourth slot.
  client_side->set_peer_stream_grant(1);
  CHECK(client_side->peer_stream_grant() == 1);
  CHECK(h->streams_left() == 1);
  // The three streams end; only what keeps the server at one stream at once comes back:
  // with its fourth slot unused, nothing.
  for (auto& c : out) c->s.reset();
  out.clear();
  REQUIRE(f.loop.run_until([&] { return client_side->peer_streams_open() == 0; }));
  f.loop.run_for(100);
  CHECK(h->streams_left() == 1);

  // Raised to 3: two more slots.
  int notified = 0;
  h->on_credit([&] { ++notified; });
  client_side->set_peer_stream_grant(3);
  REQUIRE(f.loop.run_until([&] { return h->streams_left() == 3; }));
  CHECK(notified >= 1);
  f.loop.run_for(50);
  CHECK(h->streams_left() == 3);
}

TEST_CASE("the relay carries a server stream into a client tunnel on the same connection",
          "[quic][server_streams]") {
  // The climber's shape: each server stream is relayed to a target; here the target is a
  // client tunnel to the server's echo, so 1 MiB goes server stream -> relay -> tunnel ->
  // echo -> tunnel -> relay -> server stream, half-closes included.
  Fixture f(1, /*with_handler=*/false);
  std::shared_ptr<ConnectionHandle> h;
  auto control = f.tunnel(&h);
  std::unique_ptr<mtop::io::Relay> relay;
  mtop::io::RelayStats done;
  bool finished = false;
  f.client->on_peer_stream([&](StreamPtr visitor) {
    // OpenCallback is a std::function (copyable): the visitor waits in a shared holder.
    auto held = std::make_shared<StreamPtr>(std::move(visitor));
    f.client->open([&, held](StreamPtr target, const std::string& error) {
      REQUIRE(error == "");
      relay = std::make_unique<mtop::io::Relay>(f.loop.get(), std::move(*held), std::move(target),
                                                mtop::io::RelayOptions{},
                                                [&](const mtop::io::RelayStats& st) {
                                                  done = st;
                                                  finished = true;
                                                });
      relay->start();
    });
  });
  auto c = open_on(*h);
  Bytes payload = random_bytes(1 << 20, 77);
  c->s->write(payload);
  c->s->shutdown();
  REQUIRE(f.loop.run_until([&] { return finished && (c->eof || !c->error.empty()); }, 30'000));
  CHECK(c->error == "");
  CHECK(fnv1a(c->data) == fnv1a(payload));
  CHECK(c->data == payload);
  CHECK(done.reason == "closed");
  CHECK(done.bytes_a_to_b == payload.size());
  CHECK(done.bytes_b_to_a == payload.size());
  CHECK(f.client->connection_count() == 1);
  CHECK(f.server->stats().streams == 2);  // the control tunnel and the relay's tunnel
}

TEST_CASE("a connection handle after its connection has gone", "[quic][server_streams]") {
  Fixture f(2);
  std::shared_ptr<ConnectionHandle> h;
  auto tunnel = f.tunnel(&h);
  auto client_side = ConnectionHandle::of(*tunnel->s);
  REQUIRE(client_side);
  f.server->close_all(mtop::quic::kNoError, "test");
  CHECK_FALSE(h->usable());
  auto r = h->open_stream();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == Errc::invalid_state);
  CHECK(h->streams_left() == 0);
  // The client learns it; its handle goes stale, the stream gets on_error.
  REQUIRE(f.loop.run_until([&] { return !tunnel->error.empty(); }));
  f.client.reset();  // frees the client's connection
  f.server.reset();  // and the server's
  CHECK_FALSE(client_side->usable());
  CHECK(client_side->peer_stream_grant() == 0);
  client_side->set_peer_stream_grant(5);  // harmless
  CHECK_FALSE(h->usable());
  CHECK(h->open_stream().error() == Errc::invalid_state);
}

TEST_CASE("only QUIC streams have a connection handle", "[quic][server_streams]") {
  struct NotQuic : Stream {
    void set_handler(Handler*) override {}
    void start_read() override {}
    void stop_read() override {}
    void write(ByteView) override {}
    std::size_t write_queue_size() const override { return 0; }
    void shutdown() override {}
    void close() override {}
    std::string peer_name() const override { return "x"; }
  } s;
  CHECK(ConnectionHandle::of(s) == nullptr);
}
