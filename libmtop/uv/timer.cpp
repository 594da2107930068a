#include "uv/timer.hpp"

#include <utility>

namespace mtop::io {

void Timer::start(std::uint64_t timeout_ms, std::function<void()> cb) {
  if (!handle_) {
    auto h = UvHandle<uv_timer_t>::make();
    uv_timer_init(loop_, h.get());  // cannot fail: it only links the handle into the loop
    handle_ = std::move(h);
    handle_->data = this;
  }
  cb_ = std::move(cb);
  uv_timer_start(handle_.get(), &Timer::on_timer, timeout_ms, 0);
}

void Timer::stop() noexcept {
  if (handle_) uv_timer_stop(handle_.get());
}

void Timer::release() noexcept {
  if (!handle_) return;
  handle_->data = nullptr;  // closing stops it; no callback can reach us from here on
  handle_.reset();          // cb_ stays: release() may run inside it
}

bool Timer::active() const noexcept {
  return handle_ && uv_is_active(handle_.handle()) != 0;
}

void Timer::on_timer(uv_timer_t* t) {
  auto* self = static_cast<Timer*>(t->data);
  if (!self || !self->cb_) return;
  // The callback may destroy *self (and with it cb_); return straight after it.
  self->cb_();
}

}  // namespace mtop::io
