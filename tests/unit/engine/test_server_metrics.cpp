// The metrics of Server::metrics_text() / the admin listener's /metrics: the engine's counts
// after known tunnels, and the Prometheus text format_metrics writes (names, labels, escapes,
// the histogram's cumulative buckets).
#include <catch2/catch.hpp>

#include <string>

#include "engine/server_metrics.hpp"
#include "test_server_engine_support.hpp"

using namespace mtop;
using mtop::srvtest::auth_to;
using mtop::srvtest::Client;
using mtop::srvtest::Fixture;
using mtop::srvtest::local;

namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

}  // namespace

TEST_CASE("metrics: counts after one relayed tunnel, a wrong password and a refused dial",
          "[metrics]") {
  Fixture f;
  f.engine->count_user_bytes(true);
  Client& ok = f.open_alice("hello");
  REQUIRE(f.run_until([&] { return ok.payload.size() == 5; }));
  ok.shutdown();
  Client& bad = f.open(auth_to("alice", "guess", local(f.target.port())));
  // Port 1 on loopback: nothing listens there, the connect is refused.
  Client& refused = f.open(auth_to("alice", "secret", local(1)));
  REQUIRE(f.run_until([&] {
    return ok.eof && bad.finished() && refused.finished() && f.engine->stats().live == 0;
  }));

  const EngineMetrics& m = f.engine->metrics();
  REQUIRE(m.listeners.size() == 1);
  const ListenerCounts& tls = m.listeners.begin()->second;
  CHECK(m.listeners.begin()->first.second == "tls");
  CHECK(tls.total == 3);
  CHECK(tls.live == 0);
  CHECK(m.handshake.count == 1);  // only the relayed one got a success response
  CHECK(m.dial_failures.at("refused") == 1);
  CHECK(m.user_bytes.at("alice").up == 5);
  CHECK(m.user_bytes.at("alice").down == 5);

  MetricsSnapshot snap;
  snap.stats = f.engine->stats();
  snap.engine = m;
  snap.has_store = true;
  snap.store = f.check->counters();
  const std::string text = format_metrics(snap);
  CHECK(has_line(text, R"(mtop_tunnels_total{listener="",transport="tls"} 3)"));
  CHECK(has_line(text, R"(mtop_tunnels_live{listener="",transport="tls"} 0)"));
  CHECK(has_line(text, R"(mtop_auth_failures_total{reason="auth_failed"} 1)"));
  CHECK(has_line(text, R"(mtop_target_dial_failures_total{reason="refused"} 1)"));
  CHECK(has_line(text, R"(mtop_target_dial_failures_total{reason="dns"} 0)"));
  CHECK(has_line(text, R"(mtop_bytes_total{direction="up"} 5)"));
  CHECK(has_line(text, R"(mtop_user_bytes_total{user="alice",direction="down"} 5)"));
  CHECK(has_line(text, R"(mtop_user_store_lookups_total{result="found"} 3)"));
  CHECK(has_line(text, R"(mtop_user_store_outages_total 0)"));
  CHECK(has_line(text, R"(mtop_handshake_duration_seconds_count 1)"));
  CHECK(has_line(text, R"(mtop_handshake_duration_seconds_bucket{le="+Inf"} 1)"));
  CHECK(text.find("mtop_quic_") == std::string::npos);  // no QUIC in this snapshot

  f.engine->count_user_bytes(false);
  CHECK(f.engine->metrics().user_bytes.empty());
}

TEST_CASE("metrics: a store outage is counted once per transition", "[metrics]") {
  Fixture f;
  f.store.unavailable = true;
  for (int i = 0; i < 2; ++i) {
    Client& c = f.open_alice();
    REQUIRE(f.run_until([&] { return c.finished() && f.engine->stats().live == 0; }));
  }
  f.store.unavailable = false;
  Client& c = f.open_alice();
  REQUIRE(f.run_until([&] { return c.established; }));
  const AccountSource::Counters s = f.check->counters();
  CHECK(s.lookups_unavailable == 2);
  CHECK(s.outages == 1);
  CHECK(s.lookups_found == 1);
  CHECK_FALSE(s.store_down);
}

