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
  reverse = 0x02,  ///< a control tunnel: publish the address + port (docs/PROTOCOL.md 9.1)
};
/// METHOD of the ATTACH message, which opens a TLS data connection of a reverse tunnel with a
/// one-time token instead of credentials (docs/PROTOCOL.md 9.6).
inline constexpr std::uint8_t kMethodAttach = 0x03;

/// STATUS of the response.
enum class Status : std::uint8_t {
  success = 0x00,                ///< the tunnel is open; payload follows
  version_not_supported = 0x01,  ///< the server does not speak the client's VER
  auth_failed = 0x02,            ///< username/password rejected
  connect_failed = 0x03,         ///< the target could not be reached, or the policy denies it
  not_permitted = 0x04,          ///< REVERSE only: the user may not publish that bind
  port_in_use = 0x05,            ///< REVERSE only: another control tunnel or process has it
  bad_request = 0x06,            ///< REVERSE only: not the server's address, or unusable
};

/// True for the STATUS values of a CONNECT response (0x00-0x03).
constexpr bool is_known_status(std::uint8_t s) noexcept { return s <= 0x03; }
/// True for the STATUS values of a REVERSE response: every one but connect_failed.
constexpr bool is_reverse_status(std::uint8_t s) noexcept {
  return s <= 0x06 && s != 0x03;
}

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

/// Reverse tunnels (docs/PROTOCOL.md section 9).
/// A REVERSE success response: VER + STATUS + PORT(2) + TUNNEL(4) + KEEPALIVE(2).
inline constexpr std::size_t kReverseResponseSize = 10;
/// Bounds of the keep-alive interval K a server announces, in seconds, and its default.
inline constexpr std::uint16_t kMaxKeepaliveSeconds = 3600;
inline constexpr std::uint16_t kDefaultKeepaliveSeconds = 15;
/// A control frame: TYPE + LEN + at most 255 BODY bytes.
inline constexpr std::size_t kMaxControlFrameSize = 2 + 255;
/// Own answers (PONGs) a control channel lets pile up before it stops reading (9.3).
inline constexpr std::size_t kControlOutputLimit = 4 * 1024;
/// Body of PING and PONG frames.
inline constexpr std::size_t kPingBodySize = 8;
/// One-time token of OPEN frames and ATTACH messages.
inline constexpr std::size_t kAttachTokenSize = 16;
/// ATTACH: VER + METHOD + TOKEN.
inline constexpr std::size_t kAttachMessageSize = 2 + kAttachTokenSize;
/// Visitor header: VER + KIND + TUNNEL(4) + two (ATYP + up to 16 address bytes + PORT(2)).
inline constexpr std::size_t kMaxVisitorHeaderSize = 44;

/// TYPE of a control frame (docs/PROTOCOL.md 9.3). Other values are skipped by receivers.
enum class FrameType : std::uint8_t {
  ping = 0x01,  ///< either way; 8 opaque bytes, answered by a PONG with the same bytes
  pong = 0x02,  ///< either way; the body of the PING it answers
  open = 0x03,  ///< server to climber (TLS): open a data connection with this token
};

/// KIND of the header that starts a visitor's stream or data connection (9.5).
inline constexpr std::uint8_t kVisitorKind = 0x01;

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
