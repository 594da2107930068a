// tunnel_failure_name (mtop/server.hpp): here rather than in the API layer because the engine's
// own log lines use it.
#include "mtop/server.hpp"

namespace mtop {

std::string_view tunnel_failure_name(TunnelFailure f) noexcept {
  switch (f) {
    case TunnelFailure::overloaded:
      return "overloaded";
    case TunnelFailure::draining:
      return "draining";
    case TunnelFailure::handshake_timeout:
      return "handshake_timeout";
    case TunnelFailure::protocol_error:
      return "protocol_error";
    case TunnelFailure::client_closed:
      return "client_closed";
    case TunnelFailure::throttled:
      return "throttled";
    case TunnelFailure::auth_failed:
      return "auth_failed";
    case TunnelFailure::store_unavailable:
      return "store_unavailable";
    case TunnelFailure::store_error:
      return "store_error";
    case TunnelFailure::account_refused:
      return "account_refused";
    case TunnelFailure::user_tunnel_limit:
      return "user_tunnel_limit";
    case TunnelFailure::target_denied:
      return "target_denied";
    case TunnelFailure::target_failed:
      return "target_failed";
    case TunnelFailure::revoked:
      return "revoked";
  }
  return "unknown";
}

}  // namespace mtop
