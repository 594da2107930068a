// LoopPost: runs functions on a libuv loop's thread, posted from any thread (uv_async_t under
// a mutex-guarded queue). Also how the stores keep their promise that a callback never runs
// inside the call that asked for it: they post it instead of calling it.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "mtop/result.hpp"
#include "uv/handle.hpp"

namespace mtop::store {

class LoopPost {
 public:
  LoopPost() = default;
  LoopPost(const LoopPost&) = delete;
  LoopPost& operator=(const LoopPost&) = delete;
  /// Posted functions that have not run yet are dropped (never run).
  ~LoopPost();

  /// Binds to the loop. The handle is unreferenced: it keeps the loop alive only while
  /// hold() says work is outstanding. Errors: invalid_state (uv_async_init failed).
  Result<void> start(uv_loop_t* loop);

  /// Queues fn to run on the loop thread at its next turn. Thread-safe.
  void post(std::function<void()> fn);

  /// Counts work whose answer will arrive through post() (loop thread only): while the count
  /// is above zero the loop stays alive, so uv_run() does not return with answers owed.
  void hold();
  void release();

  /// False once this LoopPost is destroyed: lets a caller that runs callbacks in a row stop
  /// when one of them destroyed the owner.
  std::shared_ptr<const bool> alive() const { return alive_; }

 private:
  static void on_async(uv_async_t* h);
  void drain();

  io::UvHandle<uv_async_t> async_;
  std::mutex mu_;
  std::deque<std::function<void()>> queue_;
  unsigned holds_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once destroyed
};

}  // namespace mtop::store