TEST_CASE("metrics text: families, escapes, cumulative histogram", "[metrics]") {
  MetricsSnapshot m;
  m.engine.listeners[{"0.0.0.0:443", "quic"}] = ListenerCounts{7, 2};
  m.engine.handshake.observe(3);       // <= 0.005
  m.engine.handshake.observe(30);      // <= 0.05
  m.engine.handshake.observe(60'000);  // +Inf only
  m.engine.per_user = true;
  m.engine.add_user_bytes("ev\"il\\\nname", true, 9);
  m.stats.failures[static_cast<std::size_t>(TunnelFailure::target_denied)] = 5;
  m.stats.rejections[static_cast<std::size_t>(AdmissionRule::target_port)] = 1;  // of those 5
  m.stats.rejections[static_cast<std::size_t>(AdmissionRule::source_rate)] = 6;
  m.stats.failures[static_cast<std::size_t>(TunnelFailure::throttled)] = 2;
  m.has_quic = true;
  m.quic = QuicMetrics{3, 1, 11};
  const std::string text = format_metrics(m);
  CHECK(has_line(text, "# TYPE mtop_tunnels_total counter"));
  CHECK(has_line(text, "# TYPE mtop_handshake_duration_seconds histogram"));
  CHECK(has_line(text, R"(mtop_tunnels_total{listener="0.0.0.0:443",transport="quic"} 7)"));
  CHECK(has_line(text, R"(mtop_tunnels_live{listener="0.0.0.0:443",transport="quic"} 2)"));
  CHECK(has_line(text, R"(mtop_handshake_duration_seconds_bucket{le="0.005"} 1)"));
  CHECK(has_line(text, R"(mtop_handshake_duration_seconds_bucket{le="0.025"} 1)"));
  CHECK(has_line(text, R"(mtop_handshake_duration_seconds_bucket{le="0.05"} 2)"));
  CHECK(has_line(text, R"(mtop_handshake_duration_seconds_bucket{le="10"} 2)"));
  CHECK(has_line(text, R"(mtop_handshake_duration_seconds_bucket{le="+Inf"} 3)"));
  CHECK(has_line(text, R"(mtop_handshake_duration_seconds_sum 60.033)"));
  CHECK(has_line(text, R"(mtop_user_bytes_total{user="ev\"il\\\nname",direction="up"} 9)"));
  CHECK(has_line(text, R"(mtop_policy_rejections_total{rule="target_policy"} 4)"));
  CHECK(has_line(text, R"(mtop_policy_rejections_total{rule="target_port"} 1)"));
  CHECK(has_line(text, R"(mtop_policy_rejections_total{rule="source_rate"} 6)"));
  CHECK(has_line(text, R"(mtop_policy_rejections_total{rule="max_tunnels_per_subnet"} 0)"));
  CHECK(has_line(text, R"(mtop_policy_rejections_total{rule="failure_throttle"} 2)"));
  CHECK(has_line(text, R"(mtop_quic_connections_total 3)"));
  CHECK(has_line(text, R"(mtop_quic_connections_live 1)"));
  CHECK(has_line(text, R"(mtop_quic_streams_total 11)"));
  CHECK(text.find("mtop_user_store_") == std::string::npos);  // no built-in store
  CHECK(text.back() == '\n');
}

TEST_CASE("metrics text: reverse-tunnel ports and visitor refusals, summed over workers",
          "[metrics]") {
  MetricsSnapshot m;
  m.stats.reverse_ports = 2;
  m.stats.reverse_ports_grace = 1;
  m.stats.reverse_visitors_total = 10;
  m.stats.reverse_visitors_refused = 4;
  m.engine.visitor_refusals[static_cast<std::size_t>(VisitorRefusal::source_rule)] = 1;
  EngineMetrics other;
  other.visitor_refusals[static_cast<std::size_t>(VisitorRefusal::source_rule)] = 2;
  other.visitor_refusals[static_cast<std::size_t>(VisitorRefusal::no_climber)] = 1;
  m.engine.merge(other);
  const std::string text = format_metrics(m);
  CHECK(has_line(text, "# TYPE mtop_reverse_ports_grace gauge"));
  CHECK(has_line(text, "mtop_reverse_ports 2"));
  CHECK(has_line(text, "mtop_reverse_ports_grace 1"));
  CHECK(has_line(text, R"(mtop_reverse_visitors_total{result="accepted"} 6)"));
  CHECK(has_line(text, "# TYPE mtop_reverse_visitor_refusals_total counter"));
  CHECK(has_line(text, R"(mtop_reverse_visitor_refusals_total{reason="source_rule"} 3)"));
  CHECK(has_line(text, R"(mtop_reverse_visitor_refusals_total{reason="no_climber"} 1)"));
  CHECK(has_line(text, R"(mtop_reverse_visitor_refusals_total{reason="visitor_limit"} 0)"));
  CHECK(has_line(text, R"(mtop_reverse_visitor_refusals_total{reason="no_address"} 0)"));
}

TEST_CASE("metrics: dial failure reasons from libuv statuses", "[metrics]") {
  CHECK(dial_failure_reason(UV_ETIMEDOUT) == "timeout");
  CHECK(dial_failure_reason(UV_ECONNREFUSED) == "refused");
  CHECK(dial_failure_reason(UV_EHOSTUNREACH) == "unreachable");
  CHECK(dial_failure_reason(UV_EAI_NONAME) == "dns");
  CHECK(dial_failure_reason(UV_EPERM) == "other");
}
