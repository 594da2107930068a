// FailureThrottle: slows password guessing by counting failed logins per source.
//
// Theory of operation: a source is an IPv4 address or an IPv6 /64 (one subscriber usually
// owns a whole /64, so counting single IPv6 addresses would be no limit at all); an
// IPv4-mapped IPv6 peer (::ffff:a.b.c.d on a dual-stack socket) counts as its IPv4 address.
// `max_failures` failures within `window_ms` of the first one lock the source out for
// `lockout_ms`; while locked out, attempts are refused before any password is checked. A
// window that passes without reaching the limit starts over. At most `max_sources` sources
// are tracked; beyond that the least recently active one is forgotten, so memory is bounded
// whatever an attacker sends. Time comes in as an argument (ms on a monotonic clock, e.g.
// uv_now()). Not thread-safe.
#pragma once

#include <cstdint>

#include "auth/ip_prefix.hpp"
#include "auth/source_table.hpp"

struct sockaddr;

namespace mtop::auth {

class FailureThrottle {
 public:
  struct Options {
    std::uint32_t max_failures = 10;      ///< failures that trigger a lock-out (>= 1)
    std::uint64_t window_ms = 60'000;     ///< counted from the first failure
    std::uint64_t lockout_ms = 300'000;   ///< refusal period once the limit is reached
    std::size_t max_sources = 100'000;    ///< tracked sources (>= 1)
  };

  /// The grouping key of a source: 16 bytes, IPv4 as ::ffff:a.b.c.d, IPv6 as its /64.
  static SourceKey key_of(const IpAddress& addr) { return source_key(addr); }

  explicit FailureThrottle(Options options);

  /// False while `source` is locked out. Unknown address families are never locked out
  /// (there is nothing to group them by; the listener only produces IPv4/IPv6).
  bool allowed(const struct sockaddr* source, std::uint64_t now_ms);
  bool allowed(const IpAddress& source, std::uint64_t now_ms);

  /// Counts a failed attempt.
  void record_failure(const struct sockaddr* source, std::uint64_t now_ms);
  void record_failure(const IpAddress& source, std::uint64_t now_ms);

  /// A successful login clears the source's failures (not an active lock-out, which only
  /// time lifts: allowed() is checked before the password, so a locked source never gets here).
  void record_success(const IpAddress& source);
  void record_success(const struct sockaddr* source);

  std::size_t tracked() const { return sources_.size(); }

 private:
  struct Entry {
    std::uint32_t failures = 0;
    std::uint64_t window_start = 0;
    std::uint64_t locked_until = 0;  ///< 0 = not locked
  };

  Options options_;
  SourceTable<Entry> sources_;  ///< touched by failures only
};

}  // namespace mtop::auth
