// mtop::Server (mtop/server.hpp) with a UserCheck of the program's own (mtop/user_check.hpp):
// a Server on a test loop, climbers driving the MTop handshake over real TLS connections
// (TlsDialer + ClientHandshake), an echo target on 127.0.0.1. Loopback only; every wait is
// bounded by the loop helper's safety time-out and never measured.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../engine/test_server_engine_support.hpp"
#include "../tls/tls_test_support.hpp"
#include "mtop/admin.hpp"
#include "mtop/server.hpp"
#include "mtop/user_check.hpp"
#include "must.hpp"
#include "tls/dialer.hpp"
#include "uv/timer.hpp"

using namespace mtop;
using mtop::srvtest::auth_to;
using mtop::srvtest::Client;
using mtop::srvtest::EchoTarget;
using mtop::srvtest::local;

namespace {

/// A UserCheck run by the test: `decide` answers (or keeps the reply); every request is kept
/// without its password, which is checked separately.
class ScriptedCheck final : public UserCheck {
 public:
  std::function<void(const UserCheckRequest&, UserCheckReply)> decide;
  std::vector<UserCheckRequest> requests;
  std::vector<std::string> passwords;
  std::vector<UserCheckReply> kept;  ///< replies the test answers later (or never)

  void check(const UserCheckRequest& request, UserCheckReply reply) override {
    requests.push_back(request);
    passwords.push_back(request.password);
    requests.back().password.clear();
    if (decide) {
      decide(request, std::move(reply));
    } else {
      kept.push_back(std::move(reply));
    }
  }
};

/// Loop + certificate + echo target + one Server, and TLS climbers to open tunnels through it.
struct ApiFixture {
  explicit ApiFixture(std::shared_ptr<UserCheck> check_in = std::make_shared<ScriptedCheck>())
      : check(std::move(check_in)),
        target_owner(std::make_unique<EchoTarget>(loop)),
        target(*target_owner) {
    config.listen = {"127.0.0.1:0"};
    config.quic = false;
    config.cert_file = pki.server_chain;
    config.key_file = pki.server_key;
    config.engine.allow_targets = {"127.0.0.0/8"};
    config.engine.reply_status = true;
    config.engine.handshake_timeout_ms = 5'000;
    client_ctx = must(tls::ClientContext::create(tls::TlsClientConfig{pki.ca, "", "", false}));
    REQUIRE(client_ctx);
  }
  ~ApiFixture() {
    clients.clear();
    dialer.reset();
    server.reset();
    check.reset();
    target_owner.reset();
    CHECK(loop.close() == 0);  // every handle of the server was closed
    for (const auto& l : logs) CHECK(l.find("s3cret") == std::string::npos);  // never a password
  }

  Logger log() {
    return Logger(LogLevel::debug, [this](LogLevel, std::string_view m) { logs.emplace_back(m); });
  }
  ScriptedCheck& scripted() { return static_cast<ScriptedCheck&>(*check); }

  /// Creates and starts the server; returns its TLS port.
  std::uint16_t start(ServerHooks hooks) {
    auto s = Server::create(loop.get(), config, std::move(hooks));
    INFO(std::string(s ? "" : s.message()));
    REQUIRE(s);
    server = std::move(*s);
    auto r = server->start();
    INFO(std::string(r ? "" : r.message()));
    REQUIRE(r);
    const auto bound = server->listening();
    REQUIRE_FALSE(bound.empty());
    port = bound[0].port;
    dialer = std::make_unique<tls::TlsDialer>(loop.get(), client_ctx, "127.0.0.1", port);
    return port;
  }
  std::uint16_t start() { return start(ServerHooks{check, log()}); }

