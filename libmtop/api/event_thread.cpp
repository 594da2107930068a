// mtop::EventThread (include/mtop/event_thread.hpp).
//
// Theory of operation: post() appends to a queue under a mutex and wakes the loop with
// uv_async_send (coalescing: one wake-up may find many functions). The async callback runs
// the queue in batches until it is empty. The destructor sets `stopping` and wakes the loop;
// the async callback then drains the queue once more, refuses later posts, and closes every
// handle still open (its own async among them), so uv_run returns once their close callbacks
// have run; the destructor joins the thread and closes the loop.
#include "mtop/event_thread.hpp"

#include <uv.h>

#include <cassert>
#include <deque>
#include <exception>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

namespace mtop {

struct EventThread::Impl {
  uv_loop_t loop{};
  uv_async_t wake{};
  std::thread thread;
  std::mutex mutex;
  std::deque<std::function<void()>> queue;  // guarded by mutex
  bool stopping = false;                    // guarded by mutex
  bool closed = false;                      // guarded by mutex: posts are dropped

  /// Queues `fn` and wakes the loop; false (and `fn` dropped) once the loop is shutting down.
  bool enqueue(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mutex);
    if (closed) return false;
    queue.push_back(std::move(fn));
    // Under the lock: the async handle is closed only after `closed` was set under it.
    uv_async_send(&wake);
    return true;
  }

  /// Takes the functions queued so far (under the lock) and runs them (without it).
  /// Returns false when there were none.
  bool run_batch() {
    std::deque<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(mutex);
      batch.swap(queue);
    }
    for (auto& fn : batch) run(fn);
    return !batch.empty();
  }

  // noexcept: a posted function that throws has no caller to go back to; as with std::thread,
  // that ends the program. call() catches its own exceptions before they get here.
  static void run(const std::function<void()>& fn) noexcept { fn(); }

  static void on_wake(uv_async_t* a) {
    auto* self = static_cast<Impl*>(a->data);
    while (self->run_batch()) {
    }
    bool stopping = false;
    {
      std::lock_guard<std::mutex> lock(self->mutex);
      stopping = self->stopping;
      if (stopping) self->closed = true;
    }
    if (!stopping) return;
    // Posted before `closed` was set and after the last batch was taken: they still run.
    self->run_batch();
    uv_walk(
        &self->loop,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
  }
};

EventThread::EventThread(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<EventThread>> EventThread::start() {
  auto impl = std::make_unique<Impl>();
  if (int rc = uv_loop_init(&impl->loop); rc != 0) {
    return Failure{Errc::system_error, std::string("uv_loop_init: ") + uv_strerror(rc)};
  }
  if (int rc = uv_async_init(&impl->loop, &impl->wake, &Impl::on_wake); rc != 0) {
    uv_loop_close(&impl->loop);
    return Failure{Errc::system_error, std::string("uv_async_init: ") + uv_strerror(rc)};
  }
  impl->wake.data = impl.get();
  try {
    Impl* raw = impl.get();
    // A uv_stop() in a posted function ends one uv_run() only: the thread goes on until the
    // destructor has closed every handle (uv_run() returns 0 when none is left).
    impl->thread = std::thread([raw] {
      while (uv_run(&raw->loop, UV_RUN_DEFAULT) != 0) {
      }
    });
  } catch (const std::system_error& e) {
    uv_close(reinterpret_cast<uv_handle_t*>(&impl->wake), nullptr);
    uv_run(&impl->loop, UV_RUN_DEFAULT);
    uv_loop_close(&impl->loop);
    return Failure{Errc::system_error, std::string("thread: ") + e.what()};
  }
  return std::unique_ptr<EventThread>(new EventThread(std::move(impl)));
}

EventThread::~EventThread() {
  // Joining from the loop's own thread would wait for itself.
  assert(!on_thread());
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
    uv_async_send(&impl_->wake);
  }
  impl_->thread.join();
  // Close callbacks of handles closed by their owners after the walk (none should be left).
  uv_run(&impl_->loop, UV_RUN_NOWAIT);
  uv_loop_close(&impl_->loop);
}

uv_loop_t* EventThread::loop() noexcept {
  return &impl_->loop;
}

bool EventThread::on_thread() const noexcept {
  return std::this_thread::get_id() == impl_->thread.get_id();
}

void EventThread::post(std::function<void()> fn) {
  // Dropped when the destructor is already closing the loop: nothing would run it.
  (void)impl_->enqueue(std::move(fn));
}

void EventThread::call(const std::function<void()>& fn) {
  if (on_thread()) {
    fn();
    return;
  }
  std::promise<void> done;
  std::future<void> result = done.get_future();
  const bool queued = impl_->enqueue([&fn, &done] {
    try {
      fn();
      done.set_value();
    } catch (...) {
      done.set_exception(std::current_exception());
    }
  });
  if (!queued) throw std::logic_error("EventThread::call: the loop is shutting down");
  result.get();  // rethrows what fn threw
}

}  // namespace mtop
