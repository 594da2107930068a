// Encoders and decoders of the reverse-tunnel messages (docs/PROTOCOL.md section 9) that
// follow the REVERSE request (codec.hpp): the REVERSE response, control frames, the visitor
// header, the ATTACH message, and the PROXY protocol v2 header a climber may write to its
// local service.
//
// The decoders keep the promises of codec.hpp: stateless over "all bytes received so far", a
// truncated prefix of a valid message is "need more" (never an error), an error is reported
// as soon as the offending byte is present and stays the same for every longer input, and a
// complete message reports how many bytes it used without looking at what follows.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "mtop/address.hpp"
#include "mtop/bytes.hpp"
#include "mtop/codec.hpp"
#include "mtop/export.hpp"
#include "mtop/protocol.hpp"
#include "mtop/result.hpp"

namespace mtop {

/// What a server grants a control tunnel (the fields of a REVERSE success response).
struct ReverseGrant {
  std::uint16_t port = 0;                                ///< the bound public port, 1-65535
  std::uint32_t tunnel = 0;                              ///< the tunnel id visitor headers name
  std::uint16_t keepalive_s = kDefaultKeepaliveSeconds;  ///< K, 1-kMaxKeepaliveSeconds

  friend bool operator==(const ReverseGrant&, const ReverseGrant&) = default;
};

/// A decoded REVERSE response: a status, and the grant when it is success (zero otherwise).
struct ReverseReply {
  Status status = Status::success;
  ReverseGrant grant{0, 0, 0};

  friend bool operator==(const ReverseReply&, const ReverseReply&) = default;
};

/// Appends the REVERSE success response (10 bytes) to `out`.
/// Errors (nothing appended): invalid_argument for port 0 or a keep-alive outside
/// 1-kMaxKeepaliveSeconds.
MTOP_CPP_API Result<void> encode_reverse_success(const ReverseGrant& grant, Bytes& out);
/// Appends a REVERSE failure response (VER + STATUS) to `out`.
/// Errors: invalid_argument for success or a status that is not a REVERSE status.
MTOP_CPP_API Result<void> encode_reverse_failure(Status status, Bytes& out);
/// Decodes a REVERSE response from the start of `in`. Errors (peer): bad_version (byte 1),
/// bad_status (byte 2: not a REVERSE status), bad_port (byte 4: a success with port 0),
/// bad_frame (byte 10: a keep-alive of 0 or above kMaxKeepaliveSeconds).
MTOP_CPP_API Result<Decoded<ReverseReply>> decode_reverse_response(ByteView in);

/// A control frame as it travels: TYPE (a FrameType, or a value unknown to us) and BODY.
struct ControlFrame {
  std::uint8_t type = 0;
  Bytes body;

  friend bool operator==(const ControlFrame&, const ControlFrame&) = default;
};

/// Appends a control frame. Errors: invalid_argument for a body over 255 bytes, or a body
/// length other than the table's for a known FrameType (PING/PONG 8, OPEN 16).
MTOP_CPP_API Result<void> encode_frame(std::uint8_t type, ByteView body, Bytes& out);
/// Decodes one control frame from the start of `in`. A frame of an unknown TYPE is returned
/// as it is (the caller skips it). Errors (peer): bad_frame (at the LEN byte) when a known
/// TYPE has another length than the table's. Who may send which frame is the caller's check.
MTOP_CPP_API Result<Decoded<ControlFrame>> decode_frame(ByteView in);

/// The one-time token of an OPEN frame and an ATTACH message.
using AttachToken = std::array<std::uint8_t, kAttachTokenSize>;

/// Appends the ATTACH message (VER, METHOD 0x03, TOKEN). Cannot fail.
MTOP_CPP_API void encode_attach(const AttachToken& token, Bytes& out);
/// Decodes an ATTACH message from the start of `in`. Errors (peer): bad_version (byte 1),
/// bad_method (byte 2: not 0x03).
MTOP_CPP_API Result<Decoded<AttachToken>> decode_attach(ByteView in);

/// The header that starts a visitor's QUIC stream or TLS data connection (9.5).
struct VisitorHeader {
  std::uint32_t tunnel = 0;  ///< the control tunnel's id
  Address source;            ///< the visitor: IPv4 or IPv6, port 1-65535
  Address destination;       ///< the public address it connected to: IPv4 or IPv6, port 1-65535

  friend bool operator==(const VisitorHeader&, const VisitorHeader&) = default;
};

/// Appends the visitor header (20-44 bytes). Errors (nothing appended): invalid_argument for
/// an address that is not IPv4 / IPv6, or port 0.
MTOP_CPP_API Result<void> encode_visitor_header(const VisitorHeader& header, Bytes& out);
/// Decodes a visitor header from the start of `in`. Errors (peer), at the offending byte:
/// bad_version, bad_frame (KIND), bad_address_type (an ATYP other than IPv4 / IPv6),
/// bad_port (port 0, at its second byte).
MTOP_CPP_API Result<Decoded<VisitorHeader>> decode_visitor_header(ByteView in);

/// Appends a PROXY protocol version 2 header (HAProxy proxy-protocol.txt 2.2; PROXY command,
/// TCP over IPv4 when both addresses are IPv4, else TCP over IPv6 with IPv4 addresses in
/// their IPv4-mapped form; no TLVs): 28 or 52 bytes. Errors (nothing appended):
/// invalid_argument when an address is a domain.
MTOP_CPP_API Result<void> encode_proxy_v2(const Address& source, const Address& destination,
                                          Bytes& out);

}  // namespace mtop
