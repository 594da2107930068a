// AdmissionPolicy: the engine's admission state — settings checked with the key named, live
// counts per address and subnet that follow their tickets across a reload, the rate bucket,
// and one log line per source per minute. No loop: time is a plain number.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "engine/admission.hpp"

using namespace mtop;

namespace {

auth::IpAddress ip(const char* text) {
  auto a = auth::IpAddress::parse(text);
  REQUIRE(a);
  return *a;
}

struct Lines {
  std::vector<std::pair<LogLevel, std::string>> lines;
  Logger logger() {
    return Logger(LogLevel::debug, [this](LogLevel l, std::string_view m) {
      lines.emplace_back(l, std::string(m));
    });
  }
};

std::optional<AdmissionPolicy::Refusal> admit(AdmissionPolicy& p, const char* source,
                                              std::uint64_t now,
                                              std::vector<AdmissionPolicy::Ticket>& held) {
  AdmissionPolicy::Ticket t;
  auto r = p.admit(ip(source), now, t);
  if (!r) held.push_back(t);
  return r;
}

}  // namespace

TEST_CASE("admission policy: bad settings name the key and keep the old ones", "[admission]") {
  AdmissionPolicy p;
  ServerOptions o;
  o.deny_sources = {"127.0.0.1"};
  REQUIRE(p.configure(o));
  const auto bad = [&](ServerOptions b, const std::string& message) {
    const auto r = p.configure(b);
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::config_invalid);
    CHECK(std::string(r.message()).rfind(message, 0) == 0);
  };
  ServerOptions b;
  b.allow_sources = {"10.0.0.0/40"};
  bad(b, "allow_sources: \"10.0.0.0/40\"");
  b = {};
  b.subnet_prefix_v4 = 33;
  bad(b, "subnet_prefix_v4");
  b = {};
  b.subnet_prefix_v6 = 129;
  bad(b, "subnet_prefix_v6");
  b = {};
  b.source_rate = 1;
  b.source_burst = 0;
  bad(b, "source_burst");
  b = {};
  b.source_rate = -1;
  bad(b, "source_rate");
  b = {};
  b.source_rate = 0.0001;
  bad(b, "source_rate");
  b = {};
  b.deny_target_ports = {25, 0};
  bad(b, "deny_target_ports");
  // The deny list in force before the failed calls still holds.
  REQUIRE(p.check_source(ip("127.0.0.1")));
  CHECK(p.check_source(ip("127.0.0.1"))->rule == AdmissionRule::source_denied);
  CHECK_FALSE(p.check_source(ip("127.0.0.2")));
}

TEST_CASE("admission policy: per source and per subnet, released by ticket", "[admission]") {
  AdmissionPolicy p;
  ServerOptions o;
  o.max_tunnels_per_source = 2;
  o.max_tunnels_per_subnet = 3;
  REQUIRE(p.configure(o));
  std::vector<AdmissionPolicy::Ticket> held;
  CHECK_FALSE(admit(p, "203.0.113.7", 0, held));
  CHECK_FALSE(admit(p, "::ffff:203.0.113.7", 0, held));  // the same address, mapped
  auto r = admit(p, "203.0.113.7", 0, held);
  REQUIRE(r);
  CHECK(r->rule == AdmissionRule::max_tunnels_per_source);
  CHECK(r->detail == "max_tunnels_per_source 2 reached");
  CHECK(p.live_from(ip("203.0.113.7")) == 2);
  CHECK_FALSE(admit(p, "203.0.113.8", 0, held));  // the /24's third
  r = admit(p, "::ffff:203.0.113.9", 0, held);
  REQUIRE(r);
  CHECK(r->rule == AdmissionRule::max_tunnels_per_subnet);
  CHECK(r->detail == "max_tunnels_per_subnet 3 reached (/24)");
  CHECK_FALSE(admit(p, "203.0.114.9", 0, held));  // another /24
  // IPv6: addresses of one /64 share the subnet limit, not the address limit.
  CHECK_FALSE(admit(p, "2001:db8::1", 0, held));
  CHECK_FALSE(admit(p, "2001:db8::2", 0, held));
  CHECK_FALSE(admit(p, "2001:db8::3", 0, held));
  REQUIRE(admit(p, "2001:db8::4", 0, held));
  // Releasing one of the /24 frees a slot.
  p.release(held.front());
  CHECK(p.live_from(ip("203.0.113.7")) == 1);
  CHECK_FALSE(admit(p, "203.0.113.10", 0, held));
}

