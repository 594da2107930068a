// QuicServer / QuicClient as endpoints: reconnect after a server restart, garbage on the wire,
// loss/reordering/duplication through a user-space relay, Retry, limits, idle and keep-alive.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <fstream>
#include <iterator>

#include "must.hpp"
#include "quic/app_error.hpp"
#include "quic_test_support.hpp"

using namespace qt;
using mtop::quic::QuicClient;
using mtop::quic::QuicServer;

namespace {

/// Sends one echo round trip of `payload` on a new stream; returns "" or the error.
std::string round_trip(Loop& loop, QuicClient& client, const Bytes& payload,
                       std::uint64_t timeout_ms = 20'000) {
  std::string error;
  Collector c;
  c.s = open_stream(loop, client, error, timeout_ms);
  if (!c.s) return error.empty() ? "no stream" : error;
  c.s->set_handler(&c);
  c.s->start_read();
  c.s->write(payload);
  c.s->shutdown();
  if (!loop.run_until([&] { return c.eof || !c.error.empty(); }, timeout_ms)) return "timed out";
  if (!c.error.empty()) return c.error;
  return c.data == payload ? "" : "data mismatch";
}

/// A raw UDP socket for sending hand-made datagrams.
struct RawUdp {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  ~RawUdp() {
    if (fd >= 0) close(fd);
  }
  void send_to(std::uint16_t port, const Bytes& b) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)sendto(fd, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
};

/// A lossy relay: client <-> relay <-> server, dropping, duplicating and reordering datagrams
/// with a seeded RNG.
class LossyRelay {
 public:
  LossyRelay(uv_loop_t* loop, std::uint16_t server_port, std::uint32_t seed) : rng_(seed) {
    udp_ = mtop::io::UvHandle<uv_udp_t>::make();
    uv_udp_init(loop, udp_.get());
    udp_->data = this;
    sockaddr_in any{};
    uv_ip4_addr("127.0.0.1", 0, &any);
    uv_udp_bind(udp_.get(), reinterpret_cast<sockaddr*>(&any), 0);
    uv_ip4_addr("127.0.0.1", server_port, &server_);
    uv_udp_recv_start(
        udp_.get(),
        [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
          static thread_local char space[65536];
          *buf = uv_buf_init(space, sizeof space);
        },
        [](uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from, unsigned) {
          auto* self = static_cast<LossyRelay*>(h->data);
          if (!self || n <= 0 || !from) return;
          self->on_datagram(Bytes(buf->base, buf->base + n), from);
        });
  }
  std::uint16_t port() const {
    sockaddr_in a{};
    int len = sizeof a;
    uv_udp_getsockname(udp_.get(), reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
  }
  std::uint64_t dropped = 0, duplicated = 0, reordered = 0, forwarded = 0;
  int loss_percent = 3;  ///< then 2 % reordered and 2 % duplicated

 private:
  void on_datagram(Bytes d, const sockaddr* from) {
    auto* in = reinterpret_cast<const sockaddr_in*>(from);
    bool from_server = in->sin_port == server_.sin_port;
    if (!from_server) {
      client_ = *in;
      have_client_ = true;
    }
    if (from_server && !have_client_) return;
    const sockaddr_in& to = from_server ? client_ : server_;
    std::uniform_int_distribution<int> pct(0, 99);
    int roll = pct(rng_);
    if (roll < loss_percent) {
      ++dropped;
      return;
    }
    if (roll < loss_percent + 2) {  // held back and sent after the next one
      ++reordered;
      held_.push_back({std::move(d), to});
      return;
    }
    send(d, to);
    if (roll < loss_percent + 4) {  // duplicated
      ++duplicated;
      send(d, to);
    }
    while (!held_.empty()) {
      send(held_.front().first, held_.front().second);
      held_.pop_front();
    }
  }
  void send(const Bytes& d, const sockaddr_in& to) {
    ++forwarded;
    uv_buf_t b = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(d.data())),
                             static_cast<unsigned>(d.size()));
    (void)uv_udp_try_send(udp_.get(), &b, 1, reinterpret_cast<const sockaddr*>(&to));
  }

