// Session resumption and key exchange: what makes a tunnel after the first cheap (a resumed
// TLS 1.3 handshake, X25519, one ticket per connection) and what must not change with it (a
// ticket only for the server that issued it; a full handshake, verified, whenever the server
// does not take the ticket).
#include <openssl/ssl.h>

#include <catch2/catch.hpp>

#include "must.hpp"
#include "tls/engine.hpp"
#include "tls_pair.hpp"

using namespace tls_test;

namespace {

TlsClientConfig trusting(const Pki& pki) {
  TlsClientConfig c;
  c.ca_file = pki.ca;
  return c;
}

bool resumed(const io::StreamPtr& s) {
  return static_cast<TlsStream*>(s.get())->resumed();
}

/// Opens `n` tunnels through `dialer` at once and waits for all of them. Every stream reads
/// (so the ticket the server sends reaches the cache) into its own recorder: as soon as it
/// is open, or, with `read_when_all_open`, only once all are open, so that no ticket can
/// come back while the burst is still dialling (the outcome then does not depend on timing).
struct Burst {
  std::vector<io::StreamPtr> streams;
  std::vector<std::string> errors;
  std::vector<std::unique_ptr<Recorder>> recorders;
  int resumed = 0;
};

Burst open_burst(Loop& loop, TlsDialer& dialer, int n, bool read_when_all_open = false) {
  Burst b;
  int done = 0;
  for (int i = 0; i < n; ++i) {
    dialer.open([&](io::StreamPtr s, std::string e) {
      ++done;
      if (s) {
        b.resumed += resumed(s) ? 1 : 0;
        b.recorders.push_back(std::make_unique<Recorder>());
        s->set_handler(b.recorders.back().get());
        if (!read_when_all_open) s->start_read();
        b.streams.push_back(std::move(s));
      } else {
        b.errors.push_back(std::move(e));
      }
    });
  }
  loop.run_until([&] { return done == n; });
  if (read_when_all_open) {
    for (auto& s : b.streams) s->start_read();
  }
  return b;
}

// --- an engine pair in memory, with resumption -------------------------------------------

void pipe(Engine& from, Engine& to) {
  Bytes out = from.take_output();
  if (out.empty()) return;
  to.handle_ciphertext(ByteView(out.data(), out.size()));
  to.retain_input();
}

int g_client_hellos = 0;  // ClientHellos sent, counted by the message callback

void count_hellos(int write_p, int, int content_type, const void* buf, size_t len, SSL*, void*) {
  if (write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
      static_cast<const unsigned char*>(buf)[0] == SSL3_MT_CLIENT_HELLO) {
    ++g_client_hellos;
  }
}

struct Tunnel {
  bool ok = false;
  bool resumed = false;
  int client_hellos = 0;  ///< 2 would mean a HelloRetryRequest
  std::string group;      ///< of the server's key share, as the client saw it
  std::string error;
};

/// One tunnel over an engine pair: handshake, 5 bytes back from the server (so the client
/// takes in its ticket). `client_groups` overrides the client's groups when not null.
Tunnel run_tunnel(const std::shared_ptr<ServerContext>& sctx,
                  const std::shared_ptr<ClientContext>& cctx, const std::string& session_key,
                  const char* client_groups = nullptr) {
  Tunnel t;
  auto client = must(Engine::client(cctx, "localhost", session_key));
  auto server = must(Engine::server(sctx));
  REQUIRE(client);
  REQUIRE(server);
  if (client_groups) REQUIRE(SSL_set1_groups_list(client->native(), client_groups) == 1);
  SSL_set_msg_callback(client->native(), count_hellos);
  const int hellos = g_client_hellos;
  for (int i = 0; i < 10 && !(client->handshake_done() && server->handshake_done()); ++i) {
    auto c = client->handshake();
    pipe(*client, *server);
    auto s = server->handshake();
    pipe(*server, *client);
    if (c == Engine::Status::failed || s == Engine::Status::failed) {
      t.error = client->error() + "|" + server->error();
      return t;
    }
  }
  t.ok = client->handshake_done() && server->handshake_done();
  REQUIRE(server->write(as_bytes("hello")));
  pipe(*server, *client);
  std::uint8_t buf[64];
  std::size_t n = 0;
  client->read(buf, &n);
  CHECK(n == 5);
  t.resumed = client->resumed();
  t.client_hellos = g_client_hellos - hellos;
  EVP_PKEY* peer = nullptr;
  if (SSL_get_peer_tmp_key(client->native(), &peer) == 1) {
    char name[64] = "";
    std::size_t len = 0;
    if (EVP_PKEY_get_group_name(peer, name, sizeof name, &len) == 1) {
      t.group = name;
    } else {
      t.group = EVP_PKEY_get0_type_name(peer);
    }
    EVP_PKEY_free(peer);
  }
  return t;
}

}  // namespace