  /// Opens a TLS connection to the server and starts a climber on it.
  Client& open(const std::string& user, const std::string& password,
               const std::string& early = "") {
    io::StreamPtr stream;
    std::string error;
    bool done = false;
    dialer->open([&](io::StreamPtr s, std::string e) {
      stream = std::move(s);
      error = std::move(e);
      done = true;
    });
    REQUIRE(loop.run_until([&] { return done; }));
    INFO(error);
    REQUIRE(stream);
    clients.push_back(std::make_unique<Client>(
        std::move(stream), auth_to(user, password, local(target.port())), early));
    return *clients.back();
  }
  bool run_until(const std::function<bool()>& pred) { return loop.run_until(pred); }
  std::uint64_t failed(TunnelFailure f) const { return server->stats().failed(f); }
  bool logged(const std::string& needle) const {
    for (const auto& l : logs) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  std::vector<std::string> logs;
  tls_test::Pki pki;
  test::TestLoop loop;
  std::shared_ptr<UserCheck> check;
  std::unique_ptr<EchoTarget> target_owner;
  EchoTarget& target;
  ServerConfig config;
  std::shared_ptr<tls::ClientContext> client_ctx;
  std::unique_ptr<Server> server;
  std::unique_ptr<tls::TlsDialer> dialer;
  std::vector<std::unique_ptr<Client>> clients;
  std::uint16_t port = 0;
};

}  // namespace

TEST_CASE("server api: an allowed user's bytes echo through and the check sees the request",
          "[server_api]") {
  ApiFixture f;
  f.scripted().decide = [](const UserCheckRequest&, UserCheckReply reply) { reply.allow({}); };
  f.start();
  Client& c = f.open("alice", "s3cret", "EARLY");
  REQUIRE(f.run_until([&] { return c.established || c.finished(); }));
  REQUIRE(c.established);
  c.send("LATER");
  REQUIRE(f.run_until([&] { return c.payload == "EARLYLATER"; }));
  REQUIRE(f.scripted().requests.size() == 1);
  const UserCheckRequest& r = f.scripted().requests[0];
  CHECK(r.username == "alice");
  CHECK(f.scripted().passwords[0] == "s3cret");
  CHECK(r.source.rfind("127.0.0.1:", 0) == 0);
  CHECK(r.target_host == "127.0.0.1");
  CHECK(r.target_port == f.target.port());
  c.shutdown();
  REQUIRE(f.run_until([&] { return c.eof && f.server->stats().live == 0; }));
  const ServerStats st = f.server->stats();
  CHECK(st.accepted == 1);
  CHECK(st.bytes_up == 10);
  CHECK(st.bytes_down == 10);
  CHECK(st.password_checks == 0);  // a custom check: the server hashed nothing
  CHECK(f.logged("tunnel user=alice source=127.0.0.1:"));
}

TEST_CASE("server api: deny gives auth_failed and counts the failure but unavailable does not",
          "[server_api]") {
  const bool unavailable = GENERATE(false, true);
  ApiFixture f;
  f.scripted().decide = [&](const UserCheckRequest&, UserCheckReply reply) {
    if (unavailable) {
      reply.unavailable();
    } else {
      reply.deny();
    }
  };
  f.start();
  Client& c = f.open("alice", "s3cret", "EARLY");
  REQUIRE(f.run_until([&] { return c.finished() && f.server->stats().live == 0; }));
  CHECK_FALSE(c.established);
  REQUIRE(c.rejected);
  CHECK(*c.rejected == Status::auth_failed);
  CHECK(f.target.accepted() == 0);
  CHECK(f.failed(TunnelFailure::auth_failed) == (unavailable ? 0 : 1));
  CHECK(f.failed(TunnelFailure::store_unavailable) == (unavailable ? 1 : 0));
}

TEST_CASE("server api: a reply dropped unanswered is a deny", "[server_api]") {
  ApiFixture f;
  f.scripted().decide = [](const UserCheckRequest&, UserCheckReply) {};
  f.start();
  Client& c = f.open("alice", "s3cret");
  REQUIRE(f.run_until([&] { return c.finished() && f.server->stats().live == 0; }));
  CHECK(c.rejected == Status::auth_failed);
  CHECK(f.failed(TunnelFailure::auth_failed) == 1);
}

TEST_CASE("server api: an answer given later on another thread is carried to the loop",
          "[server_api]") {
  ApiFixture f;
  f.start();
  Client& c = f.open("alice", "s3cret", "EARLY");
  REQUIRE(f.run_until([&] { return f.scripted().kept.size() == 1; }));
  UserCheckReply reply = std::move(f.scripted().kept[0]);
  std::thread answerer([r = std::move(reply)]() mutable {
    UserGrant g;
    g.user = "alice@directory";
    r.allow(std::move(g));
    r.deny();  // later answers are ignored
  });
  answerer.join();
  REQUIRE(f.run_until([&] { return c.payload == "EARLY"; }));
  CHECK(c.established);
  CHECK(f.server->stats().active_users == 1);
  CHECK(f.server->revoke_user("alice@directory") == 1);  // the grant's name is the user's
  REQUIRE(f.run_until([&] { return c.finished() && f.server->stats().live == 0; }));
  CHECK(f.failed(TunnelFailure::revoked) == 1);
}

TEST_CASE("server api: a check that never answers is ended by the handshake time-out",
          "[server_api]") {
  ApiFixture f;
  f.config.engine.handshake_timeout_ms = 200;
  f.start();
  Client& c = f.open("alice", "s3cret");
  REQUIRE(f.run_until([&] { return f.scripted().kept.size() == 1; }));
  REQUIRE(f.run_until([&] { return c.finished() && f.server->stats().live == 0; }));
  CHECK_FALSE(c.established);
  CHECK(f.failed(TunnelFailure::handshake_timeout) == 1);
  CHECK(f.logged("waiting for the user check"));
  CHECK(f.scripted().kept[0].valid());
  f.scripted().kept[0].allow({});  // too late: nobody waits, nothing happens
  f.loop.spin(5);
  CHECK(f.server->stats().accepted == 0);
}

TEST_CASE("server api: the server freed with checks pending drops the late answers",
          "[server_api]") {
  ApiFixture f;
  f.start();
  f.open("alice", "s3cret");
  f.open("bob", "s3cret");
  f.open("carol", "s3cret");
  REQUIRE(f.run_until([&] { return f.scripted().kept.size() == 3; }));
  f.clients.clear();
  f.server.reset();
  auto& kept = f.scripted().kept;
  kept[0].allow({});  // on the loop thread
  std::thread answerer([r = std::move(kept[1])]() mutable { r.deny(); });
  answerer.join();
  kept.clear();  // the third is dropped unanswered
  f.loop.spin(5);
}

TEST_CASE("server api: the grant's max_tunnels and a user check that throws", "[server_api]") {
  ApiFixture f;
  int calls = 0;
  f.scripted().decide = [&](const UserCheckRequest& r, UserCheckReply reply) {
    ++calls;
    if (r.username == "thrower") throw std::runtime_error("directory down");
    UserGrant g;
    g.max_tunnels = 1;
    reply.allow(std::move(g));
  };
  f.start();
  Client& a = f.open("alice", "s3cret");
  REQUIRE(f.run_until([&] { return a.established; }));
  Client& b = f.open("alice", "s3cret");
  REQUIRE(f.run_until([&] { return b.finished() && f.server->stats().live == 1; }));
  CHECK(b.rejected == Status::auth_failed);
  CHECK(f.failed(TunnelFailure::user_tunnel_limit) == 1);
  Client& t = f.open("thrower", "s3cret");
  REQUIRE(f.run_until([&] { return t.finished() && f.server->stats().live == 1; }));
  CHECK(t.rejected == Status::auth_failed);  // its dropped reply answered deny
  CHECK(f.logged("user check threw: directory down"));
  CHECK(calls == 3);
}

TEST_CASE("server api: the built-in users file store alone and wrapped by a custom check",
          "[server_api]") {
  const bool wrapped = GENERATE(false, true);
  ApiFixture f;
  auto hash = hash_password("s3cret", PasswordScheme::scrypt);
  REQUIRE(hash);
  const std::string users = f.pki.dir + "/users.json";
  {
    std::ofstream out(users);
    out << R"({"users": [{"username": "alice", "password": ")" << *hash
        << R"(", "max_tunnels": 1}]})";
  }
  f.config.users.type = "file";
  f.config.users.path = users;
  if (wrapped) {
    // A program's own check that asks the built-in one (e.g. after its directory said "not
    // mine"): the built-in check answers the very reply, with its account features.
    auto inner = open_user_check(f.loop.get(), f.config.users, f.config.engine, f.log());
    REQUIRE(inner);
    f.scripted().decide = [in = *inner](const UserCheckRequest& r, UserCheckReply reply) {
      in->check(r, std::move(reply));
    };
    f.start();
  } else {
    f.start(ServerHooks{nullptr, f.log()});
    CHECK(f.logged("users from file store"));
  }
  Client& a = f.open("alice", "s3cret", "HELLO");
  REQUIRE(f.run_until([&] { return a.payload == "HELLO"; }));
  Client& wrong = f.open("alice", "guess");
  REQUIRE(f.run_until([&] { return wrong.finished(); }));
  CHECK(wrong.rejected == Status::auth_failed);
  Client& second = f.open("alice", "s3cret");  // the file's max_tunnels: 1
  REQUIRE(f.run_until([&] { return second.finished(); }));
  CHECK(second.rejected == Status::auth_failed);
  REQUIRE(f.run_until([&] { return f.server->stats().live == 1; }));
  const ServerStats st = f.server->stats();
  CHECK(st.failed(TunnelFailure::auth_failed) == 1);
  CHECK(st.failed(TunnelFailure::user_tunnel_limit) == 1);
  CHECK(st.password_checks == (wrapped ? 0U : 2U));  // wrapped: counted by the inner check
  CHECK(f.server->reload().ok());
}