  std::mt19937 rng_;
  mtop::io::UvHandle<uv_udp_t> udp_;
  sockaddr_in server_{};
  sockaddr_in client_{};
  bool have_client_ = false;
  std::deque<std::pair<Bytes, sockaddr_in>> held_;
};

}  // namespace

TEST_CASE("the client reconnects by itself after a server restart", "[quic]") {
  Loop loop;
  Certs certs;
  REQUIRE(certs.ok);
  EchoServer echo;
  std::string error;
  auto so = server_options(certs);
  so.secret = std::string(32, 's');  // the same secret across the restart: resumption works
  auto server = must(QuicServer::create(loop.get(), so, echo.acceptor()));
  REQUIRE(server);
  std::uint16_t port = server->port();
  auto client = must(QuicClient::create(loop.get(), client_options(certs, port)));
  REQUIRE(client);
  REQUIRE(round_trip(loop, *client, random_bytes(5000, 1)) == "");
  // A stream left open across the restart.
  Collector held;
  held.s = open_stream(loop, *client, error);
  REQUIRE(held.s);
  held.s->set_handler(&held);
  held.s->start_read();
  REQUIRE(client->handshakes() == 1);
  CHECK_FALSE(client->last_resumed());

  echo.sessions.clear();
  server.reset();  // sends CONNECTION_CLOSE to the client
  so.port = port;
  server = must(QuicServer::create(loop.get(), so, echo.acceptor()));
  REQUIRE(server);
  REQUIRE(server->port() == port);

  REQUIRE(loop.run_until([&] { return !held.error.empty(); }));
  CHECK(held.error.find("closed by peer") != std::string::npos);
  CHECK(held.error.find("server shutting down") != std::string::npos);

  REQUIRE(round_trip(loop, *client, random_bytes(70000, 2)) == "");
  CHECK(client->handshakes() == 2);
  CHECK(client->last_resumed());  // the ticket from the first server was accepted
  CHECK(server->connection_count() == 1);
}

TEST_CASE("a client whose server vanished silently recovers via stateless reset", "[quic]") {
  Loop loop;
  Certs certs;
  REQUIRE(certs.ok);
  EchoServer echo;
  std::string error;
  auto so = server_options(certs);
  so.secret = std::string(40, 'k');  // the new server can make the old tokens
  auto server = must(QuicServer::create(loop.get(), so, echo.acceptor()));
  REQUIRE(server);
  so.port = server->port();
  // Through a relay that can black-hole everything, so the server's goodbye gets lost.
  LossyRelay relay(loop.get(), so.port, 99);
  relay.loss_percent = 0;
  auto client = must(QuicClient::create(loop.get(), client_options(certs, relay.port())));
  REQUIRE(client);
  Collector held;
  held.s = open_stream(loop, *client, error);
  REQUIRE(held.s);
  held.s->set_handler(&held);
  held.s->start_read();
  held.s->write(mtop::as_bytes("one"));
  REQUIRE(loop.run_until([&] { return held.bytes == 3; }));

  relay.loss_percent = 100;
  echo.sessions.clear();
  server.reset();  // its CONNECTION_CLOSE dies in the relay
  server = must(QuicServer::create(loop.get(), so, echo.acceptor()));
  REQUIRE(server);
  loop.run_for(50);
  relay.loss_percent = 0;
  // The client's next packet reaches a server that does not know the connection.
  held.s->write(mtop::as_bytes("two"));
  REQUIRE(loop.run_until([&] { return !held.error.empty(); }));
  CHECK(held.error == "stateless reset by peer");
  CHECK(server->stats().stateless_resets >= 1);
  REQUIRE(round_trip(loop, *client, random_bytes(1000, 3)) == "");
  CHECK(client->handshakes() == 2);
}

