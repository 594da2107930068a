// Timer: a one-shot libuv timer with a std::function callback, owned by RAII.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>

#include "uv/handle.hpp"

namespace mtop::io {

/// One-shot timer on a loop. The uv_timer_t is allocated on the first start(), so an object
/// that owns a Timer it rarely uses pays only for this small wrapper. Destroying the Timer
/// stops it; the callback is never called afterwards. The callback may destroy the Timer (and
/// its owner): nothing of the Timer is touched after the callback returns.
class Timer {
 public:
  explicit Timer(uv_loop_t* loop) noexcept : loop_(loop) {}
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer() = default;

  /// (Re)starts the timer: `cb` runs once, `timeout_ms` from now (0 = on the next loop turn,
  /// never inside start()). Replaces any earlier callback.
  void start(std::uint64_t timeout_ms, std::function<void()> cb);
  /// Stops the timer; its callback will not run. Keeps the handle for a later start().
  void stop() noexcept;
  /// Stops the timer and frees its handle (152 bytes), for an owner that will seldom start it
  /// again: an idle tunnel should not hold a handle it no longer uses. A later start() makes
  /// a new one.
  void release() noexcept;
  /// True between start() and the callback (or stop()).
  bool active() const noexcept;

  uv_loop_t* loop() const noexcept { return loop_; }

 private:
  static void on_timer(uv_timer_t* t);

  uv_loop_t* loop_;
  UvHandle<uv_timer_t> handle_;
  std::function<void()> cb_;
};

}  // namespace mtop::io
