// The sans-IO engine on its own: a client and a server engine wired together in memory
// (the h11 "pair" style), fed whole and one byte at a time.
#include <catch2/catch.hpp>

#include "tls/engine.hpp"
#include "tls_test_support.hpp"

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
  std::string err;
  auto sctx = ServerContext::create({pki.server_chain, pki.server_key}, &err);
  REQUIRE(sctx);
  auto cctx = ClientContext::create(cc, &err);
  REQUIRE(cctx);
  Pair p;
  p.server = Engine::server(sctx, &err);
  p.client = Engine::client(cctx, name, "", &err);
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
    CHECK(p.client->error() == "pin mismatch");
  }
}

TEST_CASE("engine: garbage input fails the server with a reason, and no buffer is kept",
          "[tls][engine]") {
  Pki pki;
  std::string err;
  auto sctx = ServerContext::create({pki.server_chain, pki.server_key}, &err);
  REQUIRE(sctx);
  auto server = Engine::server(sctx, &err);
  const std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  server->handle_ciphertext(as_bytes(http));
  CHECK(server->handshake() == Engine::Status::failed);
  CHECK_FALSE(server->error().empty());
  CHECK(server->handshake() == Engine::Status::failed);  // stays failed

  // A truncated ClientHello is "need more", never an error.
  auto client_ctx = ClientContext::create(TlsClientConfig{"", "", "", true}, &err);
  auto client = Engine::client(client_ctx, "localhost", "", &err);
  REQUIRE(client->handshake() == Engine::Status::want_input);
  Bytes hello = client->take_output();
  REQUIRE(hello.size() > 10);
  auto fresh = Engine::server(sctx, &err);
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
