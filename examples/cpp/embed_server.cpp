// embed_server.cpp - an MTop server and a climber inside one C++ program, over loopback,
// through the public headers only (include/mtop/, linked with mtop_api).
//
//   embed_server CERT.pem KEY.pem      (e.g. from `mtop-server gen-cert --name 127.0.0.1`)
//
// 1. A "service" on 127.0.0.1 (the tunnel's target) echoes what it reads until EOF.
// 2. An mtop::Server on our uv loop decides its users with our own mtop::UserCheck, which
//    answers from a std::thread (the way a program would ask LDAP or its own database).
// 3. An mtop::Climber on the same loop opens two tunnels to the service: one with alice's
//    password (bytes go through and come back), one with a wrong one (tunnel_refused).
// Prints "embed_server: ok" and exits 0 if both went as expected.
#include <uv.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "mtop/climber.hpp"
#include "mtop/server.hpp"
#include "mtop/user_check.hpp"

namespace {

// [doc:user_check]
/// Compares two strings in time that depends only on their lengths, not on where they differ.
bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

/// One user, alice. check() runs on the server's loop thread and must not block: it copies
/// what it needs and answers from a worker thread. UserCheckReply is thread-safe, and an
/// answer that comes after the tunnel is gone is ignored, so the worker needs no cancelling.
class OneUserCheck final : public mtop::UserCheck {
 public:
  OneUserCheck(std::string user, std::string password)
      : user_(std::move(user)), password_(std::move(password)) {}
  ~OneUserCheck() override {
    for (auto& w : workers_) w.join();
  }

  void check(const mtop::UserCheckRequest& request, mtop::UserCheckReply reply) override {
    std::printf("check: %s from %s wants %s:%u\n", request.username.c_str(), request.source.c_str(),
                request.target_host.c_str(), request.target_port);
    workers_.emplace_back([this, user = request.username, password = request.password,
                           reply = std::move(reply)]() mutable {
      // Both compared in full, so a wrong user costs the same time as a wrong password.
      const bool user_ok = constant_time_equal(user, user_);
      const bool password_ok = constant_time_equal(password, password_);
      if (user_ok && password_ok) {
        mtop::UserGrant grant;
        grant.max_tunnels = 8;                // live tunnels of alice
        grant.rate_limit = 10 * 1000 * 1000;  // 10 MB/s each way
        reply.allow(std::move(grant));
      } else {
        reply.deny();
      }
    });
  }

 private:
  const std::string user_, password_;
  std::vector<std::thread> workers_;  // only touched on the loop thread (check) and at the end
};
// [doc:user_check]

/// The service: accepts one connection on 127.0.0.1, echoes it until EOF, closes.
class EchoService {
 public:
  bool listen() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 4) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len)) {
      return false;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      const int conn = ::accept(fd_, nullptr, nullptr);
      if (conn < 0) return;
      char buf[4096];
      ssize_t n;
      while ((n = ::read(conn, buf, sizeof buf)) > 0) {
        if (::write(conn, buf, static_cast<std::size_t>(n)) != n) break;
      }
      ::close(conn);
    });
    return true;
  }
  ~EchoService() {
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);  // wakes accept() if no one came
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

/// The good tunnel's bytes: written, half-closed, and read back until the echo's EOF.
struct Exchange final : mtop::io::Stream::Handler {
  mtop::io::StreamPtr stream;
  std::string received;
  bool done = false, failed = false;

