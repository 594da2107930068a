#include <catch2/catch.hpp>

#include <memory>

#include "uv/stream_buffers.hpp"
#include "uv/tcp_stream.hpp"
#include "uv_test_support.hpp"

using mtop::as_bytes;
using mtop::ByteView;
using mtop::io::Stream;
using mtop::io::StreamPtr;
using mtop::test::make_pair;
using mtop::test::pattern;
using mtop::test::Recorder;
using mtop::test::TestLoop;

namespace {

// Writes `total` bytes in `chunk`-sized writes.
void write_all(Stream& s, const std::string& bytes, std::size_t chunk = 1 << 20) {
  for (std::size_t off = 0; off < bytes.size(); off += chunk) {
    s.write(as_bytes(std::string_view(bytes).substr(off, chunk)));
  }
}

}  // namespace

TEST_CASE("tcp stream: echo over IPv4 and IPv6 loopback", "[tcp_stream]") {
  const std::string host = GENERATE(std::string("127.0.0.1"), std::string("::1"));
  TestLoop loop;
  {
    auto p = make_pair(loop, host);
    Recorder server, client;
    server.on_data = [&](ByteView d) { p.server->write(d); };
    server.on_end = [&] { p.server->shutdown(); };
    p.server->set_handler(&server);
    p.client->set_handler(&client);
    p.server->start_read();
    p.client->start_read();

    const std::string msg = pattern(3 * 1024 * 1024 + 17, 7);
    write_all(*p.client, msg, 100'000);
    p.client->shutdown();
    REQUIRE(loop.run_until([&] { return client.eof; }));
    CHECK(client.data.size() == msg.size());
    CHECK(client.data == msg);
    CHECK(client.errors == 0);
    CHECK(server.errors == 0);
    CHECK(server.eof);
    CHECK(p.client->peer_name() ==
          (host == "::1" ? "[::1]:" : "127.0.0.1:") + std::to_string(p.port));
    CHECK(p.client->write_queue_size() == 0);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("tcp stream: the write queue grows while the peer does not read, then drains",
          "[tcp_stream]") {
  TestLoop loop;
  {
    auto p = make_pair(loop);
    Recorder server, client;
    p.server->set_handler(&server);
    p.client->set_handler(&client);

    // More than loopback socket buffers can hold, so part of it must stay queued.
    const std::string msg = pattern(48 * 1024 * 1024, 3);
    write_all(*p.client, msg);
    CHECK(p.client->write_queue_size() > Stream::low_water());
    loop.spin();
    CHECK(client.drains == 0);
    CHECK(p.client->write_queue_size() > Stream::low_water());

    // The slow reader finally reads: the queue drains and on_drain fires.
    p.server->start_read();
    REQUIRE(loop.run_until([&] { return server.data.size() == msg.size(); }));
    CHECK(server.data == msg);
    CHECK(client.drains == 1);
    CHECK(p.client->write_queue_size() == 0);
    CHECK(client.errors == 0);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("tcp stream: queued writes run on recycled chunks", "[tcp_stream][buffers]") {
  TestLoop loop;
  const auto buffers = std::make_shared<mtop::io::StreamBuffers>();
  const mtop::io::ChunkPool& chunks = buffers->chunks;
  {
    auto p = make_pair(loop, "127.0.0.1", buffers);
    Recorder server, client;
    p.server->set_handler(&server);
    p.client->set_handler(&client);
    const std::string block = pattern(mtop::io::StreamBuffers::kReadSize, 5);
    std::size_t sent = 0;
    constexpr int kRounds = 10;
    constexpr int kQueued = 8;
    for (int round = 0; round < kRounds; ++round) {
      // The reader pauses: fill the socket buffers until libuv queues, then queue kQueued
      // whole writes, each of which needs a chunk. Then the reader drains everything.
      p.server->stop_read();
      while (p.client->write_queue_size() == 0) {
        p.client->write(as_bytes(block));
        sent += block.size();
      }
      for (int i = 0; i < kQueued; ++i) p.client->write(as_bytes(block));
      sent += kQueued * block.size();
      p.server->start_read();
      REQUIRE(loop.run_until([&] { return server.data.size() == sent; }));
      CHECK(p.client->write_queue_size() == 0);
    }
    INFO("chunks allocated " << chunks.allocated() << ", reused " << chunks.reused());
    // Only the first round allocates (kQueued chunks, one more for a partly sent write);
    // later rounds run on the same chunks.
    CHECK(chunks.allocated() <= kQueued + 1);
    CHECK(chunks.reused() >= (kRounds - 1) * kQueued);
    // Nothing queued: every chunk is back in the pool, none held by the idle stream.
    CHECK(chunks.spare() == chunks.allocated());
    CHECK(server.data.substr(sent - block.size()) == block);
    CHECK(client.errors == 0);
    CHECK(server.errors == 0);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("tcp stream: stop_read pauses delivery and start_read resumes it", "[tcp_stream]") {
  TestLoop loop;
  {
    auto p = make_pair(loop);
    Recorder server;
    p.server->set_handler(&server);
    server.on_data = [&](ByteView) { p.server->stop_read(); };
    p.server->start_read();
    p.client->write(as_bytes("first"));
    REQUIRE(loop.run_until([&] { return server.data == "first"; }));
    p.client->write(as_bytes("second"));
    p.client->shutdown();
    loop.spin(20);
    CHECK(server.data == "first");  // paused: nothing more, no EOF
    CHECK_FALSE(server.eof);
    server.on_data = nullptr;
    p.server->start_read();
    REQUIRE(loop.run_until([&] { return server.eof; }));
    CHECK(server.data == "firstsecond");
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("tcp stream: shutdown is a half-close, the other direction keeps flowing",
          "[tcp_stream]") {
  TestLoop loop;
  {
    auto p = make_pair(loop);
    Recorder server, client;
    p.server->set_handler(&server);
    p.client->set_handler(&client);
    p.server->start_read();
    p.client->start_read();

    p.client->write(as_bytes("request"));
    p.client->shutdown();
    p.client->shutdown();  // idempotent
    REQUIRE(loop.run_until([&] { return server.eof; }));
    CHECK(server.data == "request");

    // The server still answers after seeing our EOF, and we still receive it.
    const std::string answer = pattern(1 << 20, 9);
    p.server->write(as_bytes(answer));
    p.server->shutdown();
    REQUIRE(loop.run_until([&] { return client.eof; }));
    CHECK(client.data == answer);
    CHECK(client.errors == 0);
    CHECK(server.errors == 0);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("tcp stream: close() with queued data frees everything and reports nothing",
          "[tcp_stream]") {
  TestLoop loop;
  {
    auto p = make_pair(loop);
    Recorder server, client;
    p.server->set_handler(&server);
    p.client->set_handler(&client);
    p.client->start_read();
    p.client->write(as_bytes(pattern(32 * 1024 * 1024, 5)));
    p.client->shutdown();
    REQUIRE(p.client->write_queue_size() > 0);
    p.server->write(as_bytes("pending for the client"));
    p.client.reset();  // close(): aborts, drops the queue
    loop.spin(20);
    CHECK(client.calls == 0);

    // The server sees the connection end one way or another (EOF or reset).
    p.server->start_read();
    REQUIRE(loop.run_until([&] { return server.eof || server.errors > 0; }));
  }
  // Every handle (the client's socket included) has been closed and freed.
  CHECK(loop.close() == 0);
}

TEST_CASE("tcp stream: a reset from the peer is an error 'connection reset'", "[tcp_stream]") {
  TestLoop loop;
  {
    mtop::io::UvHandle<uv_tcp_t> raw;
    auto l = mtop::io::TcpListener::listen_raw(
        loop.get(), "127.0.0.1", 0, [&](mtop::io::UvHandle<uv_tcp_t> h) { raw = std::move(h); });
    REQUIRE(l);
    mtop::io::ConnectResult res;
    auto attempt = mtop::io::connect_tcp(loop.get(), "127.0.0.1", (*l)->port(), {},
                                         [&](mtop::io::ConnectResult r) { res = std::move(r); });
    REQUIRE(loop.run_until([&] { return res.tcp && raw; }));
    auto client = mtop::io::TcpStream::adopt(std::move(res.tcp));
    Recorder rec;
    client->set_handler(&rec);
    client->start_read();

    // SO_LINGER 0 + close: the kernel sends RST.
    uv_tcp_t* h = raw.release();
    REQUIRE(uv_tcp_close_reset(h, [](uv_handle_t* x) { delete reinterpret_cast<uv_tcp_t*>(x); }) == 0);
    REQUIRE(loop.run_until([&] { return rec.errors > 0 || rec.eof; }));
    CHECK(rec.errors == 1);
    CHECK(rec.error == "connection reset");
    CHECK_FALSE(rec.eof);
    // Nothing more after on_error.
    client->write(as_bytes("x"));
    client->shutdown();
    loop.spin(10);
    CHECK(rec.calls == 1);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("tcp stream: write after shutdown is reported later, never inside the call",
          "[tcp_stream]") {
  TestLoop loop;
  {
    auto p = make_pair(loop);
    Recorder client;
    p.client->set_handler(&client);
    p.client->shutdown();
    p.client->write(as_bytes("too late"));
    CHECK(client.calls == 0);  // not re-entrant
    REQUIRE(loop.run_until([&] { return client.errors > 0; }));
    CHECK(client.error == "write after shutdown");
    loop.spin(10);
    CHECK(client.calls == 1);
  }
  CHECK(loop.close() == 0);
}
