// LoopMailbox: functions posted from any thread run on one loop's thread, in the order posted
// — how a multi-worker server's loops hand each other work without waiting (a worker's user
// check goes to the loop that owns the user store; the answer of a store lookup comes back).
//
// Theory of operation: the loop's side (LoopMailbox, owned on that loop) holds a uv_async_t;
// posters hold a Sender, a shared handle to a queue under a mutex. post() queues and wakes the
// loop under the lock. Destroying the LoopMailbox (on its loop) closes the queue under the same
// lock: functions queued and not yet run, and every one posted later, are dropped without
// running (destroyed on the thread that drops them), and the async handle is never touched
// again. The handle is unreferenced: an empty mailbox does not keep its loop running.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "mtop/result.hpp"
#include "uv/handle.hpp"

namespace mtop::io {

class LoopMailbox {
  struct Queue {
    std::mutex mu;
    uv_async_t* wake = nullptr;  ///< null once the mailbox is closed
    std::deque<std::function<void()>> fns;
  };

 public:
  /// A handle posters keep; copyable, safe from any thread, outlives the mailbox harmlessly.
  class Sender {
   public:
    Sender() = default;
    /// Queues `fn` to run on the mailbox's loop; false (and `fn` dropped) once it is closed.
    bool post(std::function<void()> fn) const;

   private:
    friend class LoopMailbox;
    explicit Sender(std::shared_ptr<Queue> q) : q_(std::move(q)) {}
    std::shared_ptr<Queue> q_;
  };

  /// Errors: system_error (uv_async_init).
  static Result<std::unique_ptr<LoopMailbox>> open(uv_loop_t* loop);
  ~LoopMailbox();
  LoopMailbox(const LoopMailbox&) = delete;
  LoopMailbox& operator=(const LoopMailbox&) = delete;

  Sender sender() const { return Sender(queue_); }
  /// On the loop thread: runs what is queued now, without waiting for the loop (an owner
  /// about to go away that must not drop what was posted before, e.g. usage for a store).
  void run_queued() { on_wake(wake_.get()); }

 private:
  LoopMailbox() = default;
  static void on_wake(uv_async_t* handle);

  std::shared_ptr<Queue> queue_ = std::make_shared<Queue>();
  UvHandle<uv_async_t> wake_;
};

}  // namespace mtop::io
