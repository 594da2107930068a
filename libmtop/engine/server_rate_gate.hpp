// RateGate: a user's bandwidth limit, one token bucket per direction, shared by every tunnel
// of that user (io::TrafficGate).
//
// Theory of operation: each direction holds up to `rate` tokens (one second of traffic, the
// burst). Tokens refill at `rate` per second of clock time. A chunk always passes (the relay
// forwards it anyway) and takes its size in tokens; when the bucket goes negative, the answer
// is how long until it is back at zero, and the relay stops reading that side for that long.
// Over any interval the bytes let through are at most rate * seconds + burst + one chunk,
// whatever the number of tunnels sharing the gate. Time comes from the clock function
// (uv_now in the engine, a variable in tests).
#pragma once

#include <array>
#include <cstdint>
#include <functional>

#include "uv/relay.hpp"

namespace mtop {

class RateGate final : public io::TrafficGate {
 public:
  using Clock = std::function<std::uint64_t()>;  ///< milliseconds, monotonic
  /// Told of every pause asked (for the engine's counters).
  using DelayObserver = std::function<void(std::uint64_t ms)>;

  /// `bytes_per_second` 0 means no limit (every chunk passes at once, still counted), so a
  /// user's gate can exist before a limit is set and follow later changes.
  RateGate(std::uint64_t bytes_per_second, Clock clock, DelayObserver on_delay = {});

  std::uint64_t delay_ms(io::Direction dir, std::size_t bytes) override;

  /// Changes the rate (a store edit seen by the re-check; 0 = no limit). Tokens are clamped
  /// to the new burst; a bucket that had no limit starts full.
  void set_rate(std::uint64_t bytes_per_second);
  std::uint64_t rate() const noexcept { return rate_; }

  /// Accounting for logs and tests: bytes that went through, and the pauses asked, per
  /// direction (index 0 = up, 1 = down).
  std::uint64_t bytes(io::Direction dir) const noexcept { return dir_of(dir).bytes; }
  std::uint64_t delayed_ms(io::Direction dir) const noexcept { return dir_of(dir).delayed_ms; }

 private:
  struct Bucket {
    double tokens = 0;
    std::uint64_t last_ms = 0;
    std::uint64_t bytes = 0;
    std::uint64_t delayed_ms = 0;
  };
  Bucket& dir_of(io::Direction d) noexcept { return buckets_[d == io::Direction::a_to_b ? 0 : 1]; }
  const Bucket& dir_of(io::Direction d) const noexcept {
    return buckets_[d == io::Direction::a_to_b ? 0 : 1];
  }
  void refill(Bucket& b, std::uint64_t now) const noexcept;

  std::uint64_t rate_;
  Clock clock_;
  DelayObserver on_delay_;
  std::array<Bucket, 2> buckets_;
};

}  // namespace mtop
