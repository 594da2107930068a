// The HTTP client side of `mtop-server ctl`: one request to the admin listener over a plain TCP
// socket, HTTP/1.1 with "Connection: close", the answer read to the end. Enough for this
// loopback JSON API (docs/ADMIN_API.md), not a general HTTP client: no TLS, no redirects, no
// chunked bodies (the admin listener always sends Content-Length).
#pragma once

#include <cstdint>
#include <string>

namespace mtop::server {

struct AdminReply {
  int status = 0;  ///< HTTP status; 0 when there was no answer (see error)
  std::string body;
  std::string error;  ///< why there is no answer (connect failed, time-out, garbled)
};

/// Sends `method path` with the bearer `token` and `body` (JSON, or empty) to `host`:`port`.
/// Every step is bounded by `timeout_s`.
AdminReply admin_request(const std::string& host, std::uint16_t port, const std::string& method,
                         const std::string& path, const std::string& token, const std::string& body,
                         int timeout_s = 30);

}  // namespace mtop::server
