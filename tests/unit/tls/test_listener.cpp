// TlsListener against peers that are not TLS 1.3 clients: each is closed, reported, and the
// listener keeps serving the next good client.
#include <catch2/catch.hpp>

#include "must.hpp"
#include "tls_pair.hpp"

using namespace tls_test;

namespace {

TlsClientConfig trusting(const Pki& pki) {
  TlsClientConfig c;
  c.ca_file = pki.ca;
  return c;
}

// A good client still gets through and can exchange bytes.
void check_good_client(Loop& loop, Server& server, const Pki& pki) {
  const std::size_t before = server.accepted.size();
  auto out = dial(loop, client_ctx(trusting(pki)), "localhost", server.port());
  REQUIRE(out.error == "");
  REQUIRE(loop.run_until([&] { return server.accepted.size() == before + 1; }));
  io::Stream* srv = server.accepted.back().get();
  Echo echo(srv);
  srv->set_handler(&echo);
  srv->start_read();
  Recorder rec;
  out.stream->set_handler(&rec);
  out.stream->start_read();
  out.stream->write(as_bytes("ping"));
  REQUIRE(loop.run_until([&] { return rec.data == "ping"; }));
  srv->set_handler(nullptr);
}

std::string send_and_wait(int fd, const std::string& bytes) {
  if (!bytes.empty() && ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) < 0) return "send";
  return wait_closed(fd);
}

// A blocking OpenSSL client limited to [min, max] versions: "connected" or "refused".
std::string tls_client(int fd, int min_version, int max_version) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), min_version);
  SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  SslPtr ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  std::string r = SSL_connect(ssl.get()) == 1 ? "connected" : "refused";
  if (r == "connected") SSL_shutdown(ssl.get());
  return r;
}

}  // namespace

