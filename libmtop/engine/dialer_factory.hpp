// Builds the climber's tunnel dialer from a ServerEndpoint: TLS over TCP (one connection per
// tunnel), QUIC (one connection, a stream per tunnel) or auto (QUIC with a TLS fallback,
// dialer_auto.hpp). Verification settings (server_name, ca_file, pin, insecure) apply to both.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/dialer_auto.hpp"
#include "mtop/climber.hpp"
#include "mtop/log.hpp"
#include "mtop/result.hpp"
#include "mtop/stream.hpp"

namespace mtop {

struct DialerSettings {
  /// TCP connect (DNS + every address) and, separately, the TLS handshake are each bounded
  /// by this.
  std::uint64_t connect_timeout_ms = 10'000;
  AutoDialerOptions auto_select;
  /// QUIC: connections to the server at once (quic::QuicClientOptions::max_connections);
  /// the climber sets it from limits.quic_connections, by default its max_connections.
  std::size_t quic_connections = 10'000;
  /// QUIC: the ALPN offered (quic::QuicClientOptions::alpn).
  std::string quic_alpn = "h3";
};

/// The dialer for `server`; nothing is connected before the first open(). Errors, with a
/// message: tls_setup_failed (the trust store or a setting cannot be loaded: "tls: ca_file
/// 'x': cannot open: ..."), not_built_in (QUIC left out of this build).
Result<std::unique_ptr<io::StreamDialer>> make_server_dialer(uv_loop_t* loop,
                                                             const ServerEndpoint& server,
                                                             const DialerSettings& settings,
                                                             const Logger& log);

}  // namespace mtop
