// Reverse tunnels over QUIC on the server (docs/PROTOCOL.md 9.5): the engine behind a real
// QuicServer, a QuicClient as the climber. Each visitor rides on a stream the server opens on
// the control tunnel's connection: the visitor header, then its bytes; stream credit bounds
// how many at once (a visitor waits for a slot, bounded by the handshake time-out); the
// climber's CONNECT_FAILED ends the visitor; the end of the control tunnel aborts its
// visitors. End to end with the climber: test_reverse.py (integration/quic/Reverse*).
#ifdef MTOP_HAVE_QUIC

#include <deque>
#include <optional>

#include "../quic/quic_test_support.hpp"
#include "mtop/reverse_codec.hpp"
#include "must.hpp"
#include "quic/connection_handle.hpp"
#include "test_server_engine_support.hpp"
#include "uv/connector.hpp"
#include "uv/tcp_stream.hpp"
#include "uv/timer.hpp"

using namespace mtop;
using namespace mtop::srvtest;

namespace {

/// A stream the server opened to the climber, recording what it carries.
struct PeerStream {
  io::StreamPtr s;
  test::Recorder r;
};

struct ReverseQuic {
  explicit ReverseQuic(ServerOptions o = Fixture::defaults(), std::uint64_t grant = 8,
                       std::optional<std::uint32_t> max_tunnels = std::nullopt)
      : f(std::move(o)) {
    REQUIRE(certs.ok);
    f.store.users["alice"].publish = "127.0.0.1:20000-60000";
    f.store.users["alice"].max_tunnels = max_tunnels;
    server = must(quic::QuicServer::create(
        f.loop.get(), qt::server_options(certs),
        [this](io::StreamPtr s) { f.engine->serve(std::move(s), "quic"); }));
    REQUIRE(server);
    client =
        must(quic::QuicClient::create(f.loop.get(), qt::client_options(certs, server->port())));
    REQUIRE(client);
    client->on_peer_stream([this](io::StreamPtr s) {
      peers.push_back(std::make_unique<PeerStream>());
      PeerStream& p = *peers.back();
      p.s = std::move(s);
      p.s->set_handler(&p.r);
      p.s->start_read();
    });
    // The control tunnel: a REVERSE request on a stream of the client's connection.
    bool opened = false;
    client->open([this, &opened](io::StreamPtr s, const std::string&) {
      opened = true;
      if (!s) return;
      connection = quic::ConnectionHandle::of(*s);
      control = std::make_unique<Client>(std::move(s), reverse_to(local(0)), "");
    });
    REQUIRE(f.run_until([&] { return opened; }));
    REQUIRE(control);
    REQUIRE(f.run_until([&] { return control->established || control->finished(); }));
    REQUIRE(control->established);
    REQUIRE(control->raw.size() >= kReverseResponseSize);
    port = static_cast<std::uint16_t>((static_cast<std::uint8_t>(control->raw[2]) << 8) |
                                      static_cast<std::uint8_t>(control->raw[3]));
    REQUIRE(connection);
    connection->set_peer_stream_grant(grant);  // what the climber does once published
  }
  ~ReverseQuic() {
    visitors.clear();
    peers.clear();
    control.reset();
    client.reset();
    server.reset();
  }

  /// A visitor connecting to the public port.
  test::Recorder& visit() {
    visitors.emplace_back();
    auto& v = visitors.back();
    bool done = false;
    io::ConnectResult res;
    auto attempt = io::connect_tcp(f.loop.get(), "127.0.0.1", port, {}, [&](io::ConnectResult r) {
      res = std::move(r);
      done = true;
    });
    REQUIRE(f.run_until([&] { return done; }));
    REQUIRE(res.tcp);
    v.s = io::TcpStream::adopt(std::move(res.tcp));
    v.s->set_handler(&v.r);
    v.s->start_read();
    return v.r;
  }
  io::Stream& visitor_stream(std::size_t i) { return *visitors[i].s; }

  Fixture f;
  qt::Certs certs;
  std::unique_ptr<quic::QuicServer> server;
  std::unique_ptr<quic::QuicClient> client;
  std::shared_ptr<quic::ConnectionHandle> connection;
  std::unique_ptr<Client> control;
  std::deque<std::unique_ptr<PeerStream>> peers;
  std::deque<PeerStream> visitors;
  std::uint16_t port = 0;
};

/// The visitor header at the start of `data`, checked whole.
VisitorHeader header_of(const std::string& data) {
  auto h = decode_visitor_header(as_bytes(data));
  REQUIRE(h);
  REQUIRE(h->complete());
  return *h->message;
}

}  // namespace

TEST_CASE("reverse over QUIC: a visitor's stream carries the header, then its bytes, both ways",
          "[server_engine][reverse][quic]") {
  ReverseQuic q;
  test::Recorder& v = q.visit();
  q.visitor_stream(0).write(as_bytes("hello"));
  REQUIRE(q.f.run_until([&] { return !q.peers.empty() && q.peers[0]->r.data.size() >= 25; }));
  PeerStream& p = *q.peers[0];
  const VisitorHeader h = header_of(p.r.data);
  CHECK(h.source.to_string().starts_with("127.0.0.1:"));
  CHECK(h.destination.to_string() == "127.0.0.1:" + std::to_string(q.port));
  const std::size_t header_size = p.r.data.size() - 5;
  CHECK(header_size == 20);  // two IPv4 addresses
  CHECK(p.r.data.substr(header_size) == "hello");
  // The visitor is one of alice's tunnels while it lasts.
  const auto live = q.f.engine->live_tunnels();
  CHECK(std::count_if(live.begin(), live.end(), [](const auto& t) {
          return t.stage == "visitor" && t.user == "alice";
        }) == 1);
  CHECK(q.f.engine->stats().reverse_visitors == 1);

  p.s->write(as_bytes("world"));
  p.s->shutdown();
  q.visitor_stream(0).shutdown();
  REQUIRE(q.f.run_until([&] { return v.eof && p.r.eof; }));
  CHECK(v.data == "world");
  CHECK(v.error.empty());
  REQUIRE(q.f.run_until([&] { return q.f.engine->stats().reverse_visitors == 0; }));
  CHECK(q.f.store.usage["alice"] >= 10);  // visitor bytes count against the publisher
  CHECK(q.f.logged("target=" + h.source.to_string()));
}

