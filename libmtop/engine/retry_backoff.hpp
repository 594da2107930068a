// RetryBackoff: how long to wait before the next attempt at something that keeps failing (a
// reverse tunnel's control tunnel: ReverseClient). The first failure waits `first_ms`, each
// further one twice as long as the one before, never more than `max_ms`; a success starts the
// schedule again. Pure arithmetic, no clock: the caller runs the timer, and tests walk the
// schedule without waiting it out.
#pragma once

#include <algorithm>
#include <cstdint>

namespace mtop {

class RetryBackoff {
 public:
  /// `first_ms` must be at least 1 and at most `max_ms`.
  constexpr RetryBackoff(std::uint64_t first_ms, std::uint64_t max_ms) noexcept
      : first_(first_ms), max_(max_ms), next_(first_ms) {}

  /// A failure: the delay to wait before the next attempt. Doubles the one after, up to max.
  constexpr std::uint64_t failed() noexcept {
    const std::uint64_t delay = next_;
    next_ = std::min(next_ * 2, max_);
    return delay;
  }
  /// A success: the next failure waits `first_ms` again.
  constexpr void succeeded() noexcept { next_ = first_; }

 private:
  std::uint64_t first_;
  std::uint64_t max_;
  std::uint64_t next_;
};

}  // namespace mtop
