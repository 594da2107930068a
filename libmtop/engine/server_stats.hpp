// What the server engine counts: live and total tunnels, and why tunnels were refused. For
// periodic log lines and for tests; plain values, copied out by ServerEngine::stats().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mtop {

/// Why a tunnel did not become a relay (or why the engine ended it).
enum class TunnelFailure : std::uint8_t {
  overloaded,         ///< max_tunnels live already: closed at once
  draining,           ///< the engine is draining: closed at once
  handshake_timeout,  ///< no complete auth message within handshake_timeout_ms
  protocol_error,     ///< malformed auth message (bad version included)
  client_closed,      ///< the client closed or failed before the decision
  throttled,          ///< the source address is locked out after too many failures
  auth_failed,        ///< unknown user or wrong password
  store_unavailable,  ///< the user store could not answer
  store_error,        ///< the stored hash is malformed, or hashing failed
  account_refused,    ///< right password, but disabled / expired / over quota
  user_tunnel_limit,  ///< the user's max_tunnels reached
  target_denied,      ///< the target policy refused every address
  target_failed,      ///< DNS failure, refused, unreachable or timed out
  revoked,            ///< a live tunnel closed by the re-check, the quota or drain
};
inline constexpr std::size_t kTunnelFailureCount = 14;

/// Short name for logs ("auth_failed").
std::string_view tunnel_failure_name(TunnelFailure f) noexcept;

struct ServerEngineStats {
  std::size_t live = 0;             ///< tunnels in any stage (handshake, auth, connect, relay)
  std::size_t relaying = 0;         ///< of which relaying
  std::uint64_t total = 0;          ///< streams handed to serve()
  std::uint64_t accepted = 0;       ///< tunnels that got a success response
  std::uint64_t password_checks = 0;  ///< verify_password runs (off the loop), dummy included
  std::uint64_t cache_hits = 0;       ///< passwords accepted from the credential cache
  std::uint64_t rate_limit_delay_ms = 0;  ///< pauses asked by the users' bandwidth gates
  std::uint64_t bytes_up = 0;         ///< client → target, all tunnels
  std::uint64_t bytes_down = 0;       ///< target → client
  std::array<std::uint64_t, kTunnelFailureCount> failures{};

  std::uint64_t failed(TunnelFailure f) const noexcept {
    return failures[static_cast<std::size_t>(f)];
  }
};

}  // namespace mtop
