// ServerHandshake (theory of operation in include/mtop/server_handshake.hpp).
#include "mtop/server_handshake.hpp"

#include <algorithm>
#include <utility>

namespace mtop {

namespace {

// Wipes `b` and gives its memory back: a tunnel lives on long after its auth message, and
// thousands of idle ones should not each keep an empty 773-byte buffer.
void wipe_and_free(Bytes& b) noexcept {
  secure_wipe(b);
  Bytes().swap(b);
}

}  // namespace

ServerHandshake::ServerHandshake(Options options) : options_(options) {}

ServerHandshake::~ServerHandshake() {
  secure_wipe(auth_);
  if (request_) request_->wipe_password();
}

void ServerHandshake::fail(Errc e) {
  state_ = State::failed;
  error_ = e;
  wipe_and_free(auth_);
  secure_wipe(early_);
}

std::size_t ServerHandshake::take_early(ByteView in) {
  const std::size_t room = options_.early_data_limit - std::min(options_.early_data_limit,
                                                                early_.size());
  const std::size_t n = std::min(room, in.size());
  early_.insert(early_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
  return n;
}

Result<std::size_t> ServerHandshake::feed(ByteView in) {
  if (eof_) return Errc::invalid_state;
  switch (state_) {
    case State::reading_auth: {
      // Reserving the maximum before the first byte means the buffer never reallocates, so
      // no stray copy of the password is left in freed memory. Not in the constructor: a
      // data connection (an ATTACH message, docs/PROTOCOL.md 9.4) never needs it.
      if (auth_.capacity() == 0) auth_.reserve(kMaxAuthMessageSize);
      const std::size_t before = auth_.size();
      const std::size_t take = std::min(in.size(), kMaxAuthMessageSize - before);
      auth_.insert(auth_.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(take));
      auto decoded = options_.reverse ? decode_request(auth_) : decode_auth(auth_);
      if (!decoded) {
        fail(decoded.error());
        return take;
      }
      if (!decoded->complete()) return take;  // a valid prefix is never 773 bytes long
      const std::size_t used = decoded->size - before;
      request_ = std::move(decoded->message);
      method_ = request_->method;
      wipe_and_free(auth_);
      state_ = State::awaiting_decision;
      return used + take_early(in.subspan(used));
    }
    case State::awaiting_decision:
      return take_early(in);
    case State::accepted:
      early_.insert(early_.end(), in.begin(), in.end());
      return in.size();
    case State::closed:
    case State::failed:
      break;
  }
  return Errc::invalid_state;
}

Result<void> ServerHandshake::feed_eof() {
  if (eof_ || state_ == State::closed || state_ == State::failed) return Errc::invalid_state;
  if (state_ == State::reading_auth) {
    fail(Errc::peer_closed);
    return {};
  }
  eof_ = true;
  return {};
}

ServerEvent ServerHandshake::next_event() {
  switch (state_) {
    case State::reading_auth:
    case State::closed:
      return event::NeedData{};
    case State::awaiting_decision:
      if (request_) {
        request_reported_ = true;
        event::AuthRequest ev{std::move(*request_)};
        request_.reset();
        return ev;
      }
      return event::NeedData{};
    case State::accepted:
      if (!early_.empty()) return event::Payload{std::exchange(early_, {})};
      if (eof_) return event::EndOfInput{};
      return event::NeedData{};
    case State::failed:
      return event::Error{error_};
  }
  return event::Error{Errc::invalid_state};
}

Result<void> ServerHandshake::accept() {
  if (state_ != State::awaiting_decision || !request_reported_ || method_ != Method::connect)
    return Errc::invalid_state;
  if (auto r = encode_response(Status::success, out_); !r) return r;
  state_ = State::accepted;
  return {};
}

Result<void> ServerHandshake::accept_reverse(const ReverseGrant& grant) {
  if (state_ != State::awaiting_decision || !request_reported_ || method_ != Method::reverse)
    return Errc::invalid_state;
  if (auto r = encode_reverse_success(grant, out_); !r) return r;
  state_ = State::accepted;
  return {};
}

Result<void> ServerHandshake::reject(Status status, RejectMode mode) {
  const auto s = static_cast<std::uint8_t>(status);
  // method_ is CONNECT until a request decodes, so a failed machine answers as in section 4.
  const bool reverse = method_ == Method::reverse;
  if (status == Status::success || !(reverse ? is_reverse_status(s) : is_known_status(s)))
    return Errc::invalid_argument;
  const bool decided = state_ == State::awaiting_decision && request_reported_;
  if (!decided && state_ != State::failed) return Errc::invalid_state;
  // Past the credentials a control tunnel always hears why (docs/PROTOCOL.md 9.2).
  const bool always = status == Status::not_permitted || status == Status::port_in_use ||
                      status == Status::bad_request;
  if (mode == RejectMode::reply || always) {
    if (auto r = reverse ? encode_reverse_failure(status, out_) : encode_response(status, out_); !r)
      return r;
  }
  state_ = State::closed;
  secure_wipe(early_);
  return {};
}

ByteView ServerHandshake::pending_output() const noexcept {
  return ByteView(out_).subspan(out_off_);
}

void ServerHandshake::consume_output(std::size_t n) noexcept {
  out_off_ += std::min(n, out_.size() - out_off_);
  if (out_off_ == out_.size()) {
    out_.clear();
    out_off_ = 0;
  }
}

}  // namespace mtop
