// QuicClient's connection pool (more concurrent streams than one connection may carry) and
// the endpoints' use of their send-chunk free list (the list itself: uv/test_chunk_pool.cpp).
#include <catch2/catch.hpp>

#include "quic_test_support.hpp"
#include "uv/chunk_pool.hpp"

using namespace qt;
using mtop::io::ChunkPool;
using mtop::quic::QuicClient;
using mtop::quic::QuicServer;

namespace {

/// A server granting `streams` concurrent streams per connection, and a client.
struct SmallPair {
  Loop loop;
  Certs certs;
  EchoServer echo;
  std::unique_ptr<QuicServer> server;
  std::unique_ptr<QuicClient> client;

  SmallPair(std::uint64_t streams, std::size_t max_connections, std::uint64_t idle_ms) {
    REQUIRE(certs.ok);
    std::string error;
    auto so = server_options(certs);
    so.limits.max_streams = streams;
    server = QuicServer::create(loop.get(), so, echo.acceptor(), error);
    REQUIRE(server);
    auto co = client_options(certs, server->port());
    co.max_connections = max_connections;
    co.idle_connection_ms = idle_ms;
    client = QuicClient::create(loop.get(), co, error);
    REQUIRE(client);
  }
  ~SmallPair() {
    client.reset();
    echo.sessions.clear();
    server.reset();
  }
};

struct Opened {
  bool done = false;
  std::string error;
  Collector c;
};

/// Starts `n` opens at once; each stream, once open, reads and says "hello <i>".
std::vector<std::unique_ptr<Opened>> open_many(QuicClient& client, int n) {
  std::vector<std::unique_ptr<Opened>> v;
  for (int i = 0; i < n; ++i) {
    v.push_back(std::make_unique<Opened>());
    Opened* o = v.back().get();
    client.open([o, i](StreamPtr s, std::string e) {
      o->done = true;
      o->error = std::move(e);
      if (!s) return;
      o->c.s = std::move(s);
      o->c.s->set_handler(&o->c);
      o->c.s->start_read();
      o->c.s->write(mtop::as_bytes("hello " + std::to_string(i)));
    });
  }
  return v;
}

}  // namespace

TEST_CASE("pool: 10 concurrent opens against a limit of 4 streams succeed over 3 connections",
          "[quic]") {
  SmallPair p(4, 8, 300);
  auto opened = open_many(*p.client, 10);
  REQUIRE(p.loop.run_until([&] {
    for (auto& o : opened) {
      if (o->c.bytes < 7) return false;  // every echo of "hello <i>" arrived
    }
    return true;
  }));
  for (std::size_t i = 0; i < opened.size(); ++i) {
    CHECK(opened[i]->error == "");
    CHECK(mtop::as_chars(opened[i]->c.data) == "hello " + std::to_string(i));
  }
  CHECK(p.client->connection_count() == 3);
  CHECK(p.client->handshakes() == 3);
  CHECK(p.server->connection_count() == 3);
  CHECK(p.echo.sessions.size() == 10);

  // Every tunnel ends cleanly; the two extra connections close once idle, the first stays.
  for (auto& o : opened) o->c.s->shutdown();
  REQUIRE(p.loop.run_until([&] {
    for (auto& o : opened) {
      if (!o->c.eof) return false;
    }
    return true;
  }));
  for (auto& o : opened) {
    CHECK(o->c.error == "");
    o->c.s.reset();
  }
  REQUIRE(p.loop.run_until([&] { return p.client->connection_count() == 1; }));
  CHECK(p.client->last_error() == "");  // an idle close is not a lost connection
  REQUIRE(p.loop.run_until([&] { return p.server->connection_count() == 1; }));

  // The one left still serves new tunnels, without a new handshake.
  auto later = open_many(*p.client, 2);
  REQUIRE(p.loop.run_until([&] { return later[0]->c.bytes == 7 && later[1]->c.bytes == 7; }));
  CHECK(p.client->handshakes() == 3);
}

TEST_CASE("pool: when full, opens wait for a stream to end instead of failing", "[quic]") {
  SmallPair p(2, 2, 60'000);
  auto opened = open_many(*p.client, 6);
  auto ready = [&] {
    int n = 0;
    for (auto& o : opened) n += o->c.bytes == 7 ? 1 : 0;
    return n;
  };
  REQUIRE(p.loop.run_until([&] { return ready() == 4; }));
  p.loop.run_for(100);  // settles: nothing more may open
  CHECK(ready() == 4);
  CHECK(p.client->connection_count() == 2);
  int waiting = 0;
  for (auto& o : opened) waiting += o->done ? 0 : 1;
  CHECK(waiting == 2);
  // Two tunnels end (a reset frees the slot as well as a FIN): the waiting opens get them.
  int closed = 0;
  for (auto& o : opened) {
    if (o->c.s && closed < 2) {
      o->c.s.reset();
      ++closed;
    }
  }
  REQUIRE(p.loop.run_until([&] {
    for (auto& o : opened) {
      if (!o->done) return false;
    }
    return true;
  }));
  for (auto& o : opened) CHECK(o->error == "");
  REQUIRE(p.loop.run_until([&] { return ready() == 6; }));
  CHECK(p.client->handshakes() == 2);
}

TEST_CASE("pool: bad max_connections is refused at creation", "[quic]") {
  Certs certs;
  REQUIRE(certs.ok);
  Loop loop;
  std::string error;
  auto o = client_options(certs, 4433);
  o.max_connections = 0;
  CHECK_FALSE(QuicClient::create(loop.get(), o, error));
  CHECK(error == "quic client: max_connections must be 1..64");
  o.max_connections = 65;
  CHECK_FALSE(QuicClient::create(loop.get(), o, error));
}

TEST_CASE("send chunks: a bulk transfer runs on recycled chunks", "[quic]") {
  SmallPair p(16, 8, 60'000);
  std::string error;
  Collector c;
  c.s = open_stream(p.loop, *p.client, error);
  REQUIRE(c.s);
  c.s->set_handler(&c);
  c.s->start_read();
  c.keep = false;
  const Bytes block = random_bytes(50'000, 7);  // uneven against the 64 KiB chunks
  for (int i = 0; i < 160; ++i) {  // 8 MB, written as the echo comes back
    c.s->write(block);
    REQUIRE(p.loop.run_until([&] { return c.s->write_queue_size() < 1'000'000; }));
  }
  c.s->shutdown();
  REQUIRE(p.loop.run_until([&] { return c.eof || !c.error.empty(); }));
  CHECK(c.error == "");
  CHECK(c.bytes == 160u * block.size());
  const auto& chunks = p.client->chunks();
  // 8 MB is 123 chunks of 64 KiB: most came back from the free list, and it stays bounded.
  CHECK(chunks.reused() + chunks.allocated() >= 123);
  CHECK(chunks.reused() > chunks.allocated());
  CHECK(chunks.spare() <= ChunkPool::kMaxSpare);
}
