// OwnedFd: a socket descriptor in transit between two event loops. A multi-worker server moves
// sockets between its workers' loops (a reverse tunnel's public port, a visitor waiting for a
// data connection that attached on another worker): the giving loop duplicates the descriptor
// and closes its own handle, the receiving loop opens a handle on the duplicate. The socket
// itself never closes in between, so a listening port stays bound and a connection stays up.
//
// Move-only; closes the descriptor it still owns when destroyed (on whatever thread drops it).
#pragma once

#include <uv.h>

#include <utility>

#include "mtop/result.hpp"
#include "uv/handle.hpp"

namespace mtop::io {

class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) noexcept : fd_(fd) {}
  OwnedFd(OwnedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() { reset(); }

  /// A close-on-exec duplicate of `fd` (owned by someone else, on any thread); empty when
  /// dup fails (EMFILE).
  static OwnedFd duplicate(int fd) noexcept;

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  /// Gives the descriptor up (to a handle that closes it).
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept;

 private:
  int fd_ = -1;
};

/// Makes the close of `fd` (a connected TCP socket) send an RST instead of a FIN
/// (SO_LINGER 0): for a connection that is aborted, not ended. Best effort: should it fail,
/// the close is a FIN and the peer still sees the end.
void reset_on_close(int fd) noexcept;

/// The descriptor of `h` (an open handle), or -1.
int handle_fd(const uv_handle_t* h) noexcept;

/// A TCP handle on `loop` over `fd` (a connected or listening TCP socket), which it owns from
/// now on. Errors: system_error (uv_tcp_init / uv_tcp_open failed; the descriptor is closed).
Result<UvHandle<uv_tcp_t>> open_tcp(uv_loop_t* loop, OwnedFd fd);

}  // namespace mtop::io