TEST_CASE("server api: config errors name the key at fault", "[server_api]") {
  const std::string base = R"("cert": "c.pem", "key": "k.pem", "users": {"path": "u.json"})";
  auto ok = parse_server_config(R"({"listen": "127.0.0.1:443", )" + base + "}", "/etc/mtop");
  REQUIRE(ok);
  CHECK(ok->cert_file == "/etc/mtop/c.pem");
  CHECK(ok->users.path == "/etc/mtop/u.json");
  CHECK(ok->tls_groups == std::vector<TlsGroup>{TlsGroup::x25519, TlsGroup::p256});
  CHECK(ok->workers == 0);  // absent: one per core, counted at start (ServerConfig's own is 1)
  CHECK(ServerConfig{}.workers == 1);
  auto single = parse_server_config(R"({"listen": "127.0.0.1:443", "workers": 1, )" + base + "}",
                                    "/etc/mtop");
  REQUIRE(single);
  CHECK(single->workers == 1);
  auto groups = parse_server_config(
      R"({"listen": "127.0.0.1:443", "tls_groups": ["P-384", "X25519"], )" + base + "}", "/");
  REQUIRE(groups);
  CHECK(groups->tls_groups == std::vector<TlsGroup>{TlsGroup::p384, TlsGroup::x25519});
  CHECK(ok->engine.fallback.empty());
  CHECK(ok->tls_alpn.empty());
  auto fb = parse_server_config(
      R"({"listen": "127.0.0.1:443", "fallback": {"backend": "127.0.0.1:8080"}, )" + base + "}",
      "/");
  REQUIRE(fb);
  CHECK(fb->engine.fallback == "127.0.0.1:8080");
  CHECK(fb->tls_alpn == std::vector<std::string>{"http/1.1"});
  auto h2 = parse_server_config(
      R"({"listen": "127.0.0.1:443", "fallback": {"backend": "[::1]:80", "alpn": ["h2", "http/1.1"]}, )" +
          base + "}",
      "/");
  REQUIRE(h2);
  CHECK(h2->tls_alpn == std::vector<std::string>{"h2", "http/1.1"});
  auto folder = parse_server_config(
      R"({"listen": "127.0.0.1:443", "fallback": {"folder": "site"}, )" + base + "}", "/etc/mtop");
  REQUIRE(folder);
  CHECK(folder->engine.fallback_folder == "/etc/mtop/site");
  CHECK(folder->engine.fallback.empty());
  CHECK(folder->tls_alpn == std::vector<std::string>{"http/1.1"});
  struct Case {
    std::string json;
    std::string needle;
  };
  const Case cases[] = {
      {R"({"listen": "nowhere", )" + base + "}", "config.listen"},
      {R"({"listen": "127.0.0.1:1", "timeouts": {"handshak": 1}, )" + base + "}",
       "unknown key \"handshak\""},
      {R"({"listen": "127.0.0.1:1", "cert": "c.pem", "key": "k.pem"})", "config.users"},
      {R"({"listen": "127.0.0.1:1", "limits": {"max_tunnels": 0}, )" + base + "}", "max_tunnels"},
      {R"({"listen": )", "syntax error"},
      {R"({"listen": "127.0.0.1:1", "tls_groups": [], )" + base + "}",
       "config.tls_groups: a non-empty list"},
      {R"({"listen": "127.0.0.1:1", "tls_groups": ["X25519", "ffdhe2048"], )" + base + "}",
       "config.tls_groups: a non-empty list of distinct groups from X25519, P-256, P-384, P-521, "
       "X448 (entry 2)"},
      {R"({"listen": "127.0.0.1:1", "tls_groups": [25519], )" + base + "}", "config.tls_groups"},
      {R"({"listen": "127.0.0.1:1", "fallback": "127.0.0.1:80", )" + base + "}",
       "config.fallback: an object"},
      {R"({"listen": "127.0.0.1:1", "fallback": {}, )" + base + "}",
       "config.fallback: exactly one of \"backend\""},
      {R"({"listen": "127.0.0.1:1", "fallback": {"backend": "a:1", "folder": "/srv"}, )" + base +
           "}",
       "config.fallback: exactly one of \"backend\""},
      {R"({"listen": "127.0.0.1:1", "fallback": {"folder": ""}, )" + base + "}",
       "config.fallback.folder: empty"},
      {R"({"listen": "127.0.0.1:1", "fallback": {"folder": "/srv", "alpn": ["h2"]}, )" + base + "}",
       "HTTP/1.1 only"},
      {R"({"listen": "127.0.0.1:1", "fallback": {"backend": "web"}, )" + base + "}",
       "config.fallback.backend"},
      {R"({"listen": "127.0.0.1:1", "fallback": {"backend": "a:1", "root": "/"}, )" + base + "}",
       "unknown key \"root\""},
      {R"({"listen": "127.0.0.1:1", "fallback": {"backend": "a:1", "alpn": [""]}, )" + base + "}",
       "config.fallback.alpn"},
  };
  for (const auto& c : cases) {
    auto r = parse_server_config(c.json, "/etc/mtop");
    INFO(c.json);
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::config_invalid);
    CHECK(std::string(r.message()).find(c.needle) != std::string::npos);
  }
  auto missing = load_server_config("/nonexistent/server.json");
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == Errc::config_invalid);
  CHECK(std::string(missing.message()).find("/nonexistent/server.json") != std::string::npos);
}

