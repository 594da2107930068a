#include "engine/server_rate_gate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>

namespace mtop {

std::uint64_t RateGate::monotonic_ms() {
  const auto since = std::chrono::steady_clock::now().time_since_epoch();
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(since).count());
}

RateGate::RateGate(std::uint64_t bytes_per_second, Clock clock) : clock_(std::move(clock)) {
  set_rate(bytes_per_second);
}

void RateGate::refill(Bucket& b, std::uint64_t now) const noexcept {
  if (now <= b.last_ms) return;
  const double add = static_cast<double>(now - b.last_ms) * static_cast<double>(rate_) / 1000.0;
  b.tokens = std::min(b.tokens + add, static_cast<double>(rate_));
  b.last_ms = now;
}

std::uint64_t RateGate::delay_ms(io::Direction dir, std::size_t bytes) {
  std::lock_guard lock(mu_);
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
  return delay;
}

void RateGate::set_rate(std::uint64_t bytes_per_second) {
  std::lock_guard lock(mu_);
  if (bytes_per_second == rate_) return;  // nothing changes (refilling is done on use)
  const std::uint64_t now = clock_();
  const bool was_unlimited = rate_ == 0;
  if (!was_unlimited) {
    for (auto& b : buckets_) refill(b, now);
  }
  rate_ = bytes_per_second;
  for (auto& b : buckets_) {
    b.last_ms = now;
    // Start a new limit with a full burst; keep a debt across a change of rate.
    b.tokens =
        was_unlimited ? static_cast<double>(rate_) : std::min(b.tokens, static_cast<double>(rate_));
  }
}

std::uint64_t RateGate::rate() const {
  std::lock_guard lock(mu_);
  return rate_;
}

std::uint64_t RateGate::bytes(io::Direction dir) const {
  std::lock_guard lock(mu_);
  return dir_of(dir).bytes;
}

std::uint64_t RateGate::delayed_ms(io::Direction dir) const {
  std::lock_guard lock(mu_);
  return dir_of(dir).delayed_ms;
}

WorkerRateGate::WorkerRateGate(std::shared_ptr<RateGate> shared, DelayObserver on_delay)
    : shared_(std::move(shared)), on_delay_(std::move(on_delay)) {}

std::uint64_t WorkerRateGate::delay_ms(io::Direction dir, std::size_t bytes) {
  const std::uint64_t delay = shared_->delay_ms(dir, bytes);
  if (delay > 0 && on_delay_) on_delay_(delay);
  return delay;
}

}  // namespace mtop
