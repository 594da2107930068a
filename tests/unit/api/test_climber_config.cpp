// The climber's one-string forms and its JSON config through the public API
// (include/mtop/climber.hpp): mtop:// URIs, transports, -L rules, config files, secret files.
// Every error is Errc::config_invalid with a message that names the part at fault and never
// the password.
#include <stdlib.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>

#include "mtop/climber.hpp"

using mtop::Errc;
using mtop::ServerEndpoint;

namespace {

/// A temporary folder for config and secret files, removed with what the test wrote into it.
struct TempDir {
  std::string path;
  std::vector<std::string> files;
  TempDir() {
    char tmpl[] = "/tmp/mtop-climber-config-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    for (const auto& f : files) std::remove(f.c_str());
    ::rmdir(path.c_str());
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string p = path + "/" + name;
    std::ofstream(p, std::ios::trunc) << text;
    files.push_back(p);
    return p;
  }
};

}  // namespace

TEST_CASE("mtop:// URIs with every parameter", "[uri]") {
  auto ep = mtop::parse_server_uri(
      "mtop://alice:s%40cr%3At@proxy.example:8443?transport=quic&sni=front.example&ca=/etc/ca.pem"
      "&pin=abc%3D&insecure=0");
  REQUIRE(ep);
  CHECK(ep->username == "alice");
  CHECK(ep->password == "s@cr:t");
  CHECK(ep->host == "proxy.example");
  CHECK(ep->port == 8443);
  CHECK(ep->transport == mtop::TransportKind::quic);
  CHECK(ep->server_name() == "front.example");
  CHECK(ep->ca_file == "/etc/ca.pem");
  CHECK(ep->pin == "abc=");
  CHECK_FALSE(ep->insecure);
}

TEST_CASE("mtop:// defaults and IPv6 hosts", "[uri]") {
  auto ep = mtop::parse_server_uri("mtop://u:p@[::1]");
  REQUIRE(ep);
  CHECK(ep->host == "::1");
  CHECK(ep->port == 443);
  CHECK(ep->transport == mtop::TransportKind::tls);
  CHECK(ep->server_name() == "::1");
  ep = mtop::parse_server_uri("mtop://u:p@[2001:db8::2]:9000/?insecure=1");
  REQUIRE(ep);
  CHECK(ep->host == "2001:db8::2");
  CHECK(ep->port == 9000);
  CHECK(ep->insecure);
}

TEST_CASE("mtop:// with a user and no password", "[uri]") {
  auto ep = mtop::parse_server_uri("mtop://alice@h.example:444");
  REQUIRE(ep);
  CHECK(ep->username == "alice");
  CHECK(ep->password.empty());
  CHECK(ep->port == 444);
}

TEST_CASE("bad mtop:// URIs are refused without echoing the password", "[uri]") {
  const char* bad[] = {
      "http://u:secretpw@h:1",
      "mtop://u:secretpw@h:0",
      "mtop://u:secretpw@h:65536",
      "mtop://u:secretpw@h:x",
      "mtop://u:secretpw@::1:80",
      "mtop://u:secretpw@[::1",
      "mtop://:secretpw@h:1",
      "mtop://u:secretpw%4@h:1",
      "mtop://u:secretpw@h:1?transport=udp",
      "mtop://u:secretpw@h:1?bogus=1",
      "mtop://u:secretpw@h:1?insecure=yes",
      "mtop://u:secretpw@:1",
      // Refused since the one host:port parser (the URI's own parser took any host text):
      "mtop://u:secretpw@[example.com]:1",
      "mtop://u:secretpw@[::zz]:1",
      "mtop://u:secretpw@ex%ample:1",
      "mtop://u:secretpw@h:1:2",
  };
  for (const char* uri : bad) {
    INFO(uri);
    auto ep = mtop::parse_server_uri(uri);
    REQUIRE_FALSE(ep);
    CHECK(ep.error() == Errc::config_invalid);
    CHECK(ep.message().find("server URI") != std::string::npos);
    CHECK(ep.message().find("secretpw") == std::string::npos);
  }
}

TEST_CASE("transport names round-trip", "[uri]") {
  for (auto t :
       {mtop::TransportKind::tls, mtop::TransportKind::quic, mtop::TransportKind::auto_select}) {
    mtop::TransportKind back{};
    REQUIRE(mtop::parse_transport(mtop::transport_name(t), back));
    CHECK(back == t);
  }
  mtop::TransportKind t = mtop::TransportKind::quic;
  CHECK_FALSE(mtop::parse_transport("udp", t));
  CHECK(t == mtop::TransportKind::quic);  // untouched on failure
}

