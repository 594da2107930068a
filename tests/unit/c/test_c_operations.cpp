// The operations section of mtop.h as a C program uses it on a running server: the config
// struct's admin listener, access log and admission control; reload (all or nothing: a bad
// config is refused and the old one keeps serving); the list of live tunnels and kicking one
// or a user's (over TLS and QUIC); the metrics text; rejections by rule; users managed in the
// server's users file; and every NULL argument. Everything on 127.0.0.1, waits bounded.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "mtop.h"

#if MTOP_C_TEST_ENGINES

#include "engine_fixtures.hpp"

using namespace mtop_c_test;

namespace {

/// The fixtures' server config, TLS only or with QUIC (also the base of the reloads).
mtop_server_config base_config(const Pki& pki, bool quic) {
  ServerOptions o;
  o.quic = quic;
  return server_config(pki, o);
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// One plain HTTP/1.0 GET on 127.0.0.1:port; the whole answer (bounded by the socket time-out).
std::string http_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  const std::string rq = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  REQUIRE(::send(fd, rq.data(), rq.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(rq.size()));
  std::string got;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return got;
}

/// A tunnel open and relaying (an echo round trip done), its fd kept open.
int open_relaying(mtop_climber* c, std::uint16_t target) {
  TunnelResult t = open_tunnel(c, target);
  INFO(t.message);
  REQUIRE(t.status == 0);
  timeval tv{30, 0};
  ::setsockopt(t.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  REQUIRE(::send(t.fd, "ping", 4, MSG_NOSIGNAL) == 4);
  char buf[4];
  std::size_t got = 0;
  while (got < 4) {
    const ssize_t n = ::read(t.fd, buf + got, 4 - got);
    REQUIRE(n > 0);
    got += static_cast<std::size_t>(n);
  }
  CHECK(std::string(buf, 4) == "ping");
  return t.fd;
}

/// True once the fd reads EOF or an error (the tunnel was closed on the server's side).
bool reads_end(int fd) {
  char buf[256];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return true;
  }
}

struct TunnelList {
  mtop_tunnel_list* list = nullptr;
  ~TunnelList() { mtop_tunnel_list_free(list); }
};

}  // namespace

TEST_CASE("operations: admin listener, access log and a per-source limit from the struct",
          "[c][engines][operations]") {
  Pki pki;
  EchoTarget target;
  ServerApp app;
  const std::string token_file = (pki.dir / "token").string();
  std::ofstream(token_file) << "s3cret-token-0123456789\n";
  const std::string access_log = (pki.dir / "access.log").string();

  mtop_server_config cfg = base_config(pki, false);
  // The version-2 defaults: no admin listener, no access log, port 25 denied.
  CHECK(cfg.admin_listen == nullptr);
  CHECK(cfg.access_log == nullptr);
  CHECK(cfg.access_log_format == MTOP_ACCESS_LOG_JSON);
  REQUIRE(cfg.deny_target_ports_count == 1);
  CHECK(cfg.deny_target_ports[0] == 25);
  CHECK(cfg.source_burst == 20);
  CHECK(cfg.subnet_prefix_v4 == 24);
  cfg.admin_listen = "127.0.0.1:0";
  cfg.admin_token_file = token_file.c_str();
  cfg.access_log = access_log.c_str();
  cfg.access_log_format = MTOP_ACCESS_LOG_LOGFMT;
  cfg.max_tunnels_per_source = 1;
  mtop_server* server = start_server(cfg, app);

  const int admin_port = mtop_server_admin_port(server);
  REQUIRE(admin_port > 0);
  CHECK(http_get(admin_port, "/api/stats").find(" 401 ") != std::string::npos);  // the token
  CHECK(http_get(admin_port, "/metrics").find("mtop_tunnels_total") != std::string::npos);

  mtop_climber* climber = make_climber(pki, mtop_server_port(server, 0, 0), MTOP_TRANSPORT_TLS);
  const int fd = open_relaying(climber, target.port());
  TunnelResult second = open_tunnel(climber, target.port());  // one per source
  CHECK(second.status == MTOP_ERR_TUNNEL_REFUSED);
  mtop_server_stats st = stats_after_failure(server, MTOP_FAILURE_OVERLOADED);
  CHECK(st.rejections[MTOP_REJECTION_MAX_TUNNELS_PER_SOURCE] == 1);
  CHECK(st.failures[MTOP_FAILURE_OVERLOADED] == 1);
  CHECK(st.rejections[MTOP_REJECTION_SOURCE_DENIED] == 0);

  char* metrics = nullptr;
  std::size_t len = 0;
  REQUIRE(mtop_server_metrics_text(server, &metrics, &len) == 0);
  const std::string text(metrics, len);
  CHECK(std::strlen(metrics) == len);
  mtop_string_free(metrics);
  CHECK(text.find("mtop_policy_rejections_total{rule=\"max_tunnels_per_source\"} 1") !=
        std::string::npos);

  ::shutdown(fd, SHUT_WR);
  CHECK(reads_end(fd));
  ::close(fd);
  // Two tunnels ended (the refused one and the relayed one): two logfmt lines.
  REQUIRE(eventually([&] {
    const std::string log = read_file(access_log);
    return std::count(log.begin(), log.end(), '\n') == 2;
  }));
  const std::string log = read_file(access_log);
  CHECK(log.find("failure=overloaded") != std::string::npos);
  CHECK(log.find("accepted=true") != std::string::npos);

  mtop_climber_free(climber);
  mtop_server_free(server);
}

TEST_CASE("operations: live tunnels are listed and kicked, one or a user's, TLS and QUIC",
          "[c][engines][operations]") {
  const bool quic = GENERATE(false, true);
  CAPTURE(quic);
  Pki pki;
  EchoTarget target;
  ServerApp app;
  mtop_server* server = start_server(base_config(pki, quic), app);
  CHECK(mtop_server_admin_port(server) == 0);  // no admin listener configured
  mtop_climber* climber = make_climber(pki, mtop_server_port(server, 0, quic ? 1 : 0),
                                       quic ? MTOP_TRANSPORT_QUIC : MTOP_TRANSPORT_TLS);
  const int a = open_relaying(climber, target.port());
  const int b = open_relaying(climber, target.port());
  const int c = open_relaying(climber, target.port());

  TunnelList tl;
  REQUIRE(mtop_server_tunnels(server, &tl.list) == 3);
  REQUIRE(tl.list->count == 3);
  const mtop_tunnel_info& first = *tl.list->items[0];
  CHECK(std::string(first.transport) == (quic ? "quic" : "tls"));
  CHECK(std::string(first.user) == "alice");
  CHECK(std::string(first.target) == "127.0.0.1:" + std::to_string(target.port()));
  CHECK(std::string(first.stage) == "relaying");
  CHECK(std::string(first.source).rfind("127.0.0.1:", 0) == 0);
  CHECK(std::string(first.listener).rfind("127.0.0.1:", 0) == 0);
  CHECK(first.bytes_up == 4);
  CHECK(first.bytes_down == 4);
  CHECK(tl.list->items[0]->id < tl.list->items[1]->id);  // oldest first

  // Kick the first: its climber side ends, the others go on.
  const std::uint64_t id = first.id;
  REQUIRE(mtop_server_close_tunnel(server, id) == 0);
  CHECK(reads_end(a));
  mtop_server_stats st;
  REQUIRE(eventually([&] {  // the relay closes its streams, then the tunnel is gone
    REQUIRE(mtop_server_stats(server, &st) == 0);
    return st.live == 2;
  }));
  CHECK(mtop_server_close_tunnel(server, id) == MTOP_ERR_INVALID_ARGUMENT);  // gone now
  CHECK(std::string(mtop_last_error_message()).find(std::to_string(id)) != std::string::npos);
  CHECK(mtop_server_close_tunnel(server, 999'999) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_close_user_tunnels(server, "nobody") == 0);

  // The user as the grant named it: both of the others.
  CHECK(mtop_server_close_user_tunnels(server, "alice-granted") == 2);
  CHECK(reads_end(b));
  CHECK(reads_end(c));
  REQUIRE(eventually([&] {
    REQUIRE(mtop_server_stats(server, &st) == 0);
    return st.live == 0;
  }));
  CHECK(st.failures[MTOP_FAILURE_REVOKED] == 3);
  TunnelList empty;
  CHECK(mtop_server_tunnels(server, &empty.list) == 0);
  CHECK(empty.list->count == 0);
  // The first snapshot is the caller's: unchanged, and valid after the server is freed.
  for (int fd : {a, b, c}) ::close(fd);
  mtop_climber_free(climber);
  mtop_server_free(server);
  CHECK(tl.list->count == 3);
  CHECK(std::string(tl.list->items[2]->stage) == "relaying");
}

TEST_CASE("operations: reload is all or nothing and says what changed",
          "[c][engines][operations]") {
  Pki pki;
  EchoTarget target;
  ServerApp app;
  mtop_server_config cfg = base_config(pki, false);
  mtop_server* server = start_server(cfg, app);
  mtop_climber* climber = make_climber(pki, mtop_server_port(server, 0, 0), MTOP_TRANSPORT_TLS);
  const int live = open_relaying(climber, target.port());

  // A bad CIDR in the new config: refused with the key named, the report untouched.
  const char* const bad_cidr[] = {"10.0.0.0/99"};
  mtop_server_config bad = cfg;
  bad.deny_sources = bad_cidr;
  bad.deny_sources_count = 1;
  auto* untouched = reinterpret_cast<mtop_reload_report*>(&bad);
  mtop_reload_report* report = untouched;
  CHECK(mtop_server_reload(server, &bad, &report) == MTOP_ERR_CONFIG_INVALID);
  CHECK(std::string(mtop_last_error_message()).find("10.0.0.0/99") != std::string::npos);
  CHECK(report == untouched);
  bad = cfg;
  bad.cert_file = "/nonexistent/cert.pem";
  const int rc = mtop_server_reload(server, &bad, &report);
  CHECK((rc == MTOP_ERR_TLS_SETUP_FAILED || rc == MTOP_ERR_CONFIG_INVALID));
  CHECK(std::string(mtop_last_error_message()).find("/nonexistent/cert.pem") != std::string::npos);
  CHECK(mtop_server_reload_json(server, "{\"listen\": \"127.0.0.1:0\", \"kee\": 1}", nullptr,
                                &report) == MTOP_ERR_CONFIG_INVALID);
  CHECK(std::string(mtop_last_error_message()).find("kee") != std::string::npos);
  CHECK(mtop_server_reload_versioned(server, MTOP_SERVER_CONFIG_VERSION + 1, &cfg, &report) ==
        MTOP_ERR_INVALID_ARGUMENT);
  CHECK(report == untouched);

  // The old config still serves: a new tunnel works, the live one too.
  const int again = open_relaying(climber, target.port());
  ::close(again);

  // Nothing changed: an empty report.
  report = nullptr;
  REQUIRE(mtop_server_reload(server, &cfg, &report) == 0);
  REQUIRE(report != nullptr);
  CHECK(report->changed_count == 0);
  CHECK(std::string(report->summary).find("nothing changed") != std::string::npos);
  mtop_reload_report_free(report);

  // Deny loopback sources: new connections are refused before TLS; the live tunnel stays.
  const char* const loopback[] = {"127.0.0.0/8"};
  mtop_server_config deny = cfg;
  deny.deny_sources = loopback;
  deny.deny_sources_count = 1;
  report = nullptr;
  REQUIRE(mtop_server_reload(server, &deny, &report) == 0);
  REQUIRE(report != nullptr);
  REQUIRE(report->changed_count >= 1);
  std::string changed;
  for (std::size_t i = 0; i < report->changed_count; ++i) changed += report->changed[i];
  CHECK(changed.find("engine options") != std::string::npos);
  mtop_reload_report_free(report);
  TunnelResult refused = open_tunnel(climber, target.port());
  CHECK(refused.status < 0);
  mtop_server_stats st;
  REQUIRE(mtop_server_stats(server, &st) == 0);
  CHECK(st.rejections[MTOP_REJECTION_SOURCE_DENIED] >= 1);
  REQUIRE(::send(live, "still", 5, MSG_NOSIGNAL) == 5);
  char buf[5];
  std::size_t got = 0;
  while (got < 5) {
    const ssize_t n = ::read(live, buf + got, 5 - got);
    REQUIRE(n > 0);
    got += static_cast<std::size_t>(n);
  }
  CHECK(std::string(buf, 5) == "still");

  // Back from JSON text (the users key is parsed, not opened: the auth callback decides).
  const std::string json = R"({"listen": "127.0.0.1:0", "quic": false, "cert": ")" + pki.cert +
                           R"(", "key": ")" + pki.key + R"(", "allow_targets": ["127.0.0.0/8"],)" +
                           R"( "users": {"type": "file", "path": "unused.json"}})";
  REQUIRE(mtop_server_reload_json(server, json.c_str(), nullptr, nullptr) == 0);
  const int after = open_relaying(climber, target.port());
  ::close(after);

  ::close(live);
  mtop_climber_free(climber);
  mtop_server_free(server);
}

TEST_CASE("operations: users of the server's users file, managed from C",
          "[c][engines][operations][users]") {
  Pki pki;
  EchoTarget target;
  const std::string users = (pki.dir / "users.json").string();
  std::ofstream(users) << "{\"users\": []}\n";
  const std::string json = R"({"listen": "127.0.0.1:0", "quic": false, "cert": ")" + pki.cert +
                           R"(", "key": ")" + pki.key + R"(", "allow_targets": ["127.0.0.0/8"],)" +
                           R"( "reply_status": true, "users": {"type": "file", "path": ")" + users +
                           R"("}})";
  mtop_server* server = nullptr;
  const int rc =
      mtop_server_new_from_json(&server, nullptr, json.c_str(), nullptr, nullptr, nullptr);
  INFO(mtop_last_error_message());
  REQUIRE(rc == 0);
  REQUIRE(mtop_server_start(server) == 0);

  mtop_user_admin* admin = nullptr;
  REQUIRE(mtop_user_admin_new(&admin, server) == 0);
  mtop_user_list* list = nullptr;
  REQUIRE(mtop_user_admin_list(admin, &list) == 0);
  CHECK(list->count == 0);
  mtop_user_list_free(list);

  REQUIRE(mtop_user_admin_add(admin, "alice", "pa ss") == 0);
  CHECK(mtop_user_admin_add(admin, "alice", "other") == MTOP_ERR_STORE_DUPLICATE_USER);
  CHECK(std::string(mtop_last_error_message()).find("alice") != std::string::npos);
  CHECK(mtop_user_admin_add(admin, "bob", "") == MTOP_ERR_INVALID_ARGUMENT);  // empty password
  // The server took the file at once: alice tunnels.
  mtop_climber* climber = make_climber(pki, mtop_server_port(server, 0, 0), MTOP_TRANSPORT_TLS);
  const int fd = open_relaying(climber, target.port());
  ::close(fd);

  const std::uint64_t quota = 1'000'000;
  const std::uint32_t max_tunnels = 3;
  const std::uint64_t rate = 50'000;
  const std::int64_t expires = 4'102'444'800;  // 2100-01-01
  REQUIRE(mtop_user_admin_set_quota(admin, "alice", &quota, 0) == 0);
  REQUIRE(mtop_user_admin_set_max_tunnels(admin, "alice", &max_tunnels) == 0);
  REQUIRE(mtop_user_admin_set_rate_limit(admin, "alice", &rate) == 0);
  REQUIRE(mtop_user_admin_set_expiry(admin, "alice", &expires) == 0);
  REQUIRE(mtop_user_admin_list(admin, &list) == 1);
  {
    const mtop_user_info& u = *list->items[0];
    CHECK(std::string(u.username) == "alice");
    CHECK(u.enabled == 1);
    CHECK((u.has_quota_bytes == 1 && u.quota_bytes == quota));
    CHECK((u.has_max_tunnels == 1 && u.max_tunnels == max_tunnels));
    CHECK((u.has_rate_limit == 1 && u.rate_limit == rate));
    CHECK((u.has_expires_at == 1 && u.expires_at == expires));
  }
  mtop_user_list_free(list);
  REQUIRE(mtop_user_admin_set_rate_limit(admin, "alice", nullptr) == 0);  // NULL: none
  REQUIRE(mtop_user_admin_list(admin, &list) == 1);
  CHECK(list->items[0]->has_rate_limit == 0);
  mtop_user_list_free(list);

  // Publish grants: none at first, set and read back, a malformed text refused with the grant
  // named (and nothing changed), then cleared with NULL and with "".
  auto publish_of = [&] {
    mtop_user_list* l = nullptr;
    REQUIRE(mtop_user_admin_list(admin, &l) == 1);
    REQUIRE(l->items[0]->publish != nullptr);
    std::string p = l->items[0]->publish;
    mtop_user_list_free(l);
    return p;
  };
  CHECK(publish_of().empty());
  REQUIRE(mtop_user_admin_set_publish(admin, "alice", "8000-8099, 127.0.0.1:2222") == 0);
  CHECK(publish_of() == "8000-8099, 127.0.0.1:2222");
  CHECK(mtop_user_admin_set_publish(admin, "alice", "8000-8099, 70000") ==
        MTOP_ERR_INVALID_ARGUMENT);
  {
    const std::string message = mtop_last_error_message();
    CHECK(message.find("publish") != std::string::npos);
    CHECK(message.find("70000") != std::string::npos);
    CHECK(message.find("1-65535") != std::string::npos);
  }
  CHECK(mtop_user_admin_set_publish(admin, "alice", "9000-8000") == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(std::string(mtop_last_error_message()).find("9000-8000") != std::string::npos);
  CHECK(publish_of() == "8000-8099, 127.0.0.1:2222");
  CHECK(mtop_user_admin_set_publish(admin, "carol", "8000") == MTOP_ERR_STORE_NO_SUCH_USER);
  CHECK(mtop_user_admin_set_publish(admin, nullptr, "8000") == MTOP_ERR_INVALID_ARGUMENT);
  REQUIRE(mtop_user_admin_set_publish(admin, "alice", nullptr) == 0);
  CHECK(publish_of().empty());
  REQUIRE(mtop_user_admin_set_publish(admin, "alice", "*:2222") == 0);
  CHECK(publish_of() == "*:2222");
  REQUIRE(mtop_user_admin_set_publish(admin, "alice", "") == 0);
  CHECK(publish_of().empty());

  // Disabled: refused (as an account refusal, not a wrong password).
  REQUIRE(mtop_user_admin_set_enabled(admin, "alice", 0) == 0);
  CHECK(open_tunnel(climber, target.port()).status == MTOP_ERR_TUNNEL_REFUSED);
  mtop_server_stats st = stats_after_failure(server, MTOP_FAILURE_ACCOUNT_REFUSED);
  CHECK(st.failures[MTOP_FAILURE_ACCOUNT_REFUSED] == 1);
  CHECK(mtop_user_admin_set_enabled(admin, "alice", 2) == MTOP_ERR_INVALID_ARGUMENT);
  REQUIRE(mtop_user_admin_set_enabled(admin, "alice", 1) == 0);

  // A new password: the climber's old one is refused.
  REQUIRE(mtop_user_admin_set_password(admin, "alice", "new pass") == 0);
  CHECK(open_tunnel(climber, target.port()).status == MTOP_ERR_TUNNEL_REFUSED);
  CHECK(mtop_user_admin_set_password(admin, "carol", "x") == MTOP_ERR_STORE_NO_SUCH_USER);

  // Edits made meanwhile by another tool are kept (the file is read for every call): dave,
  // written in by hand with alice's password hash.
  {
    std::string text = read_file(users);
    const std::size_t hash = text.find("\"$scrypt$");
    REQUIRE(hash != std::string::npos);
    const std::string phc = text.substr(hash, text.find('"', hash + 1) - hash + 1);
    std::ofstream(users) << R"({"users": [{"username": "dave", "password": )" << phc << "}, "
                         << text.substr(text.find('[') + 1);
  }
  REQUIRE(mtop_user_admin_delete(admin, "alice") == 0);
  CHECK(mtop_user_admin_delete(admin, "alice") == MTOP_ERR_STORE_NO_SUCH_USER);
  REQUIRE(mtop_user_admin_list(admin, &list) == 1);
  CHECK(std::string(list->items[0]->username) == "dave");
  mtop_user_list_free(list);

  mtop_user_admin_free(admin);
  mtop_climber_free(climber);
  mtop_server_free(server);
}

