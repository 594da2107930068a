// TcpListener: accepts TCP connections on one IPv4 or IPv6 address.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "mtop/result.hpp"
#include "mtop/stream.hpp"
#include "uv/handle.hpp"
#include "uv/owned_fd.hpp"
#include "uv/stream_buffers.hpp"

namespace mtop::io {

struct ListenOptions {
  int backlog = 511;    ///< listen(2) backlog
  bool nodelay = true;  ///< TCP_NODELAY on every accepted socket
  /// Read buffer and write chunks of the accepted TcpStreams (listen() only); null = those of
  /// the thread that accepts them (StreamBuffers::of_this_thread()).
  SharedStreamBuffers buffers;
  /// SO_REUSEPORT: several listeners (a multi-worker server's, one per loop) share the
  /// address and the kernel spreads the connections over them.
  bool reuse_port = false;
};

class TcpListener final : public StreamAcceptor {
 public:
  /// Receives each accepted connection as a raw handle (the TLS layer wraps it itself).
  using RawAcceptCallback = std::function<void(UvHandle<uv_tcp_t> tcp)>;

  /// Listens on `host` (an IPv4 or IPv6 literal, no brackets; "0.0.0.0" / "::" for all) and
  /// `port` (0: the OS picks one, see port()). IPv6 sockets are IPV6_V6ONLY, so "0.0.0.0" and
  /// "::" can both be bound to one port. Each accepted connection goes to `cb` as a
  /// TcpStream; `cb` runs on the loop and may call stop() or destroy the listener. Errors:
  /// invalid_argument ("not an IP address: x"), listen_failed ("listen 127.0.0.1:80: address
  /// already in use").
  static Result<std::unique_ptr<TcpListener>> listen(uv_loop_t* loop, const std::string& host,
                                                     std::uint16_t port, AcceptCallback cb,
                                                     const ListenOptions& options = {});
  /// The same, handing over the connected handle instead of a stream.
  static Result<std::unique_ptr<TcpListener>> listen_raw(uv_loop_t* loop, const std::string& host,
                                                         std::uint16_t port, RawAcceptCallback cb,
                                                         const ListenOptions& options = {});

  /// Listens on `fd`, a bound and listening TCP socket moved from another loop (OwnedFd):
  /// connections already queued on it are accepted here. Errors: listen_failed.
  static Result<std::unique_ptr<TcpListener>> adopt(uv_loop_t* loop, OwnedFd fd,
                                                    RawAcceptCallback cb,
                                                    const ListenOptions& options = {});

  ~TcpListener() override;

  /// The listening socket's descriptor, to duplicate for another loop (-1 once stopped).
  int fd() const noexcept { return handle_fd(tcp_.handle()); }

  /// The bound port (the OS's choice when 0 was asked for).
  std::uint16_t port() const noexcept { return port_; }
  /// "ip:port" actually bound, for logs.
  const std::string& local_name() const noexcept { return local_; }
  /// Stops accepting and closes the socket. Idempotent; no callback follows.
  void stop() override;

 private:
  TcpListener(bool nodelay, RawAcceptCallback cb) : nodelay_(nodelay), cb_(std::move(cb)) {}
  static void on_connection(uv_stream_t* server, int status);
  /// Reads the bound address into port_ and local_ (`fallback` when it cannot be read).
  void name_bound(std::uint16_t port, const std::string& fallback);

  UvHandle<uv_tcp_t> tcp_;
  bool nodelay_;
  RawAcceptCallback cb_;
  std::uint16_t port_ = 0;
  std::string local_;
};

}  // namespace mtop::io
