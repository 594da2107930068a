// ControlChannel: one side of a reverse tunnel's control tunnel after the REVERSE response,
// sans-IO (docs/PROTOCOL.md 9.3 and 9.4). The same machine runs on the server and on the
// climber; the Role only decides who may send OPEN.
//
// Theory of operation. Peer bytes go to feed() with the current time; frames are decoded as
// they complete (at most one partial frame, 257 bytes, is buffered). A PING is answered at
// once by a PONG in pending_output(); a PONG only proves the peer alive; OPEN (server to
// climber) becomes event::OpenRequest; frames of unknown TYPE are skipped. Time is an
// argument, never read: next_timeout() says when handle_timeout() is due, which sends a PING
// when nothing came for the keep-alive interval K and fails the channel with
// Errc::keepalive_timeout when nothing came for 3 x K.
//
//   open --feed_eof()--> (EndOfInput, after the queued events)
//     |---bad frame / EOF inside a frame----> failed (event::Error, repeated)
//     '---3 x K without a byte from the peer-> failed (Errc::keepalive_timeout)
//
// Bounds are back-pressure, not errors: feed() stops consuming while more than
// kControlOutputLimit bytes of PONGs wait in pending_output(), or while kMaxQueuedOpens OPEN
// requests wait for next_event(). THE ADAPTER MUST STOP READING while a feed() did not consume
// all its input, and feed the rest again after it sent output or took events.
//
// Deterministic for any chunking of the input and any sequence of times. Not thread-safe;
// distinct objects may be used from distinct threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <variant>

#include "mtop/bytes.hpp"
#include "mtop/export.hpp"
#include "mtop/handshake_events.hpp"
#include "mtop/result.hpp"
#include "mtop/reverse_codec.hpp"

namespace mtop::event {

/// Climber: the server asks for a TLS data connection carrying this one-time token (9.6).
struct OpenRequest {
  AttachToken token;
  friend bool operator==(const OpenRequest&, const OpenRequest&) = default;
};

}  // namespace mtop::event

namespace mtop {

using ControlEvent =
    std::variant<event::NeedData, event::OpenRequest, event::EndOfInput, event::Error>;

class MTOP_CPP_API ControlChannel {
 public:
  enum class Role { server, climber };
  enum class State { open, failed };

  /// OPEN requests held for next_event() before feed() stops consuming.
  static constexpr std::size_t kMaxQueuedOpens = 64;

  /// A channel whose peer counts as heard from at `now_ms` (the time of the response).
  /// `keepalive_s` is the K of the REVERSE response (1-kMaxKeepaliveSeconds).
  /// Errors: Errc::invalid_argument for a K out of range.
  static Result<ControlChannel> create(Role role, std::uint16_t keepalive_s, std::uint64_t now_ms);

  /// Takes peer bytes received at `now_ms`; returns how many were consumed (less than
  /// in.size() only under back-pressure, see above). Errors: Errc::invalid_state when failed
  /// or after feed_eof().
  Result<std::size_t> feed(ByteView in, std::uint64_t now_ms);
  /// The peer half-closed. Inside a partial frame this fails the channel with
  /// Errc::peer_closed (as an event). Errors: Errc::invalid_state when failed or called twice.
  Result<void> feed_eof();

  /// The time (ms, the clock of feed()) at which handle_timeout() is due; UINT64_MAX when
  /// no timer runs (failed, or after the peer's EOF).
  std::uint64_t next_timeout() const noexcept;
  /// Call at or after next_timeout(): queues a PING, or fails the channel with
  /// Errc::keepalive_timeout. Calling it early does nothing.
  void handle_timeout(std::uint64_t now_ms);

  /// The next event, or event::NeedData. OpenRequest is reported once each, in order;
  /// Error and EndOfInput repeat on every call.
  ControlEvent next_event();

  /// Server: asks the climber for a data connection with `token` (an OPEN frame).
  /// Errors: Errc::invalid_state on a climber or when failed.
  Result<void> send_open(const AttachToken& token);

  /// Bytes to send; valid until the next call of a non-const member.
  ByteView pending_output() const noexcept;
  /// Drops the first `n` bytes of pending_output() (n is clamped to its size).
  void consume_output(std::size_t n) noexcept;

  State state() const noexcept { return state_; }

 private:
  ControlChannel(Role role, std::uint16_t keepalive_s, std::uint64_t now_ms);
  bool held_back() const noexcept;
  void handle(const ControlFrame& frame);
  void fail(Errc e);

  Role role_;
  std::uint64_t interval_ms_;
  std::uint64_t last_heard_ms_;  // the last time a byte came from the peer
  std::uint64_t last_ping_ms_;   // the last PING we sent, or last_heard_ms_ at the start
  std::uint64_t pings_sent_ = 0;
  State state_ = State::open;
  Errc error_ = Errc::invalid_state;
  bool eof_ = false;
  Bytes partial_;  // a frame begun and not complete (< kMaxControlFrameSize bytes)
  std::deque<AttachToken> opens_;
  Bytes out_;
  std::size_t out_off_ = 0;
};

}  // namespace mtop
