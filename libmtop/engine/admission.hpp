// AdmissionPolicy: the server's admission control in one object — who may connect, how many
// live tunnels one source address or subnet may have, how fast a source may open new ones —
// with its counters and its "log once per source per minute" gate.
//
// Theory of operation
// - configure() takes the admission settings of ServerOptions (allow/deny_sources, the
//   per-source and per-subnet limits and prefixes, source_rate/burst); a bad setting is refused
//   with a message naming the key and the settings in force stay. It may be called again at
//   any time (a reload): counters, live counts and the log gate are kept; the rate buckets are
//   kept unless the rate or burst changed.
// - check_source() is the cheap early check on a bare address (the listeners call it before
//   TLS or before a QUIC connection exists). admit() is the full check for a new tunnel: the
//   lists, then the live counts of the address and of its subnet, then the source's token
//   bucket (taken only when the rest passed). An admitted tunnel holds a Ticket until
//   release(): the live counts follow the tickets, so they stay right across a reload that
//   changes the subnet prefixes.
// - report() logs a refusal at most once per source per minute ("refused 203.0.113.7:
//   max_tunnels_per_source 16 reached"), saying how many were held back since the last line.
// Pure: time comes in as an argument; no I/O but the Logger. Not thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "auth/ip_prefix.hpp"
#include "auth/source_filter.hpp"
#include "auth/source_log_gate.hpp"
#include "auth/source_rate_limit.hpp"
#include "auth/source_table.hpp"
#include "mtop/log.hpp"
#include "mtop/result.hpp"
#include "mtop/server.hpp"

namespace mtop {

class AdmissionPolicy {
 public:
  /// Why a source or tunnel is refused: the rule and a log-safe detail naming the limit.
  struct Refusal {
    AdmissionRule rule;
    std::string detail;  ///< "max_tunnels_per_source 16 reached", "in deny_sources 10.0.0.0/8"
  };
  /// What an admitted tunnel holds until release().
  struct Ticket {
    auth::SourceKey address;
    auth::SourceKey subnet;
  };

  /// Admits everyone, no limits.
  AdmissionPolicy();

  /// Takes the admission settings of `options`. Errors: config_invalid naming the key
  /// ("deny_sources: \"10.0.0.1/8\": host bits set ...", "source_burst: must be at least 1");
  /// the settings in force then stay.
  Result<void> configure(const ServerOptions& options);

  /// The allow/deny lists only; nothing counted.
  std::optional<Refusal> check_source(const auth::IpAddress& source) const;
  /// Every source rule for a new tunnel from `source` at `now_ms`; on success `ticket` is
  /// filled and the tunnel counts as live until release(ticket).
  std::optional<Refusal> admit(const auth::IpAddress& source, std::uint64_t now_ms, Ticket& ticket);
  void release(const Ticket& ticket);

  /// Counts one refusal by `rule`.
  void count(AdmissionRule rule) { ++counts_[static_cast<std::size_t>(rule)]; }
  const std::array<std::uint64_t, kAdmissionRuleCount>& counts() const noexcept { return counts_; }
  /// Logs `refusal` of `source` unless a line for that source was logged within the minute.
  void report(const auth::IpAddress& source, const Refusal& refusal, std::uint64_t now_ms,
              const Logger& log);

  /// Live tunnels counted for the address / subnet of `source` (for tests and the admin view).
  std::size_t live_from(const auth::IpAddress& source) const;

 private:
  struct Limits {
    std::size_t per_source = 0;
    std::size_t per_subnet = 0;
    unsigned prefix_v4 = 24;
    unsigned prefix_v6 = 64;
    double rate = 0;
    std::uint32_t burst = 20;
  };
  using Counts = std::unordered_map<auth::SourceKey, std::size_t, auth::SourceKeyHash>;
  static void add(Counts& counts, const auth::SourceKey& key);
  static void remove(Counts& counts, const auth::SourceKey& key);
  static std::size_t live(const Counts& counts, const auth::SourceKey& key);

  auth::SourceFilter filter_;
  Limits limits_;
  std::optional<auth::SourceRateLimit> rate_;
  Counts by_address_;  ///< live tunnels per address (entries only while > 0)
  Counts by_subnet_;   ///< live tunnels per subnet, keyed as their tickets say
  auth::SourceLogGate log_gate_;
  std::array<std::uint64_t, kAdmissionRuleCount> counts_{};
};

}  // namespace mtop
