// The server side of SOCKS5 (RFC 1928) with username/password authentication (RFC 1929), as the
// climber speaks it to local applications: a sans-IO state machine. No sockets, clocks or
// threads; deterministic for any chunking of the input.
//
//   mtop::socks5::Server s(mtop::socks5::ServerSettings::for_credentials(have_users));
//   on bytes:  auto n = s.feed(chunk);          // keep chunk[*n..] if *n < chunk.size()
//              write s.pending_output(), then s.consume_output(written);
//              loop on s.next_event():
//                Credentials    -> s.accept_credentials(check(user, pass));
//                ConnectRequest -> dial; s.take_payload() is early data; then
//                                  s.reply(ReplyCode::succeeded, bound) or s.reply(error, {});
//                NeedData       -> read more;   Paused -> a decision is outstanding;
//                Finished       -> flush output; established() ? relay : close.
//              an error (feed or next_event)    -> flush output, then close.
//
// Only CONNECT is served. BIND, UDP ASSOCIATE and unknown commands are answered with reply 0x07
// by the machine itself. The wire rules and the exact failure replies are in
// libmtop/core/socks5_server.cpp ("theory of operation").
//
// Thread safety: a Server is not thread-safe; distinct Servers may be used from distinct threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "mtop/address.hpp"
#include "mtop/bytes.hpp"
#include "mtop/export.hpp"
#include "mtop/result.hpp"

namespace mtop::socks5 {

/// Authentication methods of RFC 1928 section 3 that the machine knows.
enum class Method : std::uint8_t {
  no_auth = 0x00,            ///< NO AUTHENTICATION REQUIRED
  username_password = 0x02,  ///< RFC 1929
  no_acceptable = 0xFF,      ///< NO ACCEPTABLE METHODS (sent, never selected)
};

/// REP values of RFC 1928 section 6. The climber maps MTop statuses and dial errors onto them.
enum class ReplyCode : std::uint8_t {
  succeeded = 0x00,
  general_failure = 0x01,             ///< general SOCKS server failure
  not_allowed = 0x02,                 ///< connection not allowed by ruleset
  network_unreachable = 0x03,
  host_unreachable = 0x04,
  connection_refused = 0x05,
  ttl_expired = 0x06,
  command_not_supported = 0x07,
  address_type_not_supported = 0x08,
};

/// What the machine accepts and how much it buffers; nothing here can be changed by the peer.
struct ServerSettings {
  /// Accept method 0x00 (no authentication). Ignored when username_password is true.
  bool no_auth = true;
  /// Credentials are configured: accept method 0x02, and then ONLY 0x02, whatever no_auth says,
  /// so that a client cannot walk past the credentials by offering 0x00.
  bool username_password = false;
  /// Most payload bytes (those after the CONNECT request) held until take_payload(). When full,
  /// feed() consumes less than it is given (back-pressure), it never fails for this. The bytes
  /// that arrived in the same feed() as the request are always kept, so the real bound is
  /// max(max_payload, kMaxHandshakeBuffer).
  std::size_t max_payload = 64 * 1024;

  /// The climber's settings: 0x02 only when it has users configured, else 0x00 only.
  static ServerSettings for_credentials(bool configured) noexcept {
    ServerSettings s;
    s.no_auth = !configured;
    s.username_password = configured;
    return s;
  }
};

/// Most handshake bytes (greeting, RFC 1929 request, CONNECT request) buffered at once. Larger
/// than the biggest single message (RFC 1929: 513 bytes), so parsing always makes progress.
inline constexpr std::size_t kMaxHandshakeBuffer = 1024;

/// Most bytes the machine ever queues as output over its whole life: the method selection (2),
/// the RFC 1929 status (2) and one reply (4 + 1 + 255 + 2).
inline constexpr std::size_t kMaxOutput = 2 + 2 + 262;

// --- events (plain values that compare equal, for tests) -------------------------------------

/// The machine needs more input before it has anything to say.
struct NeedData {
  friend bool operator==(const NeedData&, const NeedData&) = default;
};
/// The machine waits for the app's decision on the event it last returned (feed() still buffers).
struct Paused {
  friend bool operator==(const Paused&, const Paused&) = default;
};
/// RFC 1929 request: answer with accept_credentials(). Both fields are 1-255 opaque bytes.
/// `password` is a secret: the app should overwrite it when done.
struct Credentials {
  std::string username;
  std::string password;
  friend bool operator==(const Credentials&, const Credentials&) = default;
};
/// A CONNECT request: answer with reply(). The target has a port 1-65535 and, for a domain, a
/// name that passes is_valid_domain().
struct ConnectRequest {
  Address target;
  friend bool operator==(const ConnectRequest&, const ConnectRequest&) = default;
};
/// The machine is done: reply() was called. Flush the output; then relay if established(), else
/// close.
struct Finished {
  friend bool operator==(const Finished&, const Finished&) = default;
};

using Event = std::variant<NeedData, Paused, Credentials, ConnectRequest, Finished>;

/// Where the machine is. Exposed for adapters' logs and for tests.
enum class State : std::uint8_t {
  greeting,        ///< reading VER NMETHODS METHODS
  auth,            ///< reading the RFC 1929 request
  auth_decision,   ///< Credentials issued; waiting for accept_credentials()
  request,         ///< reading the CONNECT request
  reply_decision,  ///< ConnectRequest issued; waiting for reply(); payload is buffered
  established,     ///< reply(succeeded) queued; the caller relays from now on
  closed,          ///< reply(error) queued; the caller flushes output and closes
  failed,          ///< the peer misbehaved or its credentials were refused; see error()
};

class MTOP_CPP_API Server {
 public:
  explicit Server(ServerSettings settings = {}) : settings_(settings) {}

