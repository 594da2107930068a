// LoopCall: another thread asks for a function to run on a loop's thread and waits, bounded,
// for it to run — how the admin listener's thread reads and changes a server that lives on
// its loop.
//
// Theory of operation: call() queues the function under a mutex and wakes the loop through a
// uv_async handle; the loop runs what is queued, in order. The caller waits for its function
// to start for at most `timeout_ms`; a function not started by then is dropped and never runs,
// so the caller may leave. A function that has started is waited for to its end (it runs on
// the loop, so it must be short and must not block), which lets it use the caller's stack.
// shut() (on the loop thread, before the things the functions use go away) fails every call
// from then on at once and wakes those waiting, so a thread blocked in call() never holds up
// a server that is stopping.
#pragma once

#include <uv.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "mtop/result.hpp"
#include "uv/handle.hpp"

namespace mtop::io {

class LoopCall {
 public:
  /// Errors: system_error (the async handle).
  static Result<std::unique_ptr<LoopCall>> create(uv_loop_t* loop);
  /// On the loop thread: shut(), then the handle is closed.
  ~LoopCall();
  LoopCall(const LoopCall&) = delete;
  LoopCall& operator=(const LoopCall&) = delete;

  /// From any thread but the loop's: runs `fn` on the loop and returns true once it has run;
  /// false if it did not start within `timeout_ms` or the LoopCall is shut (then it never
  /// runs). Calling it on the loop's own thread would wait for itself: don't.
  bool call(std::function<void()> fn, std::uint64_t timeout_ms);
  /// On the loop thread: every call from now on fails at once; calls waiting wake and fail.
  void shut();

 private:
  struct Job {
    std::function<void()> fn;
    bool started = false;
    bool done = false;
    bool dropped = false;  ///< the caller gave up before it started
  };
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::shared_ptr<Job>> queue;
    uv_async_t* wake = nullptr;  ///< null once shut
  };

  LoopCall() = default;
  static void on_wake(uv_async_t* handle);
  void run_queued();

  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  UvHandle<uv_async_t> wake_;
};

}  // namespace mtop::io