TEST_CASE("operations: a server with an auth callback has no users store",
          "[c][engines][operations][users]") {
  Pki pki;
  ServerApp app;
  mtop_server* server = start_server(base_config(pki, false), app);
  mtop_user_admin* admin = nullptr;
  CHECK(mtop_user_admin_new(&admin, server) == MTOP_ERR_INVALID_STATE);
  CHECK(std::string(mtop_last_error_message()).find("auth callback") != std::string::npos);
  CHECK(admin == nullptr);
  mtop_server_free(server);
}

TEST_CASE("operations: a server of two workers serves on both, and 65 workers are refused",
          "[c][engines][operations]") {
  Pki pki;
  EchoTarget target;
  ServerApp app;
  mtop_server_config cfg = base_config(pki, false);
  cfg.workers = 65;  // at most 64
  mtop_server* refused = nullptr;
  CHECK(mtop_server_new(&refused, nullptr, &cfg, nullptr, nullptr) == MTOP_ERR_CONFIG_INVALID);
  CHECK(std::string(mtop_last_error_message()).find("workers") != std::string::npos);
  CHECK(refused == nullptr);

  cfg.workers = 2;
  mtop_server* server = start_server(cfg, app);
  {
    std::lock_guard<std::mutex> lock(app.log.m);
    bool said = false;
    for (const auto& l : app.log.lines) said |= l.find("2 workers") != std::string::npos;
    CHECK(said);
  }
  // Each TLS tunnel is a connection of its own, spread by the kernel over the two workers'
  // SO_REUSEPORT listeners: 16 all on one worker by chance is 2 * 2^-16.
  mtop_climber* climber = make_climber(pki, mtop_server_port(server, 0, 0), MTOP_TRANSPORT_TLS);
  std::vector<int> held;
  for (int i = 0; i < 16; ++i) held.push_back(open_relaying(climber, target.port()));
  mtop_server_stats st;
  REQUIRE(mtop_server_stats(server, &st) == 0);
  CHECK(st.live == 16);
  char* metrics = nullptr;
  std::size_t len = 0;
  REQUIRE(mtop_server_metrics_text(server, &metrics, &len) == 0);
  const std::string text(metrics, len);
  mtop_string_free(metrics);
  for (const char* worker : {"0", "1"}) {
    const std::string line = std::string("mtop_worker_tunnels_live{worker=\"") + worker + "\"} ";
    const auto at = text.find(line);
    REQUIRE(at != std::string::npos);
    CHECK(std::stoul(text.substr(at + line.size())) > 0);
  }
  for (int fd : held) ::close(fd);
  mtop_climber_free(climber);
  mtop_server_free(server);
}

