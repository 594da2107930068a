// ControlChannel (theory of operation in include/mtop/control_channel.hpp).
#include "mtop/control_channel.hpp"

#include <algorithm>
#include <limits>
#include <utility>

namespace mtop {

namespace {

constexpr std::uint64_t kNever = std::numeric_limits<std::uint64_t>::max();
// The peer is given up after this many keep-alive intervals of silence (PROTOCOL.md 9.4).
constexpr std::uint64_t kDeadAfterIntervals = 3;

// Bytes still missing from a frame that begins with `partial` (at least the TYPE byte).
std::size_t missing(const Bytes& partial) {
  if (partial.size() < 2) return 2 - partial.size();
  return 2 + std::size_t{partial[1]} - partial.size();
}

}  // namespace

Result<ControlChannel> ControlChannel::create(Role role, std::uint16_t keepalive_s,
                                              std::uint64_t now_ms) {
  if (keepalive_s == 0 || keepalive_s > kMaxKeepaliveSeconds) return Errc::invalid_argument;
  return ControlChannel(role, keepalive_s, now_ms);
}

ControlChannel::ControlChannel(Role role, std::uint16_t keepalive_s, std::uint64_t now_ms)
    : role_(role),
      interval_ms_(std::uint64_t{keepalive_s} * 1000),
      last_heard_ms_(now_ms),
      last_ping_ms_(now_ms) {}

bool ControlChannel::held_back() const noexcept {
  return out_.size() - out_off_ > kControlOutputLimit || opens_.size() >= kMaxQueuedOpens;
}

void ControlChannel::fail(Errc e) {
  state_ = State::failed;
  error_ = e;
  partial_.clear();
  opens_.clear();
}

void ControlChannel::handle(const ControlFrame& frame) {
  switch (static_cast<FrameType>(frame.type)) {
    case FrameType::ping:
      // The decoder checked the body length, so this cannot fail.
      (void)encode_frame(static_cast<std::uint8_t>(FrameType::pong), frame.body, out_);
      return;
    case FrameType::pong:
      return;  // any byte proves the peer alive; feed() noted the time
    case FrameType::open:
      if (role_ == Role::server) {
        fail(Errc::bad_frame);  // OPEN travels from server to climber only
        return;
      }
      opens_.emplace_back();
      std::copy(frame.body.begin(), frame.body.end(), opens_.back().begin());
      return;
  }
  // An unknown TYPE: skipped whole (later versions may add frames).
}

Result<std::size_t> ControlChannel::feed(ByteView in, std::uint64_t now_ms) {
  if (state_ != State::open || eof_) return Errc::invalid_state;
  std::size_t at = 0;
  while (at < in.size() && state_ == State::open && !held_back()) {
    if (!partial_.empty()) {
      // Complete the frame begun in an earlier feed, one missing piece at a time (the LEN
      // byte first, then the body), so the buffer never holds more than that frame.
      const std::size_t n = std::min(missing(partial_), in.size() - at);
      partial_.insert(partial_.end(), in.begin() + static_cast<std::ptrdiff_t>(at),
                      in.begin() + static_cast<std::ptrdiff_t>(at + n));
      at += n;
      auto decoded = decode_frame(partial_);
      if (!decoded) {
        fail(decoded.error());
      } else if (decoded->complete()) {
        partial_.clear();
        handle(*decoded->message);
      }
      continue;
    }
    auto decoded = decode_frame(in.subspan(at));
    if (!decoded) {
      at += 2;  // the frame is refused at its LEN byte, as when it came in pieces
      fail(decoded.error());
    } else if (decoded->complete()) {
      at += decoded->size;
      handle(*decoded->message);
    } else {
      // The rest is the start of a frame: less than kMaxControlFrameSize bytes.
      partial_.assign(in.begin() + static_cast<std::ptrdiff_t>(at), in.end());
      at = in.size();
    }
  }
  if (at > 0) last_heard_ms_ = std::max(last_heard_ms_, now_ms);
  return at;
}

Result<void> ControlChannel::feed_eof() {
  if (state_ != State::open || eof_) return Errc::invalid_state;
  if (!partial_.empty()) {
    fail(Errc::peer_closed);
    return {};
  }
  eof_ = true;
  return {};
}

std::uint64_t ControlChannel::next_timeout() const noexcept {
  if (state_ != State::open || eof_) return kNever;
  const std::uint64_t ping_at = std::max(last_heard_ms_, last_ping_ms_) + interval_ms_;
  const std::uint64_t dead_at = last_heard_ms_ + kDeadAfterIntervals * interval_ms_;
  return std::min(ping_at, dead_at);
}

void ControlChannel::handle_timeout(std::uint64_t now_ms) {
  if (now_ms < next_timeout()) return;
  if (now_ms >= last_heard_ms_ + kDeadAfterIntervals * interval_ms_) {
    fail(Errc::keepalive_timeout);
    return;
  }
  Bytes body(kPingBodySize);
  const std::uint64_t n = ++pings_sent_;
  for (std::size_t i = 0; i < kPingBodySize; ++i)
    body[i] = static_cast<std::uint8_t>(n >> (8 * (kPingBodySize - 1 - i)));
  (void)encode_frame(static_cast<std::uint8_t>(FrameType::ping), body, out_);
  last_ping_ms_ = now_ms;
}

ControlEvent ControlChannel::next_event() {
  if (state_ == State::failed) return event::Error{error_};
  if (!opens_.empty()) {
    event::OpenRequest ev{opens_.front()};
    opens_.pop_front();
    return ev;
  }
  if (eof_) return event::EndOfInput{};
  return event::NeedData{};
}

Result<void> ControlChannel::send_open(const AttachToken& token) {
  if (role_ != Role::server || state_ != State::open) return Errc::invalid_state;
  (void)encode_frame(static_cast<std::uint8_t>(FrameType::open), token, out_);
  return {};
}

ByteView ControlChannel::pending_output() const noexcept {
  return ByteView(out_).subspan(out_off_);
}

void ControlChannel::consume_output(std::size_t n) noexcept {
  out_off_ += std::min(n, out_.size() - out_off_);
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
  } else if (out_off_ > kControlOutputLimit) {
    // An adapter that keeps sending part of the output must not make the buffer creep.
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_off_));
    out_off_ = 0;
  }
}

}  // namespace mtop
