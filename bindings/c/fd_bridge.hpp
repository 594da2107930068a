// FdBridges: hands a stream (a climber's tunnel) to C as a plain socket. Each bridge is a
// socketpair(AF_UNIX, SOCK_STREAM): the application gets one end, and the library's relay
// (uv/relay.hpp) joins the other end to the stream - bounded buffers, half-close carried both
// ways, the idle time-out. Not installed; used by climber.cpp. On one loop's thread.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "mtop/result.hpp"
#include "mtop/stream.hpp"
#include "uv/relay.hpp"

namespace mtop::capi {

class FdBridges {
 public:
  FdBridges(uv_loop_t* loop, std::uint64_t idle_timeout_ms, std::size_t max_pending)
      : loop_(loop), idle_timeout_ms_(idle_timeout_ms), max_pending_(max_pending) {}
  /// Ends every bridge: both ends' streams are closed (the application's fd reads EOF).
  ~FdBridges() = default;
  FdBridges(const FdBridges&) = delete;
  FdBridges& operator=(const FdBridges&) = delete;

  /// Joins `stream` to a new socketpair and returns the application's end (>= 0), which the
  /// application owns and closes. Errors: system_error with the reason (`stream` is closed
  /// then).
  Result<int> open(io::StreamPtr stream);
  /// Ends every bridge now.
  void clear() noexcept { bridges_.clear(); }
  std::size_t size() const noexcept { return bridges_.size(); }

 private:
  uv_loop_t* loop_;
  std::uint64_t idle_timeout_ms_;
  std::size_t max_pending_;
  std::map<std::uint64_t, std::unique_ptr<io::Relay>> bridges_;  // each removes itself
  std::uint64_t next_id_ = 0;
};

}  // namespace mtop::capi
