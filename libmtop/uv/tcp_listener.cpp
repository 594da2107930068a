#include "uv/tcp_listener.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <utility>

#include "uv/sockaddr.hpp"
#include "uv/tcp_stream.hpp"
#include "uv/uv_error.hpp"

namespace mtop::io {

Result<std::unique_ptr<TcpListener>> TcpListener::listen(uv_loop_t* loop, const std::string& host,
                                                         std::uint16_t port, AcceptCallback cb,
                                                         const ListenOptions& options) {
  return listen_raw(
      loop, host, port,
      [cb = std::move(cb), buffers = options.buffers](UvHandle<uv_tcp_t> tcp) {
        if (auto s = TcpStream::adopt(std::move(tcp), buffers)) cb(std::move(s));
      },
      options);
}

Result<std::unique_ptr<TcpListener>> TcpListener::listen_raw(uv_loop_t* loop,
                                                             const std::string& host,
                                                             std::uint16_t port,
                                                             RawAcceptCallback cb,
                                                             const ListenOptions& options) {
  sockaddr_storage addr;
  if (!ip_literal_to_sockaddr(host, port, &addr)) {
    return Failure{Errc::invalid_argument, "not an IP address: " + host};
  }
  const std::string where = sockaddr_to_string(reinterpret_cast<sockaddr*>(&addr));
  std::unique_ptr<TcpListener> l(new TcpListener(options.nodelay, std::move(cb)));
  auto tcp = UvHandle<uv_tcp_t>::make();
  int rc = uv_tcp_init_ex(loop, tcp.get(), addr.ss_family);
  if (rc < 0) {
    tcp.release_uninitialised();
    return Failure{Errc::listen_failed, "socket " + where + ": " + uv_reason(rc)};
  }
  l->tcp_ = std::move(tcp);
  l->tcp_->data = l.get();
  if (options.reuse_port) {
    uv_os_fd_t fd = -1;
    const int on = 1;
    rc = uv_fileno(reinterpret_cast<uv_handle_t*>(l->tcp_.get()), &fd);
    if (rc == 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
      rc = uv_translate_sys_error(errno);
    }
    if (rc < 0) return Failure{Errc::listen_failed, "SO_REUSEPORT " + where + ": " + uv_reason(rc)};
  }
  const unsigned flags = addr.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
  rc = uv_tcp_bind(l->tcp_.get(), reinterpret_cast<sockaddr*>(&addr), flags);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(l->tcp_.get()), options.backlog,
                   &TcpListener::on_connection);
  }
  if (rc < 0) {
    return Failure{Errc::listen_failed, "listen " + where + ": " + uv_reason(rc)};  // `l` closes
  }
  l->name_bound(port, where);
  return l;
}

Result<std::unique_ptr<TcpListener>> TcpListener::adopt(uv_loop_t* loop, OwnedFd fd,
                                                        RawAcceptCallback cb,
                                                        const ListenOptions& options) {
  auto tcp = open_tcp(loop, std::move(fd));
  if (!tcp) return Failure{Errc::listen_failed, "adopt listener: " + std::string(tcp.message())};
  std::unique_ptr<TcpListener> l(new TcpListener(options.nodelay, std::move(cb)));
  l->tcp_ = std::move(*tcp);
  l->tcp_->data = l.get();
  // listen(2) again on a listening socket only sets its backlog; libuv starts watching it.
  if (const int rc = uv_listen(reinterpret_cast<uv_stream_t*>(l->tcp_.get()), options.backlog,
                               &TcpListener::on_connection);
      rc < 0) {
    return Failure{Errc::listen_failed, "adopt listener: " + uv_reason(rc)};  // `l` closes
  }
  l->name_bound(0, "?");
  return l;
}

void TcpListener::name_bound(std::uint16_t port, const std::string& fallback) {
  sockaddr_storage bound{};
  int len = sizeof bound;
  if (uv_tcp_getsockname(tcp_.get(), reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
    port_ = sockaddr_port(reinterpret_cast<sockaddr*>(&bound));
    local_ = sockaddr_to_string(reinterpret_cast<sockaddr*>(&bound));
  } else {
    port_ = port;
    local_ = fallback;
  }
}

TcpListener::~TcpListener() {
  stop();
}

void TcpListener::stop() {
  tcp_.reset();
}

void TcpListener::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<TcpListener*>(server->data);
  // status < 0: a failed accept (EMFILE and the like); libuv keeps listening, so do we.
  if (!self || status < 0) return;
  auto client = UvHandle<uv_tcp_t>::make();
  if (uv_tcp_init(server->loop, client.get()) < 0) {
    client.release_uninitialised();
    return;
  }
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(client.get())) < 0) return;
  if (self->nodelay_) uv_tcp_nodelay(client.get(), 1);
  // The callback may stop or destroy the listener: nothing of *self is used after it.
  self->cb_(std::move(client));
}

}  // namespace mtop::io
