// The server engine behind a real QuicServer, a QuicClient as the climber: every way a tunnel
// can fail before its response reaches the climber as a stream reset carrying the code of
// docs/PROTOCOL.md sections 4 and 6.2 (stealth mode), or as status + FIN (reply mode).
#ifdef MTOP_HAVE_QUIC

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../quic/quic_test_support.hpp"
#include "engine/tunnel_session.hpp"
#include "must.hpp"
#include "test_server_engine_support.hpp"

using namespace mtop;
using namespace mtop::srvtest;

namespace {

/// The climber's side of one tunnel over QUIC: sends `first` bytes, records what comes back.
struct Climber : io::Stream::Handler {
  io::StreamPtr s;
  bool opened = false;
  std::string open_error;
  std::string data;
  bool eof = false;
  std::string error;

  bool finished() const { return eof || !error.empty() || !open_error.empty(); }
  void on_read(ByteView d) override { data.append(as_chars(d)); }
  void on_eof() override { eof = true; }
  void on_error(std::string_view r) override { error = std::string(r); }
  void on_drain() override {}
};

/// A loopback TCP port with nothing listening (bound, then closed): connecting is refused.
std::uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t n = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

struct QuicFixture {
  explicit QuicFixture(ServerOptions o) : f(std::move(o)) {
    REQUIRE(certs.ok);
    server =
        must(quic::QuicServer::create(f.loop.get(), qt::server_options(certs),
                                      [this](io::StreamPtr s) { f.engine->serve(std::move(s)); }));
    REQUIRE(server);
    client =
        must(quic::QuicClient::create(f.loop.get(), qt::client_options(certs, server->port())));
    REQUIRE(client);
  }
  ~QuicFixture() {
    climbers.clear();
    client.reset();
    server.reset();
  }

  /// Opens a stream and writes `first` on it (an auth message, or junk).
  Climber& open(std::string first) {
    climbers.push_back(std::make_unique<Climber>());
    Climber* c = climbers.back().get();
    client->open([c, first](io::StreamPtr s, std::string error) {
      c->open_error = error;
      if (!s) return;
      c->opened = true;
      c->s = std::move(s);
      c->s->set_handler(c);
      c->s->start_read();
      c->s->write(as_bytes(first));
    });
    return *c;
  }
  Climber& open_auth(const AuthMessage& m) {
    auto hs = ClientHandshake::create(m);
    REQUIRE(hs);
    return open(std::string(as_chars(hs->pending_output())));
  }
  bool run_until(const std::function<bool()>& pred) { return f.run_until(pred); }

  Fixture f;
  qt::Certs certs;
  std::unique_ptr<quic::QuicServer> server;
  std::unique_ptr<quic::QuicClient> client;
  std::vector<std::unique_ptr<Climber>> climbers;
};

}  // namespace

TEST_CASE("tunnel abort codes: every failure maps to the code of the spec", "[server_engine]") {
  CHECK(tunnel_abort_code(TunnelFailure::auth_failed) == QuicAppError::refused);
  CHECK(tunnel_abort_code(TunnelFailure::account_refused) == QuicAppError::refused);
  CHECK(tunnel_abort_code(TunnelFailure::throttled) == QuicAppError::refused);
  CHECK(tunnel_abort_code(TunnelFailure::target_denied) == QuicAppError::refused);
  CHECK(tunnel_abort_code(TunnelFailure::overloaded) == QuicAppError::refused);
  CHECK(tunnel_abort_code(TunnelFailure::draining) == QuicAppError::refused);
  CHECK(tunnel_abort_code(TunnelFailure::target_failed) == QuicAppError::connect_failed);
  CHECK(tunnel_abort_code(TunnelFailure::protocol_error) == QuicAppError::protocol_error);
  CHECK(tunnel_abort_code(TunnelFailure::handshake_timeout) == QuicAppError::handshake_timeout);
  CHECK(tunnel_abort_code(TunnelFailure::client_closed) == QuicAppError::aborted);
  CHECK(tunnel_abort_code(TunnelFailure::revoked) == QuicAppError::aborted);
}

