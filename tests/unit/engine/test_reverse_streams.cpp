// ReverseStreams, the climber's end of QUIC visitors (docs/PROTOCOL.md 9.5), over a real
// QuicServer / QuicClient pair on loopback: the grant follows the control tunnels of a
// connection, a server stream goes to the tunnel its header names with the bytes after the
// header, an unknown TUNNEL is reset with REFUSED and a bad header with PROTOCOL_ERROR.
#ifdef MTOP_HAVE_QUIC

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "../quic/quic_test_support.hpp"
#include "engine/reverse_streams.hpp"
#include "mtop/reverse_codec.hpp"
#include "must.hpp"
#include "quic/connection_handle.hpp"

using namespace mtop;
using qt::Collector;

namespace {

struct Fixture {
  qt::Loop loop;
  qt::Certs certs;
  std::unique_ptr<quic::QuicServer> server;
  std::unique_ptr<quic::QuicClient> client;
  ReverseStreams streams{loop.get(), 4};
  std::vector<io::StreamPtr> accepted;  // the server's side of the client's streams
  io::StreamPtr control;                // the client's "control tunnel" stream

  Fixture() {
    REQUIRE(certs.ok);
    server = must(
        quic::QuicServer::create(loop.get(), qt::server_options(certs),
                                 [this](io::StreamPtr s) { accepted.push_back(std::move(s)); }));
    client = must(quic::QuicClient::create(loop.get(), qt::client_options(certs, server->port())));
    client->on_peer_stream([this](io::StreamPtr s) { streams.accept(std::move(s)); });
    std::string error;
    control = qt::open_stream(loop, *client, error);
    REQUIRE(control);
    control->write(as_bytes("c"));  // the server sees a stream once it carries a byte
    REQUIRE(loop.run_until([&] { return !accepted.empty(); }));
  }
  ~Fixture() {
    accepted.clear();
    control.reset();
    client.reset();
    server.reset();
  }

  /// The server's handle on the client's connection.
  std::shared_ptr<quic::ConnectionHandle> server_side() {
    return quic::ConnectionHandle::of(*accepted.front());
  }
  /// A server stream to the client with `first` as its first bytes.
  Collector& server_stream(const Bytes& first) {
    auto h = server_side();
    REQUIRE(h);
    REQUIRE(loop.run_until([&] { return h->streams_left() > 0; }));
    auto s = h->open_stream();
    REQUIRE(s);
    opened.push_back(std::make_unique<Collector>());
    Collector& c = *opened.back();
    c.s = std::move(*s);
    c.s->set_handler(&c);
    c.s->start_read();
    c.s->write(first);
    return c;
  }
  std::vector<std::unique_ptr<Collector>> opened;
};

Bytes header_for(std::uint32_t tunnel) {
  Bytes out;
  REQUIRE(encode_visitor_header(VisitorHeader{tunnel, Address::from_ipv4({192, 0, 2, 7}, 4000),
                                              Address::from_ipv4({127, 0, 0, 1}, 8080)},
                                out));
  return out;
}

/// A visitor handed to a tunnel: its stream, reading again, and every byte after the header.
struct Carried : io::Stream::Handler {
  io::StreamPtr s;
  VisitorHeader header;
  std::string data;
  bool eof = false;
  void on_read(ByteView d) override { data.append(as_chars(d)); }
  void on_eof() override { eof = true; }
  void on_error(std::string_view) override {}
  void on_drain() override {}
};

}  // namespace

TEST_CASE("reverse streams: the grant follows the control tunnels of a connection",
          "[reverse][quic]") {
  Fixture f;
  auto client_side = quic::ConnectionHandle::of(*f.control);
  REQUIRE(client_side);
  CHECK(client_side->peer_stream_grant() == 0);  // no control tunnel: no visitor streams
  CHECK(f.streams.control_up(7, *f.control, [](io::StreamPtr, const VisitorHeader&, Bytes) {}));
  CHECK(client_side->peer_stream_grant() == 4);
  CHECK(f.streams.control_up(8, *f.control, [](io::StreamPtr, const VisitorHeader&, Bytes) {}));
  f.streams.control_down(7);
  CHECK(client_side->peer_stream_grant() == 4);  // tunnel 8 is still up on it
  f.streams.control_down(8);
  CHECK(client_side->peer_stream_grant() == 0);
  f.streams.control_down(8);  // twice: no effect
  CHECK(client_side->peer_stream_grant() == 0);
}

TEST_CASE("reverse streams: a visitor goes to its tunnel with the bytes after its header",
          "[reverse][quic]") {
  Fixture f;
  std::vector<std::unique_ptr<Carried>> carried;
  REQUIRE(
      f.streams.control_up(7, *f.control, [&](io::StreamPtr s, const VisitorHeader& h, Bytes held) {
        carried.push_back(std::make_unique<Carried>());
        Carried& c = *carried.back();
        c.s = std::move(s);
        c.header = h;
        c.data.append(as_chars(held));
        c.s->set_handler(&c);
        c.s->start_read();
      }));
  Bytes first = header_for(7);
  const std::string hello = "hello service";
  first.insert(first.end(), hello.begin(), hello.end());
  Collector& server = f.server_stream(first);
  server.s->shutdown();
  REQUIRE(f.loop.run_until([&] { return !carried.empty() && carried[0]->eof; }));
  CHECK(carried[0]->header.tunnel == 7);
  CHECK(carried[0]->header.source.to_string() == "192.0.2.7:4000");
  CHECK(carried[0]->data == hello);
  carried[0]->s->write(as_bytes("answer"));
  carried[0]->s->shutdown();
  REQUIRE(f.loop.run_until([&] { return server.eof; }));
  CHECK(std::string(as_chars(server.data)) == "answer");
  REQUIRE(f.loop.run_until([&] { return f.streams.reading() == 0; }));
}

TEST_CASE("reverse streams: an unknown tunnel is REFUSED, a bad header PROTOCOL_ERROR",
          "[reverse][quic]") {
  Fixture f;
  int carried = 0;
  REQUIRE(f.streams.control_up(7, *f.control,
                               [&](io::StreamPtr, const VisitorHeader&, Bytes) { ++carried; }));
  Collector& unknown = f.server_stream(header_for(9));
  Bytes bad = header_for(7);
  bad[0] = 0x02;  // VER
  Collector& broken = f.server_stream(bad);
  REQUIRE(f.loop.run_until([&] { return !unknown.error.empty() && !broken.error.empty(); }));
  CHECK(unknown.error == "reset by peer: 0x3 (REFUSED)");
  CHECK(broken.error == "reset by peer: 0x2 (PROTOCOL_ERROR)");
  // Its control tunnel gone, a TUNNEL that was known is refused too.
  f.streams.control_up(8, *f.control, [](io::StreamPtr, const VisitorHeader&, Bytes) {});
  f.streams.control_down(7);
  Collector& late = f.server_stream(header_for(7));
  REQUIRE(f.loop.run_until([&] { return !late.error.empty(); }));
  CHECK(late.error == "reset by peer: 0x3 (REFUSED)");
  CHECK(carried == 0);
}

#endif  // MTOP_HAVE_QUIC
