// Counts the timer handles of a loop that are open (not closing): for tests that an idle
// object keeps no timer handle.
#pragma once

#include <uv.h>

inline int open_timers(uv_loop_t* loop) {
  int n = 0;
  uv_walk(
      loop,
      [](uv_handle_t* h, void* arg) {
        if (h->type == UV_TIMER && !uv_is_closing(h)) ++*static_cast<int*>(arg);
      },
      &n);
  return n;
}
