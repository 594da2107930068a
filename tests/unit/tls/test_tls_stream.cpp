// TlsStream through TlsDialer <-> TlsListener on loopback: data integrity, verification
// outcomes, half-close, back-pressure, close() and resumption.
#include <catch2/catch.hpp>

#include "open_timers.hpp"
#include "tls_pair.hpp"

using namespace tls_test;

namespace {

bool starts_with(const std::string& s, const std::string& p) {
  return s.rfind(p, 0) == 0;
}

TlsClientConfig trusting(const Pki& pki) {
  TlsClientConfig c;
  c.ca_file = pki.ca;
  return c;
}

}  // namespace

TEST_CASE("1 MiB echoes through dialer and listener intact", "[tls][stream]") {
  Pki pki;
  Loop loop;
  {
    Server server(loop, pki.server_chain, pki.server_key);
    auto out = dial(loop, client_ctx(trusting(pki)), "localhost", server.port());
    REQUIRE(out.error == "");
    REQUIRE(out.stream);
    REQUIRE(loop.run_until([&] { return server.accepted.size() == 1; }));
    io::Stream* srv = server.accepted[0].get();
    Echo echo(srv);
    srv->set_handler(&echo);
    srv->start_read();

    Recorder rec;
    out.stream->set_handler(&rec);
    out.stream->start_read();
    const std::string msg = pattern(1 << 20);
    // Written in uneven pieces, as a relay would.
    for (std::size_t off = 0; off < msg.size();) {
      std::size_t n = std::min<std::size_t>(msg.size() - off, 1 + (off * 7919) % 50'000);
      out.stream->write(as_bytes(std::string_view(msg).substr(off, n)));
      off += n;
    }
    out.stream->shutdown();
    REQUIRE(loop.run_until([&] { return rec.eof || rec.errors > 0; }));
    CHECK(rec.error == "");
    CHECK(rec.data.size() == msg.size());
    CHECK(rec.data == msg);
    CHECK(echo.error == "");
    CHECK(out.stream->peer_name() == "127.0.0.1:" + std::to_string(server.port()));
  }
  CHECK(loop.finish());
}

TEST_CASE("verification outcomes", "[tls][stream][verify]") {
  Pki pki;
  Loop loop;
  {
    Server good(loop, pki.server_chain, pki.server_key);
    Server self(loop, pki.self_cert, pki.self_key);

    SECTION("right CA, by name and by IP SAN") {
      CHECK(dial(loop, client_ctx(trusting(pki)), "localhost", good.port()).error == "");
      CHECK(dial(loop, client_ctx(trusting(pki)), "127.0.0.1", good.port()).error == "");
    }
    SECTION("wrong CA") {
      TlsClientConfig c;
      c.ca_file = pki.other_ca;
      auto out = dial(loop, client_ctx(c), "localhost", good.port());
      CHECK_FALSE(out.stream);
      CHECK(starts_with(out.error, "certificate verify failed: "));
      CHECK(out.error.size() > std::string("certificate verify failed: ").size());
    }
    SECTION("wrong server name, and an IP that is not in the certificate") {
      auto c = trusting(pki);
      c.server_name = "example.com";
      auto out = dial(loop, client_ctx(c), "127.0.0.1", good.port());
      CHECK_FALSE(out.stream);
      CHECK(out.error == "certificate verify failed: the certificate is not for this server name");
      c.server_name = "127.0.0.2";
      out = dial(loop, client_ctx(c), "127.0.0.1", good.port());
      CHECK(out.error == "certificate verify failed: the certificate is not for this server name");
    }
    SECTION("pin match and mismatch") {
      auto c = trusting(pki);
      c.spki_pin = pki.server_pin;
      CHECK(dial(loop, client_ctx(c), "localhost", good.port()).error == "");
      c.spki_pin = pki.self_pin;
      auto out = dial(loop, client_ctx(c), "localhost", good.port());
      CHECK_FALSE(out.stream);
      CHECK(out.error == mtop::tls::kPinMismatch);
    }
    SECTION("self-signed: refused normally, accepted insecure, pin still enforced") {
      auto out = dial(loop, client_ctx(trusting(pki)), "localhost", self.port());
      CHECK(starts_with(out.error, "certificate verify failed: "));
      TlsClientConfig c;
      c.insecure = true;
      c.ca_file = pki.other_ca;  // ignored
      c.server_name = "anything.invalid";
      CHECK(dial(loop, client_ctx(c), "127.0.0.1", self.port()).error == "");
      CHECK(dial(loop, client_ctx(c), "127.0.0.1", good.port()).error == "");
      c.spki_pin = pki.self_pin;
      CHECK(dial(loop, client_ctx(c), "127.0.0.1", self.port()).error == "");
      c.spki_pin = pki.server_pin;
      CHECK(dial(loop, client_ctx(c), "127.0.0.1", self.port()).error == mtop::tls::kPinMismatch);
    }
    SECTION("connect refused") {
      std::uint16_t dead = good.port();
      good.listener->stop();
      auto out = dial(loop, client_ctx(trusting(pki)), "127.0.0.1", dead);
      CHECK_FALSE(out.stream);
      CHECK(starts_with(out.error, "connect: "));
      CHECK(out.error.find("refused") != std::string::npos);
    }
  }
  CHECK(loop.finish());
}

TEST_CASE("IPv6 loopback listener and dial by IP SAN", "[tls][stream]") {
  Pki pki;
  Loop loop;
  {
    std::unique_ptr<Server> server;
    try {
      server = std::make_unique<Server>(loop, pki.server_chain, pki.server_key,
                                        TlsListenerOptions{}, "::1");
    } catch (const std::exception& e) {
      WARN("no IPv6 loopback here: " << e.what());
      return;
    }
    auto out = dial(loop, client_ctx(trusting(pki)), "::1", server->port());
    CHECK(out.error == "");
    REQUIRE(out.stream);
    CHECK(out.stream->peer_name() == "[::1]:" + std::to_string(server->port()));
  }
  CHECK(loop.finish());
}

TEST_CASE("half-close: each side's close_notify is an EOF while the other way flows",
          "[tls][stream][halfclose]") {
  Pki pki;
  Loop loop;
  {
    Server server(loop, pki.server_chain, pki.server_key);
    auto out = dial(loop, client_ctx(trusting(pki)), "localhost", server.port());
    REQUIRE(out.stream);
    REQUIRE(loop.run_until([&] { return server.accepted.size() == 1; }));
    io::Stream* srv = server.accepted[0].get();
    io::Stream* cli = out.stream.get();
    Recorder s_rec, c_rec;
    srv->set_handler(&s_rec);
    cli->set_handler(&c_rec);
    srv->start_read();
    cli->start_read();

    SECTION("client shuts down first") {
      cli->write(as_bytes("request"));
      cli->shutdown();
      cli->shutdown();  // idempotent
      REQUIRE(loop.run_until([&] { return s_rec.eof; }));
      CHECK(s_rec.data == "request");
      CHECK(s_rec.errors == 0);
      // The server keeps writing after the client's EOF, and the client keeps reading.
      const std::string reply = pattern(300'000, 7);
      srv->write(as_bytes(reply));
      REQUIRE(loop.run_until([&] { return c_rec.data.size() >= reply.size(); }));
      CHECK(c_rec.data == reply);
      CHECK_FALSE(c_rec.eof);
      srv->shutdown();
      REQUIRE(loop.run_until([&] { return c_rec.eof; }));
      CHECK(c_rec.errors == 0);
      CHECK(s_rec.errors == 0);
    }
    SECTION("server shuts down first") {
      srv->write(as_bytes("banner"));
      srv->shutdown();
      REQUIRE(loop.run_until([&] { return c_rec.eof; }));
      CHECK(c_rec.data == "banner");
      const std::string upload = pattern(200'000, 9);
      cli->write(as_bytes(upload));
      REQUIRE(loop.run_until([&] { return s_rec.data.size() >= upload.size(); }));
      CHECK(s_rec.data == upload);
      CHECK_FALSE(s_rec.eof);
      cli->shutdown();
      REQUIRE(loop.run_until([&] { return s_rec.eof; }));
      CHECK(c_rec.errors == 0);
      CHECK(s_rec.errors == 0);
    }
  }
  CHECK(loop.finish());
}

TEST_CASE("a TCP EOF without close_notify is reported as truncated", "[tls][stream]") {
  Pki pki;
  Loop loop;
  // A blocking OpenSSL server in a thread: handshake, one record, then a bare TCP FIN.
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(lfd, 1) == 0);
  REQUIRE(::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &alen) == 0);
  timeval tv{5, 0};
  ::setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string server_result;
  std::thread th([&] {
    int fd = ::accept(lfd, nullptr, nullptr);
    if (fd < 0) {
      server_result = "no client";
      return;
    }
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    SSL_CTX_use_certificate_chain_file(ctx.get(), pki.server_chain.c_str());
    SSL_CTX_use_PrivateKey_file(ctx.get(), pki.server_key.c_str(), SSL_FILETYPE_PEM);
    SslPtr ssl(SSL_new(ctx.get()));
    SSL_set_fd(ssl.get(), fd);
    if (SSL_accept(ssl.get()) == 1 && SSL_write(ssl.get(), "partial", 7) == 7) {
      ::shutdown(fd, SHUT_WR);
      server_result = wait_closed(fd);
    } else {
      server_result = "handshake failed";
    }
    ::close(fd);
  });
  Recorder rec;
  {
    auto out = dial(loop, client_ctx(trusting(pki)), "localhost", ntohs(a.sin_port));
    REQUIRE(out.stream);
    out.stream->set_handler(&rec);
    out.stream->start_read();
    loop.run_until([&] { return rec.errors > 0 || rec.eof; });
  }  // dropping the stream closes it, which lets the server thread finish
  th.join();
  ::close(lfd);
  CHECK(server_result == "closed");
  CHECK(rec.data == "partial");
  CHECK_FALSE(rec.eof);
  CHECK(rec.errors == 1);
  CHECK(starts_with(rec.error, "truncated"));
  CHECK(loop.finish());
}

TEST_CASE("back-pressure: the queue grows while the peer does not read, drains when it does",
          "[tls][stream][backpressure]") {
  Pki pki;
  Loop loop;
  {
    Server server(loop, pki.server_chain, pki.server_key);
    auto out = dial(loop, client_ctx(trusting(pki)), "localhost", server.port());
    REQUIRE(out.stream);
    REQUIRE(loop.run_until([&] { return server.accepted.size() == 1; }));
    io::Stream* srv = server.accepted[0].get();
    io::Stream* cli = out.stream.get();
    Recorder s_rec, c_rec;
    srv->set_handler(&s_rec);
    cli->set_handler(&c_rec);
    cli->start_read();

    // More than loopback socket buffers can absorb.
    const std::string big = pattern(32u << 20, 3);
    cli->write(as_bytes(big));
    CHECK(cli->write_queue_size() > io::Stream::low_water());
    loop.idle(300);  // the server is not reading: nothing can drain
    const std::size_t stuck = cli->write_queue_size();
    CHECK(stuck > io::Stream::low_water());
    CHECK(c_rec.drains == 0);
    CHECK(s_rec.data.empty());

    srv->start_read();
    REQUIRE(loop.run_until([&] { return c_rec.drains > 0; }, 30'000));
    CHECK(c_rec.drains == 1);
    CHECK(cli->write_queue_size() <= io::Stream::low_water());
    REQUIRE(loop.run_until([&] { return s_rec.data.size() >= big.size(); }, 30'000));
    CHECK(s_rec.data == big);
    CHECK(cli->write_queue_size() == 0);

    // stop_read() on the receiver makes the queue grow again.
    srv->stop_read();
    cli->write(as_bytes(big));
    loop.idle(300);
    CHECK(cli->write_queue_size() > io::Stream::low_water());
    srv->start_read();
    REQUIRE(loop.run_until([&] { return s_rec.data.size() >= 2 * big.size(); }, 30'000));
    CHECK(c_rec.drains == 2);
    CHECK(s_rec.errors == 0);
    CHECK(c_rec.errors == 0);
  }
  CHECK(loop.finish());
}

TEST_CASE("close() aborts: no callback afterwards, the loop closes cleanly",
          "[tls][stream][close]") {
  Pki pki;
  Loop loop;
  Recorder s_rec, c_rec, c2_rec;
  {
    Server server(loop, pki.server_chain, pki.server_key);
    auto ctx = client_ctx(trusting(pki));
    auto out = dial(loop, ctx, "localhost", server.port());
    auto out2 = dial(loop, ctx, "localhost", server.port());
    REQUIRE(out.stream);
    REQUIRE(out2.stream);
    REQUIRE(loop.run_until([&] { return server.accepted.size() == 2; }));
    io::Stream* srv = server.accepted[0].get();
    srv->set_handler(&s_rec);
    srv->start_read();

    // 1) Closed from inside its own on_read while data is still arriving.
    out.stream->set_handler(&c_rec);
    out.stream->start_read();
    c_rec.read_hook = [&](ByteView) {
      if (c_rec.closed) return;
      c_rec.closed = true;
      out.stream.reset();  // close() inside a callback
    };
    srv->write(as_bytes(pattern(4u << 20)));
    REQUIRE(loop.run_until([&] { return c_rec.closed; }));
    // The server sees the abort as an error, not as a clean EOF.
    REQUIRE(loop.run_until([&] { return s_rec.errors > 0; }));
    CHECK_FALSE(s_rec.eof);

    // 2) Closed from outside with a full write queue and a pending EOF.
    out2.stream->set_handler(&c2_rec);
    out2.stream->start_read();
    out2.stream->write(as_bytes(pattern(16u << 20)));
    CHECK(out2.stream->write_queue_size() > 0);
    out2.stream->shutdown();
    c2_rec.closed = true;
    out2.stream->close();
    (void)out2.stream.release();  // close() freed it: StreamPtr must not close it again
    loop.idle(200);
  }
  CHECK(c_rec.calls_after_close == 0);
  CHECK(c2_rec.calls_after_close == 0);
  CHECK(loop.finish());
}

TEST_CASE("client resumes with a cached ticket and the pin still holds", "[tls][stream][resume]") {
  Pki pki;
  Loop loop;
  {
    Server server(loop, pki.server_chain, pki.server_key);
    auto c = trusting(pki);
    c.spki_pin = pki.server_pin;
    auto ctx = client_ctx(c);
    auto first = dial(loop, ctx, "localhost", server.port());
    REQUIRE(first.stream);
    CHECK_FALSE(static_cast<TlsStream*>(first.stream.get())->resumed());
    Recorder rec;
    first.stream->set_handler(&rec);
    first.stream->start_read();  // tickets arrive after the handshake, with the first reads
    REQUIRE(loop.run_until([&] { return ctx->cached_sessions() > 0; }));

    auto second = dial(loop, ctx, "localhost", server.port());
    REQUIRE(second.error == "");
    CHECK(static_cast<TlsStream*>(second.stream.get())->resumed());

    // A ticket is kept per server: another name for the same address does not use it.
    auto c2 = c;
    c2.server_name = "127.0.0.1";
    auto other = dial(loop, client_ctx(c2), "127.0.0.1", server.port());
    REQUIRE(other.stream);
    CHECK_FALSE(static_cast<TlsStream*>(other.stream.get())->resumed());

    ctx->set_resumption(false);
    auto third = dial(loop, ctx, "localhost", server.port());
    REQUIRE(third.stream);
    CHECK_FALSE(static_cast<TlsStream*>(third.stream.get())->resumed());
  }
  CHECK(loop.finish());
}

TEST_CASE("an established stream keeps no timer handle while idle, and still delivers later",
          "[tls][stream][memory]") {
  // Thousands of idle reverse-tunnel visitors each hold a TLS stream on the server: the
  // handshake time-out's handle is freed once the handshake is done, and made again only for
  // a deferred delivery (bench/RESULTS.md, issue 14).
  Pki pki;
  Loop loop;
  auto timers = [&] { return open_timers(loop.get()); };
  {
    Server server(loop, pki.server_chain, pki.server_key);
    const int before = timers();
    auto out = dial(loop, client_ctx(trusting(pki)), "localhost", server.port());
    REQUIRE(out.error == "");
    REQUIRE(out.stream);
    REQUIRE(loop.run_until([&] { return server.accepted.size() == 1; }));
    io::Stream* srv = server.accepted[0].get();
    Recorder rec;
    srv->set_handler(&rec);
    srv->start_read();
    Recorder client_rec;
    out.stream->set_handler(&client_rec);
    out.stream->start_read();
    loop.idle(50);  // the ticket arrives; both sides idle
    CHECK(timers() == before);

    out.stream->write(as_bytes(std::string_view("still works")));
    REQUIRE(loop.run_until([&] { return rec.data == "still works"; }));
    CHECK(timers() == before);

    // Errors are delivered from the loop (a deferred call): that makes a timer again.
    out.stream.reset();  // close(), an abort: TCP closes without close_notify
    REQUIRE(loop.run_until([&] { return rec.errors > 0; }));
    CHECK(rec.errors == 1);
    CHECK(starts_with(rec.error, "truncated"));
    CHECK(client_rec.errors == 0);
  }
  CHECK(loop.finish());
}
