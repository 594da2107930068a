// What an mtop-server engine can be told. Plain values with the defaults a public server wants;
// apps/server fills them from the JSON config file (docs/CONFIG.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mtop {

struct ServerOptions {
  std::uint64_t handshake_timeout_ms = 10'000;  ///< auth message must be complete by then
  std::uint64_t connect_timeout_ms = 10'000;    ///< DNS + connect to the target
  std::uint64_t idle_timeout_ms = 300'000;      ///< a tunnel with no byte either way is closed
  std::uint64_t drain_timeout_ms = 30'000;      ///< on SIGTERM, how long live tunnels may finish
  bool reply_status = false;          ///< false: stealth (close without a status on failure)
  std::size_t early_data_limit = 64 * 1024;     ///< payload held before the target is connected
  std::size_t max_pending = 256 * 1024;         ///< relay back-pressure bound per direction
  std::size_t max_tunnels = 20'000;             ///< live tunnels per engine; more are refused
  std::vector<std::string> allow_targets;       ///< CIDRs re-allowed despite the target policy

  // Authentication costs.
  std::uint64_t credential_cache_ttl_ms = 300'000;  ///< a verified password is trusted this long
  std::size_t credential_cache_size = 10'000;
  std::uint32_t max_failures = 10;                   ///< per source address and window...
  std::uint64_t failure_window_ms = 60'000;
  std::uint64_t lockout_ms = 300'000;                ///< ...then refused for this long

  /// How often users with live tunnels are looked up again, so that a user disabled, deleted,
  /// expired or over quota in the store loses their tunnels within this time.
  std::uint64_t recheck_interval_ms = 5'000;
};

}  // namespace mtop