TEST_CASE("admission policy: a reload keeps live counts and counters", "[admission]") {
  AdmissionPolicy p;
  ServerOptions o;
  REQUIRE(p.configure(o));  // no limits: still counted
  std::vector<AdmissionPolicy::Ticket> held;
  for (int i = 0; i < 3; ++i) REQUIRE_FALSE(admit(p, "198.51.100.1", 0, held));
  p.count(AdmissionRule::source_rate);
  o.max_tunnels_per_source = 3;
  o.subnet_prefix_v4 = 16;  // tickets keep the subnet they were counted under
  o.max_tunnels_per_subnet = 10;
  REQUIRE(p.configure(o));
  CHECK(admit(p, "198.51.100.1", 0, held));
  CHECK(p.counts()[static_cast<std::size_t>(AdmissionRule::source_rate)] == 1);
  for (const auto& t : held) p.release(t);
  CHECK(p.live_from(ip("198.51.100.1")) == 0);
  CHECK_FALSE(admit(p, "198.51.100.1", 0, held));
}

TEST_CASE("admission policy: the rate comes after the limits", "[admission]") {
  AdmissionPolicy p;
  ServerOptions o;
  o.source_rate = 1;
  o.source_burst = 2;
  o.max_tunnels_per_source = 1;
  REQUIRE(p.configure(o));
  std::vector<AdmissionPolicy::Ticket> held;
  CHECK_FALSE(admit(p, "192.0.2.1", 0, held));
  // Refused by the live limit: no token is taken.
  CHECK(admit(p, "192.0.2.1", 0, held)->rule == AdmissionRule::max_tunnels_per_source);
  p.release(held.back());
  CHECK_FALSE(admit(p, "192.0.2.1", 0, held));  // the second token
  p.release(held.back());
  const auto r = admit(p, "192.0.2.1", 0, held);
  REQUIRE(r);
  CHECK(r->rule == AdmissionRule::source_rate);
  CHECK(r->detail == "source_rate 1/s (burst 2) reached");
  CHECK_FALSE(admit(p, "192.0.2.1", 1'000, held));
  // A reload with the same rate keeps the buckets; another rate starts afresh.
  p.release(held.back());
  REQUIRE(p.configure(o));
  CHECK(admit(p, "192.0.2.1", 1'000, held));
  o.source_rate = 0.5;
  REQUIRE(p.configure(o));
  CHECK_FALSE(admit(p, "192.0.2.1", 1'000, held));
}

TEST_CASE("admission policy: refusals logged once per source per minute", "[admission]") {
  AdmissionPolicy p;
  ServerOptions o;
  o.max_tunnels_per_source = 16;
  REQUIRE(p.configure(o));
  Lines out;
  const Logger log = out.logger();
  const AdmissionPolicy::Refusal limit{AdmissionRule::max_tunnels_per_source,
                                       "max_tunnels_per_source 16 reached"};
  for (std::uint64_t t = 0; t < 100; ++t) p.report(ip("203.0.113.7"), limit, t * 100, log);
  p.report(ip("::ffff:203.0.113.8"), {AdmissionRule::source_denied, "in deny_sources x"}, 0, log);
  p.report(ip("203.0.113.7"), limit, 60'000, log);
  REQUIRE(out.lines.size() == 3);
  CHECK(out.lines[0].first == LogLevel::warn);
  CHECK(out.lines[0].second == "refused 203.0.113.7: max_tunnels_per_source 16 reached");
  CHECK(out.lines[1].first == LogLevel::info);
  CHECK(out.lines[1].second == "refused 203.0.113.8: in deny_sources x");
  CHECK(out.lines[2].second ==
        "refused 203.0.113.7: max_tunnels_per_source 16 reached (99 more refusals since the "
        "last line)");
}

TEST_CASE("admission rule names", "[admission]") {
  CHECK(admission_rule_name(AdmissionRule::source_denied) == "source_denied");
  CHECK(admission_rule_name(AdmissionRule::max_tunnels) == "max_tunnels");
  CHECK(admission_rule_name(AdmissionRule::max_tunnels_per_user) == "max_tunnels_per_user");
  CHECK(admission_rule_name(AdmissionRule::max_tunnels_per_source) == "max_tunnels_per_source");
  CHECK(admission_rule_name(AdmissionRule::max_tunnels_per_subnet) == "max_tunnels_per_subnet");
  CHECK(admission_rule_name(AdmissionRule::source_rate) == "source_rate");
  CHECK(admission_rule_name(AdmissionRule::target_port) == "target_port");
  CHECK(static_cast<std::size_t>(AdmissionRule::target_port) + 1 == kAdmissionRuleCount);
}
