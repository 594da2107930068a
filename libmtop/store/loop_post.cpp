#include "store/loop_post.hpp"

namespace mtop::store {

LoopPost::~LoopPost() { *alive_ = false; }

Result<void> LoopPost::start(uv_loop_t* loop) {
  auto h = io::UvHandle<uv_async_t>::make();
  if (uv_async_init(loop, h.get(), &LoopPost::on_async) != 0) {
    h.release_uninitialised();
    return Errc::invalid_state;
  }
  h->data = this;
  uv_unref(h.handle());
  async_ = std::move(h);
  return {};
}

void LoopPost::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(fn));
  }
  uv_async_send(async_.get());
}

void LoopPost::hold() {
  if (holds_++ == 0) uv_ref(async_.handle());
}

void LoopPost::release() {
  if (holds_ > 0 && --holds_ == 0) uv_unref(async_.handle());
}

void LoopPost::on_async(uv_async_t* h) {
  if (auto* self = static_cast<LoopPost*>(h->data)) self->drain();
}

void LoopPost::drain() {
  // Take the batch under the lock, run it outside: a function may post again (it then runs at
  // the next turn) or destroy the owner; then the rest of the batch is dropped.
  std::deque<std::function<void()>> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(queue_);
  }
  std::shared_ptr<bool> alive = alive_;
  for (auto& fn : batch) {
    fn();
    if (!*alive) return;
  }
}

}  // namespace mtop::store
