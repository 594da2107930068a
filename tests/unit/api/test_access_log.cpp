// The access log (mtop/server.hpp): format_access_record's two formats, and a Server with
// access_log_path and Server::on_tunnel_end recording an accepted and a refused tunnel,
// then reopening the file after it was moved away (log rotation).
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../engine/test_server_engine_support.hpp"
#include "../tls/tls_test_support.hpp"
#include "must.hpp"
#include "mtop/server.hpp"
#include "mtop/user_check.hpp"
#include "tls/dialer.hpp"

using namespace mtop;

namespace {

TunnelRecord sample() {
  TunnelRecord r;
  r.end_unix_ms = 1'796'601'600'123;  // 2026-12-07T00:00:00.123Z
  r.transport = "quic";
  r.source = "[2001:db8::1]:40000";
  r.user = "alice";
  r.target = "example.org:443";
  r.accepted = true;
  r.reason = "EOF both ways";
  r.up = 1234;
  r.down = 56789;
  r.duration_ms = 4321;
  return r;
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST_CASE("access record: json has every key, in order, with the values", "[access_log]") {
  const std::string line = format_access_record(sample(), AccessLogFormat::json);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line ==
        R"({"time":"2026-12-07T00:00:00.123Z","transport":"quic","source":"[2001:db8::1]:40000",)"
        R"("user":"alice","target":"example.org:443","accepted":true,"failure":"",)"
        R"("reason":"EOF both ways","up":1234,"down":56789,"duration_ms":4321})");
}

TEST_CASE("access record: json survives quotes, newlines and invalid UTF-8 in the user name",
          "[access_log]") {
  TunnelRecord r = sample();
  r.user = std::string("a\"b\nc\xff", 6);
  const std::string line = format_access_record(r, AccessLogFormat::json);
  CHECK(line.find('\n') == std::string::npos);
  const auto j = nlohmann::json::parse(line);
  CHECK(j["user"].get<std::string>().substr(0, 5) == "a\"b\nc");
  CHECK(j["up"] == 1234);
}

TEST_CASE("access record: logfmt quotes what needs it and escapes quotes and controls",
          "[access_log]") {
  TunnelRecord r = sample();
  r.user = "bob \"the\" =x\t";
  r.accepted = false;
  r.failure = "auth_failed";
  r.reason = "";
  CHECK(format_access_record(r, AccessLogFormat::logfmt) ==
        "time=2026-12-07T00:00:00.123Z transport=quic source=[2001:db8::1]:40000 "
        "user=\"bob \\\"the\\\" =x\\t\" target=example.org:443 accepted=false failure=auth_failed "
        "reason=\"\" up=1234 down=56789 duration_ms=4321");
  r.user = std::string("c\x01\\", 3);
  CHECK(format_access_record(r, AccessLogFormat::logfmt).find("user=\"c\\x01\\\\\"") !=
        std::string::npos);
}

TEST_CASE(
    "server api: the access log gets one line per tunnel, the hook the same record, and "
    "a moved file is reopened",
    "[access_log][server_api]") {
  using srvtest::Client;
  tls_test::Pki pki;
  test::TestLoop loop;
  auto target_owner = std::make_unique<srvtest::EchoTarget>(loop);
  srvtest::EchoTarget& target = *target_owner;
  const std::string path = pki.dir + "/access.log";
  ServerConfig config;
  config.listen = {"127.0.0.1:0"};
  config.quic = false;
  config.cert_file = pki.server_chain;
  config.key_file = pki.server_key;
  config.engine.allow_targets = {"127.0.0.0/8"};
  config.engine.reply_status = true;
  config.access_log_path = path;
  config.access_log_format = AccessLogFormat::json;

  class Check final : public UserCheck {
    void check(const UserCheckRequest& request, UserCheckReply reply) override {
      if (request.username == "alice") {
        reply.allow({});
      } else {
        reply.deny();
      }
    }
  };
  std::vector<TunnelRecord> hooked;
  ServerHooks hooks;
  hooks.user_check = std::make_shared<Check>();
  auto created = Server::create(loop.get(), config, std::move(hooks));
  INFO(std::string(created ? "" : created.message()));
  REQUIRE(created);
  auto server = std::move(*created);
  server->on_tunnel_end([&](const TunnelRecord& r) { hooked.push_back(r); });
  REQUIRE(server->start());
  auto ctx = must(tls::ClientContext::create(tls::TlsClientConfig{pki.ca, "", "", false}));
  auto dialer_owner =
      std::make_unique<tls::TlsDialer>(loop.get(), ctx, "127.0.0.1", server->listening()[0].port);
  tls::TlsDialer& dialer = *dialer_owner;
  auto open = [&](const std::string& user) {
    io::StreamPtr stream;
    bool done = false;
    dialer.open([&](io::StreamPtr s, std::string) {
      stream = std::move(s);
      done = true;
    });
    REQUIRE(loop.run_until([&] { return done; }));
    REQUIRE(stream);
    return std::make_unique<Client>(
        std::move(stream), srvtest::auth_to(user, "pw", srvtest::local(target.port())), "hello");
  };

  auto good = open("alice");
  REQUIRE(loop.run_until([&] { return good->payload == "hello"; }));
  good->shutdown();
  REQUIRE(loop.run_until([&] { return hooked.size() == 1; }));
  auto bad = open("mallory");
  REQUIRE(loop.run_until([&] { return hooked.size() == 2; }));

  const auto lines = lines_of(path);
  REQUIRE(lines.size() == 2);
  const auto a = nlohmann::json::parse(lines[0]);
  CHECK(a["user"] == "alice");
  CHECK(a["transport"] == "tls");
  CHECK(a["accepted"] == true);
  CHECK(a["failure"] == "");
  CHECK(a["up"] == 5);
  CHECK(a["down"] == 5);
  CHECK(a["target"] == "127.0.0.1:" + std::to_string(target.port()));
  const auto b = nlohmann::json::parse(lines[1]);
  CHECK(b["user"] == "mallory");
  CHECK(b["accepted"] == false);
  CHECK(b["failure"] == "auth_failed");
  CHECK(b["up"] == 0);
  CHECK(hooked[0].up == 5);
  CHECK(hooked[1].failure == "auth_failed");
  CHECK(lines[1].find("pw") == std::string::npos);  // never the password

  // Rotation: the file is moved away, reopen_access_log() starts a new one by name.
  REQUIRE(std::rename(path.c_str(), (path + ".1").c_str()) == 0);
  REQUIRE(server->reopen_access_log());
  auto again = open("mallory");
  REQUIRE(loop.run_until([&] { return hooked.size() == 3; }));
  CHECK(lines_of(path).size() == 1);
  CHECK(lines_of(path + ".1").size() == 2);

  good.reset();
  bad.reset();
  again.reset();
  dialer_owner.reset();
  server.reset();
  target_owner.reset();
  CHECK(loop.close() == 0);  // every handle was closed
}

TEST_CASE("server api: an access log that cannot be opened fails create() naming the file",
          "[access_log][server_api]") {
  tls_test::Pki pki;
  test::TestLoop loop;
  ServerConfig config;
  config.listen = {"127.0.0.1:0"};
  config.quic = false;
  config.cert_file = pki.server_chain;
  config.key_file = pki.server_key;
  config.access_log_path = pki.dir + "/no-such-dir/access.log";
  class Deny final : public UserCheck {
    void check(const UserCheckRequest&, UserCheckReply reply) override { reply.deny(); }
  };
  ServerHooks hooks;
  hooks.user_check = std::make_shared<Deny>();
  auto created = Server::create(loop.get(), config, std::move(hooks));
  REQUIRE_FALSE(created);
  CHECK(created.error() == Errc::system_error);
  CHECK(std::string(created.message()).find("no-such-dir/access.log") != std::string::npos);
  CHECK(loop.close() == 0);
}