  void on_read(mtop::ByteView data) override { received.append(mtop::as_chars(data)); }
  void on_eof() override { done = true; }
  void on_error(std::string_view reason) override {
    std::fprintf(stderr, "tunnel: %.*s\n", static_cast<int>(reason.size()), reason.data());
    done = failed = true;
  }
  void on_drain() override {}
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CERT.pem KEY.pem\n", argv[0]);
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);  // the engines and the service write to sockets
  const std::string question = "HELLO service, through the tunnel";

  EchoService service;
  if (!service.listen()) {
    std::perror("service");
    return 1;
  }

  uv_loop_t loop;
  uv_loop_init(&loop);
  const mtop::Logger log(mtop::LogLevel::warn, mtop::stderr_sink());

  // [doc:server]
  mtop::ServerConfig config;
  config.listen = {"127.0.0.1:0"};
  config.quic = false;  // TLS over TCP only, for this demo
  config.cert_file = argv[1];
  config.key_file = argv[2];
  config.engine.reply_status = true;              // refusals say why (default: stealth)
  config.engine.allow_targets = {"127.0.0.0/8"};  // loopback targets, for this demo only
  auto check = std::make_shared<OneUserCheck>("alice", "s3cret");
  auto server = mtop::Server::create(&loop, config, {.user_check = check, .log = log});
  if (!server) {
    std::fprintf(stderr, "server: %.*s\n", static_cast<int>(server.message().size()),
                 server.message().data());
    return 1;
  }
  if (auto started = (*server)->start(); !started) {
    std::fprintf(stderr, "server start: %.*s\n", static_cast<int>(started.message().size()),
                 started.message().data());
    return 1;
  }
  const std::uint16_t port = (*server)->listening().at(0).port;
  // [doc:server]
  std::printf("server: listening on 127.0.0.1:%u (TLS)\n", port);

  // [doc:climber]
  auto make_climber = [&](const char* password) {
    mtop::ClimberConfig c;
    c.server.host = "127.0.0.1";
    c.server.port = port;
    c.server.username = "alice";
    c.server.password = password;
    c.server.transport = mtop::TransportKind::tls;
    c.server.ca_file = argv[1];  // trust the self-signed certificate
    return mtop::Climber::create(&loop, std::move(c), log);
  };
  auto good = make_climber("s3cret");
  auto bad = make_climber("not-her-password");
  if (!good || !bad) {
    std::fprintf(stderr, "climber: %.*s\n", static_cast<int>((good ? bad : good).message().size()),
                 (good ? bad : good).message().data());
    return 1;
  }

  Exchange exchange;
  bool refused = false, refusal_seen = false;
  (*good)->open_tunnel("127.0.0.1", service.port(), [&](mtop::Result<mtop::io::StreamPtr> t) {
    if (!t) {
      std::fprintf(stderr, "good tunnel: %.*s\n", static_cast<int>(t.message().size()),
                   t.message().data());
      exchange.done = exchange.failed = true;
      return;
    }
    exchange.stream = std::move(*t);
    exchange.stream->set_handler(&exchange);
    exchange.stream->start_read();
    exchange.stream->write(mtop::as_bytes(question));
    exchange.stream->shutdown();  // the service sees EOF after our bytes
  });
  (*bad)->open_tunnel("127.0.0.1", service.port(), [&](mtop::Result<mtop::io::StreamPtr> t) {
    refusal_seen = true;
    refused = !t && t.error() == mtop::Errc::tunnel_refused;
    std::printf("bad tunnel: %s\n", t ? "opened?!" : std::string(t.message()).c_str());
  });
  // [doc:climber]

  // Run until both tunnels have an outcome (or a minute has passed).
  uv_timer_t deadline;
  uv_timer_init(&loop, &deadline);
  uv_timer_start(
      &deadline, [](uv_timer_t* t) { uv_stop(t->loop); }, 60'000, 0);
  uv_idle_t watch;
  struct Watch {
    Exchange* exchange;
    bool* refusal_seen;
  } w{&exchange, &refusal_seen};
  watch.data = &w;
  uv_idle_init(&loop, &watch);
  uv_idle_start(&watch, [](uv_idle_t* h) {
    auto* state = static_cast<Watch*>(h->data);
    if (state->exchange->done && *state->refusal_seen) uv_stop(h->loop);
  });
  uv_run(&loop, UV_RUN_DEFAULT);

  const mtop::ServerStats stats = (*server)->stats();
  std::printf("climber: got \"%s\"\n", exchange.received.c_str());
  std::printf("server: %llu accepted, %llu auth_failed\n",
              static_cast<unsigned long long>(stats.accepted),
              static_cast<unsigned long long>(stats.failed(mtop::TunnelFailure::auth_failed)));

  // [doc:teardown]
  // Objects of the loop die first, then the loop runs until their handles are closed.
  exchange.stream.reset();
  good->reset();
  bad->reset();
  server->reset();  // pending checks are answered into the void: the workers may still reply
  uv_close(reinterpret_cast<uv_handle_t*>(&deadline), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&watch), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  check.reset();  // joins the check's workers
  // [doc:teardown]

  const bool ok =
      !exchange.failed && exchange.received == question && refused && stats.accepted == 1;
  if (!ok) return 1;
  std::puts("embed_server: ok");
  return 0;
}