TEST_CASE("server api: admission keys, their defaults and their errors", "[server_api]") {
  const std::string base =
      R"("listen": "127.0.0.1:443", "cert": "c.pem", "key": "k.pem", "users": {"path": "u.json"})";
  auto defaults = parse_server_config("{" + base + "}", "/etc/mtop");
  REQUIRE(defaults);
  CHECK(defaults->engine.deny_target_ports == std::vector<std::uint16_t>{25});
  CHECK(defaults->engine.allow_sources.empty());
  CHECK(defaults->engine.deny_sources.empty());
  CHECK(defaults->engine.max_tunnels_per_source == 0);
  CHECK(defaults->engine.max_tunnels_per_subnet == 0);
  CHECK(defaults->engine.source_rate == 0);
  auto all = parse_server_config(
      "{" + base +
          R"(, "allow_sources": ["192.0.2.0/24", "::1"], "deny_sources": ["192.0.2.128/25"],
          "deny_target_ports": [],
          "limits": {"max_tunnels_per_source": 16, "max_tunnels_per_subnet": 64,
                     "subnet_prefix_v4": 20, "subnet_prefix_v6": 48, "source_rate": 2.5,
                     "source_burst": 5}})",
      "/etc/mtop");
  REQUIRE(all);
  const ServerOptions& e = all->engine;
  CHECK(e.allow_sources == std::vector<std::string>{"192.0.2.0/24", "::1"});
  CHECK(e.deny_sources == std::vector<std::string>{"192.0.2.128/25"});
  CHECK(e.deny_target_ports.empty());
  CHECK(e.max_tunnels_per_source == 16);
  CHECK(e.max_tunnels_per_subnet == 64);
  CHECK(e.subnet_prefix_v4 == 20);
  CHECK(e.subnet_prefix_v6 == 48);
  CHECK(e.source_rate == 2.5);
  CHECK(e.source_burst == 5);
  struct Case {
    std::string more;
    std::string message;
  };
  const Case cases[] = {
      {R"("deny_sources": ["10.0.0.0/33"])",
       "config.deny_sources: \"10.0.0.0/33\": bad prefix length \"33\" (0-32)"},
      {R"("allow_sources": ["2001:db8::/129"])",
       "config.allow_sources: \"2001:db8::/129\": bad prefix length \"129\" (0-128)"},
      {R"("allow_sources": "10.0.0.0/8")", "config.allow_sources: a list of strings"},
      {R"("deny_target_ports": [0])", "config.deny_target_ports: a list of ports (1-65535)"},
      {R"("deny_target_ports": [65536])", "config.deny_target_ports: a list of ports (1-65535)"},
      {R"("deny_target_ports": 25)", "config.deny_target_ports: a list of ports (1-65535)"},
      {R"("limits": {"subnet_prefix_v4": 33})",
       "config.limits.subnet_prefix_v4: must be a whole number from 0 to 32"},
      {R"("limits": {"subnet_prefix_v6": 129})",
       "config.limits.subnet_prefix_v6: must be a whole number from 0 to 128"},
      {R"("limits": {"source_burst": 0})",
       "config.limits.source_burst: must be a whole number from 1 to 1000000"},
      {R"("limits": {"source_rate": -1})", "config.limits.source_rate: must be a number from"},
      {R"("limits": {"source_rate": 0.0001})",
       "config.limits.source_rate: 0 (off) or at least 0.001"},
      {R"("limits": {"max_tunnels_per_sourc": 1})", "unknown key \"max_tunnels_per_sourc\""},
      {R"("deny_source": [])", "unknown key \"deny_source\""},
  };
  for (const auto& c : cases) {
    auto r = parse_server_config("{" + base + ", " + c.more + "}", "/etc/mtop");
    INFO(c.more);
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::config_invalid);
    CHECK(std::string(r.message()).find(c.message) != std::string::npos);
  }
}

