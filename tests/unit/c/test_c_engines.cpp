// The engine sections of mtop.h as a C program uses them: a server and a climber, each on a
// thread of its own, tunnels from the climber's fd to an echo target on loopback over TLS and
// over QUIC; the auth callback answering at once, later from another thread, never (the
// handshake time-out), and after the server was freed; JSON errors; and an old caller whose
// stats struct is version 1 of a struct that grew. Everything on 127.0.0.1; waits are bounded
// by safety time-outs that never measure anything.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
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
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mtop.h"

#if MTOP_C_TEST_ENGINES
#include <uv.h>

#include "tls/cert_gen.hpp"
#endif

namespace {

using namespace std::chrono_literals;
constexpr auto kSafety = 30s;  // a bound on every wait, never a measurement

#if MTOP_C_TEST_ENGINES

// --- plumbing -------------------------------------------------------------------------------

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
std::string echo_through(int fd, const std::string& data) {
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

int auth_cb(mtop_auth_request* req, void* user_data) {
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

void log_cb(int level, const char* message, void* user_data) {
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

int app_auth(mtop_auth_request* req, void* ud) {
  return auth_cb(req, &static_cast<ServerApp*>(ud)->auth);
}
void app_log(int level, const char* message, void* ud) {
  log_cb(level, message, &static_cast<ServerApp*>(ud)->log);
}

// --- server and climber ---------------------------------------------------------------------

struct ServerOptions {
  bool quic = true;
  std::uint64_t handshake_timeout_ms = 10'000;
};

mtop_server* start_server(const Pki& pki, ServerApp& app, ServerOptions opt = {}) {
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

mtop_climber* make_climber(const Pki& pki, int port, int transport) {
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

void tunnel_cb(mtop_climber*, int status, int fd, const char* message, void* user_data) {
  static_cast<Mailbox<TunnelResult>*>(user_data)->put(
      TunnelResult{status, fd, message ? message : "(null)", std::this_thread::get_id()});
}

TunnelResult open_tunnel(mtop_climber* c, std::uint16_t port) {
  Mailbox<TunnelResult> box;
  REQUIRE(mtop_climber_open_tunnel(c, "127.0.0.1", port, tunnel_cb, &box) == 0);
  auto r = box.take();
  REQUIRE(r.has_value());
  return *r;
}

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7) % 26);
  return s;
}

struct IgnoreSigpipe {
  IgnoreSigpipe() { std::signal(SIGPIPE, SIG_IGN); }
} ignore_sigpipe;

#endif  // MTOP_C_TEST_ENGINES

}  // namespace

#if MTOP_C_TEST_ENGINES

TEST_CASE("engines: a tunnel from the climber's fd to an echo target, TLS and QUIC",
          "[c][engines]") {
  const bool quic = GENERATE(false, true);
  CAPTURE(quic);
  Pki pki;
  EchoTarget target;
  ServerApp app;
  mtop_server* server = start_server(pki, app);
  const int port = mtop_server_port(server, 0, quic ? 1 : 0);
  REQUIRE(port > 0);
  CHECK(mtop_server_port(server, 1, 0) == MTOP_ERR_INVALID_ARGUMENT);
  mtop_climber* climber = make_climber(pki, port, quic ? MTOP_TRANSPORT_QUIC : MTOP_TRANSPORT_TLS);

  const std::string data = pattern(300'000);  // several relay chunks each way
  for (int i = 0; i < 2; ++i) {
    TunnelResult t = open_tunnel(climber, target.port());
    INFO(t.message);
    REQUIRE(t.status == 0);
    REQUIRE(t.fd >= 0);
    CHECK(t.message.empty());
    CHECK(echo_through(t.fd, data) == data);  // EOF both ways, every byte back
    ::close(t.fd);
  }

  {
    std::lock_guard<std::mutex> lock(app.auth.m);
    REQUIRE(app.auth.seen.size() == 2);
    CHECK(app.auth.seen[0].username == "alice");
    CHECK(app.auth.seen[0].password == "pa ss");
    CHECK(app.auth.seen[0].target_host == "127.0.0.1");
    CHECK(app.auth.seen[0].target_port == target.port());
    CHECK(app.auth.seen[0].source.rfind("127.0.0.1:", 0) == 0);
  }
  mtop_server_stats st;
  REQUIRE(mtop_server_stats(server, &st) == 0);
  CHECK(st.accepted == 2);
  CHECK(st.bytes_up >= 2 * data.size());
  mtop_climber_stats cst;
  REQUIRE(mtop_climber_stats(climber, &cst) == 0);
  CHECK(cst.tunnels_opened == 2);

  mtop_climber_free(climber);
  mtop_server_free(server);
  std::lock_guard<std::mutex> lock(app.log.m);
  CHECK(!app.log.lines.empty());  // the log callback was used
}

/// The server counts a refusal when its tunnel ends, on its own thread, which may be just after
/// the climber has read the answer: waits (bounded) for failures[index] to become non-zero and
/// returns the snapshot, for the caller to check the exact count.
mtop_server_stats stats_after_failure(mtop_server* server, int index) {
  mtop_server_stats st;
  for (int i = 0; i < 500; ++i) {
    REQUIRE(mtop_server_stats(server, &st) == 0);
    if (st.failures[index] != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return st;
}

TEST_CASE("engines: the auth callback denies: the tunnel is refused", "[c][engines][auth]") {
  Pki pki;
  EchoTarget target;
  ServerApp app;
  app.auth.mode = AuthMode::deny;
  mtop_server* server = start_server(pki, app, {false});
  mtop_climber* climber = make_climber(pki, mtop_server_port(server, 0, 0), MTOP_TRANSPORT_TLS);

  TunnelResult t = open_tunnel(climber, target.port());
  CHECK(t.status == MTOP_ERR_TUNNEL_REFUSED);
  CHECK(t.fd == -1);
  CHECK(!t.message.empty());
  CHECK(target.connections() == 0);
  mtop_server_stats st = stats_after_failure(server, MTOP_FAILURE_AUTH_FAILED);
  CHECK(st.failures[MTOP_FAILURE_AUTH_FAILED] == 1);

  mtop_climber_free(climber);
  mtop_server_free(server);
}

TEST_CASE("engines: the auth callback answers later, from another thread", "[c][engines][auth]") {
  Pki pki;
  EchoTarget target;
  ServerApp app;
  app.auth.mode = AuthMode::hold;
  mtop_server* server = start_server(pki, app, {false});
  mtop_climber* climber = make_climber(pki, mtop_server_port(server, 0, 0), MTOP_TRANSPORT_TLS);

  Mailbox<TunnelResult> box;
  REQUIRE(mtop_climber_open_tunnel(climber, "127.0.0.1", target.port(), tunnel_cb, &box) == 0);
  auto req = app.auth.held.take();
  REQUIRE(req.has_value());
  // The request is the app's now: its getters work on this thread too.
  CHECK(std::string(mtop_auth_request_username(*req, nullptr)) == "alice");
  CHECK(mtop_auth_request_target_port(*req) == target.port());
  std::thread answerer([r = *req] { CHECK(mtop_auth_request_allow(r, nullptr) == 0); });
  answerer.join();
  {
    std::lock_guard<std::mutex> lock(app.auth.m);
    CHECK(app.auth.thread != std::this_thread::get_id());  // it came on the server's thread
  }

  auto t = box.take();
  REQUIRE(t.has_value());
  INFO(t->message);
  REQUIRE(t->status == 0);
  CHECK(t->thread != std::this_thread::get_id());  // on the climber's thread
  CHECK(echo_through(t->fd, "late but fine") == "late but fine");
  ::close(t->fd);

  mtop_climber_free(climber);
  mtop_server_free(server);
}

TEST_CASE("engines: a request never answered times out and answering late is ignored",
          "[c][engines][auth]") {
  Pki pki;
  EchoTarget target;
  ServerApp app;
  app.auth.mode = AuthMode::hold;
  ServerOptions opt;
  opt.quic = false;
  opt.handshake_timeout_ms = 1'000;  // TLS must finish within it on a loaded machine
  mtop_server* server = start_server(pki, app, opt);
  mtop_climber* climber = make_climber(pki, mtop_server_port(server, 0, 0), MTOP_TRANSPORT_TLS);

  Mailbox<TunnelResult> box;
  REQUIRE(mtop_climber_open_tunnel(climber, "127.0.0.1", target.port(), tunnel_cb, &box) == 0);
  auto req = app.auth.held.take();
  REQUIRE(req.has_value());
  auto t = box.take();  // the server gave up on the check
  REQUIRE(t.has_value());
  CHECK(t->status < 0);
  CHECK(t->fd == -1);
  mtop_server_stats st = stats_after_failure(server, MTOP_FAILURE_HANDSHAKE_TIMEOUT);
  CHECK(st.failures[MTOP_FAILURE_HANDSHAKE_TIMEOUT] == 1);

  CHECK(mtop_auth_request_allow(*req, nullptr) == 0);  // too late: ignored, and freed
  REQUIRE(mtop_server_stats(server, &st) == 0);
  CHECK(st.accepted == 0);
  CHECK(target.connections() == 0);

  mtop_climber_free(climber);
  mtop_server_free(server);
}

TEST_CASE("engines: the app frees the server while requests are pending", "[c][engines][auth]") {
  Pki pki;
  EchoTarget target;
  ServerApp app;
  app.auth.mode = AuthMode::hold;
  mtop_server* server = start_server(pki, app, {false});
  mtop_climber* climber = make_climber(pki, mtop_server_port(server, 0, 0), MTOP_TRANSPORT_TLS);

  Mailbox<TunnelResult> box;
  REQUIRE(mtop_climber_open_tunnel(climber, "127.0.0.1", target.port(), tunnel_cb, &box) == 0);
  REQUIRE(mtop_climber_open_tunnel(climber, "127.0.0.1", target.port(), tunnel_cb, &box) == 0);
  auto r1 = app.auth.held.take();
  auto r2 = app.auth.held.take();
  REQUIRE(r1.has_value());
  REQUIRE(r2.has_value());

  mtop_server_free(server);  // both requests still held by the app

  // Answering after the server is gone is safe (and each answer frees its request).
  CHECK(mtop_auth_request_allow(*r1, nullptr) == 0);
  std::thread other([r = *r2] { CHECK(mtop_auth_request_deny(r) == 0); });
  other.join();

  for (int i = 0; i < 2; ++i) {
    auto t = box.take();
    REQUIRE(t.has_value());
    CHECK(t->status < 0);  // the server closed the tunnels
  }
  CHECK(target.connections() == 0);
  mtop_climber_free(climber);
}

TEST_CASE("engines: open_tunnel callbacks still pending when the climber is freed are cancelled",
          "[c][engines]") {
  Pki pki;
  EchoTarget target;
  ServerApp app;
  app.auth.mode = AuthMode::hold;
  mtop_server* server = start_server(pki, app, {false});
  mtop_climber* climber = make_climber(pki, mtop_server_port(server, 0, 0), MTOP_TRANSPORT_TLS);

  Mailbox<TunnelResult> box;
  REQUIRE(mtop_climber_open_tunnel(climber, "127.0.0.1", target.port(), tunnel_cb, &box) == 0);
  auto req = app.auth.held.take();
  REQUIRE(req.has_value());
  mtop_climber_free(climber);  // the callback runs before free returns
  auto t = box.take();
  REQUIRE(t.has_value());
  CHECK(t->status == MTOP_ERR_CANCELLED);
  CHECK(mtop_auth_request_unavailable(*req) == 0);
  mtop_server_free(server);
}

TEST_CASE("engines: an auth callback that does not take the request", "[c][engines][auth]") {
  Pki pki;
  EchoTarget target;
  ServerApp app;
  mtop_server* server = nullptr;
  {
    static const char* const listen[] = {"127.0.0.1:0"};
    static const char* const allow[] = {"127.0.0.0/8"};
    mtop_server_config cfg;
    REQUIRE(mtop_server_config_default(&cfg) == 0);
    cfg.listen = listen;
    cfg.listen_count = 1;
    cfg.cert_file = pki.cert.c_str();
    cfg.key_file = pki.key.c_str();
    cfg.quic = 0;
    cfg.reply_mode = MTOP_REJECT_REPLY;
    cfg.allow_targets = allow;
    cfg.allow_targets_count = 1;
    mtop_server_callbacks cb{};
    cb.auth = [](mtop_auth_request*, void*) { return MTOP_ERR_STORE_UNAVAILABLE; };
    REQUIRE(mtop_server_new(&server, nullptr, &cfg, &cb, nullptr) == 0);
    REQUIRE(mtop_server_start(server) == 0);
  }
  mtop_climber* climber = make_climber(pki, mtop_server_port(server, 0, 0), MTOP_TRANSPORT_TLS);
  TunnelResult t = open_tunnel(climber, target.port());
  CHECK(t.status < 0);
  mtop_server_stats st = stats_after_failure(server, MTOP_FAILURE_STORE_UNAVAILABLE);
  CHECK(st.failures[MTOP_FAILURE_STORE_UNAVAILABLE] == 1);
  mtop_climber_free(climber);
  mtop_server_free(server);
}

TEST_CASE("engines: JSON errors are CONFIG_INVALID with the key in the message",
          "[c][engines][config]") {
  Pki pki;
  mtop_server_callbacks cb{};
  cb.auth = auth_cb;
  Auth auth;
  mtop_server* s = nullptr;
  const std::string typo = R"({"lisen": ["127.0.0.1:0"], "cert": ")" + pki.cert + R"(", "key": ")" +
                           pki.key + R"(", "users": {"type": "file", "path": "unused.json"}})";
  CHECK(mtop_server_new_from_json(&s, nullptr, typo.c_str(), nullptr, &cb, &auth) ==
        MTOP_ERR_CONFIG_INVALID);
  CHECK(s == nullptr);
  CHECK(std::string(mtop_last_error_message()).find("lisen") != std::string::npos);

  CHECK(mtop_server_new_from_json(&s, nullptr, "{not json", nullptr, &cb, &auth) ==
        MTOP_ERR_CONFIG_INVALID);
  CHECK(std::string(mtop_last_error_message()).size() > 0);

  const std::string bad_quic = R"({"listen": "127.0.0.1:0", "quic": "yes", "cert": ")" + pki.cert +
                               R"(", "key": ")" + pki.key +
                               R"(", "users": {"type": "file", "path": "unused.json"}})";
  CHECK(mtop_server_new_from_json(&s, nullptr, bad_quic.c_str(), nullptr, &cb, &auth) ==
        MTOP_ERR_CONFIG_INVALID);
  CHECK(std::string(mtop_last_error_message()).find("quic") != std::string::npos);

  // A good one: the message is emptied by the next successful call.
  const std::string good = R"({"listen": "127.0.0.1:0", "quic": false, "cert": ")" + pki.cert +
                           R"(", "key": ")" + pki.key +
                           R"(", "users": {"type": "file", "path": "unused.json"}})";
  const int rc = mtop_server_new_from_json(&s, nullptr, good.c_str(), nullptr, &cb, &auth);
  INFO(mtop_last_error_message());
  REQUIRE(rc == 0);
  CHECK(std::string(mtop_last_error_message()).empty());
  REQUIRE(mtop_server_start(s) == 0);
  CHECK(mtop_server_port(s, 0, 0) > 0);
  CHECK(mtop_server_port(s, 0, 1) == MTOP_ERR_INVALID_ARGUMENT);  // QUIC is off
  CHECK(mtop_server_start(s) == MTOP_ERR_INVALID_STATE);
  mtop_server_free(s);

  mtop_climber* c = nullptr;
  CHECK(mtop_climber_new_from_json(&c, nullptr,
                                   R"({"server": "mtop://a:b@127.0.0.1:1", "sock": "x"})", nullptr,
                                   nullptr, nullptr) == MTOP_ERR_CONFIG_INVALID);
  CHECK(std::string(mtop_last_error_message()).find("sock") != std::string::npos);
  CHECK(c == nullptr);
}