TEST_CASE("listener closes junk and keeps serving", "[tls][listener]") {
  Pki pki;
  Loop loop;
  {
    Server server(loop, pki.server_chain, pki.server_key);

    SECTION("plain HTTP") {
      CHECK(run_raw_client(loop, server.port(), [](int fd) {
              return send_and_wait(fd, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
            }) == "closed");
    }
    SECTION("random bytes") {
      CHECK(run_raw_client(loop, server.port(), [](int fd) {
              return send_and_wait(fd, pattern(5000, 99));
            }) == "closed");
    }
    SECTION("a TLS record header that announces a huge record, then EOF") {
      CHECK(run_raw_client(loop, server.port(), [](int fd) {
              const std::string hdr("\x16\x03\x01\xff\xff", 5);
              ::send(fd, hdr.data(), hdr.size(), MSG_NOSIGNAL);
              ::shutdown(fd, SHUT_WR);
              return wait_closed(fd);
            }) == "closed");
    }
    REQUIRE(loop.run_until([&] { return server.failures.size() == 1; }));
    CHECK(server.failures[0].rfind("handshake", 0) == 0);
    CHECK(server.accepted.empty());
    CHECK(server.listener->handshakes_in_progress() == 0);
    check_good_client(loop, server, pki);
  }
  CHECK(loop.finish());
}

TEST_CASE("TLS 1.2-only clients are refused, TLS 1.3 clients accepted", "[tls][listener]") {
  Pki pki;
  Loop loop;
  {
    Server server(loop, pki.server_chain, pki.server_key);
    CHECK(run_raw_client(loop, server.port(), [](int fd) {
            return tls_client(fd, TLS1_2_VERSION, TLS1_2_VERSION);
          }) == "refused");
    REQUIRE(loop.run_until([&] { return server.failures.size() == 1; }));
    INFO(server.failures[0]);
    CHECK(server.failures[0].find("unsupported protocol") != std::string::npos);
    // The same raw client with TLS 1.3 allowed gets in: the refusal was about the version.
    CHECK(run_raw_client(loop, server.port(), [](int fd) {
            return tls_client(fd, TLS1_2_VERSION, TLS1_3_VERSION);
          }) == "connected");
    REQUIRE(loop.run_until([&] { return server.accepted.size() == 1; }));
    check_good_client(loop, server, pki);
  }
  CHECK(loop.finish());
}

TEST_CASE("a silent client is dropped at the handshake time-out", "[tls][listener]") {
  Pki pki;
  Loop loop;
  {
    TlsListenerOptions o;
    o.handshake_timeout_ms = 200;
    Server server(loop, pki.server_chain, pki.server_key, o);
    CHECK(run_raw_client(loop, server.port(), [](int fd) { return wait_closed(fd); }) == "closed");
    REQUIRE(server.failures.size() == 1);
    CHECK(server.failures[0] == "handshake timed out");
    check_good_client(loop, server, pki);
  }
  CHECK(loop.finish());
}

TEST_CASE("a refused peer is closed before the handshake, others are served", "[tls][listener]") {
  Pki pki;
  Loop loop;
  {
    TlsListenerOptions o;
    int asked = 0;
    bool admit = false;
    std::string family;
    o.admit = [&](const sockaddr* peer) {
      ++asked;
      family = peer->sa_family == AF_INET ? "inet" : "other";
      return admit;
    };
    Server server(loop, pki.server_chain, pki.server_key, o);
    // A TLS 1.3 client gets no handshake byte: the socket is closed before it is read.
    CHECK(run_raw_client(loop, server.port(), [](int fd) {
            return tls_client(fd, TLS1_3_VERSION, TLS1_3_VERSION);
          }) == "refused");
    CHECK(asked == 1);
    CHECK(family == "inet");
    CHECK(server.failures.empty());  // the admission policy reports its own refusals
    CHECK(server.accepted.empty());
    CHECK(server.listener->handshakes_in_progress() == 0);
    admit = true;
    check_good_client(loop, server, pki);
    CHECK(asked == 2);
  }
  CHECK(loop.finish());
}

TEST_CASE("the dialer gives up on a server that never answers the handshake",
          "[tls][listener][dialer]") {
  Pki pki;
  Loop loop;
  {
    // A bare TCP listener that accepts and says nothing.
    std::vector<io::UvHandle<uv_tcp_t>> held;
    auto raw = io::TcpListener::listen_raw(
        loop.get(), "127.0.0.1", 0,
        [&](io::UvHandle<uv_tcp_t> t) { held.push_back(std::move(t)); });
    REQUIRE(raw);
    TlsDialOptions o;
    o.handshake_timeout_ms = 200;
    auto out = dial(loop, client_ctx(trusting(pki)), "127.0.0.1", (*raw)->port(), o);
    CHECK_FALSE(out.stream);
    CHECK(out.error == "handshake timed out");
  }
  CHECK(loop.finish());
}

TEST_CASE("concurrent handshakes are bounded and stop() aborts those in progress",
          "[tls][listener]") {
  Pki pki;
  Loop loop;
  {
    TlsListenerOptions o;
    o.max_handshakes = 1;
    o.handshake_timeout_ms = 5000;
    Server server(loop, pki.server_chain, pki.server_key, o);
    // First silent client holds the only slot (its socket stays open in this thread).
    int fd1 = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(server.port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd1, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(loop.run_until([&] { return server.listener->handshakes_in_progress() == 1; }));
    // The second is closed at once, without waiting for any time-out.
    CHECK(run_raw_client(loop, server.port(), [](int fd) { return wait_closed(fd); }) == "closed");
    REQUIRE(server.failures.size() == 1);
    CHECK(server.failures[0] == "too many handshakes");
    CHECK(server.listener->handshakes_in_progress() == 1);

    server.listener->stop();
    CHECK(server.listener->handshakes_in_progress() == 0);
    loop.idle(50);
    char c;
    timeval tv{5, 0};
    ::setsockopt(fd1, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    CHECK(::recv(fd1, &c, 1, 0) == 0);  // stop() closed the pending handshake
    ::close(fd1);
    CHECK(server.failures.size() == 1);  // and reported nothing more
  }
  CHECK(loop.finish());
}

TEST_CASE("listener errors: bad address, port in use", "[tls][listener]") {
  Pki pki;
  Loop loop;
  {
    std::string err;
    auto ctx = must(ServerContext::create({pki.server_chain, pki.server_key}));
    REQUIRE(ctx);
    auto cb = [](io::StreamPtr) {};
    err = failure_of(TlsListener::create(loop.get(), ctx, "not-an-ip", 0, {}, cb));
    CHECK_FALSE(err.empty());
    CHECK(err.find("not an IP address") != std::string::npos);
    auto l = must(TlsListener::create(loop.get(), ctx, "127.0.0.1", 0, {}, cb));
    REQUIRE(l);
    err = failure_of(TlsListener::create(loop.get(), ctx, "127.0.0.1", l->port(), {}, cb));
    CHECK_FALSE(err.empty());
    CHECK(err.find("in use") != std::string::npos);
  }
  CHECK(loop.finish());
}
