#include "engine/server_metrics.hpp"

#include <uv.h>

#include <charconv>
#include <cstdio>

namespace mtop {

void HandshakeHistogram::observe(std::uint64_t ms) noexcept {
  ++count;
  sum_ms += ms;
  const double s = static_cast<double>(ms) / 1000.0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (s <= kBounds[i]) {
      ++in_bucket[i];
      return;
    }
  }
}

void EngineMetrics::add_user_bytes(const std::string& user, bool up, std::uint64_t bytes) {
  auto it = user_bytes.find(user);
  if (it == user_bytes.end()) {
    // Bounded: past kMaxUsers names, the bytes go to the unnamed bucket.
    it = user_bytes.size() < kMaxUsers ? user_bytes.emplace(user, UserBytes{}).first
                                       : user_bytes.try_emplace(std::string()).first;
  }
  (up ? it->second.up : it->second.down) += bytes;
}

void HandshakeHistogram::merge(const HandshakeHistogram& other) noexcept {
  for (std::size_t i = 0; i < in_bucket.size(); ++i) in_bucket[i] += other.in_bucket[i];
  count += other.count;
  sum_ms += other.sum_ms;
}

void EngineMetrics::merge(const EngineMetrics& other) {
  for (const auto& [key, c] : other.listeners) {
    ListenerCounts& mine = listeners[key];
    mine.total += c.total;
    mine.live += c.live;
  }
  handshake.merge(other.handshake);
  for (const auto& [reason, n] : other.dial_failures) dial_failures[reason] += n;
  for (const auto& [user, b] : other.user_bytes) {
    add_user_bytes(user, true, b.up);
    add_user_bytes(user, false, b.down);
  }
  for (std::size_t i = 0; i < visitor_refusals.size(); ++i) {
    visitor_refusals[i] += other.visitor_refusals[i];
  }
}

std::string_view visitor_refusal_name(VisitorRefusal r) noexcept {
  switch (r) {
    case VisitorRefusal::no_climber:
      return "no_climber";
    case VisitorRefusal::source_rule:
      return "source_rule";
    case VisitorRefusal::visitor_limit:
      return "visitor_limit";
    case VisitorRefusal::no_address:
      return "no_address";
  }
  return "unknown";
}

std::string_view dial_failure_reason(int uv_status) noexcept {
  switch (uv_status) {
    case UV_ETIMEDOUT:
      return "timeout";
    case UV_ECONNREFUSED:
      return "refused";
    case UV_ENETUNREACH:
    case UV_EHOSTUNREACH:
    case UV_ENETDOWN:
    case UV_EHOSTDOWN:
      return "unreachable";
    case UV_EAI_ADDRFAMILY:
    case UV_EAI_AGAIN:
    case UV_EAI_FAIL:
    case UV_EAI_FAMILY:
    case UV_EAI_NODATA:
    case UV_EAI_NONAME:
    case UV_EAI_SERVICE:
      return "dns";
    default:
      return "other";
  }
}

