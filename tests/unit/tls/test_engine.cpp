// The sans-IO engine on its own: a client and a server engine wired together in memory
// (the h11 "pair" style), fed whole and one byte at a time.
#include <catch2/catch.hpp>

#include "must.hpp"
#include "tls/buffers.hpp"
#include "tls/engine.hpp"
#include "tls_test_support.hpp"
#include "uv/chunk_pool.hpp"

using namespace mtop;
using namespace mtop::tls;
using tls_test::Pki;

namespace {

struct Pair {
  std::unique_ptr<Engine> client, server;

  // Moves pending output from `from` to `to`, in chunks of `chunk` bytes (0 = whole).
  static void pipe(Engine& from, Engine& to, std::size_t chunk, std::vector<Bytes>* log = nullptr) {
    Bytes out = from.take_output();
    if (log && !out.empty()) log->push_back(out);
    std::size_t step = chunk ? chunk : out.size();
    for (std::size_t off = 0; off < out.size(); off += step) {
      std::size_t n = std::min(step, out.size() - off);
      to.handle_ciphertext(ByteView(out.data() + off, n));
      to.retain_input();
    }
  }

  // Runs both handshakes to completion; false if either fails.
  bool handshake(std::size_t chunk) {
    for (int i = 0; i < 50; ++i) {
      auto c = client->handshake();
      pipe(*client, *server, chunk);
      auto s = server->handshake();
      pipe(*server, *client, chunk);
      if (c == Engine::Status::failed || s == Engine::Status::failed) return false;
      if (client->handshake_done() && server->handshake_done()) return true;
    }
    return false;
  }

  static std::string read_all(Engine& e, Engine::Status* last) {
    std::string got;
    std::uint8_t buf[1000];
    for (;;) {
      std::size_t n = 0;
      *last = e.read(buf, &n);
      got.append(reinterpret_cast<char*>(buf), n);
      if (*last != Engine::Status::ok) return got;
    }
  }
};

Pair make_pair(const Pki& pki, TlsClientConfig cc, const std::string& name = "localhost") {
  auto sctx = must(ServerContext::create({pki.server_chain, pki.server_key}));
  REQUIRE(sctx);
  auto cctx = must(ClientContext::create(cc));
  REQUIRE(cctx);
  Pair p;
  p.server = must(Engine::server(sctx));
  p.client = must(Engine::client(cctx, name, ""));
  REQUIRE(p.server);
  REQUIRE(p.client);
  return p;
}

}  // namespace

