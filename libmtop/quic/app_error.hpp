// Application error codes carried in RESET_STREAM, STOP_SENDING and CONNECTION_CLOSE
// (application variant) frames of the MTop QUIC mapping. Fixed by the protocol: the core's
// protocol header carries the same numbers.
#pragma once

#include <cstdint>
#include <string_view>

namespace mtop::quic {

inline constexpr std::uint64_t kNoError = 0x0;
inline constexpr std::uint64_t kInternalError = 0x1;
inline constexpr std::uint64_t kProtocolError = 0x2;
inline constexpr std::uint64_t kRefused = 0x3;
inline constexpr std::uint64_t kConnectFailed = 0x4;
inline constexpr std::uint64_t kHandshakeTimeout = 0x5;
inline constexpr std::uint64_t kAborted = 0x6;

/// ALPN of MTop's own QUIC connections (climbers before `h3`; docs/PROTOCOL.md section 10).
inline constexpr std::string_view kAlpn = "mtop/1";
/// ALPN of HTTP/3, which climbers offer by default (a climber looks like a browser).
inline constexpr std::string_view kAlpnH3 = "h3";

/// Name of an application error code ("ABORTED"), or "unknown" for other values.
constexpr std::string_view app_error_name(std::uint64_t code) noexcept {
  switch (code) {
    case kNoError: return "NO_ERROR";
    case kInternalError: return "INTERNAL_ERROR";
    case kProtocolError: return "PROTOCOL_ERROR";
    case kRefused: return "REFUSED";
    case kConnectFailed: return "CONNECT_FAILED";
    case kHandshakeTimeout: return "HANDSHAKE_TIMEOUT";
    case kAborted: return "ABORTED";
    default: return "unknown";
  }
}

}  // namespace mtop::quic
