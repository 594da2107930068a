// Outgoing TCP connections: asynchronous DNS (uv_getaddrinfo), then every address tried in
// turn (in the resolver's order, IPv6 and IPv4), under one overall time-out.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "uv/handle.hpp"

namespace mtop::io {

struct ConnectOptions {
  std::uint64_t timeout_ms = 10'000;  ///< DNS + all attempts together
  bool nodelay = true;                ///< TCP_NODELAY on the connected socket
  /// Target policy hook: called for every resolved address before connecting to it; it
  /// returns why the address is refused ("loopback"), or an empty string to allow it. A
  /// refused address is skipped and never dialed. When every address is refused the result
  /// says `denied == true` and `error` is "denied by policy: <the last reason>" (the server
  /// answers "connection failed" and logs it). Checking resolved addresses, not names, is
  /// what stops a name that resolves to 127.0.0.1.
  std::function<std::string(const struct sockaddr* addr)> refuse;
};

/// Outcome of connect_tcp. On success `tcp` is a connected handle now owned by the caller
/// and `error` is empty; on failure `tcp` is empty and `error` is short and log-safe
/// ("dns: ...", "refused", "timed out", ...). `uv_status` is the last libuv error (0 on success,
/// UV_EAI_* for DNS failures, UV_ECONNREFUSED, UV_ETIMEDOUT, ...).
struct ConnectResult {
  UvHandle<uv_tcp_t> tcp;
  std::string error;
  int uv_status = 0;
  std::string peer;  ///< "ip:port" actually connected (or last tried)
  bool denied = false;  ///< every resolved address was refused by ConnectOptions::refuse;
                        ///< none was dialed
};

/// Cancels a connect in flight when dropped; the callback is then never called.
class ConnectAttempt {
 public:
  virtual ~ConnectAttempt() = default;
};

using ConnectCallback = std::function<void(ConnectResult)>;

/// Starts connecting to host:port (host: a name, an IPv4 or an IPv6 literal without brackets).
/// The callback runs exactly once on the loop, never inside connect_tcp, unless the returned
/// attempt is dropped first.
std::unique_ptr<ConnectAttempt> connect_tcp(uv_loop_t* loop, const std::string& host,
                                            std::uint16_t port, const ConnectOptions& options,
                                            ConnectCallback cb);

/// Like connect_tcp, without DNS: tries `addresses` (AF_INET / AF_INET6, port included) in the
/// given order, each through `options.refuse`, under `options.timeout_ms`. For a caller that
/// already has addresses (a config listing several, or its own resolver). An empty list fails
/// with UV_EINVAL. Same callback promise as connect_tcp.
std::unique_ptr<ConnectAttempt> connect_tcp_addresses(uv_loop_t* loop,
                                                      std::vector<sockaddr_storage> addresses,
                                                      const ConnectOptions& options,
                                                      ConnectCallback cb);

}  // namespace mtop::io
