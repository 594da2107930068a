// The engine sections of mtop.h as a C program uses them: a server and a climber, each on a
// thread of its own, tunnels from the climber's fd to an echo target on loopback over TLS and
// over QUIC; the auth callback answering at once, later from another thread, never (the
// handshake time-out), and after the server was freed; JSON errors; and an old caller whose
// stats struct is version 1 of a struct that grew. Everything on 127.0.0.1; waits are bounded
// by safety time-outs that never measure anything.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "mtop.h"

#if MTOP_C_TEST_ENGINES
#include <uv.h>

#include "engine_fixtures.hpp"

using namespace mtop_c_test;

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
    const mtop_server_config cfg = server_config(pki, {.quic = false});
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
// struct with version 1 to this library, whose struct has grown (version 3); likewise its
// version-1 config struct (version 2 added fields after log_level).
namespace {
struct server_stats_v1 {  // the version-1 layout, as the old header declared it
  uint64_t live, relaying, total, accepted, bytes_up, bytes_down;
};
struct server_config_v1 {  // the version-1 layout
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
  static_assert(MTOP_SERVER_STATS_VERSION == 4);
  static_assert(MTOP_SERVER_CONFIG_VERSION == 3);
  static_assert(sizeof(mtop_server_config) > sizeof(server_config_v1));
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

  // The current caller sees the fields of versions 2 to 4 too.
  mtop_server_stats now;
  std::memset(&now, 0xAB, sizeof now);
  REQUIRE(mtop_server_stats(server, &now) == 0);
  CHECK(now.accepted == 1);
  CHECK(now.failures[MTOP_FAILURE_AUTH_FAILED] == 0);
  CHECK(now.rejections[MTOP_REJECTION_MAX_TUNNELS] == 0);
  CHECK(now.reverse_ports == 0);
  CHECK(now.reverse_visitors_refused == 0);
  CHECK(mtop_server_stats_versioned(server, MTOP_SERVER_STATS_VERSION + 1, &now) ==
        MTOP_ERR_INVALID_ARGUMENT);
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
  // ... and a server made from it gets the defaults of version 2 (no admin listener).
  static const char* const listen[] = {"127.0.0.1:0"};
  oldcfg.cfg.listen = listen;
  oldcfg.cfg.listen_count = 1;
  oldcfg.cfg.cert_file = pki.cert.c_str();
  oldcfg.cfg.key_file = pki.key.c_str();
  oldcfg.cfg.quic = 0;
  mtop_server_callbacks cb{};
  cb.auth = app_auth;
  mtop_server* from_v1 = nullptr;
  REQUIRE(mtop_server_new_versioned(&from_v1, nullptr, 1,
                                    reinterpret_cast<mtop_server_config*>(&oldcfg.cfg), 1, &cb,
                                    &app) == 0);
  REQUIRE(mtop_server_start(from_v1) == 0);
  CHECK(mtop_server_admin_port(from_v1) == 0);
  mtop_server_free(from_v1);

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
}

#endif
