// The ciphertext chunks of TlsBuffers: a bulk transfer through a TlsStream runs on a few
// recycled chunks instead of a fresh buffer per write, and an idle stream holds none
// (issue 13: per-write buffers made glibc trim and refault the heap on every write).
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "must.hpp"
#include "tls/buffers.hpp"
#include "tls/engine.hpp"
#include "tls/tls_stream.hpp"
#include "tls_test_support.hpp"
#include "uv/connector.hpp"
#include "uv/tcp_listener.hpp"

using namespace tls_test;

namespace {

/// A client and a server TlsStream over loopback, each with TlsBuffers of the test's own.
struct Pair {
  SharedTlsBuffers client_buffers = std::make_shared<TlsBuffers>();
  SharedTlsBuffers server_buffers = std::make_shared<TlsBuffers>();
  io::StreamPtr client, server;

  Pair(Loop& loop, const Pki& pki) {
    auto sctx = must(ServerContext::create({pki.server_chain, pki.server_key}));
    TlsClientConfig cc;
    cc.ca_file = pki.ca;
    auto cctx = must(ClientContext::create(cc));
    REQUIRE(sctx);
    REQUIRE(cctx);
    auto established = [](io::StreamPtr& slot) {
      return [&slot](TlsStream* s, const std::string& e) {
        CHECK(e == "");
        slot = io::StreamPtr(s);  // a failed stream is closed with it; run_until then fails
      };
    };
    auto listener =
        io::TcpListener::listen_raw(loop.get(), "127.0.0.1", 0, [&](io::UvHandle<uv_tcp_t> tcp) {
          TlsStream::start(loop.get(), std::move(tcp), must(Engine::server(sctx)), server_buffers,
                           10'000, established(server));
        });
    REQUIRE(listener);
    auto attempt = io::connect_tcp(
        loop.get(), "127.0.0.1", (*listener)->port(), {}, [&](io::ConnectResult r) {
          CHECK(r.tcp);
          if (r.tcp)
            TlsStream::start(loop.get(), std::move(r.tcp),
                             must(Engine::client(cctx, "localhost", "")), client_buffers, 10'000,
                             established(client));
        });
    REQUIRE(loop.run_until([&] { return client && server; }));
  }
};

}  // namespace

TEST_CASE("TLS writes run on recycled ciphertext chunks, and an idle stream holds none",
          "[tls][stream][buffers]") {
  Pki pki;
  Loop loop;
  {
    Pair p(loop, pki);
    Recorder c_rec, s_rec;
    p.client->set_handler(&c_rec);
    p.server->set_handler(&s_rec);
    p.server->start_read();
    const io::ChunkPool& pool = p.client_buffers->chunks;
    const auto allocated_after_handshake = pool.allocated();
    CHECK(pool.spare() == allocated_after_handshake);  // the handshake's chunks came back

    // 64 KiB writes, as a relay forwards them, both ways out: straight to the kernel, and,
    // once the socket buffers are full because the reader pauses, kQueued queued uv_write
    // requests per round.
    const std::string block = pattern(TlsBuffers::kSize, 7);
    constexpr int kRounds = 10;
    constexpr int kQueued = 8;
    std::size_t sent = 0;
    std::uint64_t writes = 0;
    for (int round = 0; round < kRounds; ++round) {
      p.server->stop_read();
      while (p.client->write_queue_size() == 0) {
        p.client->write(as_bytes(block));
        sent += block.size();
        ++writes;
      }
      for (int i = 0; i < kQueued; ++i) p.client->write(as_bytes(block));
      sent += kQueued * block.size();
      writes += kQueued;
      p.server->start_read();
      REQUIRE(loop.run_until([&] { return s_rec.data.size() == sent; }, 30'000));
      CHECK(p.client->write_queue_size() == 0);
    }
    CHECK(s_rec.errors == 0);
    CHECK(s_rec.data.substr(0, block.size()) == block);
    CHECK(s_rec.data.substr(s_rec.data.size() - block.size()) == block);
    INFO("chunks allocated " << pool.allocated() << ", reused " << pool.reused() << ", writes "
                             << writes);
    // Each write took a chunk. Only the first round allocated (kQueued, one more for a
    // partly sent write, one for the write in progress); later rounds run on the same ones.
    CHECK(pool.reused() + pool.allocated() >= writes);
    CHECK(pool.allocated() - allocated_after_handshake <= kQueued + 2);
    CHECK(pool.reused() >= writes - (kQueued + 2));

    // Idle: nothing queued, and every chunk is back in the pool, none held by the stream.
    loop.idle(50);
    CHECK(p.client->write_queue_size() == 0);
    CHECK(pool.spare() == pool.allocated());
    CHECK(p.client_buffers->chunks.spare() <= io::ChunkPool::kMaxSpare);

    // The other way, through the server's pool, the same.
    p.client->start_read();
    const io::ChunkPool& spool = p.server_buffers->chunks;
    const auto s_allocated = spool.allocated();
    for (int i = 0; i < 64; ++i) p.server->write(as_bytes(block));
    REQUIRE(loop.run_until([&] { return c_rec.data.size() == 64 * block.size(); }, 60'000));
    loop.idle(50);
    CHECK(spool.reused() + spool.allocated() - s_allocated >= 64);
    CHECK(spool.spare() == std::min<std::size_t>(spool.allocated(), io::ChunkPool::kMaxSpare));
    CHECK(c_rec.errors == 0);
  }
  CHECK(loop.finish());
}

TEST_CASE("a write larger than a chunk goes out in chunk-sized pieces, intact",
          "[tls][stream][buffers]") {
  Pki pki;
  Loop loop;
  {
    Pair p(loop, pki);
    Recorder s_rec;
    p.server->set_handler(&s_rec);
    p.server->start_read();
    const std::string big = pattern(5 * TlsBuffers::kSize + 12'345, 9);
    p.client->write(as_bytes(big));
    p.client->shutdown();
    REQUIRE(loop.run_until([&] { return s_rec.eof || s_rec.errors > 0; }, 30'000));
    CHECK(s_rec.error == "");
    CHECK(s_rec.data == big);
    const io::ChunkPool& pool = p.client_buffers->chunks;
    // No chunk grew past its size (give() would have dropped it): all are back.
    CHECK(pool.spare() == std::min<std::size_t>(pool.allocated(), io::ChunkPool::kMaxSpare));
  }
  CHECK(loop.finish());
}