TEST_CASE("every tunnel after the first resumes, also 32 at once", "[tls][resume]") {
  Pki pki;
  Loop loop;
  {
    Server server(loop, pki.server_chain, pki.server_key);
    auto ctx = client_ctx(trusting(pki));
    TlsDialer dialer(loop.get(), ctx, "localhost", server.port());
    constexpr int kAtOnce = 32;  // as bench/run.sh's tunnel test

    // Nothing cached yet: 32 full handshakes, each leaving exactly one ticket.
    Burst first = open_burst(loop, dialer, kAtOnce, true);
    REQUIRE(first.errors.empty());
    CHECK(first.resumed == 0);
    REQUIRE(loop.run_until([&] { return ctx->cached_sessions() == std::size_t{kAtOnce}; }));
    loop.idle(50);
    CHECK(ctx->cached_sessions() == std::size_t{kAtOnce});  // one ticket per connection
    first.streams.clear();
    server.accepted.clear();

    // The next 32 at once all resume (a cache of 4 per server resumed 4 of them), and each
    // brings a fresh ticket for the next.
    Burst second = open_burst(loop, dialer, kAtOnce, true);
    REQUIRE(second.errors.empty());
    CHECK(second.resumed == kAtOnce);
    REQUIRE(loop.run_until([&] { return ctx->cached_sessions() == std::size_t{kAtOnce}; }));
    second.streams.clear();
    server.accepted.clear();

    // And one at a time.
    for (int i = 0; i < 3; ++i) {
      Burst one = open_burst(loop, dialer, 1);
      REQUIRE(one.errors.empty());
      CHECK(one.resumed == 1);
    }
  }
  CHECK(loop.finish());
}

TEST_CASE("X25519 without a HelloRetryRequest, full and resumed; P-256 still accepted",
          "[tls][resume][groups]") {
  Pki pki;
  auto sctx = must(ServerContext::create({pki.server_chain, pki.server_key}));
  REQUIRE(sctx);
  auto cctx = client_ctx(trusting(pki));

  Tunnel full = run_tunnel(sctx, cctx, "k");
  REQUIRE(full.ok);
  CHECK_FALSE(full.resumed);
  CHECK(full.group == "X25519");
  CHECK(full.client_hellos == 1);
  CHECK(cctx->cached_sessions() == 1);  // one ticket per connection

  Tunnel again = run_tunnel(sctx, cctx, "k");
  REQUIRE(again.ok);
  CHECK(again.resumed);
  CHECK(again.group == "X25519");  // psk_dhe_ke: a fresh key exchange on every resumption
  CHECK(again.client_hellos == 1);

  // A peer that only has P-256 gets in with it, still without a retry.
  Tunnel p256 = run_tunnel(sctx, cctx, "", "P-256");
  REQUIRE(p256.ok);
  CHECK(p256.group == "prime256v1");
  CHECK(p256.client_hellos == 1);

  // The count above would see a retry: a peer whose first (and only) key share is for a group
  // the server does not take gets a HelloRetryRequest asking for X25519.
  Tunnel retry = run_tunnel(sctx, cctx, "", "P-384:X25519");
  REQUIRE(retry.ok);
  CHECK(retry.group == "X25519");
  CHECK(retry.client_hellos == 2);
}

TEST_CASE("only the configured groups: ffdhe and P-384 refused by default, others on request",
          "[tls][groups]") {
  Pki pki;
  auto sctx = must(ServerContext::create({pki.server_chain, pki.server_key}));
  auto cctx = client_ctx(trusting(pki));
  for (const char* refused : {"ffdhe2048", "ffdhe8192", "P-384", "X448"}) {
    INFO(refused);
    Tunnel t = run_tunnel(sctx, cctx, "", refused);
    CHECK_FALSE(t.ok);
    CHECK_FALSE(t.error.empty());
  }
  // A server configured for P-384 only takes it, and refuses the default client.
  auto p384 = must(ServerContext::create({pki.server_chain, pki.server_key, {mtop::TlsGroup::p384}}));
  Tunnel only = run_tunnel(p384, cctx, "", "P-384");
  REQUIRE(only.ok);
  CHECK(only.group == "secp384r1");
  CHECK_FALSE(run_tunnel(p384, cctx, "").ok);
  // The client side offers only its list: a P-384 client context cannot reach the default.
  auto c384 = trusting(pki);
  c384.groups = {mtop::TlsGroup::p384};
  CHECK_FALSE(run_tunnel(sctx, client_ctx(c384), "").ok);
  // An empty list is refused at creation.
  auto empty = ServerContext::create({pki.server_chain, pki.server_key, {}});
  REQUIRE_FALSE(empty);
  CHECK(std::string(empty.message()).find("no key-exchange group") != std::string::npos);
}

