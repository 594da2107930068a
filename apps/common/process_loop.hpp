// The event loop of both programs and the signals that steer it: the first SIGINT/SIGTERM
// starts a drain (Server::drain, Climber::drain), a second one stops at once, SIGHUP is
// handed on when a program asks for it. A service manager is told each step
// (service_notify.hpp: READY when run() starts, RELOADING/READY around SIGHUP, STOPPING). Every libuv result is checked; the destructor closes
// whatever is still open on the loop before closing the loop, so the program's objects bound
// to the loop (its Server or Climber) must be destroyed before it.
#pragma once

#include <uv.h>

#include <functional>

#include "mtop/log.hpp"

namespace mtop::app {

/// What the signals do.
struct SignalHooks {
  /// The first SIGINT/SIGTERM: stop accepting and drain; call `done` once nothing is left.
  std::function<void(std::function<void()> done)> drain;
  /// A second SIGINT/SIGTERM: end everything now (the loop stops right after).
  std::function<void()> stop_now;
  /// SIGHUP; empty: SIGHUP is not watched.
  std::function<void()> hup;
};

class ProcessLoop {
 public:
  explicit ProcessLoop(Logger log) : log_(std::move(log)) {}
  ~ProcessLoop();
  ProcessLoop(const ProcessLoop&) = delete;
  ProcessLoop& operator=(const ProcessLoop&) = delete;

  /// Initialises the loop. False (logged) when libuv cannot.
  bool init();
  uv_loop_t* loop() noexcept { return &loop_; }

  /// Watches the signals and runs the loop until the drain is done or a second signal came.
  /// False (logged) when the signals cannot be watched; the loop did not run then.
  bool run(SignalHooks hooks);

 private:
  static void on_stop_signal(uv_signal_t* handle, int signum);
  static void on_hup(uv_signal_t* handle, int signum);
  bool watch(int signum, uv_signal_cb cb);

  Logger log_;
  uv_loop_t loop_{};
  bool loop_ready_ = false;
  SignalHooks hooks_;
  uv_signal_t signals_[3]{};
  int watched_ = 0;  ///< how many of signals_ are initialised (and must be closed)
  bool draining_ = false;
};

}  // namespace mtop::app