TEST_CASE("server api: create() checks the certificate and the users and allow_targets up front",
          "[server_api]") {
  ApiFixture f;
  auto check = std::make_shared<ScriptedCheck>();
  auto expect = [&](const ServerConfig& c, ServerHooks hooks, Errc code,
                    const std::string& needle) {
    auto s = Server::create(f.loop.get(), c, std::move(hooks));
    REQUIRE_FALSE(s);
    CHECK(s.error() == code);
    INFO(std::string(s.message()));
    CHECK(std::string(s.message()).find(needle) != std::string::npos);
  };
  ServerConfig c = f.config;
  c.cert_file = f.pki.dir + "/missing.pem";
  expect(c, {check, {}}, Errc::tls_setup_failed, "missing.pem");
  c = f.config;
  c.key_file = f.pki.stray_key;  // matches no certificate
  expect(c, {check, {}}, Errc::tls_setup_failed, "TLS");
  c = f.config;
  c.engine.allow_targets = {"10.0.0.0/99"};
  expect(c, {check, {}}, Errc::config_invalid, "allow_targets");
  c = f.config;
  c.engine.deny_sources = {"10.0.0.1/8"};  // host bits set
  expect(c, {check, {}}, Errc::config_invalid, "deny_sources");
  c = f.config;
  c.listen = {"localhost"};
  expect(c, {check, {}}, Errc::config_invalid, "listen");
  c = f.config;
  c.users.type = "file";
  c.users.path = f.pki.dir + "/no-users.json";
  expect(c, {}, Errc::config_invalid, "no-users.json");
  c.users.type = "ldap";
  expect(c, {}, Errc::config_invalid, "users.type");
  c = f.config;
  c.engine.fallback = "no port";
  expect(c, {check, {}}, Errc::config_invalid, "fallback");
  c = f.config;
  c.engine.fixed_target = "[::1]";
  expect(c, {check, {}}, Errc::config_invalid, "fixed_target");
  c = f.config;
  c.engine.fallback_folder = f.pki.dir + "/no-site";
  expect(c, {check, {}}, Errc::config_invalid, "fallback folder: \"" + f.pki.dir + "/no-site");
  c.engine.fallback_folder = f.pki.dir;
  c.engine.fallback = "127.0.0.1:80";
  expect(c, {check, {}}, Errc::config_invalid, "a backend or a folder, not both");
  c.engine.fallback.clear();
  c.tls_alpn = {"h2", "http/1.1"};
  expect(c, {check, {}}, Errc::config_invalid, "tls_alpn: \"h2\"");
}

TEST_CASE("server api: start() on a port in use fails with the address and binds nothing",
          "[server_api]") {
  ApiFixture f;
  auto busy = io::TcpListener::listen(f.loop.get(), "127.0.0.1", 0, [](io::StreamPtr) {});
  REQUIRE(busy);
  const std::string taken = "127.0.0.1:" + std::to_string((*busy)->port());
  f.config.listen = {"127.0.0.1:0", taken};
  auto s = Server::create(f.loop.get(), f.config, ServerHooks{f.check, f.log()});
  REQUIRE(s);
  auto r = (*s)->start();
  REQUIRE_FALSE(r);
  CHECK(r.error() == Errc::listen_failed);
  CHECK(std::string(r.message()).find(taken) != std::string::npos);
  CHECK((*s)->listening().empty());
}

