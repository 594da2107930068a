#include "engine/server_rate_gate.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace mtop {

RateGate::RateGate(std::uint64_t bytes_per_second, Clock clock, DelayObserver on_delay)
    : rate_(0), clock_(std::move(clock)), on_delay_(std::move(on_delay)) {
  set_rate(bytes_per_second);
}

void RateGate::refill(Bucket& b, std::uint64_t now) const noexcept {
  if (now <= b.last_ms) return;
  const double add = static_cast<double>(now - b.last_ms) * static_cast<double>(rate_) / 1000.0;
  b.tokens = std::min(b.tokens + add, static_cast<double>(rate_));
  b.last_ms = now;
}

std::uint64_t RateGate::delay_ms(io::Direction dir, std::size_t bytes) {
  Bucket& b = dir_of(dir);
  b.bytes += bytes;
  if (rate_ == 0) return 0;
  refill(b, clock_());
  b.tokens -= static_cast<double>(bytes);
  if (b.tokens >= 0) return 0;
  // Time until the debt is paid back; at least 1 ms so the relay really pauses.
  const double ms = std::ceil(-b.tokens * 1000.0 / static_cast<double>(rate_));
  const auto delay = std::max<std::uint64_t>(static_cast<std::uint64_t>(ms), 1);
  b.delayed_ms += delay;
  if (on_delay_) on_delay_(delay);
  return delay;
}

void RateGate::set_rate(std::uint64_t bytes_per_second) {
  const std::uint64_t now = clock_();
  const bool was_unlimited = rate_ == 0;
  if (!was_unlimited) {
    for (auto& b : buckets_) refill(b, now);
  }
  rate_ = bytes_per_second;
  for (auto& b : buckets_) {
    b.last_ms = now;
    // Start a new limit with a full burst; keep a debt across a change of rate.
    b.tokens = was_unlimited ? static_cast<double>(rate_)
                             : std::min(b.tokens, static_cast<double>(rate_));
  }
}

}  // namespace mtop
