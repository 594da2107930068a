#include "uv/owned_fd.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "uv/uv_error.hpp"

namespace mtop::io {

OwnedFd OwnedFd::duplicate(int fd) noexcept {
  if (fd < 0) return {};
  return OwnedFd(fcntl(fd, F_DUPFD_CLOEXEC, 0));
}

void OwnedFd::reset() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

void reset_on_close(int fd) noexcept {
  const linger zero{1, 0};
  if (fd >= 0) (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &zero, sizeof zero);
}

int handle_fd(const uv_handle_t* h) noexcept {
  uv_os_fd_t fd = -1;
  if (!h || uv_fileno(h, &fd) != 0) return -1;
  return fd;
}

Result<UvHandle<uv_tcp_t>> open_tcp(uv_loop_t* loop, OwnedFd fd) {
  auto tcp = UvHandle<uv_tcp_t>::make();
  if (const int rc = uv_tcp_init(loop, tcp.get()); rc < 0) {
    tcp.release_uninitialised();
    return Failure{Errc::system_error, "uv_tcp_init: " + uv_reason(rc)};
  }
  if (const int rc = uv_tcp_open(tcp.get(), fd.get()); rc < 0) {
    return Failure{Errc::system_error, "uv_tcp_open: " + uv_reason(rc)};  // `fd` closes
  }
  (void)fd.release();  // the handle closes it now
  return tcp;
}

}  // namespace mtop::io
