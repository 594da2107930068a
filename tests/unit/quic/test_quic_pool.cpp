// QuicClient's connection pool (more concurrent streams than one connection may carry) and
// the endpoints' use of their send-chunk free list (the list itself: uv/test_chunk_pool.cpp).
#include <catch2/catch.hpp>

#include "must.hpp"
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
    auto so = server_options(certs);
    so.limits.max_streams = streams;
    server = must(QuicServer::create(loop.get(), so, echo.acceptor()));
    REQUIRE(server);
    auto co = client_options(certs, server->port());
    co.max_connections = max_connections;
    co.idle_connection_ms = idle_ms;
    client = must(QuicClient::create(loop.get(), co));
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

TEST_CASE("pool: full and every connection at its stream limit, further opens fail at once",
          "[quic]") {
  SmallPair p(4, 2, 60'000);
  auto opened = open_many(*p.client, 10);
  auto ready = [&] {
    int n = 0;
    for (auto& o : opened) n += o->c.bytes == 7 ? 1 : 0;
    return n;
  };
  auto answered = [&] {
    int n = 0;
    for (auto& o : opened) n += o->done ? 1 : 0;
    return n;
  };
  REQUIRE(p.loop.run_until([&] { return answered() == 10 && ready() == 8; }));
  // Two connections of four streams: the two opens beyond them were refused, naming the
  // limit, while all eight tunnels were still open (no wait for one of them to end).
  int refused = 0;
  for (auto& o : opened) {
    if (o->error.empty()) continue;
    ++refused;
    CHECK(o->error == "at limit: QUIC pool full: 2 connections x 4 streams (max_connections)");
    CHECK(mtop::io::is_at_limit_error(o->error));
    CHECK_FALSE(o->c.s);
  }
  CHECK(refused == 2);
  // The refused ones were the last asked for: the earlier opens keep their order.
  CHECK_FALSE(opened[8]->error.empty());
  CHECK_FALSE(opened[9]->error.empty());
  for (auto& o : opened) {
    if (!o->c.s) continue;
    CHECK(o->c.error == "");
    CHECK_FALSE(o->c.eof);
  }
  CHECK(p.client->connection_count() == 2);
  CHECK(p.client->handshakes() == 2);
  CHECK(p.echo.sessions.size() == 8);

  // Two tunnels end (a reset frees the slot as well as a FIN): two new opens get their slots
  // on the connections there are, without another handshake.
  opened[0]->c.s.reset();
  opened[5]->c.s.reset();
  auto later = open_many(*p.client, 2);
  REQUIRE(p.loop.run_until([&] { return later[0]->c.bytes == 7 && later[1]->c.bytes == 7; }));
  CHECK(later[0]->error == "");
  CHECK(later[1]->error == "");
  CHECK(p.client->handshakes() == 2);
}

TEST_CASE("pool: stream credit comes back as streams end, so one connection carries any number",
          "[quic]") {
  // A pool of one connection and 4 streams at once: every open below would fail at once if
  // the server kept its credit or the client did not wait for credit already on its way.
  SmallPair p(4, 1, 60'000);
  SECTION("40 tunnels one after another, each ended with FIN both ways") {
    for (int i = 0; i < 40; ++i) {
      auto one = open_many(*p.client, 1);
      REQUIRE(p.loop.run_until([&] { return one[0]->c.bytes == 7 || !one[0]->error.empty(); }));
      REQUIRE(one[0]->error == "");
      CHECK(mtop::as_chars(one[0]->c.data) == "hello 0");
      one[0]->c.s->shutdown();
      REQUIRE(p.loop.run_until([&] { return one[0]->c.eof || !one[0]->c.error.empty(); }));
      CHECK(one[0]->c.error == "");
      one[0]->c.s.reset();
    }
    CHECK(p.echo.sessions.size() == 40);
  }
  SECTION("10 waves of 4 tunnels, each wave reset and the next asked for at once") {
    for (int wave = 0; wave < 10; ++wave) {
      auto four = open_many(*p.client, 4);
      REQUIRE(p.loop.run_until([&] {
        for (auto& o : four) {
          if (o->c.bytes < 7 && o->error.empty()) return false;
        }
        return true;
      }));
      for (auto& o : four) {
        REQUIRE(o->error == "");
        o->c.s.reset();  // RESET_STREAM: the slots come back a round trip later
      }
    }
    CHECK(p.echo.sessions.size() == 40);
  }
  CHECK(p.client->handshakes() == 1);
  CHECK(p.server->connection_count() == 1);
}

TEST_CASE("pool: bad max_connections is refused at creation", "[quic]") {
  Certs certs;
  REQUIRE(certs.ok);
  Loop loop;
  std::string error;
  auto o = client_options(certs, 4433);
  o.max_connections = 0;
  error = failure_of(QuicClient::create(loop.get(), o));
  CHECK_FALSE(error.empty());
  CHECK(error == "quic client: max_connections must be 1..1000000");
  o.max_connections = 1'000'001;
  error = failure_of(QuicClient::create(loop.get(), o));
  CHECK_FALSE(error.empty());
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
  for (int i = 0; i < 160; ++i) {               // 8 MB, written as the echo comes back
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
