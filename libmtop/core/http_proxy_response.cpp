// The climber's own HTTP answers: fixed bytes, so nothing here can fail or allocate.
#include "mtop/http_proxy.hpp"

namespace mtop::http {

std::string_view proxy_response(ProxyStatus status) noexcept {
  // Every error closes the client connection: one request per connection keeps the climber
  // from having to frame a second request after an error.
  switch (status) {
    case ProxyStatus::connection_established:
      return "HTTP/1.1 200 Connection established\r\n\r\n";
    case ProxyStatus::bad_request:
      break;
    case ProxyStatus::forbidden:
      return "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    case ProxyStatus::proxy_auth_required:
      return "HTTP/1.1 407 Proxy Authentication Required\r\n"
             "Proxy-Authenticate: Basic realm=\"mtop\"\r\n"
             "Content-Length: 0\r\nConnection: close\r\n\r\n";
    case ProxyStatus::bad_gateway:
      return "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    case ProxyStatus::service_unavailable:
      return "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    case ProxyStatus::gateway_timeout:
      return "HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  }
  return "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}

}  // namespace mtop::http
