#include "auth/source_rate_limit.hpp"

#include <algorithm>
#include <cmath>

namespace mtop::auth {

namespace {

constexpr std::uint64_t kToken = 1'000'000;  ///< one token in millionths

}  // namespace

SourceRateLimit::SourceRateLimit(Options options)
    : rate_micro_per_ms_(std::max<std::uint64_t>(
          static_cast<std::uint64_t>(std::llround(std::min(options.per_second, 1e9) * 1000)), 1)),
      capacity_micro_(std::max<std::uint64_t>(options.burst, 1) * kToken),
      full_after_ms_((capacity_micro_ + rate_micro_per_ms_ - 1) / rate_micro_per_ms_),
      buckets_(options.max_sources) {}

std::uint64_t SourceRateLimit::refilled(const Bucket& b, std::uint64_t now_ms) const {
  const std::uint64_t elapsed = now_ms > b.last_ms ? now_ms - b.last_ms : 0;
  if (elapsed >= full_after_ms_) return capacity_micro_;
  return std::min(capacity_micro_, b.micro + elapsed * rate_micro_per_ms_);
}

bool SourceRateLimit::take(const IpAddress& source, std::uint64_t now_ms) {
  // Buckets full again are no different from absent ones: forget them first, oldest first.
  buckets_.drop_oldest_while(
      [&](const Bucket& b) { return refilled(b, now_ms) == capacity_micro_; });
  const SourceKey key = source_key(source);
  Bucket* found = buckets_.touch(key);
  if (!found) {
    buckets_.insert(key, Bucket{capacity_micro_ - kToken, now_ms});
    return true;
  }
  found->micro = refilled(*found, now_ms);
  found->last_ms = std::max(found->last_ms, now_ms);
  if (found->micro < kToken) return false;
  found->micro -= kToken;
  return true;
}

}  // namespace mtop::auth
