// ServerMetrics: what a server counts beyond ServerStats, for the Prometheus text of
// Server::metrics_text() and the admin listener's /metrics (format_metrics).
//
// The engine keeps EngineMetrics on its loop (tunnels per listener and transport, handshake
// durations, target dial failures by reason, per-user bytes when switched on); the Server adds
// the user store's and the QUIC servers' counters into a MetricsSnapshot, and format_metrics
// writes it in the Prometheus text exposition format (version 0.0.4): one HELP and TYPE line
// per family, `mtop_` names, counters ending in `_total`, durations in `_seconds`, byte counts
// in `_bytes`. Label values are escaped (\\, \", \n), so user names cannot forge lines.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/account_source.hpp"
#include "mtop/server.hpp"

namespace mtop {

/// Handshake durations (stream accepted to success response) in fixed buckets.
struct HandshakeHistogram {
  /// Upper bounds in seconds; +Inf is implicit.
  static constexpr std::array<double, 11> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5,   1.0,  2.5,   5.0,  10.0};
  std::array<std::uint64_t, kBounds.size()> in_bucket{};  ///< not cumulative; the rest is +Inf
  std::uint64_t count = 0;
  std::uint64_t sum_ms = 0;

  void observe(std::uint64_t ms) noexcept;
  void merge(const HandshakeHistogram& other) noexcept;
};

/// Tunnels taken on one listener over one transport.
struct ListenerCounts {
  std::uint64_t total = 0;  ///< streams served
  std::uint64_t live = 0;   ///< not yet finished
};

/// Bytes one user moved (per_user_metrics).
struct UserBytes {
  std::uint64_t up = 0;
  std::uint64_t down = 0;
};

/// Why a visitor of a published port was reset (ReverseHub).
enum class VisitorRefusal : std::uint8_t {
  no_climber,     ///< the port has no live control tunnel (its grace period)
  source_rule,    ///< the port's allow / deny CIDRs
  visitor_limit,  ///< the port's max_visitors
  no_address,     ///< the visitor's or the port's address could not be read
};
inline constexpr std::size_t kVisitorRefusalCount = 4;
/// The metric label: "no_climber", "source_rule", "visitor_limit", "no_address".
std::string_view visitor_refusal_name(VisitorRefusal r) noexcept;

/// Kept by the ServerEngine on its loop.
struct EngineMetrics {
  /// By (listener "host:port", transport "tls"/"quic").
  std::map<std::pair<std::string, std::string>, ListenerCounts> listeners;
  HandshakeHistogram handshake;
  /// Target connects that failed, by dial_failure_reason().
  std::map<std::string, std::uint64_t, std::less<>> dial_failures;
  /// By user; only filled while per_user is on, and at most kMaxUsers users (the rest are
  /// summed under the empty name, written as user="" so the totals stay right).
  std::map<std::string, UserBytes, std::less<>> user_bytes;
  /// Visitors of published ports reset, by VisitorRefusal.
  std::array<std::uint64_t, kVisitorRefusalCount> visitor_refusals{};
  bool per_user = false;
  static constexpr std::size_t kMaxUsers = 100'000;

  void add_user_bytes(const std::string& user, bool up, std::uint64_t bytes);
  /// Adds another worker's metrics into these (a multi-worker server's view).
  void merge(const EngineMetrics& other);
};

/// QUIC servers' counters, summed over the listeners.
struct QuicMetrics {
  std::uint64_t connections_total = 0;  ///< connections accepted
  std::uint64_t connections_live = 0;
  std::uint64_t streams_total = 0;  ///< tunnel streams opened by climbers
};

/// Tunnels one worker took (ServerConfig::workers).
struct WorkerCounts {
  std::uint64_t total = 0;  ///< streams served
  std::uint64_t live = 0;
};

/// Everything format_metrics() writes.
struct MetricsSnapshot {
  std::vector<WorkerCounts> workers;  ///< by worker index
  ServerStats stats;
  EngineMetrics engine;
  bool has_store = false;  ///< the built-in user check: its counters are meaningful
  AccountSource::Counters store;
  bool has_quic = false;
  QuicMetrics quic;
};

/// Why a target connect failed, from libuv's status: dns, timeout, refused, unreachable, other.
std::string_view dial_failure_reason(int uv_status) noexcept;

/// The snapshot in the Prometheus text format (ends with a newline).
std::string format_metrics(const MetricsSnapshot& m);

}  // namespace mtop