TEST_CASE("operations: NULL arguments are refused", "[c][engines][operations]") {
  Pki pki;
  ServerApp app;
  mtop_server* server = start_server(base_config(pki, false), app);
  mtop_server_config cfg = base_config(pki, false);
  mtop_reload_report* report = nullptr;
  mtop_tunnel_list* tunnels = nullptr;
  mtop_user_list* users = nullptr;
  char* text = nullptr;
  CHECK(mtop_server_reload(nullptr, &cfg, &report) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_reload(server, nullptr, &report) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_reload_json(server, nullptr, nullptr, &report) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_reload_json(nullptr, "{}", nullptr, &report) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(report == nullptr);
  CHECK(mtop_server_tunnels(nullptr, &tunnels) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_tunnels(server, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_close_tunnel(nullptr, 1) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_close_user_tunnels(server, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_close_user_tunnels(nullptr, "a") == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_metrics_text(nullptr, &text, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_metrics_text(server, nullptr, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_admin_port(nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_user_admin_new(nullptr, server) == MTOP_ERR_INVALID_ARGUMENT);
  mtop_user_admin* admin = nullptr;
  CHECK(mtop_user_admin_new(&admin, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_user_admin_list(nullptr, &users) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_user_admin_add(nullptr, "a", "b") == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_user_admin_set_enabled(nullptr, "a", 1) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_user_admin_set_publish(nullptr, "a", "8000") == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(tunnels == nullptr);
  CHECK(users == nullptr);
  CHECK(text == nullptr);
  // The frees take NULL.
  mtop_reload_report_free(nullptr);
  mtop_tunnel_list_free(nullptr);
  mtop_user_list_free(nullptr);
  mtop_string_free(nullptr);
  mtop_user_admin_free(nullptr);

  // A config struct with NULL entries in the new arrays.
  const char* const null_entry[] = {nullptr};
  cfg.allow_sources = null_entry;
  cfg.allow_sources_count = 1;
  CHECK(mtop_server_reload(server, &cfg, &report) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(std::string(mtop_last_error_message()).find("allow_sources") != std::string::npos);
  cfg = base_config(pki, false);
  cfg.deny_target_ports = nullptr;
  CHECK(mtop_server_reload(server, &cfg, &report) == MTOP_ERR_INVALID_ARGUMENT);
  cfg.deny_target_ports_count = 0;  // none denied: fine
  CHECK(mtop_server_reload(server, &cfg, nullptr) == 0);
  mtop_server_free(server);

  // Not started: no admin port yet.
  server = nullptr;
  mtop_server_callbacks cb{};
  cb.auth = app_auth;
  REQUIRE(mtop_server_new(&server, nullptr, &cfg, &cb, &app) == 0);
  CHECK(mtop_server_admin_port(server) == MTOP_ERR_INVALID_STATE);
  mtop_server_free(server);
}

#else  // !MTOP_C_TEST_ENGINES

TEST_CASE("operations: not built into this libmtop", "[c][operations]") {
  mtop_tunnel_list* list = nullptr;
  CHECK(mtop_server_tunnels(nullptr, &list) == MTOP_ERR_NOT_BUILT_IN);
  mtop_tunnel_list_free(list);
}

#endif