TEST_CASE("server api: port 0 with QUIC binds the same port number on UDP then drain and stop",
          "[server_api]") {
  ApiFixture f;
  f.config.quic = true;
  f.scripted().decide = [](const UserCheckRequest&, UserCheckReply reply) { reply.allow({}); };
  f.start();
  const auto bound = f.server->listening();
  REQUIRE(!bound.empty());
  if (bound.size() == 2) {  // a build with QUIC
    CHECK(bound[1].quic);
    CHECK(bound[1].port == bound[0].port);
  }
  CHECK_FALSE(bound[0].quic);
  CHECK(bound[0].host == "127.0.0.1");
  CHECK(bound[0].port != 0);
  Client& c = f.open("alice", "s3cret");
  REQUIRE(f.run_until([&] { return c.established; }));
  bool drained = false;
  f.server->drain([&] { drained = true; });
  CHECK(f.server->draining());
  f.loop.spin(3);
  CHECK_FALSE(drained);  // the live tunnel may finish
  f.server->stop();
  REQUIRE(f.run_until([&] { return drained && c.finished(); }));
  CHECK(f.failed(TunnelFailure::revoked) == 1);
}

namespace {

/// One HTTP/1.1 GET over a plain socket, the whole answer (head and body) as text.
std::string http_get(std::uint16_t port, const std::string& path, const std::string& token) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string answer;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0) {
    const std::string rq = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
                           (token.empty() ? "" : "Authorization: Bearer " + token + "\r\n") +
                           "\r\n";
    if (::send(fd, rq.data(), rq.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(rq.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
        answer.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  return answer;
}

bool has(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

/// A TCP port nobody listens on right now (bound, then closed).
std::uint16_t unused_port(test::TestLoop& loop) {
  auto l = io::TcpListener::listen(loop.get(), "127.0.0.1", 0, [](io::StreamPtr) {});
  REQUIRE(l);
  const std::uint16_t port = (*l)->port();
  (*l).reset();
  loop.spin(3);
  return port;
}

}  // namespace

TEST_CASE("server api: live tunnels listed and closed by id, the metrics text, the admin listener",
          "[server_api]") {
  ApiFixture f;
  f.scripted().decide = [](const UserCheckRequest&, UserCheckReply reply) { reply.allow({}); };
  const std::string token_path = "server_api_admin.token";
  const std::string token = "0123456789abcdef0123";
  std::ofstream(token_path) << token << "\n";
  f.config.admin.listen = "127.0.0.1:0";
  f.config.admin.token_file = token_path;
  f.start();
  std::remove(token_path.c_str());  // read by create()
  REQUIRE(f.server->admin_port() != 0);
  Client& c = f.open("alice", "s3cret", "HI");
  REQUIRE(f.run_until([&] { return c.payload == "HI"; }));

  const auto list = f.server->tunnels();
  REQUIRE(list.size() == 1);
  const std::string listener = "127.0.0.1:" + std::to_string(f.port);
  CHECK(list[0].user == "alice");
  CHECK(list[0].stage == "relaying");
  CHECK(list[0].transport == "tls");
  CHECK(list[0].listener == listener);
  CHECK(list[0].up == 2);
  CHECK(list[0].down == 2);
  const std::string text = f.server->metrics_text();
  CHECK(text.find("mtop_tunnels_live{listener=\"" + listener + "\",transport=\"tls\"} 1\n") !=
        std::string::npos);
  CHECK(text.find("mtop_user_store_") == std::string::npos);  // a custom check: no store

  // The admin thread reaches the loop while it runs. A 10 ms tick wakes the loop, so that
  // run_until sees at once what the asking thread did.
  io::Timer tick(f.loop.get());
  std::function<void()> rearm = [&] { tick.start(10, rearm); };
  rearm();
  std::string listed, refused;
  std::atomic<bool> done{false};
  std::thread asker([&] {
    listed = http_get(f.server->admin_port(), "/api/tunnels", token);
    refused = http_get(f.server->admin_port(), "/api/tunnels", "wrong-token-0123456789");
    done = true;
  });
  REQUIRE(f.run_until([&] { return done.load(); }));
  asker.join();
  tick.stop();
  CHECK(listed.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(listed.find("\"user\": \"alice\"") != std::string::npos);
  CHECK(refused.rfind("HTTP/1.1 401", 0) == 0);

  CHECK_FALSE(f.server->close_tunnel(list[0].id + 1000));
  CHECK(f.server->close_tunnel(list[0].id));
  REQUIRE(f.run_until([&] { return c.finished() && f.server->stats().live == 0; }));
  CHECK(f.server->tunnels().empty());
  CHECK(f.failed(TunnelFailure::revoked) == 1);
}

TEST_CASE("server api: the admin listener is off by default; a missing token file is refused",
          "[server_api]") {
  ApiFixture f;
  f.start();
  CHECK(f.server->admin_port() == 0);
  f.config.admin.listen = "127.0.0.1:0";
  f.config.admin.token_file = "/nonexistent/admin.token";
  auto s = Server::create(f.loop.get(), f.config, ServerHooks{f.check, f.log()});
  REQUIRE_FALSE(s);
  CHECK(s.error() == Errc::config_invalid);
  CHECK(std::string(s.message()).find("/nonexistent/admin.token") != std::string::npos);
}

TEST_CASE("server api: reload gives new tunnels the new options, live ones keep theirs",
          "[server_api][reload]") {
  ApiFixture f;
  f.scripted().decide = [](const UserCheckRequest&, UserCheckReply reply) { reply.allow({}); };
  f.start();
  Client& live = f.open("alice", "s3cret", "ONE");
  REQUIRE(f.run_until([&] { return live.payload == "ONE"; }));

  // The same config: nothing changes (the certificate files are read again all the same).
  auto same = f.server->reload(f.config);
  REQUIRE(same);
  CHECK(same->changed.empty());
  CHECK(reload_summary(*same) == "nothing changed");

  ServerConfig next = f.config;
  next.engine.allow_targets.clear();  // loopback targets denied from now on
  next.log_level = LogLevel::warn;    // was info
  next.users.path = "/ignored/users.json";
  auto report = f.server->reload(next);
  INFO(std::string(report ? "" : report.message()));
  REQUIRE(report);
  CHECK(has(report->changed, "engine options (allow_targets)"));
  CHECK(has(report->changed, "log_level warn"));
  REQUIRE(report->warnings.size() == 1);  // users: the program's own check decides
  CHECK(report->warnings[0].find("users: ignored") != std::string::npos);
  CHECK(reload_summary(*report).find("; not applied: users: ignored") != std::string::npos);
  CHECK(f.server->config().engine.allow_targets.empty());

  Client& denied = f.open("alice", "s3cret");
  REQUIRE(f.run_until([&] { return denied.finished(); }));
  CHECK(denied.rejected == Status::connect_failed);
  REQUIRE(f.run_until([&] { return f.failed(TunnelFailure::target_denied) == 1; }));
  CHECK_FALSE(f.logged("failure=target_denied"));  // an info line: the level is warn now
  live.send("TWO");  // the live tunnel keeps the policy it started with
  REQUIRE(f.run_until([&] { return live.payload == "ONETWO"; }));
}

TEST_CASE("server api: a broken config is refused and the running one stays in effect",
          "[server_api][reload]") {
  ApiFixture f;
  f.scripted().decide = [](const UserCheckRequest&, UserCheckReply reply) { reply.allow({}); };
  f.start();
  const auto bound = f.server->listening();
  auto busy = io::TcpListener::listen(f.loop.get(), "127.0.0.1", 0, [](io::StreamPtr) {});
  REQUIRE(busy);
  const std::string taken = "127.0.0.1:" + std::to_string((*busy)->port());
  const std::uint16_t spare = unused_port(f.loop);
  struct Case {
    std::function<void(ServerConfig&)> edit;
    Errc code;
    std::string needle;
  };
  const Case cases[] = {
      {[&](ServerConfig& c) { c.cert_file = f.pki.dir + "/missing.pem"; }, Errc::tls_setup_failed,
       "missing.pem"},
      {[&](ServerConfig& c) { c.key_file = f.pki.stray_key; }, Errc::tls_setup_failed,
       "does not match the certificate"},
      // The spare port is bound before the taken one fails: it must be released again.
      {[&](ServerConfig& c) {
         c.listen = {"127.0.0.1:0", "127.0.0.1:" + std::to_string(spare), taken};
       },
       Errc::listen_failed, taken},
      {[&](ServerConfig& c) {
         c.listen = {"127.0.0.1:0", "127.0.0.1:0x"};
       },
       Errc::config_invalid, "listen"},
      {[&](ServerConfig& c) { c.engine.allow_targets = {"10.0.0.0/99"}; }, Errc::config_invalid,
       "allow_targets"},
      {[&](ServerConfig& c) { c.tls_groups.clear(); }, Errc::config_invalid, "tls_groups"},
      {[&](ServerConfig& c) { c.access_log_path = f.pki.dir + "/no/such/dir/access.log"; },
       Errc::system_error, "access.log"},
  };
  for (const auto& c : cases) {
    ServerConfig next = f.config;
    next.engine.max_tunnels = 1;  // would refuse a second tunnel if it took effect
    c.edit(next);
    auto r = f.server->reload(next);
    INFO(c.needle);
    REQUIRE_FALSE(r);
    CHECK(r.error() == c.code);
    CHECK(std::string(r.message()).find(c.needle) != std::string::npos);
    CHECK(f.server->config().engine.max_tunnels == f.config.engine.max_tunnels);
    CHECK(f.server->listening().size() == bound.size());
  }
  auto probe = io::TcpListener::listen(f.loop.get(), "127.0.0.1", spare, [](io::StreamPtr) {});
  CHECK(probe);  // the spare port was released
  if (probe) (*probe).reset();
  // Two tunnels at once: max_tunnels 1 never took effect.
  Client& a = f.open("alice", "s3cret", "A");
  Client& b = f.open("alice", "s3cret", "B");
  REQUIRE(f.run_until([&] { return a.payload == "A" && b.payload == "B"; }));
  bool drained = false;
  f.server->drain([&] { drained = true; });
  auto late = f.server->reload(f.config);
  REQUIRE_FALSE(late);
  CHECK(late.error() == Errc::invalid_state);
  f.server->stop();
  REQUIRE(f.run_until([&] { return drained; }));
}

TEST_CASE("server api: reload binds added addresses and closes removed ones, tunnels go on",
          "[server_api][reload]") {
  ApiFixture f;
  f.scripted().decide = [](const UserCheckRequest&, UserCheckReply reply) { reply.allow({}); };
  const std::uint16_t first = f.start();
  Client& live = f.open("alice", "s3cret", "OLD");
  REQUIRE(f.run_until([&] { return live.payload == "OLD"; }));
  const std::uint16_t second = unused_port(f.loop);
  ServerConfig next = f.config;
  next.listen = {"127.0.0.1:" + std::to_string(second)};
  auto report = f.server->reload(next);
  INFO(std::string(report ? "" : report.message()));
  REQUIRE(report);
  CHECK(has(report->changed, "listen +127.0.0.1:" + std::to_string(second)));
  CHECK(has(report->changed, "listen -127.0.0.1:" + std::to_string(first)));
  const auto bound = f.server->listening();
  REQUIRE(bound.size() == 1);
  CHECK(bound[0].port == second);

  // The removed port is closed: a new connection is refused.
  bool refused = false;
  f.dialer->open([&](io::StreamPtr s, const std::string&) { refused = !s; });
  REQUIRE(f.run_until([&] { return refused; }));
  // The new one serves, and the tunnel through the old one goes on.
  f.dialer = std::make_unique<tls::TlsDialer>(f.loop.get(), f.client_ctx, "127.0.0.1", second);
  Client& fresh = f.open("alice", "s3cret", "NEW");
  REQUIRE(f.run_until([&] { return fresh.payload == "NEW"; }));
  live.send("MORE");
  REQUIRE(f.run_until([&] { return live.payload == "OLDMORE"; }));
}

TEST_CASE("server api: reload swaps the users file store for a new source",
          "[server_api][reload]") {
  ApiFixture f;
  auto write_users = [&](const std::string& name, const std::string& user) {
    auto hash = hash_password("s3cret", PasswordScheme::scrypt);
    REQUIRE(hash);
    const std::string path = f.pki.dir + "/" + name;
    std::ofstream(path) << R"({"users": [{"username": ")" << user << R"(", "password": ")" << *hash
                        << R"("}]})";
    return path;
  };
  f.config.users.type = "file";
  f.config.users.path = write_users("a.json", "alice");
  f.start(ServerHooks{nullptr, f.log()});
  Client& alice = f.open("alice", "s3cret", "HI");
  REQUIRE(f.run_until([&] { return alice.payload == "HI"; }));
  ServerConfig next = f.config;
  next.users.path = write_users("b.json", "bob");
  auto report = f.server->reload(next);
  INFO(std::string(report ? "" : report.message()));
  REQUIRE(report);
  CHECK(has(report->changed, "users source"));
  Client& bob = f.open("bob", "s3cret", "BOB");
  REQUIRE(f.run_until([&] { return bob.payload == "BOB"; }));
  Client& again = f.open("alice", "s3cret");  // not in the new store
  REQUIRE(f.run_until([&] { return again.finished(); }));
  CHECK(again.rejected == Status::auth_failed);
  // A users file that does not parse: refused, the new store stays.
  next.users.path = f.pki.dir + "/broken.json";
  std::ofstream(next.users.path) << "{";
  auto broken = f.server->reload(next);
  REQUIRE_FALSE(broken);
  CHECK(std::string(broken.message()).find("broken.json") != std::string::npos);
  Client& bob2 = f.open("bob", "s3cret", "STILL");
  REQUIRE(f.run_until([&] { return bob2.payload == "STILL"; }));
}