TEST_CASE("garbage and truncated datagrams are ignored", "[quic]") {
  Loop loop;
  Certs certs;
  REQUIRE(certs.ok);
  EchoServer echo;
  auto server = must(QuicServer::create(loop.get(), server_options(certs), echo.acceptor()));
  REQUIRE(server);
  auto client = must(QuicClient::create(loop.get(), client_options(certs, server->port())));
  REQUIRE(client);
  REQUIRE(round_trip(loop, *client, random_bytes(3000, 4)) == "");

  RawUdp raw;
  std::mt19937 rng(1234);
  // Random bytes of random sizes, including empty-ish and jumbo ones.
  for (int i = 0; i < 300; ++i) {
    std::size_t n = std::uniform_int_distribution<std::size_t>(1, 1500)(rng);
    raw.send_to(server->port(), random_bytes(n, 1000 + i));
  }
  // Long headers: a valid-looking Initial cut short at every length, and unknown versions.
  Bytes initial = random_bytes(1200, 77);
  initial[0] = 0xc0;  // long header, Initial
  initial[1] = initial[2] = initial[3] = 0;
  initial[4] = 1;  // QUIC v1
  initial[5] = 8;  // DCID length
  for (std::size_t cut = 1; cut < 60; ++cut) {
    raw.send_to(server->port(), Bytes(initial.begin(), initial.begin() + cut));
  }
  raw.send_to(server->port(), initial);  // full size but garbage crypto
  Bytes unknown_version = initial;
  unknown_version[4] = 0x2a;  // version 0x0000002a: not supported -> Version Negotiation
  raw.send_to(server->port(), unknown_version);
  // A short header with an unknown 16-byte DCID -> stateless reset (not to a tiny one).
  Bytes short_hdr = random_bytes(100, 5);
  short_hdr[0] = 0x40;
  raw.send_to(server->port(), short_hdr);
  raw.send_to(server->port(), Bytes(short_hdr.begin(), short_hdr.begin() + 20));

  REQUIRE(loop.run_until([&] { return server->stats().stateless_resets >= 1; }));
  loop.run_for(100);
  // Random bytes look like short headers (-> stateless reset) or long headers with unknown
  // versions (-> version negotiation) or nothing usable (dropped).
  CHECK(server->stats().dropped > 60);
  CHECK(server->stats().version_negotiations >= 1);
  CHECK(server->stats().stateless_resets >= 1);
  // Unsolicited answers are rate-limited: a flood gets at most the budget per second.
  auto before = server->stats();
  for (int i = 0; i < 1000; ++i) raw.send_to(server->port(), short_hdr);
  loop.run_for(100);
  CHECK(server->stats().stateless_resets - before.stateless_resets <= 2 * 200);
  // The garbage Initial may have created a half-open connection; it never completes.
  CHECK(server->stats().accepted_connections <= 2);

  // The established client is unaffected and new clients still get in.
  REQUIRE(round_trip(loop, *client, random_bytes(20000, 6)) == "");
  auto client2 = must(QuicClient::create(loop.get(), client_options(certs, server->port())));
  REQUIRE(round_trip(loop, *client2, random_bytes(20000, 7)) == "");
  CHECK(client->handshakes() == 1);
}

