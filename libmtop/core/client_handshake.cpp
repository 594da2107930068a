// ClientHandshake (theory of operation in include/mtop/client_handshake.hpp).
#include "mtop/client_handshake.hpp"

#include <algorithm>
#include <utility>

namespace mtop {

namespace {

// Consumed output is compacted away once this much has piled up in front of the rest.
constexpr std::size_t kCompactAt = 64 * 1024;

}  // namespace

Result<ClientHandshake> ClientHandshake::create(const AuthMessage& request) {
  ClientHandshake hs;
  if (auto r = encode_auth(request, hs.out_); !r) return r.error();
  hs.reverse_ = request.method == Method::reverse;
  return hs;
}

ClientHandshake::~ClientHandshake() { secure_wipe(out_); }

Result<void> ClientHandshake::send_payload(ByteView data) {
  if (state_ != State::handshaking && state_ != State::established) return Errc::invalid_state;
  // A control tunnel says nothing before the REVERSE response (docs/PROTOCOL.md 9.1).
  if (reverse_ && state_ == State::handshaking) return Errc::invalid_state;
  out_.insert(out_.end(), data.begin(), data.end());
  return {};
}

ByteView ClientHandshake::pending_output() const noexcept {
  return ByteView(out_).subspan(out_off_);
}

void ClientHandshake::consume_output(std::size_t n) noexcept {
  n = std::min(n, out_.size() - out_off_);
  // The front of out_ is the auth message with the password: zero what has been sent.
  std::fill_n(out_.begin() + static_cast<std::ptrdiff_t>(out_off_), n, std::uint8_t{0});
  out_off_ += n;
  if (out_off_ == out_.size()) {
    secure_wipe(out_);
    out_off_ = 0;
  } else if (out_off_ >= kCompactAt) {
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(out_off_));
    out_off_ = 0;
  }
}

Result<std::size_t> ClientHandshake::feed(ByteView in) {
  if (eof_) return Errc::invalid_state;
  if (state_ == State::established) {
    payload_.insert(payload_.end(), in.begin(), in.end());
    return in.size();
  }
  if (state_ != State::handshaking) return Errc::invalid_state;

  // At most one response is buffered; whatever follows a success is payload.
  const std::size_t before = response_.size();
  const std::size_t take =
      std::min(in.size(), (reverse_ ? kReverseResponseSize : kResponseSize) - before);
  response_.insert(response_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(take));
  Result<Decoded<ReverseReply>> decoded = Errc::invalid_state;
  if (reverse_) {
    decoded = decode_reverse_response(response_);
  } else if (auto plain = decode_response(response_); !plain) {
    decoded = plain.error();
  } else {
    decoded = Decoded<ReverseReply>{};
    if (plain->complete())
      decoded = Decoded<ReverseReply>{ReverseReply{*plain->message}, plain->size};
  }
  if (!decoded) {
    state_ = State::failed;
    error_ = decoded.error();
    secure_wipe(out_);
    out_off_ = 0;
    return take;
  }
  if (!decoded->complete()) return take;
  const std::size_t used = decoded->size - before;
  status_ = decoded->message->status;
  if (status_ != Status::success) {
    // The server closes after a failure status; anything behind it is not ours to read.
    state_ = State::rejected;
    secure_wipe(out_);
    out_off_ = 0;
    return used;
  }
  grant_ = decoded->message->grant;
  state_ = State::established;
  payload_.insert(payload_.end(), in.begin() + static_cast<std::ptrdiff_t>(used), in.end());
  return in.size();
}

Result<void> ClientHandshake::feed_eof() {
  if (eof_) return Errc::invalid_state;
  switch (state_) {
    case State::handshaking:
      // EOF before a complete response, even after VER: the stealth way of saying no.
      state_ = State::closed_without_status;
      secure_wipe(out_);
      out_off_ = 0;
      return {};
    case State::established:
      eof_ = true;
      return {};
    case State::rejected:
    case State::closed_without_status:
    case State::failed:
      break;
  }
  return Errc::invalid_state;
}

ClientEvent ClientHandshake::next_event() {
  switch (state_) {
    case State::handshaking:
      return event::NeedData{};
    case State::established:
      if (!established_reported_) {
        established_reported_ = true;
        if (reverse_) return event::Established{grant_};
        return event::Established{};
      }
      if (!payload_.empty()) return event::Payload{std::exchange(payload_, {})};
      if (eof_) return event::EndOfInput{};
      return event::NeedData{};
    case State::rejected:
      return event::Rejected{status_};
    case State::closed_without_status:
      return event::ClosedWithoutStatus{};
    case State::failed:
      return event::Error{error_};
  }
  return event::Error{Errc::invalid_state};
}

}  // namespace mtop
