// mtop::Climber through its public header, against a real MTop server on loopback: the
// public mtop::Server with a users file, over TLS and QUIC. open_tunnel() for every outcome (echo
// with the target's first bytes, refusals in reply and stealth mode, an unreachable server, the
// handshake time-out, max_connections, cancellation), create() errors and a forward inbound.
// Every wait is bounded by the loop helper's safety time-out and measures nothing.
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../tls/tls_test_support.hpp"
#include "../uv/uv_test_support.hpp"
#include "auth/password_hash.hpp"
#include "mtop/climber.hpp"
#include "mtop/server.hpp"
#include "must.hpp"
#include "tls/context.hpp"
#include "tls/listener.hpp"
#include "uv/connector.hpp"
#include "uv/tcp_listener.hpp"
#include "uv/tcp_stream.hpp"

using namespace mtop;
using mtop::test::Recorder;
using mtop::test::TestLoop;

namespace {

constexpr const char* kPassword = "c0rrect-h0rse";
constexpr const char* kWrongPassword = "Wr0ng-Pa55";

/// Log lines of one side, checked for passwords at the end.
struct Logs {
  std::vector<std::string> lines;
  Logger logger() {
    return Logger(LogLevel::debug, [this](LogLevel, std::string_view m) { lines.emplace_back(m); });
  }
  bool has(std::string_view needle) const {
    for (const auto& l : lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

/// A TCP target on 127.0.0.1 that sends `greeting` as soon as a connection comes in, then
/// echoes; it answers EOF with its own.
class Target {
 public:
  Target(TestLoop& loop, std::string greeting) : greeting_(std::move(greeting)) {
    auto l = io::TcpListener::listen(loop.get(), "127.0.0.1", 0, [this](io::StreamPtr s) {
      auto c = std::make_unique<Conn>();
      c->stream = std::move(s);
      c->stream->set_handler(c.get());
      if (!greeting_.empty()) c->stream->write(as_bytes(greeting_));
      c->stream->start_read();
      conns_.push_back(std::move(c));
    });
    REQUIRE(l);
    listener_ = std::move(*l);
  }
  std::uint16_t port() const { return listener_->port(); }
  std::size_t accepted() const { return conns_.size(); }

 private:
  struct Conn final : io::Stream::Handler {
    io::StreamPtr stream;
    void on_read(ByteView d) override { stream->write(d); }
    void on_eof() override { stream->shutdown(); }
    void on_error(std::string_view) override {}
    void on_drain() override {}
  };
  std::string greeting_;
  std::unique_ptr<io::TcpListener> listener_;
  std::vector<std::unique_ptr<Conn>> conns_;
};

/// The MTop server through its public API: alice in a users file, TLS and (when built) QUIC
/// on the same port number.
struct TestServer {
  TestServer(TestLoop& loop, bool reply_status) {
    std::signal(SIGPIPE, SIG_IGN);
    auth::HashParams cheap;
    cheap.scrypt_log2_n = 10;
    auto hash = auth::hash_password(kPassword, cheap);
    REQUIRE(hash);
    users_file = pki.dir + "/users.json";
    std::ofstream(users_file) << R"({"users": [{"username": "alice", "password": ")" << *hash
                              << "\"}]}";
    ServerConfig config;
    config.listen = {"127.0.0.1:0"};
    config.cert_file = pki.server_chain;
    config.key_file = pki.server_key;
    config.users.path = users_file;
    config.engine.allow_targets = {"127.0.0.1/32"};
    config.engine.reply_status = reply_status;
    config.engine.handshake_timeout_ms = 5'000;
    config.engine.connect_timeout_ms = 5'000;
#ifndef MTOP_HAVE_QUIC
    config.quic = false;
#endif
    auto created = Server::create(loop.get(), config, {nullptr, logs.logger()});
    INFO(created.message());
    REQUIRE(created);
    server = std::move(*created);
    auto started = server->start();
    INFO(started.message());
    REQUIRE(started);
    port = server->listening().front().port;
  }
  ~TestServer() {
    server.reset();
    std::remove(users_file.c_str());
  }

  /// A climber config for alice over `transport`, trusting the test CA.
  ClimberConfig climber_config(TransportKind transport, const std::string& password) const {
    ClimberConfig c;
    c.server.host = "127.0.0.1";
    c.server.port = port;  // TLS and QUIC share the port number
    c.server.username = "alice";
    c.server.password = password;
    c.server.transport = transport;
    c.server.sni = "localhost";
    c.server.ca_file = pki.ca;
    return c;
  }

  tls_test::Pki pki;
  std::string users_file;
  Logs logs;
  std::unique_ptr<Server> server;
  std::uint16_t port = 0;
};

/// One open_tunnel() call and what came back.
struct Open {
  bool in_call = false;  ///< true while open_tunnel() runs
  bool ran_inside = false;
  int calls = 0;
  std::optional<Result<io::StreamPtr>> result;

  bool done() const { return calls > 0; }
  Errc error() const { return result->error(); }
  std::string message() const { return std::string(result->message()); }
  io::StreamPtr take() { return std::move(**result); }
};

std::shared_ptr<Open> open(Climber& climber, const std::string& host, std::uint16_t port) {
  auto o = std::make_shared<Open>();
  o->in_call = true;
  climber.open_tunnel(host, port, [o](Result<io::StreamPtr> r) {
    ++o->calls;
    if (o->in_call) o->ran_inside = true;
    o->result.emplace(std::move(r));
  });
  o->in_call = false;
  return o;
}

std::unique_ptr<Climber> make_climber(TestLoop& loop, ClimberConfig cfg, Logs& logs) {
  auto c = Climber::create(loop.get(), std::move(cfg), logs.logger());
  INFO(c.message());
  REQUIRE(c);
  return std::move(*c);
}

std::vector<TransportKind> transports() {
#ifdef MTOP_HAVE_QUIC
  return {TransportKind::tls, TransportKind::quic};
#else
  return {TransportKind::tls};
#endif
}

void check_no_password(const Logs& logs) {
  for (const auto& l : logs.lines) {
    CHECK(l.find(kPassword) == std::string::npos);
    CHECK(l.find(kWrongPassword) == std::string::npos);
  }
}

}  // namespace

TEST_CASE("open_tunnel: bytes echo through the server; the target's first bytes come first",
          "[climber_api]") {
  const TransportKind transport = GENERATE(from_range(transports()));
  INFO(transport_name(transport));
  TestLoop loop;
  Logs logs;
  {
    TestServer server(loop, true);
    Target target(loop, "HELLO");
    auto climber = make_climber(loop, server.climber_config(transport, kPassword), logs);
    REQUIRE(climber->start());  // no inbound configured: open_tunnel only

    auto o = open(*climber, "127.0.0.1", target.port());
    REQUIRE(loop.run_until([&] { return o->done(); }));
    CHECK_FALSE(o->ran_inside);
    INFO(o->message());
    REQUIRE(*o->result);
    io::StreamPtr s = o->take();
    Recorder rec;
    s->set_handler(&rec);
    s->start_read();
    // The greeting may have ridden with the server's response or come after it.
    REQUIRE(loop.run_until([&] { return rec.data.size() >= 5; }));
    s->write(as_bytes("ping"));
    REQUIRE(loop.run_until([&] { return rec.data.size() >= 9; }));
    CHECK(rec.data == "HELLOping");
    ClimberStats st = climber->stats();
    CHECK(st.active_connections == 1);
    CHECK(st.total_connections == 1);
    CHECK(st.tunnels_opened == 1);
    CHECK(st.tunnels_failed == 0);
    CHECK(st.bytes_up == 4);
    CHECK(st.bytes_down == 9);
    s->shutdown();  // the target answers with its own EOF
    REQUIRE(loop.run_until([&] { return rec.eof; }));
    s.reset();
    CHECK(climber->stats().active_connections == 0);
    CHECK(logs.has("tunnel api -> 127.0.0.1:" + std::to_string(target.port()) + " up=4 down=9"));
    check_no_password(server.logs);
  }
  check_no_password(logs);
  CHECK(loop.close() == 0);
}

TEST_CASE("open_tunnel: a wrong password is tunnel_refused, in reply and in stealth mode",
          "[climber_api]") {
  const TransportKind transport = GENERATE(from_range(transports()));
  const bool reply = GENERATE(true, false);
  INFO(transport_name(transport) << (reply ? " reply" : " stealth"));
  TestLoop loop;
  Logs logs;
  {
    TestServer server(loop, reply);
    Target target(loop, "");
    auto climber = make_climber(loop, server.climber_config(transport, kWrongPassword), logs);
    auto o = open(*climber, "127.0.0.1", target.port());
    REQUIRE(loop.run_until([&] { return o->done(); }));
    CHECK_FALSE(o->ran_inside);
    REQUIRE_FALSE(*o->result);
    CHECK(o->error() == Errc::tunnel_refused);
    if (reply) {
      CHECK(o->message() == "server refused: auth_failed");
    } else if (transport == TransportKind::tls) {
      CHECK(o->message() == "server closed without a status (wrong credentials in stealth mode?)");
    } else {
      // QUIC carries the stealth refusal as a stream reset with its code.
      CHECK(o->message() ==
            "server refused the tunnel (stealth mode): reset by peer: 0x3 (REFUSED)");
    }
    CHECK(target.accepted() == 0);
    CHECK(climber->stats().tunnels_failed == 1);
    CHECK(climber->stats().active_connections == 0);
    check_no_password(server.logs);
  }
  check_no_password(logs);
  CHECK(loop.close() == 0);
}

TEST_CASE("open_tunnel: an unreachable server is tunnel_failed", "[climber_api]") {
  TestLoop loop;
  Logs logs;
  {
    TestServer server(loop, true);
    ClimberConfig cfg = server.climber_config(TransportKind::tls, kPassword);
    cfg.server.port = [&] {
      // Bound once, then closed: nothing listens there.
      auto l = io::TcpListener::listen(loop.get(), "127.0.0.1", 0, [](io::StreamPtr) {});
      REQUIRE(l);
      return (*l)->port();
    }();
    loop.spin();
    auto climber = make_climber(loop, cfg, logs);
    auto o = open(*climber, "127.0.0.1", 9);
    REQUIRE(loop.run_until([&] { return o->done(); }));
    REQUIRE_FALSE(*o->result);
    CHECK(o->error() == Errc::tunnel_failed);
    CHECK(o->message().rfind("server unreachable: ", 0) == 0);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("open_tunnel: a server that never answers is tunnel_failed after the handshake time-out",
          "[climber_api]") {
  TestLoop loop;
  Logs logs;
  {
    TestServer server(loop, true);
    // A TLS listener that completes TLS and then reads nothing: the MTop response never comes.
    std::vector<io::StreamPtr> held;
    std::string error;
    tls::TlsServerConfig sc;
    sc.cert_chain_file = server.pki.server_chain;
    sc.key_file = server.pki.server_key;
    auto silent = must(
        tls::TlsListener::create(loop.get(), must(tls::ServerContext::create(sc)), "127.0.0.1", 0,
                                 {}, [&](io::StreamPtr s) { held.push_back(std::move(s)); }));
    REQUIRE(silent);
    ClimberConfig cfg = server.climber_config(TransportKind::tls, kPassword);
    cfg.server.port = silent->port();
    cfg.engine.handshake_timeout_ms = 1'500;  // room for the TLS handshake on a loaded machine
    auto climber = make_climber(loop, cfg, logs);
    auto o = open(*climber, "127.0.0.1", 9);
    REQUIRE(loop.run_until([&] { return o->done(); }));
    REQUIRE_FALSE(*o->result);
    CHECK(o->error() == Errc::tunnel_failed);
    CHECK(o->message() == "tunnel set-up timed out (1500 ms)");
    CHECK(held.size() == 1);
    climber.reset();
    held.clear();
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("open_tunnel: max_connections counts held tunnels; beyond it limit_reached at once",
          "[climber_api]") {
  TestLoop loop;
  Logs logs;
  {
    TestServer server(loop, true);
    Target target(loop, "");
    ClimberConfig cfg = server.climber_config(TransportKind::tls, kPassword);
    cfg.engine.max_connections = 1;
    auto climber = make_climber(loop, cfg, logs);
    auto first = open(*climber, "127.0.0.1", target.port());
    REQUIRE(loop.run_until([&] { return first->done(); }));
    REQUIRE(*first->result);
    io::StreamPtr held = first->take();

    auto second = open(*climber, "127.0.0.1", target.port());
    CHECK_FALSE(second->done());  // told from the loop, not inside open_tunnel()
    REQUIRE(loop.run_until([&] { return second->done(); }));
    REQUIRE_FALSE(*second->result);
    CHECK(second->error() == Errc::limit_reached);
    CHECK(second->message() == "max_connections (1) reached");
    CHECK(climber->stats().refused_connections == 1);

    held.reset();  // frees the slot
    auto third = open(*climber, "127.0.0.1", target.port());
    REQUIRE(loop.run_until([&] { return third->done(); }));
    REQUIRE(*third->result);
    REQUIRE(loop.run_until([&] { return target.accepted() == 2; }));
    CHECK(target.accepted() == 2);  // the refused open never reached the server
    CHECK(climber->stats().total_connections == 2);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("open_tunnel: a host that is neither an IP address nor a domain is invalid_argument",
          "[climber_api]") {
  TestLoop loop;
  Logs logs;
  {
    TestServer server(loop, true);
    auto climber = make_climber(loop, server.climber_config(TransportKind::tls, kPassword), logs);
    auto bad_name = open(*climber, "bad_name!", 80);
    auto port_zero = open(*climber, "example.org", 0);
    CHECK_FALSE(bad_name->done());
    REQUIRE(loop.run_until([&] { return bad_name->done() && port_zero->done(); }));
    CHECK(bad_name->error() == Errc::invalid_argument);
    CHECK(bad_name->message().find("bad_name!:80") != std::string::npos);
    CHECK(port_zero->error() == Errc::invalid_argument);
    CHECK(climber->stats().total_connections == 0);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE(
    "climber destroyed: pending opens are cancelled inside the destructor, held tunnels "
    "get on_error, nothing runs afterwards",
    "[climber_api]") {
  TestLoop loop;
  Logs logs;
  {
    TestServer server(loop, true);
    Target target(loop, "");
    auto climber = make_climber(loop, server.climber_config(TransportKind::tls, kPassword), logs);
    auto first = open(*climber, "127.0.0.1", target.port());
    REQUIRE(loop.run_until([&] { return first->done(); }));
    REQUIRE(*first->result);
    io::StreamPtr held = first->take();
    Recorder rec;
    held->set_handler(&rec);
    held->start_read();

    auto pending = open(*climber, "127.0.0.1", target.port());
    auto refused = open(*climber, "bad_name!", 1);  // decided, not yet told
    climber.reset();
    CHECK(pending->calls == 1);
    CHECK(pending->error() == Errc::cancelled);
    CHECK(refused->calls == 1);
    CHECK(refused->error() == Errc::invalid_argument);  // told as it was decided
    CHECK(rec.errors == 0);                             // the held tunnel hears of it from the loop
    REQUIRE(loop.run_until([&] { return rec.errors > 0; }));
    CHECK(rec.error == "climber closed");
    held->write(as_bytes("ignored"));  // a detached stream takes calls and does nothing
    held.reset();
    loop.spin(20);
    CHECK(pending->calls == 1);
    CHECK(refused->calls == 1);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("abort_all: held tunnels end with the reason, pending opens are cancelled",
          "[climber_api]") {
  TestLoop loop;
  Logs logs;
  {
    TestServer server(loop, true);
    Target target(loop, "");
    auto climber = make_climber(loop, server.climber_config(TransportKind::tls, kPassword), logs);
    auto first = open(*climber, "127.0.0.1", target.port());
    REQUIRE(loop.run_until([&] { return first->done(); }));
    REQUIRE(*first->result);
    io::StreamPtr held = first->take();
    Recorder rec;
    held->set_handler(&rec);
    auto pending = open(*climber, "127.0.0.1", target.port());
    climber->abort_all("shutdown");
    CHECK_FALSE(pending->done());                     // never inside abort_all()
    CHECK(climber->stats().active_connections == 1);  // the pending open, until told
    REQUIRE(loop.run_until([&] { return pending->done() && rec.errors > 0; }));
    CHECK(pending->error() == Errc::cancelled);
    CHECK(rec.error == "shutdown");
    CHECK(climber->stats().active_connections == 0);
    CHECK(logs.has("tunnel api -> 127.0.0.1:" + std::to_string(target.port())));
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("climber inbounds: a forward port carries a local connection", "[climber_api]") {
  TestLoop loop;
  Logs logs;
  {
    TestServer server(loop, true);
    Target target(loop, "HI");
    ClimberConfig cfg = server.climber_config(TransportKind::tls, kPassword);
    ForwardRule rule;  // bind port 0: the OS picks (a -L rule cannot say so)
    rule.target_host = "127.0.0.1";
    rule.target_port = target.port();
    cfg.engine.forwards.push_back(rule);
    auto climber = make_climber(loop, cfg, logs);
    REQUIRE(climber->start());
    REQUIRE(climber->forward_ports().size() == 1);
    CHECK(climber->socks_port() == 0);
    const std::uint16_t port = climber->forward_ports()[0];
    REQUIRE(port != 0);
    io::ConnectResult res;
    bool connected = false;
    auto attempt = io::connect_tcp(loop.get(), "127.0.0.1", port, {}, [&](io::ConnectResult r) {
      res = std::move(r);
      connected = true;
    });
    REQUIRE(loop.run_until([&] { return connected; }));
    REQUIRE(res.tcp);
    io::StreamPtr app = io::TcpStream::adopt(std::move(res.tcp));
    Recorder rec;
    app->set_handler(&rec);
    app->start_read();
    app->write(as_bytes("abc"));
    REQUIRE(loop.run_until([&] { return rec.data.size() >= 5; }));
    CHECK(rec.data == "HIabc");
    const ClimberStats st = climber->stats();
    CHECK(st.total_connections == 1);
    CHECK(st.active_connections == 1);
    CHECK(st.tunnels_opened == 1);
    CHECK(st.bytes_up == 3);
    CHECK(st.bytes_down == 5);
    app.reset();
    REQUIRE(loop.run_until([&] { return climber->stats().active_connections == 0; }));
    CHECK(logs.has("tunnel forward"));
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("Climber::create and start: errors say what, never the password", "[climber_api]") {
  TestLoop loop;
  Logs logs;
  {
    TestServer server(loop, true);
    auto base = [&] { return server.climber_config(TransportKind::tls, kPassword); };
    {
      ClimberConfig cfg = base();
      cfg.server.ca_file = server.pki.dir + "/missing-ca.pem";
      auto c = Climber::create(loop.get(), cfg, logs.logger());
      REQUIRE_FALSE(c);
      CHECK(c.error() == Errc::tls_setup_failed);
      CHECK(c.message().find("missing-ca.pem") != std::string::npos);
    }
    {
      ClimberConfig cfg = base();
      cfg.server.username.clear();
      auto c = Climber::create(loop.get(), cfg, logs.logger());
      REQUIRE_FALSE(c);
      CHECK(c.error() == Errc::config_invalid);
      CHECK(c.message().find("username") != std::string::npos);
    }
    {
      ClimberConfig cfg = base();
      cfg.server.password = std::string(300, 'p') + kPassword;
      auto c = Climber::create(loop.get(), cfg, logs.logger());
      REQUIRE_FALSE(c);
      CHECK(c.error() == Errc::config_invalid);
      CHECK(c.message().find(kPassword) == std::string::npos);
    }
    {
      ClimberConfig cfg = base();
      cfg.engine.socks_listen = "localhost:1080";
      auto c = Climber::create(loop.get(), cfg, logs.logger());
      REQUIRE_FALSE(c);
      CHECK(c.error() == Errc::config_invalid);
      CHECK(c.message().find("socks") == 0);
    }
    {
      ClimberConfig cfg = base();
      cfg.server.host.clear();
      auto c = Climber::create(loop.get(), cfg, logs.logger());
      REQUIRE_FALSE(c);
      CHECK(c.error() == Errc::config_invalid);
    }
#ifndef MTOP_HAVE_QUIC
    {
      ClimberConfig cfg = base();
      cfg.server.transport = TransportKind::quic;
      auto c = Climber::create(loop.get(), cfg, logs.logger());
      REQUIRE_FALSE(c);
      CHECK(c.error() == Errc::not_built_in);
    }
#endif
    {
      // A port in use: start() fails and leaves nothing bound.
      ClimberConfig cfg = base();
      cfg.engine.socks_listen = "127.0.0.1:" + std::to_string(server.port);
      auto c = make_climber(loop, cfg, logs);
      auto started = c->start();
      REQUIRE_FALSE(started);
      CHECK(started.error() == Errc::listen_failed);
      CHECK(started.message().find("address already in use") != std::string::npos);
      CHECK(c->socks_port() == 0);
    }
  }
  check_no_password(logs);
  CHECK(loop.close() == 0);
}