TEST_CASE("server engine over QUIC, stealth: the climber reads the reset code of each failure",
          "[server_engine][quic]") {
  auto o = Fixture::defaults();
  o.handshake_timeout_ms = 300;
  QuicFixture q(o);
  const std::uint16_t closed = closed_port();

  Climber& ok = q.open_auth(auth_to("alice", "secret", local(q.f.target.port())));
  Climber& wrong = q.open_auth(auth_to("alice", "wrong", local(q.f.target.port())));
  Climber& unknown = q.open_auth(auth_to("mallory", "secret", local(q.f.target.port())));
  Climber& refused = q.open_auth(auth_to("alice", "secret", local(closed)));
  Climber& denied = q.open_auth(auth_to("alice", "secret", Address::from_ipv4({127, 0, 0, 2}, 9)));
  Climber& junk = q.open(std::string("\x01\x07", 2));
  Climber& silent =
      q.open(std::string("\x01\x01\x05"
                         "ali",
                         6));  // incomplete, then nothing

  REQUIRE(q.run_until([&] {
    return ok.data.size() >= 2 && wrong.finished() && unknown.finished() && refused.finished() &&
           denied.finished() && junk.finished() && silent.finished();
  }));
  CHECK(ok.data == std::string("\x01\x00", 2));  // VER + success, the tunnel is up
  CHECK(ok.error.empty());
  CHECK(wrong.error == "reset by peer: 0x3 (REFUSED)");
  CHECK(unknown.error == "reset by peer: 0x3 (REFUSED)");
  CHECK(refused.error == "reset by peer: 0x4 (CONNECT_FAILED)");
  CHECK(denied.error == "reset by peer: 0x3 (REFUSED)");
  CHECK(junk.error == "reset by peer: 0x2 (PROTOCOL_ERROR)");
  CHECK(silent.error == "reset by peer: 0x5 (HANDSHAKE_TIMEOUT)");
  // Stealth: not one byte before the reset.
  for (Climber* c : {&wrong, &unknown, &refused, &denied, &junk, &silent}) {
    CHECK(c->data.empty());
    CHECK_FALSE(c->eof);
  }
  CHECK(q.f.failed(TunnelFailure::auth_failed) == 2);
  CHECK(q.f.failed(TunnelFailure::target_failed) == 1);
  CHECK(q.f.failed(TunnelFailure::target_denied) == 1);
  CHECK(q.f.failed(TunnelFailure::protocol_error) == 1);
  CHECK(q.f.failed(TunnelFailure::handshake_timeout) == 1);

  // The good tunnel still relays on the same connection.
  ok.s->write(as_bytes("ping"));
  ok.s->shutdown();
  REQUIRE(q.run_until([&] { return ok.eof || !ok.error.empty(); }));
  CHECK(ok.error.empty());
  CHECK(ok.data == std::string("\x01\x00", 2) + "ping");
  CHECK(q.client->handshakes() == 1);
}

TEST_CASE("server engine over QUIC, reply mode: the status then FIN, no reset",
          "[server_engine][quic]") {
  auto o = Fixture::defaults();
  o.reply_status = true;
  QuicFixture q(o);
  Climber& wrong = q.open_auth(auth_to("alice", "wrong", local(q.f.target.port())));
  Climber& refused = q.open_auth(auth_to("alice", "secret", local(closed_port())));
  REQUIRE(q.run_until([&] { return wrong.finished() && refused.finished(); }));
  CHECK(wrong.error.empty());
  CHECK(wrong.eof);
  CHECK(wrong.data == std::string("\x01\x02", 2));
  CHECK(refused.error.empty());
  CHECK(refused.eof);
  CHECK(refused.data == std::string("\x01\x03", 2));
}

TEST_CASE("server engine over QUIC: a draining engine refuses new streams with REFUSED",
          "[server_engine][quic]") {
  QuicFixture q(Fixture::defaults());
  bool drained = false;
  q.f.engine->drain([&] { drained = true; });
  REQUIRE(q.run_until([&] { return drained; }));
  Climber& late = q.open_auth(auth_to("alice", "secret", local(q.f.target.port())));
  REQUIRE(q.run_until([&] { return late.finished(); }));
  CHECK(late.error == "reset by peer: 0x3 (REFUSED)");
  CHECK(q.f.failed(TunnelFailure::draining) == 1);
}

#endif  // MTOP_HAVE_QUIC