TEST_CASE("server api: reload switches QUIC on and off on a kept address", "[server_api][reload]") {
  ApiFixture f;  // QUIC off
  f.scripted().decide = [](const UserCheckRequest&, UserCheckReply reply) { reply.allow({}); };
  const std::uint16_t port = f.start();
  Client& live = f.open("alice", "s3cret", "TCP");
  REQUIRE(f.run_until([&] { return live.payload == "TCP"; }));
  ServerConfig next = f.config;
  next.quic = true;
  auto on = f.server->reload(next);
  INFO(std::string(on ? "" : on.message()));
  REQUIRE(on);
  const auto bound = f.server->listening();
  if (bound.size() == 1) return;  // a build without QUIC: TLS only, as create() does
  REQUIRE(bound.size() == 2);
  CHECK(bound[0].port == port);  // the TLS listener was not touched
  CHECK(bound[1].quic);
  CHECK(bound[1].port == port);
  CHECK(has(on->changed, "listen +127.0.0.1:" + std::to_string(port) + " (QUIC)"));
  next.quic = false;
  auto off = f.server->reload(next);
  REQUIRE(off);
  CHECK(has(off->changed, "listen -127.0.0.1:" + std::to_string(port) + " (QUIC)"));
  CHECK(f.server->listening().size() == 1);
  live.send("STILL");
  REQUIRE(f.run_until([&] { return live.payload == "TCPSTILL"; }));
}
