// Reverse tunnels through the C API alone: a climber whose config struct carries reverse rules
// publishes a port on a server whose auth callback grants (or does not grant) publishing; a
// visitor of that port reaches an echo service next to the climber, over TLS and QUIC; the
// granted port, each rule's state and both sides' counters as C reads them; the old callers'
// struct versions; and the refusals (a rule that does not parse, a publish text that does not,
// unknown versions, an index out of range). Everything on 127.0.0.1, waits bounded.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "mtop.h"

#if MTOP_C_TEST_ENGINES

#include "engine_fixtures.hpp"

using namespace mtop_c_test;

namespace {

/// The auth callback's side: what it grants, and the answer it got to a malformed grant.
struct PublishAuth {
  std::mutex m;
  std::string publish;  ///< the grant's publish text; empty: NULL (nothing to publish)
  std::atomic<bool> try_malformed_first{false};
  std::atomic<int> malformed_rc{1};
  std::string malformed_message;
  std::atomic<int> calls{0};
  LogLines log;
};

int publish_auth(mtop_auth_request* req, void* user_data) {
  auto* a = static_cast<PublishAuth*>(user_data);
  ++a->calls;
  std::lock_guard<std::mutex> lock(a->m);
  if (a->try_malformed_first.exchange(false)) {
    mtop_user_grant bad{};
    bad.publish = "70000";
    a->malformed_rc = mtop_auth_request_allow(req, &bad);  // refused: req is still ours
    a->malformed_message = mtop_last_error_message();
  }
  mtop_user_grant grant{};
  grant.publish = a->publish.empty() ? nullptr : a->publish.c_str();
  return mtop_auth_request_allow(req, &grant);
}

void publish_log(int level, const char* message, void* user_data) {
  log_cb(level, message, &static_cast<PublishAuth*>(user_data)->log);
}

mtop_server* start_publish_server(const Pki& pki, PublishAuth& auth, bool quic) {
  ServerOptions o;
  o.quic = quic;
  const mtop_server_config cfg = server_config(pki, o);
  mtop_server_callbacks cb{};
  cb.auth = publish_auth;
  cb.log = publish_log;
  mtop_server* s = nullptr;
  const int rc = mtop_server_new(&s, nullptr, &cfg, &cb, &auth);
  INFO(mtop_last_error_message());
  REQUIRE(rc == 0);
  REQUIRE(mtop_server_start(s) == 0);
  return s;
}

/// A climber (own thread, started) with `count` reverse rules; its log goes to `log`.
mtop_climber* start_reverse_climber(const Pki& pki, int server_port, int transport,
                                    const char* const* rules, std::size_t count,
                                    const int* proxy_protocol, LogLines& log) {
  const std::string uri = "mtop://alice@127.0.0.1:" + std::to_string(server_port);
  mtop_climber_config cfg;
  REQUIRE(mtop_climber_config_default(&cfg) == 0);
  CHECK(cfg.reverses == nullptr);  // the version-2 defaults
  CHECK(cfg.reverse_count == 0);
  CHECK(cfg.reverse_proxy_protocol == nullptr);
  cfg.server_uri = uri.c_str();
  cfg.password = "pw";
  cfg.transport = transport;
  cfg.ca_file = pki.cert.c_str();
  cfg.log_level = MTOP_LOG_DEBUG;
  cfg.reverses = rules;
  cfg.reverse_count = count;
  cfg.reverse_proxy_protocol = proxy_protocol;
  mtop_climber* c = nullptr;
  const int rc = mtop_climber_new(&c, nullptr, &cfg, log_cb, &log);
  INFO(mtop_last_error_message());
  REQUIRE(rc == 0);
  REQUIRE(mtop_climber_start(c) == 0);
  return c;
}

mtop_reverse_state reverse_state(const mtop_climber* c, std::size_t index) {
  mtop_reverse_state s;
  std::memset(&s, 0xAB, sizeof s);
  const int rc = mtop_climber_reverse_state(c, index, &s);
  INFO(mtop_last_error_message());
  REQUIRE(rc == 0);
  return s;
}

/// A visitor of 127.0.0.1:port: sends `data`, half-closes, and returns all it reads back.
std::string visit(int port, const std::string& data) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  std::string got = echo_through(fd, data);
  ::close(fd);
  return got;
}

/// A port range no one listens on now (an ephemeral port the OS just gave, and the next 49):
/// what the auth callback grants, so that a rule with port 0 gets a port of it.
std::string free_range() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  const int first = ntohs(a.sin_port);
  const int last = first + 49 > 65535 ? 65535 : first + 49;
  return "127.0.0.1:" + std::to_string(first) + "-" + std::to_string(last);
}

