#include "uv/uv_error.hpp"

#include <uv.h>

namespace mtop::io {

std::string uv_reason(int status) {
  switch (status) {
    case UV_ECONNRESET:
      return "connection reset";
    case UV_ECONNREFUSED:
      return "connection refused";
    case UV_ECONNABORTED:
      return "connection aborted";
    case UV_ETIMEDOUT:
      return "timed out";
    case UV_EPIPE:
      return "broken pipe";
    case UV_ENETUNREACH:
      return "network unreachable";
    case UV_EHOSTUNREACH:
      return "host unreachable";
    case UV_EADDRNOTAVAIL:
      return "address not available";
    case UV_ENOBUFS:
    case UV_ENOMEM:
      return "out of memory";
    default:
      break;
  }
  const char* s = uv_strerror(status);
  return (s && *s) ? std::string(s) : std::string("error ") + std::to_string(status);
}

}  // namespace mtop::io
