#if MTOP_C_WITH_ENGINES

#include "fd_bridge.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "uv/handle.hpp"
#include "uv/tcp_stream.hpp"

namespace mtop::capi {

Result<int> FdBridges::open(io::StreamPtr stream) {
  int fds[2] = {-1, -1};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return Failure{Errc::system_error, std::string("socketpair: ") + std::strerror(errno)};
  }
  auto handle = io::UvHandle<uv_tcp_t>::make();
  int r = uv_tcp_init(loop_, handle.get());
  if (r < 0) {
    handle.release_uninitialised();
  } else {
    // uv_tcp_open takes any connected stream socket: TcpStream needs only read, write,
    // shutdown and close from it, which an AF_UNIX socket has.
    r = uv_tcp_open(handle.get(), fds[0]);
  }
  if (r < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Failure{Errc::system_error, std::string("bridge: ") + uv_strerror(r)};
  }
  io::StreamPtr local = io::TcpStream::adopt(std::move(handle));

  io::RelayOptions options;
  options.idle_timeout_ms = idle_timeout_ms_;
  if (max_pending_ > 0) options.max_pending = max_pending_;
  const std::uint64_t id = ++next_id_;
  // a = the application's side, b = the tunnel; the done callback may destroy the relay.
  auto relay =
      std::make_unique<io::Relay>(loop_, std::move(local), std::move(stream), std::move(options),
                                  [this, id](const io::RelayStats&) { bridges_.erase(id); });
  io::Relay& started = *relay;
  bridges_.emplace(id, std::move(relay));
  started.start();
  return fds[1];
}

}  // namespace mtop::capi

#endif  // MTOP_C_WITH_ENGINES