constexpr char kProxyV2Signature[] = "\r\n\r\n\0\r\nQUIT\n";  // PROXY protocol v2, 12 bytes

}  // namespace

TEST_CASE("reverse: a rule of the config struct publishes a port, visitors reach the service",
          "[c][engines][reverse]") {
  const bool quic = GENERATE(false, true);
  INFO((quic ? "QUIC" : "TLS"));
  Pki pki;
  EchoTarget service;
  PublishAuth auth;
  auth.publish = free_range();
  auth.try_malformed_first = true;
  mtop_server* server = start_publish_server(pki, auth, quic);
  const int server_port = mtop_server_port(server, 0, quic ? 1 : 0);
  REQUIRE(server_port > 0);

  // Rule 0 plain, rule 1 with a PROXY v2 header in front of the visitor's bytes.
  const std::string to_service = "127.0.0.1:" + std::to_string(service.port());
  const std::string r0 = "127.0.0.1:0:" + to_service;
  const std::string r1 = "127.0.0.1:0:" + to_service;
  const char* const rules[] = {r0.c_str(), r1.c_str()};
  const int proxy[] = {0, 1};
  LogLines log;
  mtop_climber* climber = start_reverse_climber(
      pki, server_port, quic ? MTOP_TRANSPORT_QUIC : MTOP_TRANSPORT_TLS, rules, 2, proxy, log);

  REQUIRE(eventually([&] {
    return mtop_climber_reverse_port(climber, 0) > 0 && mtop_climber_reverse_port(climber, 1) > 0;
  }));
  const int port0 = mtop_climber_reverse_port(climber, 0);
  const int port1 = mtop_climber_reverse_port(climber, 1);
  CHECK(port0 != port1);
  // The malformed grant was refused with its message, and the request stayed the callback's.
  CHECK(auth.malformed_rc == MTOP_ERR_INVALID_ARGUMENT);
  {
    std::lock_guard<std::mutex> lock(auth.m);
    CHECK(auth.malformed_message.find("70000") != std::string::npos);
  }

  const mtop_reverse_state s0 = reverse_state(climber, 0);
  CHECK(s0.port == port0);
  CHECK(s0.published == 1);
  CHECK(s0.refusal == 0);
  CHECK(s0.visitors_total == 0);

  const std::string data = pattern(100'000);
  CHECK(visit(port0, data) == data);
  const std::string framed = visit(port1, "hello");
  REQUIRE(framed.size() > 16 + 5);
  CHECK(framed.compare(0, 12, std::string(kProxyV2Signature, 12)) == 0);
  CHECK(framed.substr(framed.size() - 5) == "hello");
  CHECK(service.connections() == 2);

  CHECK(reverse_state(climber, 0).visitors_total == 1);
  CHECK(reverse_state(climber, 1).visitors_total == 1);
  mtop_climber_stats cs;
  REQUIRE(mtop_climber_stats(climber, &cs) == 0);
  CHECK(cs.reverse_published == 2);
  CHECK(cs.reverse_visitors_total == 2);

  mtop_server_stats ss;
  REQUIRE(mtop_server_stats(server, &ss) == 0);
  CHECK(ss.reverse_ports == 2);
  CHECK(ss.reverse_ports_grace == 0);
  CHECK(ss.reverse_visitors_total == 2);
  CHECK(ss.reverse_visitors_refused == 0);
  CHECK(ss.failures[MTOP_FAILURE_TARGET_DENIED] == 0);

  // The climber stops: its ports go into the server's grace; a visitor now is refused.
  REQUIRE(mtop_climber_stop(climber) == 0);
  REQUIRE(eventually([&] { return reverse_state(climber, 0).published == 0; }));
  REQUIRE(eventually([&] {
    mtop_server_stats now;
    REQUIRE(mtop_server_stats(server, &now) == 0);
    return now.reverse_ports == 0 && now.reverse_ports_grace == 2;
  }));
  CHECK(mtop_climber_reverse_port(climber, 0) == port0);  // the grant is remembered
  CHECK(visit(port0, "late").empty());
  REQUIRE(eventually([&] {
    mtop_server_stats now;
    REQUIRE(mtop_server_stats(server, &now) == 0);
    return now.reverse_visitors_refused == 1;
  }));
  REQUIRE(mtop_climber_stats(climber, &cs) == 0);
  CHECK(cs.reverse_published == 0);

  mtop_climber_free(climber);
  mtop_server_free(server);
}

TEST_CASE("reverse: without a publish grant the server refuses, and C sees why",
          "[c][engines][reverse]") {
  Pki pki;
  EchoTarget service;
  PublishAuth auth;  // allows the user, grants nothing to publish
  mtop_server* server = start_publish_server(pki, auth, false);
  const std::string rule = "127.0.0.1:0:127.0.0.1:" + std::to_string(service.port());
  const char* const rules[] = {rule.c_str()};
  LogLines log;
  mtop_climber* climber = start_reverse_climber(pki, mtop_server_port(server, 0, 0),
                                                MTOP_TRANSPORT_TLS, rules, 1, nullptr, log);

  REQUIRE(eventually([&] { return reverse_state(climber, 0).refusal != 0; }));
  const mtop_reverse_state s = reverse_state(climber, 0);
  CHECK(s.refusal == MTOP_STATUS_NOT_PERMITTED);
  CHECK(s.published == 0);
  CHECK(s.port == 0);
  CHECK(mtop_climber_reverse_port(climber, 0) == 0);
  const mtop_server_stats st = stats_after_failure(server, MTOP_FAILURE_TARGET_DENIED);
  CHECK(st.failures[MTOP_FAILURE_TARGET_DENIED] >= 1);
  CHECK(st.reverse_ports == 0);
  CHECK(st.reverse_ports_grace == 0);
  CHECK(auth.calls >= 1);
  {
    std::lock_guard<std::mutex> lock(log.m);
    bool said = false;
    for (const auto& l : log.lines) said = said || l.find("not permitted") != std::string::npos;
    CHECK(said);
  }
  mtop_climber_free(climber);
  mtop_server_free(server);
}

TEST_CASE("reverse: rules that do not parse, and unknown versions, are refused with a message",
          "[c][engines][reverse]") {
  mtop_climber_config cfg;
  REQUIRE(mtop_climber_config_default(&cfg) == 0);
  cfg.server_uri = "mtop://alice:pw@127.0.0.1:1";
  mtop_climber* c = nullptr;

  const char* const no_target[] = {"127.0.0.1:8080:nowhere"};
  cfg.reverses = no_target;
  cfg.reverse_count = 1;
  CHECK(mtop_climber_new(&c, nullptr, &cfg, nullptr, nullptr) == MTOP_ERR_CONFIG_INVALID);
  CHECK(std::string(mtop_last_error_message()).find("reverse \"127.0.0.1:8080:nowhere\"") !=
        std::string::npos);
  const char* const name_bind[] = {"example.com:8080:127.0.0.1:22"};
  cfg.reverses = name_bind;
  CHECK(mtop_climber_new(&c, nullptr, &cfg, nullptr, nullptr) == MTOP_ERR_CONFIG_INVALID);
  CHECK(std::string(mtop_last_error_message()).find("must be an IP address") != std::string::npos);
  const char* const null_entry[] = {nullptr};
  cfg.reverses = null_entry;
  CHECK(mtop_climber_new(&c, nullptr, &cfg, nullptr, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(std::string(mtop_last_error_message()).find("reverses") != std::string::npos);
  cfg.reverses = nullptr;
  CHECK(mtop_climber_new(&c, nullptr, &cfg, nullptr, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(c == nullptr);

  // Versions: 0 and one past the header's are refused, for every versioned struct here.
  CHECK(mtop_climber_config_default_versioned(0, &cfg) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_climber_config_default_versioned(MTOP_CLIMBER_CONFIG_VERSION + 1, &cfg) ==
        MTOP_ERR_INVALID_ARGUMENT);
  const char* const good[] = {"8080:127.0.0.1:80"};
  cfg.reverses = good;
  CHECK(mtop_climber_new_versioned(&c, nullptr, MTOP_CLIMBER_CONFIG_VERSION + 1, &cfg, nullptr,
                                   nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(std::string(mtop_last_error_message()).find("unknown version") != std::string::npos);
  REQUIRE(mtop_climber_new(&c, nullptr, &cfg, nullptr, nullptr) == 0);
  mtop_reverse_state st;
  CHECK(mtop_climber_reverse_state_versioned(c, 0, 0, &st) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_climber_reverse_state_versioned(c, 0, MTOP_REVERSE_STATE_VERSION + 1, &st) ==
        MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_climber_reverse_state(c, 0, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_climber_reverse_state(c, 1, &st) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(std::string(mtop_last_error_message()).find("reverse index 1 out of range") !=
        std::string::npos);
  CHECK(mtop_climber_reverse_port(c, 1) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_climber_reverse_port(nullptr, 0) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_climber_reverse_port(c, 0) == 0);  // not started: nothing granted
  mtop_climber_stats stats;
  CHECK(mtop_climber_stats_versioned(c, MTOP_CLIMBER_STATS_VERSION + 1, &stats) ==
        MTOP_ERR_INVALID_ARGUMENT);
  mtop_climber_free(c);
}

namespace {
// The layouts of version 1, as a program built against that header has them.
struct climber_config_v1 {
  const char* server_uri;
  const char* password;
  int transport;
  const char* ca_file;
  const char* pin;
  int insecure;
  const char* socks_listen;
  const char* http_listen;
  const char* const* forwards;
  size_t forward_count;
  uint64_t handshake_timeout_ms, connect_timeout_ms, idle_timeout_ms;
  int log_level;
};
struct climber_stats_v1 {
  uint64_t active_connections, total_connections, refused_connections, tunnels_opened,
      tunnels_failed, bytes_up, bytes_down;
};
struct user_grant_v1 {
  const char* user;
  uint32_t max_tunnels;
  uint64_t rate_limit;
};
}  // namespace

TEST_CASE("reverse: old callers' version-1 structs are read and written at their size",
          "[c][engines][reverse][version]") {
  static_assert(MTOP_CLIMBER_CONFIG_VERSION == 2 && MTOP_CLIMBER_STATS_VERSION == 2 &&
                MTOP_USER_GRANT_VERSION == 2);
  static_assert(sizeof(climber_config_v1) <= offsetof(mtop_climber_config, reverses));
  static_assert(sizeof(climber_stats_v1) == offsetof(mtop_climber_stats, reverse_published));
  static_assert(sizeof(user_grant_v1) == offsetof(mtop_user_grant, publish));

  struct {
    climber_config_v1 cfg;
    unsigned char guard[64];
  } old;
  std::memset(&old, 0xAB, sizeof old);
  REQUIRE(mtop_climber_config_default_versioned(
              1, reinterpret_cast<mtop_climber_config*>(&old.cfg)) == 0);
  for (unsigned char b : old.guard) REQUIRE(b == 0xAB);
  CHECK(old.cfg.handshake_timeout_ms == 10'000);
  // A version-1 config has no reverse rules, whatever lies past its end.
  old.cfg.server_uri = "mtop://alice:pw@127.0.0.1:1";
  mtop_climber* c = nullptr;
  REQUIRE(mtop_climber_new_versioned(&c, nullptr, 1,
                                     reinterpret_cast<mtop_climber_config*>(&old.cfg), nullptr,
                                     nullptr) == 0);
  CHECK(mtop_climber_reverse_port(c, 0) == MTOP_ERR_INVALID_ARGUMENT);

  struct {
    climber_stats_v1 stats;
    unsigned char guard[64];
  } old_stats;
  std::memset(&old_stats, 0xAB, sizeof old_stats);
  REQUIRE(mtop_climber_stats_versioned(
              c, 1, reinterpret_cast<mtop_climber_stats*>(&old_stats.stats)) == 0);
  for (unsigned char b : old_stats.guard) REQUIRE(b == 0xAB);
  CHECK(old_stats.stats.tunnels_opened == 0);
  mtop_climber_free(c);

  // A version-1 grant (no publish) still answers a check: the tunnel is allowed.
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
  struct {
    user_grant_v1 grant;
    unsigned char garbage[64];
  } v1;
  std::memset(&v1, 0xAB, sizeof v1);  // a publish field read past the end would be garbage
  v1.grant.user = nullptr;
  v1.grant.max_tunnels = 0;
  v1.grant.rate_limit = 0;
  REQUIRE(mtop_auth_request_allow_versioned(*req, 1,
                                            reinterpret_cast<mtop_user_grant*>(&v1.grant)) == 0);
  auto t = box.take();
  REQUIRE(t.has_value());
  INFO(t->message);
  REQUIRE(t->status == 0);
  CHECK(echo_through(t->fd, "v1") == "v1");
  ::close(t->fd);
  mtop_climber_free(climber);
  mtop_server_free(server);
}

#else  // !MTOP_C_TEST_ENGINES

TEST_CASE("reverse: not built into this libmtop", "[c][reverse]") {
  CHECK(mtop_climber_reverse_port(nullptr, 0) == MTOP_ERR_NOT_BUILT_IN);
  mtop_reverse_state st;
  CHECK(mtop_climber_reverse_state(nullptr, 0, &st) == MTOP_ERR_NOT_BUILT_IN);
}

#endif
