// ServerEngine with admission control: per-source limits, the source rate, deny lists and
// denied target ports, in stealth and reply mode; every refusal counted per rule and logged
// once per source per minute. The test streams come from 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>

#include "test_server_engine_support.hpp"

using namespace mtop;
using mtop::srvtest::Client;
using mtop::srvtest::Fixture;

namespace {

std::uint64_t rejected(const Fixture& f, AdmissionRule r) {
  return f.engine->stats().rejected(r);
}

std::size_t lines_with(const Fixture& f, const std::string& needle) {
  return static_cast<std::size_t>(std::count_if(f.logs.begin(), f.logs.end(), [&](const auto& l) {
    return l.find(needle) != std::string::npos;
  }));
}

}  // namespace

TEST_CASE("server engine: max_tunnels_per_source, stealth closes at once", "[server_engine]") {
  auto o = Fixture::defaults();
  o.max_tunnels_per_source = 1;
  Fixture f(o);
  Client& a = f.open_alice();
  REQUIRE(f.run_until([&] { return a.established; }));
  Client& b = f.open_alice();
  Client& c = f.open_alice();
  REQUIRE(f.run_until([&] { return b.finished() && c.finished(); }));
  CHECK_FALSE(b.rejected);  // stealth: no status
  CHECK(f.engine->stats().live == 1);
  CHECK(rejected(f, AdmissionRule::max_tunnels_per_source) == 2);
  CHECK(f.failed(TunnelFailure::overloaded) == 2);
  CHECK(f.store.lookups == 1);  // only a's: the refused ones never reached the user check
  // One line for the source, not one per refusal.
  CHECK(lines_with(f, "refused 127.0.0.1: max_tunnels_per_source 1 reached") == 1);
  a.shutdown();
  REQUIRE(f.run_until([&] { return a.eof && f.engine->stats().live == 0; }));
  Client& d = f.open_alice();  // the slot is free again
  REQUIRE(f.run_until([&] { return d.established; }));
}

TEST_CASE("server engine: a source limit in reply mode answers auth_failed", "[server_engine]") {
  auto o = Fixture::defaults();
  o.reply_status = true;
  o.max_tunnels_per_subnet = 1;
  Fixture f(o);
  Client& a = f.open_alice();
  REQUIRE(f.run_until([&] { return a.established; }));
  Client& b = f.open_alice();
  REQUIRE(f.run_until([&] { return b.finished() && f.engine->stats().live == 1; }));
  CHECK(b.rejected == Status::auth_failed);
  CHECK(rejected(f, AdmissionRule::max_tunnels_per_subnet) == 1);
  CHECK(f.failed(TunnelFailure::overloaded) == 1);
  CHECK(f.store.lookups == 1);
  CHECK(f.logged("refused 127.0.0.1: max_tunnels_per_subnet 1 reached (/24)"));
}

TEST_CASE("server engine: the source rate", "[server_engine]") {
  auto o = Fixture::defaults();
  o.source_rate = 0.001;  // no refill within the test
  o.source_burst = 2;
  Fixture f(o);
  Client& a = f.open_alice();
  Client& b = f.open_alice();
  REQUIRE(f.run_until([&] { return a.established && b.established; }));
  Client& c = f.open_alice();
  REQUIRE(f.run_until([&] { return c.finished(); }));
  CHECK_FALSE(c.established);
  CHECK(rejected(f, AdmissionRule::source_rate) == 1);
  CHECK(f.logged("refused 127.0.0.1: source_rate 0.001/s (burst 2) reached"));
  // Ending tunnels gives no token back: the rate counts new tunnels, not live ones.
  a.shutdown();
  REQUIRE(f.run_until([&] { return a.eof && f.engine->stats().live == 1; }));
  Client& d = f.open_alice();
  REQUIRE(f.run_until([&] { return d.finished(); }));
  CHECK(rejected(f, AdmissionRule::source_rate) == 2);
}

TEST_CASE("server engine: deny_sources, at serve and at the listeners' early check",
          "[server_engine]") {
  auto o = Fixture::defaults();
  o.deny_sources = {"127.0.0.0/8"};
  Fixture f(o);
  Client& a = f.open_alice();
  REQUIRE(f.run_until([&] { return a.finished(); }));
  CHECK_FALSE(a.established);
  CHECK(rejected(f, AdmissionRule::source_denied) == 1);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(0x7f000001);
  CHECK_FALSE(f.engine->admit_connection(reinterpret_cast<const sockaddr*>(&in)));
  in.sin_addr.s_addr = htonl(0xc0000201);  // 192.0.2.1
  CHECK(f.engine->admit_connection(reinterpret_cast<const sockaddr*>(&in)));
  CHECK(rejected(f, AdmissionRule::source_denied) == 2);
  CHECK(lines_with(f, "refused 127.0.0.1: in deny_sources 127.0.0.0/8") == 1);
  CHECK(f.engine->admit_connection(nullptr));  // nothing to judge: admitted
}

