// RateGate: a user's bandwidth limit, one token bucket per direction, shared by every tunnel
// of that user on every worker of the server (SharedLimits holds one per user with live
// tunnels); WorkerRateGate: one worker's handle on it (io::TrafficGate).
//
// Theory of operation: each direction holds up to `rate` tokens (one second of traffic, the
// burst). Tokens refill at `rate` per second of clock time. A chunk always passes (the relay
// forwards it anyway) and takes its size in tokens; when the bucket goes negative, the answer
// is how long until it is back at zero, and the relay stops reading that side for that long.
// Over any interval the bytes let through are at most rate * seconds + burst + one chunk per
// tunnel, whatever the number of tunnels and workers sharing the gate.
//
// Threads: RateGate is safe from any thread (one mutex; each call is a few arithmetic
// operations under it). Its clock must be one every worker shares, not a loop's uv_now():
// monotonic_ms() in the server, a variable in tests. A WorkerRateGate belongs to one worker's
// loop: its delay observer (the engine's counters) is called on the thread that asked.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "uv/relay.hpp"

namespace mtop {

class RateGate final : public io::TrafficGate {
 public:
  using Clock = std::function<std::uint64_t()>;  ///< milliseconds, monotonic, thread-safe

  /// Milliseconds of the process's monotonic clock (std::chrono::steady_clock): the clock
  /// every worker shares.
  static std::uint64_t monotonic_ms();

  /// `bytes_per_second` 0 means no limit (every chunk passes at once, still counted), so a
  /// user's gate can exist before a limit is set and follow later changes.
  RateGate(std::uint64_t bytes_per_second, Clock clock);

  std::uint64_t delay_ms(io::Direction dir, std::size_t bytes) override;

  /// Changes the rate (a store edit seen by a re-check on any worker; 0 = no limit); the same
  /// rate again changes nothing. Tokens are clamped to the new burst; a bucket that had no
  /// limit starts full.
  void set_rate(std::uint64_t bytes_per_second);
  std::uint64_t rate() const;

  /// Accounting for logs and tests: bytes that went through, and the pauses asked, per
  /// direction.
  std::uint64_t bytes(io::Direction dir) const;
  std::uint64_t delayed_ms(io::Direction dir) const;

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

  Clock clock_;
  mutable std::mutex mu_;
  std::uint64_t rate_ = 0;
  std::array<Bucket, 2> buckets_;
};

/// One worker's view of a user's shared RateGate: asks the shared gate about every chunk and
/// tells its own engine of the pauses (per-worker counters, summed by the server's metrics).
class WorkerRateGate final : public io::TrafficGate {
 public:
  using DelayObserver = std::function<void(std::uint64_t ms)>;

  WorkerRateGate(std::shared_ptr<RateGate> shared, DelayObserver on_delay);

  std::uint64_t delay_ms(io::Direction dir, std::size_t bytes) override;
  RateGate& shared() const noexcept { return *shared_; }

 private:
  std::shared_ptr<RateGate> shared_;
  DelayObserver on_delay_;
};

}  // namespace mtop