TEST_CASE("reverse over QUIC: without stream credit a visitor waits for a slot, then is reset",
          "[server_engine][reverse][quic]") {
  auto o = Fixture::defaults();
  o.handshake_timeout_ms = 1'500;
  ReverseQuic q(o, 1);
  q.visit();
  q.visitor_stream(0).write(as_bytes("one"));
  REQUIRE(q.f.run_until([&] { return q.peers.size() == 1 && q.peers[0]->r.data.size() >= 23; }));
  test::Recorder& second = q.visit();
  q.visitor_stream(1).write(as_bytes("two"));
  // No credit for a second stream: the visitor waits, counted, its bytes held by TCP.
  REQUIRE(q.f.run_until([&] { return q.f.engine->stats().reverse_visitors == 2; }));
  bool later = false;
  io::Timer pause(q.f.loop.get());
  pause.start(200, [&] { later = true; });
  REQUIRE(q.f.run_until([&] { return later; }));
  CHECK(q.peers.size() == 1);
  // The first stream closes: its slot comes back and the waiting visitor gets it.
  q.peers[0]->s->shutdown();
  q.visitor_stream(0).shutdown();
  REQUIRE(q.f.run_until([&] { return q.peers.size() == 2 && q.peers[1]->r.data.size() >= 23; }));
  CHECK(q.peers[1]->r.data.substr(20) == "two");
  CHECK(second.error.empty());

  // Both slots in use again: a third visitor waits the handshake time-out, then is reset
  // without having reached the climber.
  test::Recorder& third = q.visit();
  q.visitor_stream(2).write(as_bytes("three"));
  REQUIRE(q.f.run_until([&] { return third.eof || !third.error.empty(); }, 10'000));
  CHECK(third.data.empty());
  CHECK(q.peers.size() == 2);
}

TEST_CASE("reverse over QUIC: the climber's CONNECT_FAILED ends the visitor without a byte",
          "[server_engine][reverse][quic]") {
  ReverseQuic q;
  test::Recorder& v = q.visit();
  REQUIRE(q.f.run_until([&] { return !q.peers.empty() && q.peers[0]->r.data.size() >= 20; }));
  q.peers[0]->s.release()->abort(static_cast<std::uint64_t>(QuicAppError::connect_failed));
  REQUIRE(q.f.run_until([&] { return v.eof || !v.error.empty(); }));
  CHECK(v.data.empty());
  REQUIRE(q.f.run_until([&] { return q.f.engine->stats().reverse_visitors == 0; }));
  CHECK(q.f.logged("client: reset by peer: 0x4 (CONNECT_FAILED)"));
}

TEST_CASE("reverse over QUIC: the end of the control tunnel aborts its visitors",
          "[server_engine][reverse][quic]") {
  ReverseQuic q;
  test::Recorder& v = q.visit();
  q.visitor_stream(0).write(as_bytes("hi"));
  REQUIRE(q.f.run_until([&] { return !q.peers.empty() && q.peers[0]->r.data.size() >= 22; }));
  q.control->close();  // the climber drops its control stream
  REQUIRE(
      q.f.run_until([&] { return (v.eof || !v.error.empty()) && !q.peers[0]->r.error.empty(); }));
  // Reset, not a FIN the visitor could take for the service's clean end (9.7).
  CHECK_FALSE(v.eof);
  CHECK(v.error == "connection reset");
  CHECK(q.f.engine->stats().reverse_visitors == 0);
  CHECK(q.f.logged("port kept"));  // the grace period, as over TLS
}

TEST_CASE("reverse over QUIC: a visitor is one of the user's tunnels under its max_tunnels",
          "[server_engine][reverse][quic]") {
  auto o = Fixture::defaults();
  o.reply_status = true;
  ReverseQuic q(o, 8, 2);  // the control tunnel and one visitor
  test::Recorder& v = q.visit();
  q.visitor_stream(0).write(as_bytes("hi"));
  REQUIRE(q.f.run_until([&] { return !q.peers.empty() && q.peers[0]->r.data.size() >= 22; }));
  Client& full = q.f.open_alice();
  REQUIRE(q.f.run_until([&] { return full.finished(); }));
  CHECK(full.rejected == Status::auth_failed);
  CHECK(q.f.failed(TunnelFailure::user_tunnel_limit) == 1);
  // The visitor ends: its slot is the user's again, and only its own.
  q.peers[0]->s->shutdown();
  q.visitor_stream(0).shutdown();
  REQUIRE(q.f.run_until([&] { return v.eof && q.f.engine->stats().reverse_visitors == 0; }));
  Client& room = q.f.open_alice();
  REQUIRE(q.f.run_until([&] { return room.established || room.finished(); }));
  CHECK(room.established);
  Client& full_again = q.f.open_alice();
  REQUIRE(q.f.run_until([&] { return full_again.finished(); }));
  CHECK(full_again.rejected == Status::auth_failed);
}

#endif  // MTOP_HAVE_QUIC