TEST_CASE("loss, reordering and duplication through a lossy relay", "[quic]") {
  Loop loop;
  Certs certs;
  REQUIRE(certs.ok);
  EchoServer echo;
  std::string error;
  auto server = must(QuicServer::create(loop.get(), server_options(certs), echo.acceptor()));
  REQUIRE(server);
  LossyRelay relay(loop.get(), server->port(), 20261121);
  auto client = must(QuicClient::create(loop.get(), client_options(certs, relay.port())));
  REQUIRE(client);
  Bytes big = random_bytes(4 << 20, 8);
  CHECK(round_trip(loop, *client, big, 60'000) == "");
  // Several streams at once, then new ones after that.
  std::vector<std::unique_ptr<Collector>> cs;
  std::vector<Bytes> payloads;
  for (int i = 0; i < 10; ++i) {
    payloads.push_back(random_bytes(100'000 + i, 50 + i));
    auto c = std::make_unique<Collector>();
    c->s = open_stream(loop, *client, error);
    REQUIRE(c->s);
    c->s->set_handler(c.get());
    c->s->start_read();
    c->s->write(payloads.back());
    c->s->shutdown();
    cs.push_back(std::move(c));
  }
  REQUIRE(loop.run_until(
      [&] {
        for (auto& c : cs) {
          if (!c->eof && c->error.empty()) return false;
        }
        return true;
      },
      60'000));
  for (int i = 0; i < 10; ++i) {
    CHECK(cs[i]->error == "");
    CHECK(cs[i]->data == payloads[i]);
  }
  CHECK(round_trip(loop, *client, random_bytes(1000, 9)) == "");
  CHECK(relay.dropped > 0);
  CHECK(relay.duplicated > 0);
  CHECK(relay.reordered > 0);
  CHECK(client->handshakes() == 1);
}

TEST_CASE("address validation with Retry when handshakes pile up", "[quic]") {
  Loop loop;
  Certs certs;
  REQUIRE(certs.ok);
  EchoServer echo;
  auto so = server_options(certs);
  so.retry_threshold = 0;  // every new client must echo a Retry token first
  auto server = must(QuicServer::create(loop.get(), so, echo.acceptor()));
  REQUIRE(server);
  auto client = must(QuicClient::create(loop.get(), client_options(certs, server->port())));
  REQUIRE(client);
  CHECK(round_trip(loop, *client, random_bytes(10000, 10)) == "");
  CHECK(server->stats().retries == 1);
  CHECK(server->stats().accepted_connections == 1);
}

TEST_CASE("limits: connections refused past the maximum, streams refused after stop()", "[quic]") {
  Loop loop;
  Certs certs;
  REQUIRE(certs.ok);
  EchoServer echo;
  std::string error;
  auto so = server_options(certs);
  so.max_connections = 1;
  so.limits.max_streams = 2;
  auto server = must(QuicServer::create(loop.get(), so, echo.acceptor()));
  REQUIRE(server);
  auto o1 = client_options(certs, server->port());
  o1.max_connections = 1;  // the server takes one connection anyway
  auto c1 = must(QuicClient::create(loop.get(), o1));
  REQUIRE(round_trip(loop, *c1, random_bytes(100, 11)) == "");

  auto c2 = must(QuicClient::create(loop.get(), client_options(certs, server->port())));
  std::string e = round_trip(loop, *c2, random_bytes(100, 12));
  INFO(e);
  CHECK(e.find("connection refused") != std::string::npos);
  CHECK(server->stats().refused >= 1);

  // Only two streams at a time on the only connection there may be: a third open is refused
  // at once, naming the limit; once one of the first two is done, the next open gets its slot.
  Collector a, b;
  a.s = open_stream(loop, *c1, error);
  b.s = open_stream(loop, *c1, error);
  REQUIRE(a.s);
  REQUIRE(b.s);
  for (Collector* c : {&a, &b}) {
    c->s->set_handler(c);
    c->s->start_read();
    c->s->write(mtop::as_bytes("x"));
  }
  StreamPtr third_stream = open_stream(loop, *c1, error);
  CHECK_FALSE(third_stream);
  CHECK(error == "at limit: QUIC pool full: 1 connection x 2 streams (max_connections)");
  CHECK(a.error.empty());
  CHECK(b.error.empty());
  a.s->shutdown();
  REQUIRE(loop.run_until([&] { return a.eof; }));
  a.s.reset();
  third_stream = open_stream(loop, *c1, error);
  CHECK(third_stream);

  server->stop();
  b.s.reset();  // frees the slots held by b and the third stream
  third_stream.reset();
  Collector late;
  late.s = open_stream(loop, *c1, error);
  REQUIRE(late.s);
  late.s->set_handler(&late);
  late.s->start_read();
  late.s->write(mtop::as_bytes("after stop"));
  REQUIRE(loop.run_until([&] { return !late.error.empty(); }));
  CHECK(late.error == "reset by peer: 0x3 (REFUSED)");
}

TEST_CASE("idle connections time out unless kept alive", "[quic]") {
  Loop loop;
  Certs certs;
  REQUIRE(certs.ok);
  EchoServer echo;
  std::string error;
  auto so = server_options(certs);
  so.limits.idle_timeout_ms = 400;
  auto server = must(QuicServer::create(loop.get(), so, echo.acceptor()));
  REQUIRE(server);
  auto co = client_options(certs, server->port());
  co.limits.idle_timeout_ms = 400;

  SECTION("without keep-alive the connection dies and the stream hears why") {
    co.limits.keep_alive_ms = 0;
    auto client = must(QuicClient::create(loop.get(), co));
    Collector c;
    c.s = open_stream(loop, *client, error);
    REQUIRE(c.s);
    c.s->set_handler(&c);
    c.s->start_read();
    REQUIRE(loop.run_until([&] { return !c.error.empty(); }, 10'000));
    CHECK(c.error == "idle timeout");
    CHECK_FALSE(client->connected());
    // ...and the next open reconnects.
    CHECK(round_trip(loop, *client, random_bytes(100, 13)) == "");
    CHECK(client->handshakes() == 2);
  }
  SECTION("keep-alive PINGs keep it open") {
    co.limits.keep_alive_ms = 100;
    auto client = must(QuicClient::create(loop.get(), co));
    REQUIRE(round_trip(loop, *client, random_bytes(100, 14)) == "");
    loop.run_for(1500);
    CHECK(client->connected());
    CHECK(round_trip(loop, *client, random_bytes(100, 15)) == "");
    CHECK(client->handshakes() == 1);
  }
}

TEST_CASE("an unreachable server fails the open with a clear error, then retries", "[quic]") {
  Loop loop;
  Certs certs;
  REQUIRE(certs.ok);
  // A bound UDP port nobody answers on.
  RawUdp silent;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(silent.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  getsockname(silent.fd, reinterpret_cast<sockaddr*>(&a), &len);
  std::uint16_t port = ntohs(a.sin_port);
  auto co = client_options(certs, port);
  co.limits.handshake_timeout_ms = 300;
  std::string error;
  auto client = must(QuicClient::create(loop.get(), co));
  REQUIRE(client);
  StreamPtr s = open_stream(loop, *client, error);
  CHECK_FALSE(s);
  INFO(error);
  CHECK(error.find("quic: cannot connect to 127.0.0.1:") == 0);
  CHECK(error.find("timed out") != std::string::npos);
  // Once a server listens there, the next open (after the back-off) gets through.
  close(silent.fd);
  silent.fd = -1;
  EchoServer echo;
  auto server = must(QuicServer::create(loop.get(), server_options(certs, port), echo.acceptor()));
  REQUIRE(server);
  CHECK(round_trip(loop, *client, random_bytes(100, 16)) == "");
  CHECK(client->handshakes() == 1);
  // A name that does not resolve.
  co.host = "no-such-host.invalid";
  co.tls.server_name = "no-such-host.invalid";
  auto bad = must(QuicClient::create(loop.get(), co));
  REQUIRE(bad);
  s = open_stream(loop, *bad, error);
  CHECK_FALSE(s);
  CHECK(error.find("dns:") != std::string::npos);
}

TEST_CASE("IPv6 endpoint on ::1", "[quic]") {
  Loop loop;
  Certs certs;
  REQUIRE(certs.ok);
  EchoServer echo;
  auto so = server_options(certs);
  so.host = "::1";
  auto server = must(QuicServer::create(loop.get(), so, echo.acceptor()));
  REQUIRE(server);
  auto co = client_options(certs, server->port());
  co.host = "::1";
  co.tls.server_name = "::1";  // verified against the certificate's IP address entry
  auto client = must(QuicClient::create(loop.get(), co));
  REQUIRE(client);
  CHECK(round_trip(loop, *client, random_bytes(50000, 17)) == "");
}

TEST_CASE("the session file lets a new client resume", "[quic]") {
  Loop loop;
  Certs certs;
  REQUIRE(certs.ok);
  EchoServer echo;
  auto so = server_options(certs);
  auto server = must(QuicServer::create(loop.get(), so, echo.acceptor()));
  REQUIRE(server);
  auto co = client_options(certs, server->port());
  co.session_file = (certs.dir / "session.bin").string();
  {
    auto first = must(QuicClient::create(loop.get(), co));
    REQUIRE(round_trip(loop, *first, random_bytes(100, 18)) == "");
    CHECK_FALSE(first->last_resumed());
    // The ticket arrives after the handshake; wait until it is on disk.
    REQUIRE(loop.run_until([&] { return std::filesystem::exists(co.session_file); }));
  }
  auto perms = std::filesystem::status(co.session_file).permissions();
  CHECK((perms & (std::filesystem::perms::group_all | std::filesystem::perms::others_all)) ==
        std::filesystem::perms::none);
  auto second = must(QuicClient::create(loop.get(), co));
  REQUIRE(round_trip(loop, *second, random_bytes(100, 19)) == "");
  CHECK(second->last_resumed());

  // A corrupt file only costs a full handshake.
  {
    std::FILE* f = std::fopen(co.session_file.c_str(), "wb");
    REQUIRE(f);
    std::fputs("garbage", f);
    std::fclose(f);
  }
  auto third = must(QuicClient::create(loop.get(), co));
  REQUIRE(round_trip(loop, *third, random_bytes(100, 20)) == "");
  CHECK_FALSE(third->last_resumed());
}

TEST_CASE("tickets survive a reload of the same certificate, not a change to another one",
          "[quic]") {
  Loop loop;
  Certs certs;
  REQUIRE(certs.ok);
  EchoServer echo;
  auto so = server_options(certs);
  auto server = must(QuicServer::create(loop.get(), so, echo.acceptor()));
  REQUIRE(server);
  auto co = client_options(certs, server->port());
  co.session_file = (certs.dir / "session.bin").string();
  auto file_text = [&] {
    std::ifstream in(co.session_file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  auto resumes = [&](const mtop::quic::QuicClientOptions& o, std::uint8_t seed) {
    const std::string before = file_text();
    auto c = must(QuicClient::create(loop.get(), o));
    REQUIRE(c);
    REQUIRE(round_trip(loop, *c, random_bytes(100, seed)) == "");
    // The ticket of this handshake replaces the file's; wait until it is there.
    REQUIRE(loop.run_until([&] { return file_text() != before; }));
    return c->last_resumed();
  };
  CHECK_FALSE(resumes(co, 22));
  // The same certificate read again (what a reload or the certificate watch does).
  server->use_tls(must(server->make_tls(so.tls)));
  CHECK(resumes(co, 23));

  // Another certificate: the old ticket is not resumed, the client gets a full handshake with
  // the new certificate. It trusts only that one now, so a resumption under the old session
  // (which skips the certificate) could not prove it was sent.
  auto next = so.tls;
  next.cert_chain_file = certs.other_cert;
  next.key_file = certs.other_key;
  server->use_tls(must(server->make_tls(next)));
  auto trusting_new = co;
  trusting_new.tls.ca_file = certs.other_cert;
  CHECK_FALSE(resumes(trusting_new, 24));
  CHECK(resumes(trusting_new, 25));  // and the new certificate's tickets resume
}

TEST_CASE("a closing server connection answers stray packets with its CONNECTION_CLOSE", "[quic]") {
  Loop loop;
  Certs certs;
  REQUIRE(certs.ok);
  EchoServer echo;
  std::string error;
  auto server = must(QuicServer::create(loop.get(), server_options(certs), echo.acceptor()));
  REQUIRE(server);
  LossyRelay relay(loop.get(), server->port(), 7);
  relay.loss_percent = 0;
  auto client = must(QuicClient::create(loop.get(), client_options(certs, relay.port())));
  Collector held;
  held.s = open_stream(loop, *client, error);
  REQUIRE(held.s);
  held.s->set_handler(&held);
  held.s->start_read();
  held.s->write(mtop::as_bytes("a"));
  REQUIRE(loop.run_until([&] { return held.bytes == 1; }));

  relay.loss_percent = 100;  // the first CONNECTION_CLOSE is lost
  server->close_all(mtop::quic::kNoError, "maintenance");
  loop.run_for(20);
  relay.loss_percent = 0;
  CHECK(held.error.empty());
  CHECK(server->connection_count() == 1);  // in its closing period
  // The client still believes in the connection; its next packet is answered with the close.
  held.s->write(mtop::as_bytes("b"));
  REQUIRE(loop.run_until([&] { return !held.error.empty(); }));
  CHECK(held.error == "closed by peer: 0x0 (NO_ERROR) \"maintenance\"");
  // After 3×PTO the server forgets the connection; then the client reconnects.
  REQUIRE(loop.run_until([&] { return server->connection_count() == 0; }));
  CHECK_FALSE(client->connected());
  CHECK(round_trip(loop, *client, random_bytes(100, 21)) == "");
  REQUIRE(loop.run_until([&] { return server->connection_count() == 1; }));
}
