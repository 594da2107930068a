// Poster: "run this on the loop soon" — how adapters keep their promise that callbacks never
// run inside a call into them.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "uv/timer.hpp"

namespace mtop::io {

/// Runs posted functions on a later turn of the loop, in the order posted, never inside
/// post(). Dropping the Poster, or cancel(), discards what has not run yet. A posted function
/// may destroy the Poster; the functions posted after it then do not run.
class Poster {
 public:
  explicit Poster(uv_loop_t* loop) noexcept : timer_(loop) {}
  Poster(const Poster&) = delete;
  Poster& operator=(const Poster&) = delete;
  ~Poster();

  void post(std::function<void()> fn);
  /// Discards every function not yet run.
  void cancel() noexcept;
  bool empty() const noexcept { return queue_.empty(); }

 private:
  void run();

  Timer timer_;
  std::vector<std::function<void()>> queue_;
  std::uint64_t generation_ = 0;  ///< bumped by cancel() so run() notices it
  bool* destroyed_flag_ = nullptr;  ///< set by ~Poster while run() is on the stack
};

}  // namespace mtop::io