TEST_CASE("engine pair: handshake, data both ways, half-close", "[tls][engine]") {
  Pki pki;
  TlsClientConfig cc;
  cc.ca_file = pki.ca;
  const std::size_t chunk = GENERATE(0u, 1u, 7u);
  Pair p = make_pair(pki, cc);
  REQUIRE(p.handshake(chunk));
  CHECK(SSL_version(p.client->native()) == TLS1_3_VERSION);
  CHECK(std::string(SSL_get_cipher_name(p.client->native())) == "TLS_AES_128_GCM_SHA256");

  const std::string msg = tls_test::pattern(40'000);
  REQUIRE(p.client->write(as_bytes(msg)));
  REQUIRE(p.client->close_notify());  // close_notify queued after the data
  Pair::pipe(*p.client, *p.server, chunk);
  Engine::Status st;
  CHECK(Pair::read_all(*p.server, &st) == msg);
  CHECK(st == Engine::Status::closed);

  // TLS 1.3 half-close: the server still writes after the client's close_notify.
  REQUIRE(p.server->write(as_bytes("reply")));
  Pair::pipe(*p.server, *p.client, chunk);
  std::string got = Pair::read_all(*p.client, &st);
  CHECK(got == "reply");
  CHECK(st == Engine::Status::want_input);
  // The client no longer writes after its own close_notify.
  CHECK_FALSE(p.client->write(as_bytes("late")));
}

TEST_CASE("engine: with a buffer pool, output and kept input live in recycled chunks",
          "[tls][engine][buffers]") {
  Pki pki;
  TlsClientConfig cc;
  cc.ca_file = pki.ca;
  Pair p = make_pair(pki, cc);
  io::ChunkPool pool(TlsBuffers::kCipherChunkSize);
  p.client->set_buffer_pool(&pool);
  p.server->set_buffer_pool(&pool);
  // Like Pair::pipe, but the output chunk goes back to the pool once the peer kept its bytes.
  auto pass = [&](Engine& from, Engine& to) {
    Bytes out = from.take_output();
    if (!out.empty()) {
      to.handle_ciphertext(out);
      to.retain_input();
    }
    pool.give(std::move(out));
  };
  for (int i = 0; i < 10 && !(p.client->handshake_done() && p.server->handshake_done()); ++i) {
    (void)p.client->handshake();
    pass(*p.client, *p.server);
    (void)p.server->handshake();
    pass(*p.server, *p.client);
  }
  REQUIRE(p.client->handshake_done());
  REQUIRE(p.server->handshake_done());
  Engine::Status st;
  CHECK(Pair::read_all(*p.client, &st).empty());  // the tickets
  CHECK(pool.spare() == pool.allocated());        // idle engines hold no chunk
  const auto allocated = pool.allocated();

  const std::string block = tls_test::pattern(TlsBuffers::kSize, 3);
  constexpr int kWrites = 20;
  for (int i = 0; i < kWrites; ++i) {
    REQUIRE(p.client->write(as_bytes(block)));
    Bytes out = p.client->take_output();
    CHECK(out.capacity() == pool.chunk_size());  // 64 KiB of plaintext fits without growing
    // The server reads a little of it and keeps the rest, as a stream that stops reading.
    p.server->handle_ciphertext(out);
    std::uint8_t first[1000];
    std::size_t n = 0;
    CHECK(p.server->read(first, &n) == Engine::Status::ok);
    p.server->retain_input();
    pool.give(std::move(out));
    CHECK(p.server->has_pending_input());
    const std::string got =
        std::string(reinterpret_cast<char*>(first), n) + Pair::read_all(*p.server, &st);
    CHECK(got == block);
    CHECK_FALSE(p.server->has_pending_input());
  }
  // Two chunks at a time at most (the output, and the input kept while the output was still
  // borrowed); every other one came from the free list, and all are back.
  CHECK(pool.allocated() <= allocated + 2);
  CHECK(pool.reused() >= 2 * kWrites - 2);
  CHECK(pool.spare() == pool.allocated());

  // A small rest (like the first bytes behind the handshake's last flight) is kept in a buffer
  // of its own size: a burst of set-ups would otherwise hold a chunk each.
  REQUIRE(p.client->write(as_bytes(std::string_view("ATTACH"))));
  Bytes small = p.client->take_output();
  p.server->handle_ciphertext(small);
  p.server->retain_input();
  pool.give(std::move(small));
  CHECK(p.server->has_pending_input());
  CHECK(pool.spare() == pool.allocated());  // no chunk held for it
  CHECK(Pair::read_all(*p.server, &st) == "ATTACH");
  CHECK_FALSE(p.server->has_pending_input());
}

TEST_CASE("engine: wrong name and pin mismatch fail the client handshake", "[tls][engine]") {
  Pki pki;
  TlsClientConfig cc;
  cc.ca_file = pki.ca;
  {
    Pair p = make_pair(pki, cc, "example.com");
    CHECK_FALSE(p.handshake(0));
    CHECK(p.client->error().rfind("certificate verify failed", 0) == 0);
  }
  {
    cc.spki_pin = pki.other_pin;
    Pair p = make_pair(pki, cc);
    CHECK_FALSE(p.handshake(0));
    CHECK(p.client->error() == mtop::tls::kPinMismatch);
  }
}

TEST_CASE("engine: garbage input fails the server with a reason, and no buffer is kept",
          "[tls][engine]") {
  Pki pki;
  auto sctx = must(ServerContext::create({pki.server_chain, pki.server_key}));
  REQUIRE(sctx);
  auto server = must(Engine::server(sctx));
  const std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  server->handle_ciphertext(as_bytes(http));
  CHECK(server->handshake() == Engine::Status::failed);
  CHECK_FALSE(server->error().empty());
  CHECK(server->handshake() == Engine::Status::failed);  // stays failed

  // A truncated ClientHello is "need more", never an error.
  auto client_ctx = must(ClientContext::create(TlsClientConfig{"", "", "", true}));
  auto client = must(Engine::client(client_ctx, "localhost", ""));
  REQUIRE(client->handshake() == Engine::Status::want_input);
  Bytes hello = client->take_output();
  REQUIRE(hello.size() > 10);
  auto fresh = must(Engine::server(sctx));
  fresh->handle_ciphertext(ByteView(hello.data(), hello.size() - 1));
  CHECK(fresh->handshake() == Engine::Status::want_input);
  fresh->retain_input();
  // The partial record sits inside OpenSSL waiting for the rest: not "input to process".
  CHECK_FALSE(fresh->has_pending_input());
  fresh->handle_ciphertext(ByteView(hello.data() + hello.size() - 1, 1));
  CHECK(fresh->handshake() == Engine::Status::want_input);  // now waits for the client Finished
  CHECK(fresh->has_output());
  fresh->retain_input();
  CHECK_FALSE(fresh->has_pending_input());
}