TEST_CASE("port-forward rules", "[forward]") {
  auto r = mtop::parse_forward_rule("8022:example.com:22");
  REQUIRE(r);
  CHECK((r->bind_host == "127.0.0.1" && r->bind_port == 8022));
  CHECK((r->target_host == "example.com" && r->target_port == 22));
  r = mtop::parse_forward_rule("[::1]:5353:[2001:db8::53]:53");
  REQUIRE(r);
  CHECK((r->bind_host == "::1" && r->bind_port == 5353));
  CHECK((r->target_host == "2001:db8::53" && r->target_port == 53));
  r = mtop::parse_forward_rule("8053:[fe80::53%eth0]:53");
  REQUIRE(r);
  CHECK((r->bind_port == 8053 && r->target_host == "fe80::53%eth0" && r->target_port == 53));
  r = mtop::parse_forward_rule("0.0.0.0:80:10.0.0.2:8080");
  REQUIRE(r);
  CHECK((r->bind_host == "0.0.0.0" && r->target_host == "10.0.0.2" && r->target_port == 8080));
  for (const char* bad :
       {"", "80", "80:host", "x:host:22", "80:host:0", "80:host:65536", "a:b:80:host:22",
        "[::1:80:h:1", "80::22",
        // refused since the one host:port parser reads both halves:
        "[example.com]:80:h:1", "80:[example.com]:1", "80:bad host:1", "80:h:1]", "80:[::1:1"}) {
    INFO(bad);
    auto rule = mtop::parse_forward_rule(bad);
    REQUIRE_FALSE(rule);
    CHECK(rule.error() == Errc::config_invalid);
    CHECK(rule.message().find("forward \"") == 0);
  }
}

TEST_CASE("reverse rules (-R)", "[reverse]") {
  auto r = mtop::parse_reverse_rule("8080:127.0.0.1:80");
  REQUIRE(r);
  CHECK((r->bind_host == "0.0.0.0" && r->bind_port == 8080));  // every server address
  CHECK((r->target_host == "127.0.0.1" && r->target_port == 80 && !r->proxy_protocol));
  r = mtop::parse_reverse_rule("0:localhost:22");  // any port the server grants
  REQUIRE(r);
  CHECK((r->bind_port == 0 && r->target_host == "localhost"));
  r = mtop::parse_reverse_rule("[::]:2222:[::1]:22");
  REQUIRE(r);
  CHECK((r->bind_host == "::" && r->bind_port == 2222 && r->target_host == "::1"));
  r = mtop::parse_reverse_rule("192.0.2.1:0:h:1");
  REQUIRE(r);
  CHECK((r->bind_host == "192.0.2.1" && r->bind_port == 0));
  for (const char* bad : {"", "80:h", "example.com:80:h:1", "80:h:0", "x:h:1", "-1:h:1"}) {
    INFO(bad);
    auto rule = mtop::parse_reverse_rule(bad);
    REQUIRE_FALSE(rule);
    CHECK(rule.error() == Errc::config_invalid);
    CHECK(rule.message().find("reverse \"") == 0);
  }
}

TEST_CASE("climber config: reverse list", "[reverse][config]") {
  auto c = mtop::parse_climber_config(
      R"({"server": "mtop://a:b@h:1", "reverse": [
            {"port": 8080, "target": "127.0.0.1:80", "proxy_protocol": true},
            {"bind": "::1", "port": 0, "target": "[::1]:22"}, "2222:127.0.0.1:22"]})",
      ".");
  REQUIRE(c);
  const auto& rs = c->engine.reverses;
  REQUIRE(rs.size() == 3);
  CHECK((rs[0].bind_host == "0.0.0.0" && rs[0].bind_port == 8080 && rs[0].proxy_protocol));
  CHECK((rs[1].bind_host == "::1" && rs[1].bind_port == 0 && rs[1].target_port == 22));
  CHECK((rs[2].bind_port == 2222 && !rs[2].proxy_protocol));
  for (const char* bad :
       {R"({"reverse": {}})", R"({"reverse": [{"port": 80}]})",
        R"({"reverse": [{"port": 80, "target": "h:1", "extra": 1}]})",
        R"({"reverse": [{"port": 70000, "target": "h:1"}]})",
        R"({"reverse": [{"bind": "example.com", "port": 1, "target": "h:1"}]})"}) {
    INFO(bad);
    auto r = mtop::parse_climber_config(bad, ".");
    REQUIRE_FALSE(r);
    CHECK(r.message().find("config.reverse") != std::string::npos);
  }
}

