// TcpSocket, the TCP plumbing under TcpStream and TlsStream: what it reports and when, the
// chunks it keeps or returns, half-close, and the close and destroy paths. The Stream rules
// on top are tested through the streams (test_tcp_stream.cpp, tests/unit/tls).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "uv/chunk_pool.hpp"
#include "uv/tcp_socket.hpp"
#include "uv_test_support.hpp"

// Inside the namespace, so the names under test need no using-declarations.
namespace mtop::io {

namespace {

/// Records every event, in order; owns nothing.
struct Events final : TcpSocket::Events {
  std::string data;
  std::vector<std::string> log;  ///< "read", "eof", "error read -104", "drain", "closed"
  std::function<void()> on_closed;

  void on_socket_read(ByteView d) override {
    data.append(as_chars(d));
    if (log.empty() || log.back() != "read") log.emplace_back("read");
  }
  void on_socket_eof() override { log.emplace_back("eof"); }
  void on_socket_error(const char* op, int status) override {
    log.push_back(std::string("error ") + op + " " + std::to_string(status));
  }
  void on_socket_drain() override { log.emplace_back("drain"); }
  void on_socket_closed() override {
    log.emplace_back("closed");
    if (on_closed) on_closed();
  }
  int count(const std::string& what) const {
    return static_cast<int>(std::count(log.begin(), log.end(), what));
  }
};

/// Two connected sockets over loopback sharing one chunk pool; each has its own read buffer.
struct SocketPair {
  std::shared_ptr<ChunkPool> chunks = std::make_shared<ChunkPool>();
  Bytes client_read = Bytes(64 * 1024);
  Bytes server_read = Bytes(64 * 1024);
  Events client_events, server_events;
  std::unique_ptr<TcpSocket> client, server;

  explicit SocketPair(test::TestLoop& loop) {
    UvHandle<uv_tcp_t> accepted;
    auto l = TcpListener::listen_raw(loop.get(), "127.0.0.1", 0,
                                     [&](UvHandle<uv_tcp_t> h) { accepted = std::move(h); });
    REQUIRE(l);
    ConnectResult res;
    auto attempt = connect_tcp(loop.get(), "127.0.0.1", (*l)->port(), {},
                               [&](ConnectResult r) { res = std::move(r); });
    REQUIRE(loop.run_until([&] { return res.tcp && accepted; }));
    client = std::make_unique<TcpSocket>(std::move(res.tcp), client_events, client_read, chunks);
    server = std::make_unique<TcpSocket>(std::move(accepted), server_events, server_read, chunks);
  }

