// Encoders and decoders of the two MTop messages (docs/PROTOCOL.md): the auth message the
// client sends first (METHOD CONNECT, or REVERSE for a control tunnel, section 9.1), and the
// two-byte response of the server to a CONNECT. The messages of reverse tunnels after the
// request are in reverse_codec.hpp.
//
// Decoders are stateless over "all bytes received so far": call them again with a longer
// prefix when they ask for more. Their promises, for any input:
// - a truncated prefix of a valid message gives "need more" (never an error);
// - an error is reported as soon as the offending byte is present (VER=0x02 is bad_version
//   after one byte), and the same error for every longer input;
// - a complete message reports how many bytes it used; what follows is not looked at (it is
//   early payload / payload for the caller).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "mtop/address.hpp"
#include "mtop/bytes.hpp"
#include "mtop/export.hpp"
#include "mtop/protocol.hpp"
#include "mtop/result.hpp"

namespace mtop {

/// The auth message, decoded. `password` is a secret: call wipe_password() when done with it.
struct MTOP_CPP_API AuthMessage {
  Method method = Method::connect;
  std::string username;  ///< 1-255 opaque bytes
  std::string password;  ///< 1-255 opaque bytes
  /// CONNECT: the target, port 1-65535, a domain passes is_valid_domain().
  /// REVERSE: the public bind, an IPv4 or IPv6 address (any-address allowed), port 0-65535.
  Address target;

  /// Overwrites the password's bytes (including its spare capacity) and empties it.
  void wipe_password() noexcept;

  friend bool operator==(const AuthMessage&, const AuthMessage&) = default;
};

/// The result of a decoder that did not fail: either "need more bytes" (no message), or a
/// message and the number of bytes of the input it used.
template <class T>
struct Decoded {
  std::optional<T> message;  ///< empty: the input is a valid prefix, feed more
  std::size_t size = 0;      ///< bytes used by the message (0 when there is none)

  bool complete() const noexcept { return message.has_value(); }
};

/// Appends the encoded auth message to `out`.
/// Errors (nothing is appended): Errc::invalid_argument if a field is out of range (method
/// not CONNECT or REVERSE, username or password empty or longer than 255 bytes, an unknown
/// address type, a domain rejected by is_valid_domain(), port 0 for CONNECT; a domain for
/// REVERSE).
MTOP_CPP_API Result<void> encode_auth(const AuthMessage& msg, Bytes& out);

/// Appends VER + STATUS to `out`. Errors: Errc::invalid_argument for an unknown status.
MTOP_CPP_API Result<void> encode_response(Status status, Bytes& out);

/// Decodes a CONNECT auth message from the start of `in` (the bytes received so far); METHOD
/// REVERSE is bad_method here, as on a server without reverse tunnels.
/// Errors (peer): bad_version, bad_method, bad_username, bad_password, bad_address_type,
/// bad_domain, bad_port. Never reads past kMaxAuthMessageSize bytes.
MTOP_CPP_API Result<Decoded<AuthMessage>> decode_auth(ByteView in);

/// Like decode_auth(), but METHOD REVERSE is decoded too (docs/PROTOCOL.md 9.1: its ATYP must
/// be IPv4 or IPv6, else bad_address_type; its port may be 0). Same errors otherwise.
MTOP_CPP_API Result<Decoded<AuthMessage>> decode_request(ByteView in);

/// Decodes a response from the start of `in`. Errors (peer): bad_version, bad_status.
MTOP_CPP_API Result<Decoded<Status>> decode_response(ByteView in);

/// Overwrites every byte of `s` (size and spare capacity) in a way the compiler keeps, then
/// empties it. For secrets; the allocation is kept.
MTOP_CPP_API void secure_wipe(std::string& s) noexcept;
/// The same for a byte buffer.
MTOP_CPP_API void secure_wipe(Bytes& b) noexcept;

}  // namespace mtop