TEST_CASE("engines: struct configs are checked with messages", "[c][engines][config]") {
  Pki pki;
  static const char* const listen[] = {"127.0.0.1:0"};
  mtop_server_config cfg;
  REQUIRE(mtop_server_config_default(&cfg) == 0);
  mtop_server* s = nullptr;
  CHECK(mtop_server_new(&s, nullptr, &cfg, nullptr, nullptr) == MTOP_ERR_CONFIG_INVALID);
  CHECK(std::string(mtop_last_error_message()).find("listen") != std::string::npos);
  cfg.listen = listen;
  cfg.listen_count = 1;
  cfg.cert_file = "/nonexistent/cert.pem";
  cfg.key_file = pki.key.c_str();
  mtop_server_callbacks cb{};
  cb.auth = auth_cb;
  const int rc = mtop_server_new(&s, nullptr, &cfg, &cb, nullptr);
  CHECK((rc == MTOP_ERR_TLS_SETUP_FAILED || rc == MTOP_ERR_CONFIG_INVALID));
  CHECK(std::string(mtop_last_error_message()).find("/nonexistent/cert.pem") != std::string::npos);
  CHECK(mtop_server_new_versioned(&s, nullptr, 0, &cfg, 1, &cb, nullptr) ==
        MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_new_versioned(&s, nullptr, 1, &cfg, 2, &cb, nullptr) ==
        MTOP_ERR_INVALID_ARGUMENT);
  CHECK(s == nullptr);

  mtop_climber_config cc;
  REQUIRE(mtop_climber_config_default(&cc) == 0);
  mtop_climber* c = nullptr;
  CHECK(mtop_climber_new(&c, nullptr, &cc, nullptr, nullptr) == MTOP_ERR_CONFIG_INVALID);
  cc.server_uri = "http://nope";
  CHECK(mtop_climber_new(&c, nullptr, &cc, nullptr, nullptr) == MTOP_ERR_CONFIG_INVALID);
  CHECK(!std::string(mtop_last_error_message()).empty());
  cc.server_uri = "mtop://alice:secret@127.0.0.1:1";
  cc.transport = 42;
  CHECK(mtop_climber_new(&c, nullptr, &cc, nullptr, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(std::string(mtop_last_error_message()).find("secret") == std::string::npos);
  CHECK(c == nullptr);

  CHECK(mtop_climber_open_tunnel(nullptr, "x", 1, tunnel_cb, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_start(nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_auth_request_deny(nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  mtop_server_free(nullptr);
  mtop_climber_free(nullptr);
}

// The ABI promise: a program built when mtop_server_stats was version 1 passes its smaller
// struct with version 1 to this library, whose struct has grown (version 2).
namespace {
struct server_stats_v1 {  // the version-1 layout, as the old header declared it
  uint64_t live, relaying, total, accepted, bytes_up, bytes_down;
};
struct server_config_v1 {  // == mtop_server_config today
  const char* const* listen;
  size_t listen_count;
  const char* cert_file;
  const char* key_file;
  int quic;
  int reply_mode;
  uint64_t handshake_timeout_ms, connect_timeout_ms, idle_timeout_ms, drain_timeout_ms;
  const char* const* allow_targets;
  size_t allow_targets_count;
  const char* users_file;
  uint64_t max_tunnels;
  int log_level;
};
}  // namespace

TEST_CASE("engines: an old caller's version-1 stats struct is filled and nothing past it",
          "[c][engines][version]") {
  static_assert(MTOP_SERVER_STATS_VERSION == 2);
  static_assert(sizeof(mtop_server_stats) > sizeof(server_stats_v1));
  Pki pki;
  EchoTarget target;
  ServerApp app;
  mtop_server* server = start_server(pki, app, {false});
  mtop_climber* climber = make_climber(pki, mtop_server_port(server, 0, 0), MTOP_TRANSPORT_TLS);
  TunnelResult t = open_tunnel(climber, target.port());
  REQUIRE(t.status == 0);
  CHECK(echo_through(t.fd, "abc") == "abc");
  ::close(t.fd);

  struct {
    server_stats_v1 stats;
    unsigned char guard[256];
  } old;
  std::memset(&old, 0xAB, sizeof old);
  REQUIRE(mtop_server_stats_versioned(server, 1,
                                      reinterpret_cast<mtop_server_stats*>(&old.stats)) == 0);
  for (unsigned char b : old.guard) REQUIRE(b == 0xAB);
  CHECK(old.stats.accepted == 1);
  CHECK(old.stats.total == 1);
  CHECK(old.stats.bytes_up >= 3);

  // The current caller sees the version-2 fields too.
  mtop_server_stats now;
  std::memset(&now, 0xAB, sizeof now);
  REQUIRE(mtop_server_stats(server, &now) == 0);
  CHECK(now.accepted == 1);
  CHECK(now.failures[MTOP_FAILURE_AUTH_FAILED] == 0);
  CHECK(mtop_server_stats_versioned(server, 3, &now) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_stats_versioned(server, 0, &now) == MTOP_ERR_INVALID_ARGUMENT);

  // Config defaults for an old caller: its version only.
  struct {
    server_config_v1 cfg;
    unsigned char guard[64];
  } oldcfg;
  std::memset(&oldcfg, 0xAB, sizeof oldcfg);
  REQUIRE(mtop_server_config_default_versioned(
              1, reinterpret_cast<mtop_server_config*>(&oldcfg.cfg)) == 0);
  for (unsigned char b : oldcfg.guard) REQUIRE(b == 0xAB);
  CHECK(oldcfg.cfg.quic == 1);
  CHECK(oldcfg.cfg.handshake_timeout_ms == 10'000);

  mtop_climber_free(climber);
  mtop_server_free(server);
}

namespace {

/// Runs the caller's loop until pred() holds (bounded). A 1 ms timer keeps uv_run(ONCE)
/// returning, so pred() may watch things outside the loop (a socket, another thread).
bool run_loop_until(uv_loop_t* loop, const std::function<bool()>& pred) {
  auto* tick = new uv_timer_t;
  uv_timer_init(loop, tick);
  uv_timer_start(
      tick, [](uv_timer_t*) {}, 1, 1);
  const auto deadline = std::chrono::steady_clock::now() + kSafety;
  while (!pred() && std::chrono::steady_clock::now() < deadline) uv_run(loop, UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(tick),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  uv_run(loop, UV_RUN_NOWAIT);
  return pred();
}

/// Runs the loop until nothing is left (bounded by an unreferenced safety timer, which does
/// not keep it alive), then uv_loop_close(): 0 when every handle was closed and freed.
int close_loop(uv_loop_t* loop) {
  auto* safety = new uv_timer_t;
  uv_timer_init(loop, safety);
  uv_unref(reinterpret_cast<uv_handle_t*>(safety));
  safety->data = loop;
  uv_timer_start(
      safety, [](uv_timer_t* t) { uv_stop(static_cast<uv_loop_t*>(t->data)); }, 30'000, 0);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_close(reinterpret_cast<uv_handle_t*>(safety),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  uv_run(loop, UV_RUN_NOWAIT);
  return uv_loop_close(loop);
}

}  // namespace

TEST_CASE("engines: a server and a climber on the caller's loop", "[c][engines][loop]") {
  Pki pki;
  EchoTarget target;
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  const auto me = std::this_thread::get_id();

  static const char* const listen[] = {"127.0.0.1:0"};
  static const char* const allow[] = {"127.0.0.0/8"};
  mtop_server_config cfg;
  REQUIRE(mtop_server_config_default(&cfg) == 0);
  cfg.listen = listen;
  cfg.listen_count = 1;
  cfg.cert_file = pki.cert.c_str();
  cfg.key_file = pki.key.c_str();
  cfg.quic = 0;
  cfg.allow_targets = allow;
  cfg.allow_targets_count = 1;
  ServerApp app;
  mtop_server_callbacks cb{};
  cb.auth = app_auth;
  mtop_server* server = nullptr;
  REQUIRE(mtop_server_new(&server, &loop, &cfg, &cb, &app) == 0);
  REQUIRE(mtop_server_start(server) == 0);
  const int port = mtop_server_port(server, 0, 0);
  REQUIRE(port > 0);

  const std::string uri = "mtop://alice:pw@127.0.0.1:" + std::to_string(port);
  mtop_climber_config cc;
  REQUIRE(mtop_climber_config_default(&cc) == 0);
  cc.server_uri = uri.c_str();
  cc.ca_file = pki.cert.c_str();
  mtop_climber* climber = nullptr;
  REQUIRE(mtop_climber_new(&climber, &loop, &cc, nullptr, nullptr) == 0);
  REQUIRE(mtop_climber_start(climber) == 0);

  std::optional<TunnelResult> result;
  REQUIRE(mtop_climber_open_tunnel(
              climber, "127.0.0.1", target.port(),
              [](mtop_climber*, int status, int fd, const char* message, void* ud) {
                *static_cast<std::optional<TunnelResult>*>(ud) =
                    TunnelResult{status, fd, message, std::this_thread::get_id()};
              },
              &result) == 0);
  CHECK(!result.has_value());  // never inside the call
  REQUIRE(run_loop_until(&loop, [&] { return result.has_value(); }));
  INFO(result->message);
  REQUIRE(result->status == 0);
  CHECK(result->thread == me);  // callbacks come from inside our uv_run
  {
    std::lock_guard<std::mutex> lock(app.auth.m);
    CHECK(app.auth.thread == me);
  }

  // The loop must keep running while we use the fd: non-blocking, watched from pred().
  const int fd = result->fd;
  REQUIRE(::send(fd, "on my loop", 10, MSG_NOSIGNAL) == 10);
  REQUIRE(::shutdown(fd, SHUT_WR) == 0);
  REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
  std::string got;
  bool eof = false;
  REQUIRE(run_loop_until(&loop, [&] {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n > 0) {
        got.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) eof = true;
      return eof;
    }
  }));
  CHECK(got == "on my loop");
  ::close(fd);

  mtop_climber_free(climber);
  mtop_server_free(server);
  // Closed handles are freed as the loop runs on; then the loop closes clean.
  CHECK(close_loop(&loop) == 0);
}

#else  // !MTOP_C_TEST_ENGINES

TEST_CASE("engines: not built into this libmtop", "[c][engines]") {
  mtop_server_config cfg;
  CHECK(mtop_server_config_default(&cfg) == MTOP_ERR_NOT_BUILT_IN);
  CHECK(std::string(mtop_last_error_message()).find("not built") != std::string::npos);
  mtop_climber* c = nullptr;
  CHECK(mtop_climber_new_from_json(&c, nullptr, "{}", nullptr, nullptr, nullptr) ==
        MTOP_ERR_NOT_BUILT_IN);
  (void)kSafety;
}

#endif
