// The MTop wire protocol's numbers, in one place. docs/PROTOCOL.md is the specification;
// every constant here is defined there, and this header must match it exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mtop {

/// VER: the one protocol version, first byte of both the auth message and the response.
inline constexpr std::uint8_t kProtocolVersion = 0x01;

/// METHOD of the auth message.
enum class Method : std::uint8_t {
  connect = 0x01,  ///< open a TCP connection to the target and relay bytes
};
/// METHOD value reserved for reverse tunnels (a later version). Today it is refused like any
/// unknown value (Errc::bad_method on decode, Errc::invalid_argument on encode).
inline constexpr std::uint8_t kMethodReservedReverse = 0x02;

/// STATUS of the response.
enum class Status : std::uint8_t {
  success = 0x00,                ///< the tunnel is open; payload follows
  version_not_supported = 0x01,  ///< the server does not speak the client's VER
  auth_failed = 0x02,            ///< username/password rejected
  connect_failed = 0x03,         ///< the target could not be reached, or the policy denies it
};

/// True for the four STATUS values above.
constexpr bool is_known_status(std::uint8_t s) noexcept { return s <= 0x03; }

/// Size limits of the handshake (docs/PROTOCOL.md, "Limits").
/// 1 VER + 1 METHOD + 1 ULEN + 255 USERNAME + 1 PLEN + 255 PASSWORD + 1 ATYP
/// + (1 + 255) domain + 2 PORT = 773.
inline constexpr std::size_t kMaxAuthMessageSize = 773;
/// The smallest auth message: 1-byte username and password and a 1-byte domain:
/// 1+1+1+1+1+1+1+(1+1)+2 = 11 (an IPv4 target makes it 13).
inline constexpr std::size_t kMinAuthMessageSize = 11;
/// The response is always VER + STATUS.
inline constexpr std::size_t kResponseSize = 2;
/// Default bound of early payload the server holds before its decision.
inline constexpr std::size_t kDefaultEarlyDataLimit = 64 * 1024;
/// Default handshake time-out, enforced by the adapters (the core has no clock), in ms.
inline constexpr std::uint32_t kDefaultHandshakeTimeoutMs = 10'000;

/// ALPN of MTop over QUIC (mandatory there; TLS over TCP uses no ALPN).
inline constexpr std::string_view kQuicAlpn = "mtop/1";

/// Application error codes of MTop over QUIC, carried in RESET_STREAM, STOP_SENDING and
/// CONNECTION_CLOSE (application variant).
enum class QuicAppError : std::uint64_t {
  no_error = 0x0,           ///< normal end
  internal_error = 0x1,     ///< a local failure (out of memory, a bug)
  protocol_error = 0x2,     ///< the auth message was malformed
  refused = 0x3,            ///< authentication failed or target denied, in stealth mode
  connect_failed = 0x4,     ///< the server could not connect to the target
  handshake_timeout = 0x5,  ///< no complete auth message / response in time
  aborted = 0x6,            ///< the relay's other side failed
};

}  // namespace mtop
