// Events of the MTop handshake machines (client_handshake.hpp, server_handshake.hpp).
// Plain values that compare equal, so tests can assert whole event sequences.
#pragma once

#include <optional>
#include <variant>

#include "mtop/bytes.hpp"
#include "mtop/codec.hpp"
#include "mtop/errc.hpp"
#include "mtop/protocol.hpp"
#include "mtop/reverse_codec.hpp"

namespace mtop::event {

/// Nothing to report until more input is fed (or, on the server, until the app decides).
struct NeedData {
  friend bool operator==(const NeedData&, const NeedData&) = default;
};
/// Server: a complete, valid auth message. The app must answer with accept() or reject().
/// The event owns the only copy of the password: wipe it (request.wipe_password()) once the
/// credentials are checked.
struct AuthRequest {
  AuthMessage request;
  friend bool operator==(const AuthRequest&, const AuthRequest&) = default;
};
/// Client: the server answered success; the tunnel is open. For a REVERSE request, `grant`
/// holds the bound port, the tunnel id and the keep-alive interval (empty for CONNECT).
struct Established {
  std::optional<ReverseGrant> grant;
  friend bool operator==(const Established&, const Established&) = default;
};
/// Client: the server answered with a failure status (terminal, repeated on every call).
struct Rejected {
  Status status;
  friend bool operator==(const Rejected&, const Rejected&) = default;
};
/// Client: the server closed before a complete response, the stealth answer to a failure
/// (terminal, repeated). The C API reports it as Errc::peer_closed.
struct ClosedWithoutStatus {
  friend bool operator==(const ClosedWithoutStatus&, const ClosedWithoutStatus&) = default;
};
/// Tunnel payload from the peer, in order, once the tunnel is open (server: early payload
/// first, right after accept()).
struct Payload {
  Bytes data;
  friend bool operator==(const Payload&, const Payload&) = default;
};
/// The peer half-closed after the tunnel opened: no more payload will come (terminal for
/// input, repeated on every call; output may go on).
struct EndOfInput {
  friend bool operator==(const EndOfInput&, const EndOfInput&) = default;
};
/// The peer broke the protocol (or closed too early on the server); terminal, repeated.
struct Error {
  Errc code;
  friend bool operator==(const Error&, const Error&) = default;
};

}  // namespace mtop::event

namespace mtop {

using ClientEvent = std::variant<event::NeedData, event::Established, event::Payload,
                                 event::EndOfInput, event::Rejected, event::ClosedWithoutStatus,
                                 event::Error>;

using ServerEvent = std::variant<event::NeedData, event::AuthRequest, event::Payload,
                                 event::EndOfInput, event::Error>;

}  // namespace mtop