  /// Consumes bytes from the client. `in` is borrowed for the call only.
  /// Returns how many bytes of `in` were consumed: everything the machine can hold. Less than
  /// in.size() means back-pressure (handshake buffer full while a decision is outstanding, or
  /// payload at max_payload): keep the rest and offer it again after the decision or after
  /// take_payload(). A truncated but so far valid message is never an error.
  /// Errors, peer (sticky: the machine is failed, later feed()/next_event() return the same
  /// code; output queued before failing, e.g. a 0xFF or 0x07 reply, stays to be flushed):
  /// socks_bad_version, socks_no_methods, socks_no_acceptable_method, socks_bad_credentials,
  /// socks_command_not_supported, socks_bad_reserved, socks_bad_address_type, socks_bad_address;
  /// socks_auth_failed after accept_credentials(false).
  /// Errors, local: invalid_state once established or closed (the caller relays or closes).
  Result<std::size_t> feed(ByteView in);

  /// The next event: Credentials or ConnectRequest once each, then Paused until the decision;
  /// NeedData while a message is incomplete; Finished after reply().
  /// Errors: the sticky peer error of a failed machine (same codes as feed()).
  Result<Event> next_event();

  /// The app's answer to Credentials: true queues status 0x00 and goes on to the request
  /// (parsing any request bytes already buffered); false queues status 0x01 and fails the
  /// machine with socks_auth_failed (RFC 1929: the server must close after a failure status).
  /// Errors: invalid_state unless a Credentials decision is outstanding.
  Result<void> accept_credentials(bool accepted);

  /// The app's answer to ConnectRequest: queues VER REP RSV ATYP BND.ADDR BND.PORT.
  /// `succeeded` makes the machine established (pass-through); any other code closes it. `bound`
  /// is what BND.ADDR/BND.PORT carry (for failures, usually 0.0.0.0:0 = a default Address).
  /// Errors: invalid_state unless a ConnectRequest decision is outstanding; invalid_argument
  /// for a code outside 0x00-0x08, a bound domain of 0 or more than 255 bytes, or an unknown
  /// address type (nothing is queued then, and the decision stays outstanding).
  Result<void> reply(ReplyCode code, const Address& bound);

  /// Bytes to send to the client. Valid until the next call of a non-const member.
  ByteView pending_output() const noexcept { return {out_.data(), out_.size()}; }
  /// Marks the first `n` bytes of pending_output() as sent; `n` larger than what is pending
  /// is taken as all of it.
  void consume_output(std::size_t n) noexcept;

  /// Moves out the client's bytes that followed its CONNECT request (the first payload of a
  /// client that did not wait for the reply). Empty before the request; the climber sends them
  /// as early data. Dropped when the machine closes or fails.
  Bytes take_payload();

  State state() const noexcept { return state_; }
  /// True after reply(succeeded): the caller relays raw bytes from now on.
  bool established() const noexcept { return state_ == State::established; }
  /// The peer error of a failed machine; empty otherwise.
  std::optional<Errc> error() const noexcept {
    if (state_ != State::failed) return std::nullopt;
    return error_;
  }
  /// The method chosen from the greeting; empty before it (or if none was acceptable).
  std::optional<Method> method() const noexcept { return method_; }

 private:
  // Each parser returns true when it completed a message (and changed the state).
  bool parse_greeting();
  bool parse_auth();
  bool parse_request();
  void advance();
  void fail(Errc e);
  void queue_reply(ReplyCode code, const Address& bound);
  void drop_handshake_bytes(std::size_t n);

  ServerSettings settings_;
  State state_ = State::greeting;
  Errc error_ = Errc::invalid_state;
  std::optional<Method> method_;
  std::optional<Event> event_;  ///< issued by the parser, not yet returned by next_event()
  Bytes in_;                    ///< handshake bytes not parsed yet (at most kMaxHandshakeBuffer)
  Bytes out_;                   ///< bytes for the client (at most kMaxOutput over the life)
  Bytes payload_;               ///< bytes after the request, until take_payload()
};

}  // namespace mtop::socks5