namespace {

/// Writes families in the text format; every number as an unsigned integer or a double.
class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  /// `labels`: already formatted by label() ("" for none).
  void sample(std::string_view name, const std::string& labels, std::uint64_t value) {
    line(name, labels, std::to_string(value));
  }
  void sample(std::string_view name, const std::string& labels, double value) {
    char buf[64];  // the shortest text that reads back as the same double
    const auto r = std::to_chars(buf, buf + sizeof buf, value);
    line(name, labels, std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
  }
  std::string take() { return std::move(out_); }

 private:
  void line(std::string_view name, const std::string& labels, std::string_view value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  std::string out_;
};

/// `key="value"` with the text format's escapes.
std::string label(std::string_view key, std::string_view value) {
  std::string s(key);
  s += "=\"";
  for (const char c : value) {
    if (c == '\\') {
      s += "\\\\";
    } else if (c == '"') {
      s += "\\\"";
    } else if (c == '\n') {
      s += "\\n";
    } else {
      s += c;
    }
  }
  s += '"';
  return s;
}

std::string labels2(std::string_view k1, std::string_view v1, std::string_view k2,
                    std::string_view v2) {
  return label(k1, v1) + "," + label(k2, v2);
}

std::string bound_text(double b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", b);
  return buf;
}

void write_tunnels(Writer& w, const MetricsSnapshot& m) {
  w.family("mtop_tunnels_total", "counter", "Tunnel streams accepted, by listener and transport.");
  for (const auto& [key, c] : m.engine.listeners) {
    w.sample("mtop_tunnels_total", labels2("listener", key.first, "transport", key.second),
             c.total);
  }
  w.family("mtop_tunnels_live", "gauge",
           "Tunnels in any stage (handshake, auth, connect, relay), by listener and transport.");
  for (const auto& [key, c] : m.engine.listeners) {
    w.sample("mtop_tunnels_live", labels2("listener", key.first, "transport", key.second), c.live);
  }
  w.family("mtop_worker_tunnels_total", "counter",
           "Tunnel streams accepted, by worker (config workers).");
  for (std::size_t i = 0; i < m.workers.size(); ++i) {
    w.sample("mtop_worker_tunnels_total", label("worker", std::to_string(i)), m.workers[i].total);
  }
  w.family("mtop_worker_tunnels_live", "gauge", "Tunnels in any stage, by worker.");
  for (std::size_t i = 0; i < m.workers.size(); ++i) {
    w.sample("mtop_worker_tunnels_live", label("worker", std::to_string(i)), m.workers[i].live);
  }
  w.family("mtop_tunnels_relaying", "gauge", "Tunnels relaying bytes.");
  w.sample("mtop_tunnels_relaying", "", static_cast<std::uint64_t>(m.stats.relaying));
  w.family("mtop_tunnels_accepted_total", "counter", "Tunnels that got a success response.");
  w.sample("mtop_tunnels_accepted_total", "", m.stats.accepted);
  w.family("mtop_tunnel_failures_total", "counter",
           "Tunnels refused or cut, by reason (tunnel_failure_name).");
  for (std::size_t i = 0; i < kTunnelFailureCount; ++i) {
    const auto f = static_cast<TunnelFailure>(i);
    w.sample("mtop_tunnel_failures_total", label("reason", tunnel_failure_name(f)),
             m.stats.failed(f));
  }
  w.family("mtop_active_users", "gauge", "Users with live tunnels.");
  w.sample("mtop_active_users", "", static_cast<std::uint64_t>(m.stats.active_users));
  w.family("mtop_reverse_ports", "gauge", "Public ports held by live reverse control tunnels.");
  w.sample("mtop_reverse_ports", "", static_cast<std::uint64_t>(m.stats.reverse_ports));
  w.family("mtop_reverse_ports_grace", "gauge",
           "Public ports kept bound in their grace period for their user's climber.");
  w.sample("mtop_reverse_ports_grace", "", static_cast<std::uint64_t>(m.stats.reverse_ports_grace));
  w.family("mtop_reverse_visitors", "gauge",
           "Visitors of published ports waiting for or carried on a data connection.");
  w.sample("mtop_reverse_visitors", "", static_cast<std::uint64_t>(m.stats.reverse_visitors));
  w.family("mtop_reverse_visitors_total", "counter",
           "Visitors of published ports, by result: accepted or refused (no climber, a visitor "
           "rule, the visitor limit).");
  w.sample("mtop_reverse_visitors_total", label("result", "accepted"),
           m.stats.reverse_visitors_total - m.stats.reverse_visitors_refused);
  w.sample("mtop_reverse_visitors_total", label("result", "refused"),
           m.stats.reverse_visitors_refused);
  w.family("mtop_reverse_visitor_refusals_total", "counter",
           "Visitors of published ports reset, by reason: no_climber (the port is in its grace "
           "period), source_rule (allow / deny CIDRs), visitor_limit (max_visitors), no_address "
           "(the visitor's address could not be read).");
  for (std::size_t i = 0; i < kVisitorRefusalCount; ++i) {
    const auto r = static_cast<VisitorRefusal>(i);
    w.sample("mtop_reverse_visitor_refusals_total", label("reason", visitor_refusal_name(r)),
             m.engine.visitor_refusals[i]);
  }
}

void write_handshakes(Writer& w, const HandshakeHistogram& h) {
  w.family("mtop_handshake_duration_seconds", "histogram",
           "From the tunnel stream accepted to the success response sent (auth, user check, "
           "target connect).");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < HandshakeHistogram::kBounds.size(); ++i) {
    cumulative += h.in_bucket[i];
    w.sample("mtop_handshake_duration_seconds_bucket",
             label("le", bound_text(HandshakeHistogram::kBounds[i])), cumulative);
  }
  w.sample("mtop_handshake_duration_seconds_bucket", label("le", "+Inf"), h.count);
  w.sample("mtop_handshake_duration_seconds_sum", "", static_cast<double>(h.sum_ms) / 1000.0);
  w.sample("mtop_handshake_duration_seconds_count", "", h.count);
}

void write_refusals(Writer& w, const MetricsSnapshot& m) {
  w.family("mtop_auth_failures_total", "counter",
           "Authentications that failed, by reason: auth_failed (unknown user or wrong "
           "password), account_refused, store_unavailable, store_error.");
  for (const TunnelFailure f : {TunnelFailure::auth_failed, TunnelFailure::account_refused,
                                TunnelFailure::store_unavailable, TunnelFailure::store_error}) {
    w.sample("mtop_auth_failures_total", label("reason", tunnel_failure_name(f)),
             m.stats.failed(f));
  }
  w.family("mtop_target_dial_failures_total", "counter",
           "Target connects that failed, by reason (dns, timeout, refused, unreachable, other).");
  for (const std::string_view reason : {"dns", "timeout", "refused", "unreachable", "other"}) {
    auto it = m.engine.dial_failures.find(reason);
    w.sample("mtop_target_dial_failures_total", label("reason", reason),
             it == m.engine.dial_failures.end() ? std::uint64_t{0} : it->second);
  }
  w.family("mtop_policy_rejections_total", "counter",
           "Connections and tunnels refused by a policy rule.");
  // The admission rules (ServerStats::rejections), then the rules the engine decides itself.
  for (std::size_t i = 0; i < kAdmissionRuleCount; ++i) {
    const auto r = static_cast<AdmissionRule>(i);
    w.sample("mtop_policy_rejections_total", label("rule", admission_rule_name(r)),
             m.stats.rejected(r));
  }
  // A denied target port is also a target_denied failure: counted above, not again here.
  const std::uint64_t target_denied = m.stats.failed(TunnelFailure::target_denied);
  const std::uint64_t port_denied = m.stats.rejected(AdmissionRule::target_port);
  w.sample("mtop_policy_rejections_total", label("rule", "target_policy"),
           target_denied > port_denied ? target_denied - port_denied : 0);
  w.sample("mtop_policy_rejections_total", label("rule", "failure_throttle"),
           m.stats.failed(TunnelFailure::throttled));
}

void write_bytes(Writer& w, const MetricsSnapshot& m) {
  w.family("mtop_bytes_total", "counter",
           "Bytes relayed, by direction: up (client to target), down (target to client).");
  w.sample("mtop_bytes_total", label("direction", "up"), m.stats.bytes_up);
  w.sample("mtop_bytes_total", label("direction", "down"), m.stats.bytes_down);
  w.family("mtop_rate_limit_delay_seconds_total", "counter",
           "Pauses asked by the users' bandwidth limits.");
  w.sample("mtop_rate_limit_delay_seconds_total", "",
           static_cast<double>(m.stats.rate_limit_delay_ms) / 1000.0);
  if (!m.engine.per_user) return;
  w.family("mtop_user_bytes_total", "counter", "Bytes relayed per user, by direction.");
  for (const auto& [user, b] : m.engine.user_bytes) {
    w.sample("mtop_user_bytes_total", labels2("user", user, "direction", "up"), b.up);
    w.sample("mtop_user_bytes_total", labels2("user", user, "direction", "down"), b.down);
  }
}

void write_store(Writer& w, const MetricsSnapshot& m) {
  if (!m.has_store) return;
  const AccountSource::Counters& c = m.store;
  w.family("mtop_user_store_lookups_total", "counter",
           "User-store lookups for authentication, by result (found, not_found, unavailable).");
  w.sample("mtop_user_store_lookups_total", label("result", "found"), c.lookups_found);
  w.sample("mtop_user_store_lookups_total", label("result", "not_found"), c.lookups_not_found);
  w.sample("mtop_user_store_lookups_total", label("result", "unavailable"), c.lookups_unavailable);
  w.family("mtop_user_store_outages_total", "counter",
           "Times the user store went from answering to unavailable.");
  w.sample("mtop_user_store_outages_total", "", c.outages);
  w.family("mtop_user_store_up", "gauge", "1 if the user store's last lookup was answered.");
  w.sample("mtop_user_store_up", "", std::uint64_t{c.store_down ? 0U : 1U});
  w.family("mtop_password_checks_total", "counter", "Password hash verifications run.");
  w.sample("mtop_password_checks_total", "", c.password_checks);
  w.family("mtop_credential_cache_hits_total", "counter",
           "Passwords accepted from the credential cache.");
  w.sample("mtop_credential_cache_hits_total", "", c.cache_hits);
}

void write_quic(Writer& w, const MetricsSnapshot& m) {
  if (!m.has_quic) return;
  w.family("mtop_quic_connections_total", "counter", "QUIC connections accepted.");
  w.sample("mtop_quic_connections_total", "", m.quic.connections_total);
  w.family("mtop_quic_connections_live", "gauge", "QUIC connections open now.");
  w.sample("mtop_quic_connections_live", "", m.quic.connections_live);
  w.family("mtop_quic_streams_total", "counter", "QUIC streams opened by climbers.");
  w.sample("mtop_quic_streams_total", "", m.quic.streams_total);
}

}  // namespace

std::string format_metrics(const MetricsSnapshot& m) {
  Writer w;
  write_tunnels(w, m);
  write_handshakes(w, m.engine.handshake);
  write_refusals(w, m);
  write_bytes(w, m);
  write_store(w, m);
  write_quic(w, m);
  return w.take();
}

}  // namespace mtop