TEST_CASE("a ticket is offered only to the server name, host and port it came from",
          "[tls][resume]") {
  Pki pki;
  Loop loop;
  {
    Server server(loop, pki.server_chain, pki.server_key);
    Server other(loop, pki.server_chain, pki.server_key);
    auto ctx = client_ctx(trusting(pki));  // no server_name: each dialer checks its host
    TlsDialer to_name(loop.get(), ctx, "localhost", server.port());
    TlsDialer to_ip(loop.get(), ctx, "127.0.0.1", server.port());
    TlsDialer to_other_port(loop.get(), ctx, "localhost", other.port());

    Burst a = open_burst(loop, to_name, 1);
    REQUIRE(a.errors.empty());
    REQUIRE(loop.run_until([&] { return ctx->cached_sessions() == 1; }));

    // Same address, another name: a full handshake, and the ticket stays for its own server.
    Burst b = open_burst(loop, to_ip, 1);
    REQUIRE(b.errors.empty());
    CHECK(b.resumed == 0);
    Burst c = open_burst(loop, to_other_port, 1);
    REQUIRE(c.errors.empty());
    CHECK(c.resumed == 0);
    REQUIRE(loop.run_until([&] { return ctx->cached_sessions() == 3; }));

    Burst d = open_burst(loop, to_name, 1);
    REQUIRE(d.errors.empty());
    CHECK(d.resumed == 1);
  }
  CHECK(loop.finish());
}

TEST_CASE("a server that does not take the ticket gets a full, verified handshake",
          "[tls][resume][verify]") {
  Pki pki;
  Loop loop;
  {
    auto good_ctx = must(ServerContext::create({pki.server_chain, pki.server_key}));
    REQUIRE(good_ctx);
    auto accept_all = [](io::StreamPtr) {};
    auto a = must(TlsListener::create(loop.get(), good_ctx, "127.0.0.1", 0, {}, accept_all));
    REQUIRE(a);
    const std::uint16_t port = a->port();
    auto ctx = client_ctx(trusting(pki));
    TlsDialer dialer(loop.get(), ctx, "localhost", port);
    Burst first = open_burst(loop, dialer, 1);
    REQUIRE(first.errors.empty());
    REQUIRE(loop.run_until([&] { return ctx->cached_sessions() == 1; }));
    first.streams.clear();
    a.reset();

    // Another server on the same address with an untrusted certificate: it cannot decrypt
    // the ticket (its own ticket keys), so the handshake is a full one and is refused.
    auto self_ctx = must(ServerContext::create({pki.self_cert, pki.self_key}));
    REQUIRE(self_ctx);
    auto b = must(TlsListener::create(loop.get(), self_ctx, "127.0.0.1", port, {}, accept_all));
    REQUIRE(b);
    Burst refused = open_burst(loop, dialer, 1);
    REQUIRE(refused.errors.size() == 1);
    CHECK(refused.errors[0].rfind("certificate verify failed: ", 0) == 0);
    CHECK(ctx->cached_sessions() == 0);  // the ticket was spent, a failed handshake adds none
    b.reset();

    // A trusted server that restarted (new ticket keys): full handshake, accepted.
    auto fresh_ctx = must(ServerContext::create({pki.server_chain, pki.server_key}));
    REQUIRE(fresh_ctx);
    auto c = must(TlsListener::create(loop.get(), fresh_ctx, "127.0.0.1", port, {}, accept_all));
    REQUIRE(c);
    Burst again = open_burst(loop, dialer, 1);
    REQUIRE(again.errors.empty());
    CHECK(again.resumed == 0);
    REQUIRE(loop.run_until([&] { return ctx->cached_sessions() == 1; }));
    again.streams.clear();
    Burst resumed_now = open_burst(loop, dialer, 1);
    REQUIRE(resumed_now.errors.empty());
    CHECK(resumed_now.resumed == 1);
  }
  CHECK(loop.finish());
}