  /// A chunk of the pool holding `bytes`.
  Bytes chunk_of(const std::string& bytes) const {
    Bytes c = chunks->take();
    c.insert(c.end(), bytes.begin(), bytes.end());
    return c;
  }
};

}  // namespace

TEST_CASE("tcp socket: names both ends", "[tcp_socket]") {
  test::TestLoop loop;
  {
    SocketPair p(loop);
    CHECK(p.client->peer_name() == p.server->local_name());
    CHECK(p.server->peer_name() == p.client->local_name());
    CHECK(p.client->peer_name().starts_with("127.0.0.1:"));
    p.client->close();
    p.server->close();
    REQUIRE(loop.run_until([&] { return p.client_events.count("closed") == 1; }));
    CHECK(p.client->local_name() == "?");
  }
  CHECK(loop.close() == 0);
}

TEST_CASE(
    "tcp socket: a chunk the kernel takes is back in the pool at once, queued chunks "
    "are kept whole until sent, and the drain is reported once",
    "[tcp_socket][buffers]") {
  test::TestLoop loop;
  {
    SocketPair p(loop);
    const std::string block = test::pattern(p.chunks->chunk_size(), 7);
    std::string sent;

    // An idle connection: the kernel takes everything, the one chunk is spare again.
    REQUIRE(p.client->write_chunk(p.chunk_of("hello")) == 0);
    sent += "hello";
    CHECK(p.client->queue_size() == 0);
    CHECK(p.chunks->allocated() == 1);
    CHECK(p.chunks->spare() == 1);

    // The peer does not read: fill the socket buffers until libuv queues.
    while (p.client->queue_size() == 0) {
      REQUIRE(p.client->write_chunk(p.chunk_of(block)) == 0);
      sent += block;
    }
    // Every chunk written from now on is queued whole and held by its request, not copied:
    // no chunk is spare and none is allocated beyond the ones written.
    const std::uint64_t before = p.chunks->allocated();
    const std::size_t spare_before = p.chunks->spare();
    constexpr int kQueued = 4;
    for (int i = 0; i < kQueued; ++i) {
      REQUIRE(p.client->write_chunk(p.chunk_of(block)) == 0);
      sent += block;
    }
    CHECK(p.chunks->allocated() - before == static_cast<std::uint64_t>(kQueued) - spare_before);
    CHECK(p.chunks->spare() == 0);
    CHECK(p.client->queue_size() > Stream::low_water());
    CHECK(p.client_events.log.empty());  // calls never report

    REQUIRE(p.server->start_read() == 0);
    REQUIRE(loop.run_until([&] { return p.server_events.data.size() == sent.size(); }));
    CHECK(p.server_events.data == sent);
    CHECK(p.client->queue_size() == 0);
    CHECK(p.client_events.log == std::vector<std::string>{"drain"});
    CHECK(p.chunks->spare() == p.chunks->allocated());  // all back, none held while idle
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("tcp socket: write() copies what is not sent, in chunks of the pool",
          "[tcp_socket][buffers]") {
  test::TestLoop loop;
  {
    SocketPair p(loop);
    // Far more than the socket buffers take, until most of it is queued, chunk by chunk.
    const std::string piece = test::pattern(4 * p.chunks->chunk_size() + 123, 9);
    std::string bytes;
    while (p.client->queue_size() <= Stream::low_water()) {
      REQUIRE(p.client->write(as_bytes(piece)) == 0);
      bytes += piece;
    }
    CHECK(p.chunks->allocated() > 0);
    CHECK(p.client_events.log.empty());  // calls never report
    REQUIRE(p.server->start_read() == 0);
    REQUIRE(loop.run_until([&] { return p.server_events.data.size() == bytes.size(); }));
    CHECK(p.server_events.data == bytes);
    CHECK(p.client_events.log == std::vector<std::string>{"drain"});
    CHECK(p.chunks->spare() == p.chunks->allocated());
  }
  CHECK(loop.close() == 0);
}

TEST_CASE(
    "tcp socket: shutdown sends the FIN after the queued bytes, the peer's EOF ends its "
    "reading for good, and the other way still flows",
    "[tcp_socket]") {
  test::TestLoop loop;
  {
    SocketPair p(loop);
    const std::string bytes = test::pattern(4 * p.chunks->chunk_size(), 3);
    REQUIRE(p.client->write(as_bytes(bytes)) == 0);
    REQUIRE(p.client->shutdown() == 0);
    REQUIRE(p.client->start_read() == 0);
    REQUIRE(p.server->start_read() == 0);
    REQUIRE(loop.run_until([&] { return p.server_events.count("eof") == 1; }));
    CHECK(p.server_events.data == bytes);  // every byte before the EOF
    CHECK(p.server_events.log.back() == "eof");
    CHECK_FALSE(p.server->reading());
    CHECK(p.server->start_read() == 0);  // nothing to start: reading has ended
    CHECK_FALSE(p.server->reading());

    REQUIRE(p.server->write(as_bytes("still open")) == 0);
    REQUIRE(loop.run_until([&] { return p.client_events.data == "still open"; }));
    CHECK(p.client_events.count("eof") == 0);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("tcp socket: a reset is a read error, and reading ends", "[tcp_socket]") {
  test::TestLoop loop;
  {
    SocketPair p(loop);
    REQUIRE(p.client->start_read() == 0);
    // Bytes the server never reads: closing it then makes the kernel send RST, not FIN.
    REQUIRE(p.client->write(as_bytes("unread")) == 0);
    loop.spin(5);
    p.server.reset();  // destroyed without close(): it closes its handle, reports nothing
    REQUIRE(loop.run_until([&] { return !p.client_events.log.empty(); }));
    loop.spin(5);
    CHECK(p.client_events.log ==
          std::vector<std::string>{"error read " + std::to_string(UV_ECONNRESET)});
    CHECK_FALSE(p.client->reading());
    CHECK(p.client->start_read() == 0);
    CHECK_FALSE(p.client->reading());
    CHECK(p.server_events.log.empty());
  }
  CHECK(loop.close() == 0);
}

TEST_CASE(
    "tcp socket: close() cancels queued writes unreported, returns their chunks, and "
    "on_socket_closed() comes last",
    "[tcp_socket][close]") {
  test::TestLoop loop;
  {
    SocketPair p(loop);
    const std::string block = test::pattern(p.chunks->chunk_size(), 11);
    while (p.client->queue_size() <= Stream::low_water()) {
      REQUIRE(p.client->write_chunk(p.chunk_of(block)) == 0);
    }
    REQUIRE(p.client->shutdown() == 0);
    REQUIRE(p.client->start_read() == 0);
    // As an owner does: free the socket from on_socket_closed().
    p.client_events.on_closed = [&] { p.client.reset(); };
    p.client->close();
    p.client->close();  // idempotent
    CHECK(p.client->queue_size() == 0);
    CHECK(p.client->write(as_bytes("late")) == UV_EBADF);
    CHECK(p.client->shutdown() == UV_EBADF);
    REQUIRE(loop.run_until([&] { return p.client == nullptr; }));
    CHECK(p.client_events.log == std::vector<std::string>{"closed"});
    CHECK(p.chunks->spare() == p.chunks->allocated());
    p.server->close();
  }
  CHECK(loop.close() == 0);
}

}  // namespace mtop::io
