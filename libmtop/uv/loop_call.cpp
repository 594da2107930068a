#include "uv/loop_call.hpp"

#include <chrono>
#include <string>
#include <utility>

namespace mtop::io {

Result<std::unique_ptr<LoopCall>> LoopCall::create(uv_loop_t* loop) {
  std::unique_ptr<LoopCall> lc(new LoopCall());
  lc->wake_ = UvHandle<uv_async_t>::make();
  if (const int rc = uv_async_init(loop, lc->wake_.get(), &LoopCall::on_wake); rc != 0) {
    lc->wake_.release_uninitialised();
    return Result<std::unique_ptr<LoopCall>>(Errc::system_error,
                                             std::string("loop call: ") + uv_strerror(rc));
  }
  lc->wake_->data = lc.get();
  uv_unref(lc->wake_.handle());  // does not keep the loop alive by itself
  const std::lock_guard<std::mutex> lock(lc->shared_->mu);
  lc->shared_->wake = lc->wake_.get();
  return lc;
}

LoopCall::~LoopCall() {
  shut();
  wake_->data = nullptr;
  wake_.reset();
}

void LoopCall::shut() {
  {
    const std::lock_guard<std::mutex> lock(shared_->mu);
    shared_->wake = nullptr;
    for (auto& job : shared_->queue) job->dropped = true;
    shared_->queue.clear();
  }
  shared_->cv.notify_all();
}

bool LoopCall::call(std::function<void()> fn, std::uint64_t timeout_ms) {
  auto job = std::make_shared<Job>();
  job->fn = std::move(fn);
  const std::shared_ptr<Shared> shared = shared_;
  std::unique_lock<std::mutex> lock(shared->mu);
  if (!shared->wake) return false;
  shared->queue.push_back(job);
  uv_async_send(shared->wake);  // under the lock: shut() cannot close the handle meanwhile
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  if (!shared->cv.wait_until(lock, deadline,
                             [&] { return job->started || job->dropped || !shared->wake; })) {
    job->dropped = true;  // not started in time: it never will be
    return false;
  }
  if (!job->started) {
    job->dropped = true;
    return false;
  }
  // Started: it runs on the loop now and is short; wait for its end.
  shared->cv.wait(lock, [&] { return job->done; });
  return true;
}

void LoopCall::on_wake(uv_async_t* handle) {
  if (auto* self = static_cast<LoopCall*>(handle->data)) self->run_queued();
}

void LoopCall::run_queued() {
  const std::shared_ptr<Shared> shared = shared_;  // a function may destroy this LoopCall
  for (;;) {
    std::shared_ptr<Job> job;
    {
      const std::lock_guard<std::mutex> lock(shared->mu);
      if (shared->queue.empty() || !shared->wake) return;
      job = std::move(shared->queue.front());
      shared->queue.pop_front();
      if (job->dropped) continue;
      job->started = true;
    }
    shared->cv.notify_all();
    // The caller waits for the end, so nothing may escape between started and done.
    try {
      job->fn();
    } catch (...) {  // NOLINT(bugprone-empty-catch): the caller checks what fn left behind
    }
    {
      const std::lock_guard<std::mutex> lock(shared->mu);
      job->done = true;
    }
    shared->cv.notify_all();
  }
}

}  // namespace mtop::io
