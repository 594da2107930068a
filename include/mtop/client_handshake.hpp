// ClientHandshake: the climber's side of one MTop tunnel, sans-IO (docs/PROTOCOL.md).
//
// Theory of operation. The machine is built from the auth message, which it encodes at once
// into its output. The adapter sends pending_output() and calls consume_output() with what it
// wrote; the app may queue early payload with send_payload() without waiting for the answer.
// Server bytes go to feed(), then next_event() says what happened:
//
//   Handshaking --success--------> Established --feed_eof()--> (EndOfInput)
//        |------failure status---> Rejected              (terminal)
//        |------feed_eof()-------> ClosedWithoutStatus   (terminal; the stealth answer)
//        '------bad bytes--------> Error                 (terminal)
//
// Bytes after the response (in the same feed() or later ones) are tunnel payload and come
// out as event::Payload. A REVERSE request (a control tunnel, docs/PROTOCOL.md section 9)
// expects the REVERSE response: Established then carries the grant, Rejected may carry
// not_permitted, port_in_use or bad_request, and the payload is control frames for a
// ControlChannel (control_channel.hpp). After Established the adapter may also stop using the
// machine for input and relay directly, once next_event() has returned NeedData; and it must first
// flush pending_output() (early payload may still be queued) before writing payload itself.
//
// Deterministic for any chunking of the input. Not thread-safe; distinct objects may be used
// from distinct threads.
#pragma once

#include <cstddef>

#include "mtop/bytes.hpp"
#include "mtop/codec.hpp"
#include "mtop/export.hpp"
#include "mtop/handshake_events.hpp"
#include "mtop/result.hpp"

namespace mtop {

class MTOP_CPP_API ClientHandshake {
 public:
  enum class State { handshaking, established, rejected, closed_without_status, failed };

  /// Encodes `request` as the first output. The machine keeps no copy of the request; its
  /// encoded bytes (which hold the password) are wiped as they are consumed and on destruction.
  /// Errors: Errc::invalid_argument if a field is invalid (see encode_auth()).
  static Result<ClientHandshake> create(const AuthMessage& request);

  ClientHandshake(ClientHandshake&&) noexcept = default;
  ClientHandshake& operator=(ClientHandshake&&) noexcept = default;
  ClientHandshake(const ClientHandshake&) = delete;
  ClientHandshake& operator=(const ClientHandshake&) = delete;
  ~ClientHandshake();

  /// Queues tunnel payload behind the auth message (early payload while handshaking).
  /// The adapter bounds what it queues by watching pending_output().size().
  /// Errors: Errc::invalid_state unless handshaking or established; for a REVERSE request
  /// unless established (a control tunnel has no early payload).
  Result<void> send_payload(ByteView data);

  /// Bytes to send; valid until the next call of a non-const member.
  ByteView pending_output() const noexcept;
  /// Drops the first `n` bytes of pending_output() (n is clamped to its size).
  void consume_output(std::size_t n) noexcept;

  /// Takes server bytes. Returns how many were consumed: all of them, except in the feed that
  /// completes a failure response, where bytes after the response are left (and ignored).
  /// Errors: Errc::invalid_state in a terminal state or after feed_eof().
  Result<std::size_t> feed(ByteView in);
  /// The server closed its sending side (TCP FIN / close_notify / QUIC FIN).
  /// Errors: Errc::invalid_state in a terminal state or when called twice.
  Result<void> feed_eof();

  /// The next event, or event::NeedData. Terminal events repeat on every call; Established is
  /// reported once, then the queued Payload, then EndOfInput (repeated) after feed_eof().
  ClientEvent next_event();

  State state() const noexcept { return state_; }

 private:
  ClientHandshake() = default;

  State state_ = State::handshaking;
  Bytes out_;                  // auth message + queued payload
  std::size_t out_off_ = 0;    // consumed prefix of out_
  Bytes response_;             // response bytes so far (< kResponseSize / kReverseResponseSize)
  Status status_ = Status::success;
  ReverseGrant grant_{0, 0, 0};  // the REVERSE success, reported with Established
  bool reverse_ = false;         // the request was REVERSE: the REVERSE response is expected
  Errc error_ = Errc::invalid_state;
  Bytes payload_;              // payload received and not yet reported
  bool established_reported_ = false;
  bool eof_ = false;
};

}  // namespace mtop
