#include "engine/server_stats.hpp"

namespace mtop {

std::string_view tunnel_failure_name(TunnelFailure f) noexcept {
  switch (f) {
    case TunnelFailure::overloaded: return "overloaded";
    case TunnelFailure::draining: return "draining";
    case TunnelFailure::handshake_timeout: return "handshake_timeout";
    case TunnelFailure::protocol_error: return "protocol_error";
    case TunnelFailure::client_closed: return "client_closed";
    case TunnelFailure::throttled: return "throttled";
    case TunnelFailure::auth_failed: return "auth_failed";
    case TunnelFailure::store_unavailable: return "store_unavailable";
    case TunnelFailure::store_error: return "store_error";
    case TunnelFailure::account_refused: return "account_refused";
    case TunnelFailure::user_tunnel_limit: return "user_tunnel_limit";
    case TunnelFailure::target_denied: return "target_denied";
    case TunnelFailure::target_failed: return "target_failed";
    case TunnelFailure::revoked: return "revoked";
  }
  return "unknown";
}

}  // namespace mtop
