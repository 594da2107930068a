// ServerHandshake: the server's side of one MTop tunnel, sans-IO (docs/PROTOCOL.md).
//
// Theory of operation. Client bytes go to feed(); next_event() reports:
//
//   reading_auth --complete auth--> awaiting_decision --accept()--> accepted
//        |                                 '--------reject()------> closed
//        '-----bad bytes / EOF---> failed (event::Error; reject() may still send a status)
//
// 1. reading_auth: feed() buffers at most kMaxAuthMessageSize bytes until decode_auth()
//    completes. The auth bytes are wiped from the buffer once decoded.
// 2. awaiting_decision: next_event() returns event::AuthRequest once (it owns the only copy
//    of the password). The app checks credentials and policy, dials the target, then calls
//    accept() or reject(). Meanwhile bytes after the auth message are early payload, held up
//    to Options::early_data_limit. That bound is back-pressure, not an error: feed() consumes
//    only what fits and returns the count; THE ADAPTER MUST STOP READING while a feed() did
//    not consume everything, and feed the rest again after accept().
// 3. accepted: accept() queued the success response in pending_output(); the held early
//    payload is the first event::Payload, and every later feed() is consumed whole and
//    reported as Payload. feed_eof() turns into event::EndOfInput after the payload.
// 4. closed: reject() queued the status (reply mode) or nothing (stealth). The adapter sends
//    pending_output(), if any, and closes. No more input is taken.
//
// Reverse tunnels (docs/PROTOCOL.md section 9), with Options::reverse: a REVERSE request is an
// AuthRequest whose method is Method::reverse and whose target is the public bind. The app
// answers accept_reverse() (the 10-byte success response) or reject(); not_permitted,
// port_in_use and bad_request are sent in both modes (the credentials were good, 9.2). After
// accept_reverse() the bytes that follow are control frames, reported as Payload like a
// CONNECT tunnel's, for a ControlChannel (control_channel.hpp).
//
// Deterministic for any chunking of the input. Not thread-safe; distinct objects may be used
// from distinct threads.
#pragma once

#include <cstddef>
#include <optional>

#include "mtop/bytes.hpp"
#include "mtop/codec.hpp"
#include "mtop/export.hpp"
#include "mtop/handshake_events.hpp"
#include "mtop/protocol.hpp"
#include "mtop/result.hpp"
#include "mtop/reverse_codec.hpp"

namespace mtop {

/// How reject() answers: stealth closes without a byte (the default on the wire), reply
/// sends VER + STATUS first.
enum class RejectMode { stealth, reply };

class MTOP_CPP_API ServerHandshake {
 public:
  enum class State { reading_auth, awaiting_decision, accepted, closed, failed };

  struct Options {
    /// Early payload held before the decision (docs/PROTOCOL.md, "Early data"). 0 is allowed:
    /// then nothing after the auth message is read before accept().
    std::size_t early_data_limit = kDefaultEarlyDataLimit;
    /// Decode METHOD REVERSE too (a server offering reverse tunnels). Off, it is bad_method.
    bool reverse = false;
  };

  ServerHandshake() : ServerHandshake(Options{}) {}
  explicit ServerHandshake(Options options);
  ServerHandshake(ServerHandshake&&) noexcept = default;
  ServerHandshake& operator=(ServerHandshake&&) noexcept = default;
  ServerHandshake(const ServerHandshake&) = delete;
  ServerHandshake& operator=(const ServerHandshake&) = delete;
  ~ServerHandshake();

  /// Takes client bytes; returns how many were consumed (<= in.size()). Less than in.size()
  /// only while awaiting the decision with the early-data bound reached (see above).
  /// Errors: Errc::invalid_state when closed or failed, or after feed_eof().
  Result<std::size_t> feed(ByteView in);
  /// The client half-closed. Call it only once every byte before the EOF was consumed.
  /// Before a complete auth message this fails the machine with Errc::peer_closed (as an
  /// event). Errors: Errc::invalid_state when closed or failed, or when called twice.
  Result<void> feed_eof();

  /// The next event, or event::NeedData. AuthRequest and Payload are reported once; Error
  /// and EndOfInput repeat on every call.
  ServerEvent next_event();

  /// The app's yes: credentials good, target connected. Queues the success response.
  /// Errors: Errc::invalid_state unless awaiting the decision on a CONNECT request with the
  /// AuthRequest reported.
  Result<void> accept();
  /// The app's yes to a REVERSE request: the public port is bound. Queues the REVERSE success
  /// response with `grant`. Errors: Errc::invalid_argument for a grant encode_reverse_success()
  /// refuses; Errc::invalid_state unless awaiting the decision on a REVERSE request with the
  /// AuthRequest reported.
  Result<void> accept_reverse(const ReverseGrant& grant);
  /// The app's no. `status` is the failure to report: auth_failed, or connect_failed (also
  /// for a target the policy denies), or version_not_supported after event::Error with
  /// Errc::bad_version; for a REVERSE request also not_permitted, port_in_use, bad_request
  /// (never connect_failed), which are queued in both modes. Otherwise in RejectMode::reply
  /// the status is queued in pending_output(); in stealth nothing is. The machine is closed
  /// afterwards; held early payload is wiped.
  /// Errors: Errc::invalid_argument for Status::success or a value not allowed for the
  /// request; Errc::invalid_state unless awaiting the decision (AuthRequest reported) or failed.
  Result<void> reject(Status status, RejectMode mode);

  /// Bytes to send; valid until the next call of a non-const member.
  ByteView pending_output() const noexcept;
  /// Drops the first `n` bytes of pending_output() (n is clamped to its size).
  void consume_output(std::size_t n) noexcept;

  /// Payload held and not yet reported: the early payload while awaiting the decision (never
  /// more than Options::early_data_limit), then payload until next_event() hands it out.
  std::size_t early_data_size() const noexcept { return early_.size(); }

  State state() const noexcept { return state_; }

 private:
  std::size_t take_early(ByteView in);
  void fail(Errc e);

  Options options_;
  State state_ = State::reading_auth;
  Bytes auth_;                              // auth message so far (wiped, freed after use)
  std::optional<AuthMessage> request_;      // decoded, not yet reported
  bool request_reported_ = false;
  Method method_ = Method::connect;         // of the decoded request
  Bytes early_;                             // early payload, then payload to report
  bool eof_ = false;
  Errc error_ = Errc::invalid_state;
  Bytes out_;
  std::size_t out_off_ = 0;
};

}  // namespace mtop