TEST_CASE("server engine: an allow list without the source refuses it", "[server_engine]") {
  auto o = Fixture::defaults();
  o.allow_sources = {"192.0.2.0/24"};
  Fixture f(o);
  Client& a = f.open_alice();
  REQUIRE(f.run_until([&] { return a.finished(); }));
  CHECK(rejected(f, AdmissionRule::source_denied) == 1);
  CHECK(f.logged("refused 127.0.0.1: not in allow_sources"));
}

TEST_CASE("server engine: a denied target port is a denied target", "[server_engine]") {
  const bool reply = GENERATE(false, true);
  auto o = Fixture::defaults();
  o.reply_status = reply;
  Fixture f(o);
  // The target's port is known only now: an engine of its own replaces the fixture's.
  auto o2 = o;
  o2.deny_target_ports = {25, f.target.port()};
  auto e = ServerEngine::create(f.loop.get(), o2, f.check, f.log());
  REQUIRE(e);
  f.engine = std::move(*e);
  Client& a = f.open_alice();
  REQUIRE(f.run_until([&] { return a.finished() && f.engine->stats().live == 0; }));
  if (reply) {
    CHECK(a.rejected == Status::connect_failed);  // as for a target the policy denies
  } else {
    CHECK_FALSE(a.rejected);
  }
  CHECK(f.target.accepted() == 0);
  CHECK(f.failed(TunnelFailure::target_denied) == 1);
  CHECK(rejected(f, AdmissionRule::target_port) == 1);
  CHECK(f.logged("refused 127.0.0.1: target port " + std::to_string(f.target.port()) + " denied"));
}

TEST_CASE("server engine: the user's limit is counted as an admission rule", "[server_engine]") {
  Fixture f;
  f.store.users["alice"].max_tunnels = 1;
  Client& a = f.open_alice();
  REQUIRE(f.run_until([&] { return a.established; }));
  Client& b = f.open_alice();
  Client& c = f.open_alice();
  REQUIRE(f.run_until([&] { return b.finished() && c.finished(); }));
  CHECK(f.failed(TunnelFailure::user_tunnel_limit) == 2);
  CHECK(rejected(f, AdmissionRule::max_tunnels_per_user) == 2);
  CHECK(lines_with(f, "refused 127.0.0.1: max_tunnels 1 of user alice reached") == 1);
}

TEST_CASE("server engine: a bad admission setting fails create", "[server_engine]") {
  Fixture f;
  auto bad = Fixture::defaults();
  bad.deny_sources = {"10.0.0.1/8"};
  auto e = ServerEngine::create(f.loop.get(), bad, f.check, f.log());
  REQUIRE_FALSE(e);
  CHECK(e.error() == Errc::config_invalid);
  CHECK(std::string(e.message()).rfind("deny_sources: \"10.0.0.1/8\"", 0) == 0);
}

TEST_CASE("server engine: admission settings change live, counters stay", "[server_engine]") {
  Fixture f;
  Client& a = f.open_alice();
  REQUIRE(f.run_until([&] { return a.established; }));
  auto o = Fixture::defaults();
  o.max_tunnels_per_source = 1;
  REQUIRE(f.engine->set_options(o));
  Client& b = f.open_alice();  // a, admitted before, counts against the new limit
  REQUIRE(f.run_until([&] { return b.finished(); }));
  CHECK(rejected(f, AdmissionRule::max_tunnels_per_source) == 1);
  // A broken setting is refused and the one in force stays.
  auto bad = o;
  bad.deny_sources = {"127.0.0.1/33"};
  const auto r = f.engine->set_options(bad);
  REQUIRE_FALSE(r);
  CHECK(std::string(r.message()).rfind("deny_sources: \"127.0.0.1/33\"", 0) == 0);
  Client& c = f.open_alice();
  REQUIRE(f.run_until([&] { return c.finished(); }));
  CHECK(rejected(f, AdmissionRule::max_tunnels_per_source) == 2);
  // Denied ports follow too (checked before DNS and in the connect hook).
  o.max_tunnels_per_source = 0;
  o.deny_target_ports = {f.target.port()};
  REQUIRE(f.engine->set_options(o));
  Client& d = f.open_alice();
  REQUIRE(f.run_until([&] { return d.finished(); }));
  CHECK(rejected(f, AdmissionRule::target_port) == 1);
  CHECK(rejected(f, AdmissionRule::max_tunnels_per_source) == 2);
  CHECK(f.target.accepted() == 1);  // a's only
}