TEST_CASE("climber config: every key, relative paths, defaults for the rest", "[config]") {
  TempDir dir;
  dir.write("pw", "from-file\r\nsecond line ignored\n");
  auto cfg = mtop::parse_climber_config(R"({
    "server": {"host": "vpn.example.com", "port": 8443, "username": "alice",
               "password_file": "pw", "transport": "auto", "sni": "front.example",
               "ca": "certs/ca.pem", "pin": "abc=", "insecure": false},
    "socks": "127.0.0.1:1080", "http": "127.0.0.1:8080",
    "forward": ["5432:db.internal:5432", "[::1]:53:[2001:db8::53]:53"],
    "local_auth": {"username": "me", "password": "local secret"},
    "timeouts": {"handshake": 2.5, "connect": 4, "idle": 60, "drain": 1.5},
    "limits": {"max_connections": 100, "early_data": 0, "max_pending": 65536},
    "log_level": "debug"})",
                                        dir.path);
  INFO(cfg.message());
  REQUIRE(cfg);
  const ServerEndpoint& s = cfg->server;
  CHECK(s.host == "vpn.example.com");
  CHECK(s.port == 8443);
  CHECK(s.username == "alice");
  CHECK(s.password == "from-file");
  CHECK(s.transport == mtop::TransportKind::auto_select);
  CHECK(s.server_name() == "front.example");
  CHECK(s.ca_file == dir.path + "/certs/ca.pem");
  CHECK(s.pin == "abc=");
  const mtop::ClimberOptions& e = cfg->engine;
  CHECK(e.socks_listen == "127.0.0.1:1080");
  CHECK(e.http_listen == "127.0.0.1:8080");
  REQUIRE(e.forwards.size() == 2);
  CHECK(e.forwards[0].target_host == "db.internal");
  CHECK(e.forwards[1].bind_host == "::1");
  CHECK(e.local_username == "me");
  CHECK(e.local_password == "local secret");
  CHECK(e.handshake_timeout_ms == 2'500);
  CHECK(e.connect_timeout_ms == 4'000);
  CHECK(e.idle_timeout_ms == 60'000);
  CHECK(e.drain_timeout_ms == 1'500);
  CHECK(e.max_connections == 100);
  CHECK(e.early_data_limit == 0);
  CHECK(e.max_pending == 65536);
  CHECK(cfg->log_level == mtop::LogLevel::debug);

  // What the text does not name keeps the defaults.
  auto minimal = mtop::parse_climber_config(R"({"server": "mtop://bob:pw@h.example"})", "");
  REQUIRE(minimal);
  CHECK(minimal->server.password == "pw");
  CHECK(minimal->engine.handshake_timeout_ms == mtop::ClimberOptions{}.handshake_timeout_ms);
  CHECK(minimal->engine.max_connections == mtop::ClimberOptions{}.max_connections);
  CHECK(minimal->engine.drain_timeout_ms == 5'000);
  CHECK(minimal->log_level == mtop::LogLevel::info);
}

TEST_CASE("climber config: tls_groups, X25519 and P-256 by default", "[config]") {
  using mtop::TlsGroup;
  auto def = mtop::parse_climber_config(R"({"server": {"host": "h"}})", "");
  REQUIRE(def);
  CHECK(def->server.tls_groups == std::vector<TlsGroup>{TlsGroup::x25519, TlsGroup::p256});
  auto set = mtop::parse_climber_config(
      R"({"server": {"host": "h", "tls_groups": ["P-384", "X25519", "P-521", "X448", "P-256"]}})",
      "");
  REQUIRE(set);
  CHECK(set->server.tls_groups == std::vector<TlsGroup>{TlsGroup::p384, TlsGroup::x25519,
                                                        TlsGroup::p521, TlsGroup::x448,
                                                        TlsGroup::p256});
}

TEST_CASE("climber config: a server URI string with a relative ca", "[config]") {
  auto cfg = mtop::parse_climber_config(
      R"({"server": "mtop://alice@127.0.0.1:9443?transport=quic&ca=ca.pem"})", "/etc/mtop");
  REQUIRE(cfg);
  CHECK(cfg->server.ca_file == "/etc/mtop/ca.pem");
  CHECK(cfg->server.transport == mtop::TransportKind::quic);
}

TEST_CASE("climber config: errors name the key and never the password", "[config]") {
  struct Case {
    const char* json;
    const char* says;
  };
  const Case cases[] = {
      {R"({"server": {"host": "h", "password": "hunter22"}, "sokcs": "x"})",
       "unknown key \"sokcs\""},
      {R"({"server": {"host": "h", "port": 0, "password": "hunter22"}})", "config.server.port"},
      {R"({"server": {"password": "hunter22"}})", "config.server.host: missing"},
      {R"({"server": {"host": "h", "password": "hunter22", "transport": "udp"}})",
       "config.server.transport"},
      {R"({"server": "mtop://u:hunter22@h:0"})", "config.server: server URI"},
      {R"({"server": {"host": "h", "password_file": "/nonexistent/pw"}})",
       "config.server.password_file: cannot read /nonexistent/pw"},
      {R"({"forward": ["80:host"], "server": {"host": "h", "password": "hunter22"}})",
       "config.forward \"80:host\""},
      {R"({"local_auth": {"username": "me", "password": ""}})", "config.local_auth"},
      {R"({"timeouts": {"handshake": 0}})", "config.timeouts.handshake"},
      {R"({"limits": {"max_pending": 1}})", "config.limits.max_pending"},
      {R"({"log_level": "loud"})", "config.log_level"},
      {R"({"server": {"host": "h", "password": "hunter22"},)", "not valid JSON"},
      {R"({"server": {"host": "h", "password": "hunter22", "tls_groups": []}})",
       "config.server.tls_groups: a non-empty list"},
      {R"({"server": {"host": "h", "password": "hunter22", "tls_groups": ["ffdhe8192"]}})",
       "config.server.tls_groups: a non-empty list of distinct groups from X25519, P-256, P-384, "
       "P-521, X448 (entry 1)"},
      {R"({"server": {"host": "h", "password": "hunter22", "tls_groups": ["P-256", "P-256"]}})",
       "(entry 2)"},
      {R"({"server": {"host": "h", "password": "hunter22", "tls_groups": "X25519"}})",
       "config.server.tls_groups"},
  };
  for (const Case& c : cases) {
    INFO(c.json);
    auto cfg = mtop::parse_climber_config(c.json, "");
    REQUIRE_FALSE(cfg);
    CHECK(cfg.error() == Errc::config_invalid);
    CHECK(cfg.message().find(c.says) != std::string::npos);
    CHECK(cfg.message().find("hunter22") == std::string::npos);
  }
}

TEST_CASE("climber config from a file: paths relative to it, errors start with its path",
          "[config]") {
  TempDir dir;
  dir.write("secret", "s3cret\n");
  const std::string good = dir.write(
      "climber.json", R"({"server": {"host": "h", "username": "u", "password_file": "secret",
                                     "ca": "ca.pem"}, "socks": "127.0.0.1:0"})");
  auto cfg = mtop::load_climber_config(good);
  INFO(cfg.message());
  REQUIRE(cfg);
  CHECK(cfg->server.password == "s3cret");
  CHECK(cfg->server.ca_file == dir.path + "/ca.pem");

  const std::string bad = dir.write("bad.json", R"({"server": {"host": "h"}, "x": 1})");
  auto broken = mtop::load_climber_config(bad);
  REQUIRE_FALSE(broken);
  CHECK(broken.error() == Errc::config_invalid);
  CHECK(broken.message().find(bad + ": config: unknown key \"x\"") == 0);

  auto missing = mtop::load_climber_config(dir.path + "/none.json");
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == Errc::config_invalid);
  CHECK(missing.message().find("none.json") != std::string::npos);
}

TEST_CASE("secret files: the first line, never empty", "[config]") {
  TempDir dir;
  auto s = mtop::read_secret_file(dir.write("a", "pass word\r\nrest"));
  REQUIRE(s);
  CHECK(*s == "pass word");
  auto empty = mtop::read_secret_file(dir.write("b", "\nsecond"));
  REQUIRE_FALSE(empty);
  CHECK(empty.error() == Errc::config_invalid);
  CHECK(empty.message().find("is empty") != std::string::npos);
  auto none = mtop::read_secret_file(dir.path + "/none");
  REQUIRE_FALSE(none);
  CHECK(none.message() == "cannot read " + dir.path + "/none");
}
