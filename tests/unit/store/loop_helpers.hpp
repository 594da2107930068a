// Driving a libuv loop from tests: a loop owned by the test, "run until" with a safety
// deadline, and "run for" to let a short TTL pass.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <stdexcept>

namespace mtop::storetest {

/// A private loop; the destructor closes whatever handles are left and the loop itself.
class Loop {
 public:
  Loop() {
    if (uv_loop_init(&loop_) != 0) throw std::runtime_error("uv_loop_init failed");
  }
  ~Loop() {
    uv_walk(&loop_, [](uv_handle_t* h, void*) {
      if (!uv_is_closing(h)) uv_close(h, nullptr);
    }, nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
  uv_loop_t* get() { return &loop_; }

 private:
  uv_loop_t loop_;
};

/// Runs the loop until `done()` or `timeout_ms` (a safety bound); returns done().
inline bool run_until(uv_loop_t* loop, const std::function<bool()>& done,
                      std::uint64_t timeout_ms = 20000) {
  uv_timer_t deadline;
  bool expired = false;
  uv_timer_init(loop, &deadline);
  deadline.data = &expired;
  uv_timer_start(&deadline, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; },
                 timeout_ms, 0);
  while (!done() && !expired) uv_run(loop, UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(&deadline), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);  // completes the close
  return done();
}

/// Runs the loop for `ms` milliseconds of loop time (to let a TTL pass).
inline void run_for(uv_loop_t* loop, std::uint64_t ms) {
  uv_timer_t t;
  bool fired = false;
  uv_timer_init(loop, &t);
  t.data = &fired;
  uv_timer_start(&t, [](uv_timer_t* h) { *static_cast<bool*>(h->data) = true; }, ms, 0);
  while (!fired) uv_run(loop, UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
}

}  // namespace mtop::storetest
