#include "uv/loop_mailbox.hpp"

#include <string>
#include <utility>

namespace mtop::io {

bool LoopMailbox::Sender::post(std::function<void()> fn) const {
  if (!q_) return false;
  const std::lock_guard<std::mutex> lock(q_->mu);
  if (!q_->wake) return false;
  q_->fns.push_back(std::move(fn));
  uv_async_send(q_->wake);  // under the lock: the mailbox cannot close the handle meanwhile
  return true;
}

Result<std::unique_ptr<LoopMailbox>> LoopMailbox::open(uv_loop_t* loop) {
  std::unique_ptr<LoopMailbox> box(new LoopMailbox());
  box->wake_ = UvHandle<uv_async_t>::make();
  if (const int rc = uv_async_init(loop, box->wake_.get(), &LoopMailbox::on_wake); rc != 0) {
    box->wake_.release_uninitialised();
    return Failure{Errc::system_error, std::string("loop mailbox: ") + uv_strerror(rc)};
  }
  box->wake_->data = box.get();
  uv_unref(box->wake_.handle());
  const std::lock_guard<std::mutex> lock(box->queue_->mu);
  box->queue_->wake = box->wake_.get();
  return box;
}

LoopMailbox::~LoopMailbox() {
  std::deque<std::function<void()>> dropped;
  {
    const std::lock_guard<std::mutex> lock(queue_->mu);
    queue_->wake = nullptr;
    dropped.swap(queue_->fns);
  }
  wake_.reset();
}

void LoopMailbox::on_wake(uv_async_t* handle) {
  auto* self = static_cast<LoopMailbox*>(handle->data);
  if (!self) return;
  std::deque<std::function<void()>> fns;
  {
    const std::lock_guard<std::mutex> lock(self->queue_->mu);
    fns.swap(self->queue_->fns);
  }
  // A function may destroy the mailbox (and with it the loop's objects): the rest still run,
  // as they were posted before; they must not rely on it.
  for (auto& fn : fns) fn();
}

}  // namespace mtop::io
