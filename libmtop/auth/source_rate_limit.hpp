// SourceRateLimit: a token bucket per source, for "at most R new tunnels per second from one
// source, with bursts of B".
//
// Theory of operation: each source (source_key(): an IPv4 address, an IPv6 /64) has a bucket
// of `burst` tokens that refills at `per_second` tokens a second; a new tunnel takes one
// token, and a source with less than one is refused. Tokens are counted in millionths, so the
// arithmetic is exact integer maths for any rate down to 0.001/s. A bucket that has refilled
// completely carries no information: it is forgotten (from the least recently active end, on
// every take()), and at most `max_sources` are kept (the least recently active goes first),
// so memory is bounded whatever sources a flood uses. Time comes in as an argument (ms on a
// monotonic clock). Not thread-safe.
#pragma once

#include <cstdint>

#include "auth/ip_prefix.hpp"
#include "auth/source_table.hpp"

namespace mtop::auth {

class SourceRateLimit {
 public:
  struct Options {
    double per_second = 1;     ///< refill rate, > 0 (0.001 resolution)
    std::uint32_t burst = 10;  ///< bucket size in tunnels (>= 1)
    std::size_t max_sources = 100'000;
  };

  explicit SourceRateLimit(Options options);

  /// Takes a token for `source` at `now_ms`: true if it had one (the tunnel may go ahead).
  bool take(const IpAddress& source, std::uint64_t now_ms);

  /// Buckets held (sources that took a token and have not refilled yet).
  std::size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    std::uint64_t micro = 0;    ///< tokens × 1e6 after the refill up to `last_ms`
    std::uint64_t last_ms = 0;  ///< when it was last refilled
  };
  std::uint64_t refilled(const Bucket& b, std::uint64_t now_ms) const;

  std::uint64_t rate_micro_per_ms_;  ///< per_second × 1000, at least 1
  std::uint64_t capacity_micro_;     ///< burst × 1e6
  std::uint64_t full_after_ms_;      ///< an empty bucket is full again after this long
  SourceTable<Bucket> buckets_;
};

}  // namespace mtop::auth
