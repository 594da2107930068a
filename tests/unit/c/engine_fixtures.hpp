// What the tests of the C API's engine sections share (test_c_engines.cpp,
// test_c_operations.cpp): a certificate, an echo target, an auth callback that records what it
// saw, a server and a climber on threads of their own, tunnels through them. Everything on
// 127.0.0.1; waits are bounded by safety time-outs that never measure anything. Included by
// one test program each, built only when libmtop has the engines (MTOP_C_TEST_ENGINES).
#pragma once

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mtop.h"
#include "tls/cert_gen.hpp"

namespace mtop_c_test {

using namespace std::chrono_literals;
constexpr auto kSafety = 30s;  // a bound on every wait, never a measurement

// --- plumbing -------------------------------------------------------------------------------

/// Waits (bounded by kSafety) until pred() holds.
inline bool eventually(const std::function<bool()>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + kSafety;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

/// A thread-safe queue that a test thread can wait on (bounded).
template <class T>
class Mailbox {
 public:
  void put(T v) {
    {
      std::lock_guard<std::mutex> lock(m_);
      q_.push_back(std::move(v));
    }
    cv_.notify_all();
  }
  std::optional<T> take() {
    std::unique_lock<std::mutex> lock(m_);
    if (!cv_.wait_for(lock, kSafety, [&] { return !q_.empty(); })) return std::nullopt;
    T v = std::move(q_.front());
    q_.pop_front();
    return v;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<T> q_;
};

/// A throw-away folder with a self-signed certificate for 127.0.0.1 (the library's generator).
struct Pki {
  std::filesystem::path dir;
  std::string cert, key;
  Pki() {
    char tmpl[] = "/tmp/mtop-c-engines-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    cert = (dir / "cert.pem").string();
    key = (dir / "key.pem").string();
    mtop::tls::CertGenOptions o;
    o.name = "127.0.0.1";
    o.cert_path = cert;
    o.key_path = key;
    auto r = mtop::tls::generate_self_signed(o);
    REQUIRE(r.ok());
  }
  ~Pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

/// An echo target on 127.0.0.1: every connection gets its bytes back; its EOF is answered with
/// an EOF (half-close carried back).
class EchoTarget {
 public:
  EchoTarget() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~EchoTarget() {
    stop_ = true;
    thread_.join();
    for (auto& t : conns_) t.join();
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  int connections() const { return accepted_; }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      ++accepted_;
      conns_.emplace_back([c] {
        timeval tv{30, 0};
        ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char buf[16384];
        for (;;) {
          const ssize_t n = ::read(c, buf, sizeof buf);
          if (n <= 0) break;
          if (::send(c, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) break;
        }
        ::shutdown(c, SHUT_WR);
        ::close(c);
      });
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
  std::vector<std::thread> conns_;
};

/// Writes `data` to the tunnel's fd, half-closes, and reads until EOF (bounded).
inline std::string echo_through(int fd, const std::string& data) {
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::size_t off = 0;
  std::string got;
  char buf[16384];
  // Write and read in turns, so a large payload cannot fill both directions' buffers.
  while (off < data.size()) {
    const ssize_t w =
        ::send(fd, data.data() + off, std::min<std::size_t>(data.size() - off, 8192), MSG_NOSIGNAL);
    if (w <= 0) return got;
    off += static_cast<std::size_t>(w);
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 0) > 0) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) return got;
      got.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::shutdown(fd, SHUT_WR);
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

// --- the auth side --------------------------------------------------------------------------

enum class AuthMode { allow, deny, hold };

struct Seen {
  std::string username, password, source, target_host;
  int target_port = 0;
};

/// What the test's auth callback does, and what it saw.
struct Auth {
  std::atomic<AuthMode> mode{AuthMode::allow};
  Mailbox<mtop_auth_request*> held;  // AuthMode::hold: requests for the test to answer
  std::mutex m;
  std::vector<Seen> seen;
  std::atomic<int> calls{0};
  std::thread::id thread;
};

inline int auth_cb(mtop_auth_request* req, void* user_data) {
  auto* a = static_cast<Auth*>(user_data);
  ++a->calls;
  Seen s;
  std::size_t ulen = 0, plen = 0;
  const char* u = mtop_auth_request_username(req, &ulen);
  const char* p = mtop_auth_request_password(req, &plen);
  s.username.assign(u, ulen);
  s.password.assign(p, plen);
  s.source = mtop_auth_request_source(req);
  s.target_host = mtop_auth_request_target_host(req);
  s.target_port = mtop_auth_request_target_port(req);
  {
    std::lock_guard<std::mutex> lock(a->m);
    a->seen.push_back(s);
    a->thread = std::this_thread::get_id();
  }
  switch (a->mode.load()) {
    case AuthMode::allow: {
      mtop_user_grant grant{};
      grant.user = "alice-granted";
      return mtop_auth_request_allow(req, &grant);
    }
    case AuthMode::deny:
      return mtop_auth_request_deny(req);
    case AuthMode::hold:
      a->held.put(req);
      return 0;
  }
  return MTOP_ERR_INTERNAL;
}

struct LogLines {
  std::mutex m;
  std::vector<std::string> lines;
};

inline void log_cb(int level, const char* message, void* user_data) {
  auto* l = static_cast<LogLines*>(user_data);
  (void)level;
  std::lock_guard<std::mutex> lock(l->m);
  l->lines.emplace_back(message);
}

/// The server's callbacks get one user_data: both the auth state and the log lines.
struct ServerApp {
  Auth auth;
  LogLines log;
};

inline int app_auth(mtop_auth_request* req, void* ud) {
  return auth_cb(req, &static_cast<ServerApp*>(ud)->auth);
}
inline void app_log(int level, const char* message, void* ud) {
  log_cb(level, message, &static_cast<ServerApp*>(ud)->log);
}

// --- server and climber ---------------------------------------------------------------------

struct ServerOptions {
  bool quic = true;
  std::uint64_t handshake_timeout_ms = 10'000;
};

/// The tests' server config: 127.0.0.1:0, loopback targets allowed, reply mode, debug log.
/// Its strings are static or the Pki's.
inline mtop_server_config server_config(const Pki& pki, ServerOptions opt = {}) {
  static const char* const listen[] = {"127.0.0.1:0"};
  static const char* const allow[] = {"127.0.0.0/8"};
  mtop_server_config cfg;
  REQUIRE(mtop_server_config_default(&cfg) == 0);
  cfg.listen = listen;
  cfg.listen_count = 1;
  cfg.cert_file = pki.cert.c_str();
  cfg.key_file = pki.key.c_str();
  cfg.quic = opt.quic ? 1 : 0;
  cfg.reply_mode = MTOP_REJECT_REPLY;
  cfg.allow_targets = allow;
  cfg.allow_targets_count = 1;
  cfg.handshake_timeout_ms = opt.handshake_timeout_ms;
  cfg.log_level = MTOP_LOG_DEBUG;
  return cfg;
}

/// A started own-thread server of `cfg` whose callbacks are `app`'s.
inline mtop_server* start_server(const mtop_server_config& cfg, ServerApp& app) {
  mtop_server_callbacks cb{};
  cb.auth = app_auth;
  cb.log = app_log;
  mtop_server* s = nullptr;
  const int rc = mtop_server_new(&s, nullptr, &cfg, &cb, &app);
  INFO(mtop_last_error_message());
  REQUIRE(rc == 0);
  REQUIRE(mtop_server_get_user_data(s) == &app);
  const int st = mtop_server_start(s);
  INFO(mtop_last_error_message());
  REQUIRE(st == 0);
  return s;
}

inline mtop_server* start_server(const Pki& pki, ServerApp& app, ServerOptions opt = {}) {
  return start_server(server_config(pki, opt), app);
}

inline mtop_climber* make_climber(const Pki& pki, int port, int transport) {
  const std::string uri = "mtop://alice@127.0.0.1:" + std::to_string(port);
  mtop_climber_config cfg;
  REQUIRE(mtop_climber_config_default(&cfg) == 0);
  cfg.server_uri = uri.c_str();
  cfg.password = "pa ss";
  cfg.transport = transport;
  cfg.ca_file = pki.cert.c_str();
  mtop_climber* c = nullptr;
  const int rc = mtop_climber_new(&c, nullptr, &cfg, nullptr, nullptr);
  INFO(mtop_last_error_message());
  REQUIRE(rc == 0);
  REQUIRE(mtop_climber_start(c) == 0);
  return c;
}

struct TunnelResult {
  int status = 1;
  int fd = -1;
  std::string message;
  std::thread::id thread;
};

inline void tunnel_cb(mtop_climber*, int status, int fd, const char* message, void* user_data) {
  static_cast<Mailbox<TunnelResult>*>(user_data)->put(
      TunnelResult{status, fd, message ? message : "(null)", std::this_thread::get_id()});
}

inline TunnelResult open_tunnel(mtop_climber* c, std::uint16_t port) {
  Mailbox<TunnelResult> box;
  REQUIRE(mtop_climber_open_tunnel(c, "127.0.0.1", port, tunnel_cb, &box) == 0);
  auto r = box.take();
  REQUIRE(r.has_value());
  return *r;
}

inline std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7) % 26);
  return s;
}

struct IgnoreSigpipe {
  IgnoreSigpipe() { std::signal(SIGPIPE, SIG_IGN); }
};
inline IgnoreSigpipe ignore_sigpipe;

/// The server counts a refusal when its tunnel ends, on its own thread, which may be just after
/// the climber has read the answer: waits (bounded) for failures[index] to become non-zero and
/// returns the snapshot, for the caller to check the exact count.
inline mtop_server_stats stats_after_failure(mtop_server* server, int index) {
  mtop_server_stats st;
  for (int i = 0; i < 500; ++i) {
    REQUIRE(mtop_server_stats(server, &st) == 0);
    if (st.failures[index] != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return st;
}

}  // namespace mtop_c_test
