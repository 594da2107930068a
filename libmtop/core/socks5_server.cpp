// SOCKS5 server-side state machine (RFC 1928 + RFC 1929). Public API: include/mtop/socks5.hpp.
//
// Theory of operation
// -------------------
// Bytes in, events out, output pulled by the caller; no I/O. The machine walks
//
//   greeting --(0x00)--------------------------> request --> reply_decision --> established
//            \--(0x02)--> auth --> auth_decision --/                        \--> closed
//   any state reading peer bytes --(bad input)--> failed    auth_decision --(refused)--> failed
//
// - Handshake bytes are appended to `in_` (at most kMaxHandshakeBuffer) and parsed from its
//   front by advance(), one message at a time, as far as the state allows. Every check is made
//   as soon as the byte it looks at is present (a bad VER fails after one byte, a BIND after
//   two) and a check only ever looks at bytes before it, so the outcome is the same for every
//   chunking of the input and a truncated valid message is simply "need more".
// - A message that needs the app's decision (RFC 1929 credentials, a CONNECT target) sets
//   `event_` and parks the machine in a *_decision state. The client may already have sent the
//   next message: it stays in `in_` and is parsed once the app has decided.
// - When the CONNECT request is complete, whatever follows it is the client's first payload
//   (clients that pipeline do not wait for the reply): it moves to `payload_`, and later input
//   is appended there up to settings.max_payload. take_payload() hands it to the climber,
//   which sends it as early data; nothing the client sent is ever dropped silently.
// - Failure replies the machine sends by itself, before it fails (the adapter flushes them and
//   closes): 05 FF for NMETHODS 0 or no acceptable method; 01 01 for any bad RFC 1929 request;
//   05 07 (command not supported) for BIND, UDP ASSOCIATE and unknown commands; 05 08 for an
//   unknown ATYP; 05 04 (host unreachable) for a bad domain (is_valid_domain: empty, NUL,
//   bytes outside LDH); 05 01 (general failure) for a bad RSV or port 0. Replies carry
//   BND = 0.0.0.0:0. A bad VER (greeting or request) gets no reply at all: the peer does not
//   speak SOCKS5 (an HTTP client on the wrong port, say), so a SOCKS5 reply would mean nothing.
// - Memory is bounded: in_ <= kMaxHandshakeBuffer, out_ <= kMaxOutput over the whole life
//   (one method selection, one auth status, one reply), payload_ <= max(max_payload,
//   kMaxHandshakeBuffer). feed() reports back-pressure by consuming less, never by failing.
#include "mtop/socks5.hpp"

#include <algorithm>
#include <utility>

namespace mtop::socks5 {

namespace {

constexpr std::uint8_t kVersion = 0x05;
constexpr std::uint8_t kAuthVersion = 0x01;  // RFC 1929 sub-negotiation version
constexpr std::uint8_t kAuthSuccess = 0x00;
constexpr std::uint8_t kAuthFailure = 0x01;
constexpr std::uint8_t kCmdConnect = 0x01;
constexpr std::uint8_t kAtypIpv4 = 0x01;
constexpr std::uint8_t kAtypDomain = 0x03;
constexpr std::uint8_t kAtypIpv6 = 0x04;

// Overwrites bytes that held a password before the buffer drops them, in a way the compiler
// cannot elide (a plain memset before erase() may be removed as a dead store).
void wipe(std::uint8_t* p, std::size_t n) noexcept {
  volatile std::uint8_t* v = p;
  for (std::size_t i = 0; i < n; ++i) v[i] = 0;
}

}  // namespace

Result<std::size_t> Server::feed(ByteView in) {
  std::size_t used = 0;
  while (used < in.size()) {
    const ByteView rest = in.subspan(used);
    switch (state_) {
      case State::failed:
        return error_;
      case State::established:
      case State::closed:
        // Only reachable on entry (no feed ends the handshake this way): the machine is done,
        // and the caller relays or closes instead of feeding it.
        return Errc::invalid_state;
      case State::reply_decision: {
        const std::size_t room =
            settings_.max_payload > payload_.size() ? settings_.max_payload - payload_.size() : 0;
        const std::size_t take = std::min(room, rest.size());
        payload_.insert(payload_.end(), rest.begin(), rest.begin() + take);
        return used + take;
      }
      case State::greeting:
      case State::auth:
      case State::auth_decision:
      case State::request: {
        const std::size_t take = std::min(kMaxHandshakeBuffer - in_.size(), rest.size());
        if (take == 0) return used;  // a decision is outstanding and the buffer is full
        in_.insert(in_.end(), rest.begin(), rest.begin() + take);
        used += take;
        advance();
        if (state_ == State::failed) return error_;
        break;
      }
    }
  }
  // Reached for an empty `in` too: a failed or finished machine still reports so.
  if (state_ == State::failed) return error_;
  if (used == 0 && (state_ == State::established || state_ == State::closed)) {
    return Errc::invalid_state;
  }
  return used;
}

void Server::advance() {
  for (;;) {
    bool progressed = false;
    switch (state_) {
      case State::greeting: progressed = parse_greeting(); break;
      case State::auth: progressed = parse_auth(); break;
      case State::request: progressed = parse_request(); break;
      default: return;  // waiting for the app, or done
    }
    if (!progressed) return;
  }
}

bool Server::parse_greeting() {
  // +-----+----------+----------+
  // | VER | NMETHODS | METHODS  |
  // +-----+----------+----------+
  // |  1  |    1     | 1 to 255 |
  if (in_.empty()) return false;
  if (in_[0] != kVersion) {
    fail(Errc::socks_bad_version);
    return false;
  }
  if (in_.size() < 2) return false;
  const std::size_t nmethods = in_[1];
  if (nmethods == 0) {
    // The client speaks SOCKS5 but offers nothing; 0xFF is the RFC's answer to "nothing we take".
    out_.insert(out_.end(), {kVersion, static_cast<std::uint8_t>(Method::no_acceptable)});
    fail(Errc::socks_no_methods);
    return false;
  }
  if (in_.size() < 2 + nmethods) return false;
  bool offers_no_auth = false;
  bool offers_user_pass = false;
  for (std::size_t i = 0; i < nmethods; ++i) {
    offers_no_auth |= in_[2 + i] == static_cast<std::uint8_t>(Method::no_auth);
    offers_user_pass |= in_[2 + i] == static_cast<std::uint8_t>(Method::username_password);
  }
  if (settings_.username_password) {
    if (offers_user_pass) method_ = Method::username_password;
  } else if (settings_.no_auth && offers_no_auth) {
    method_ = Method::no_auth;
  }
  if (!method_) {
    out_.insert(out_.end(), {kVersion, static_cast<std::uint8_t>(Method::no_acceptable)});
    fail(Errc::socks_no_acceptable_method);
    return false;
  }
  out_.insert(out_.end(), {kVersion, static_cast<std::uint8_t>(*method_)});
  drop_handshake_bytes(2 + nmethods);
  state_ = *method_ == Method::username_password ? State::auth : State::request;
  return true;
}

bool Server::parse_auth() {
  // +----+------+----------+------+----------+
  // |VER | ULEN |  UNAME   | PLEN |  PASSWD  |
  // +----+------+----------+------+----------+
  // | 1  |  1   | 1 to 255 |  1   | 1 to 255 |
  // Every failure gets status 0x01: RFC 1929 says the server closes after a failure status, so
  // the client learns why the connection ends.
  if (in_.empty()) return false;
  if (in_[0] != kAuthVersion) {
    out_.insert(out_.end(), {kAuthVersion, kAuthFailure});
    fail(Errc::socks_bad_version);
    return false;
  }
  if (in_.size() < 2) return false;
  const std::size_t ulen = in_[1];
  if (ulen == 0) {
    out_.insert(out_.end(), {kAuthVersion, kAuthFailure});
    fail(Errc::socks_bad_credentials);
    return false;
  }
  if (in_.size() < 2 + ulen + 1) return false;
  const std::size_t plen = in_[2 + ulen];
  if (plen == 0) {
    out_.insert(out_.end(), {kAuthVersion, kAuthFailure});
    fail(Errc::socks_bad_credentials);
    return false;
  }
  const std::size_t total = 3 + ulen + plen;
  if (in_.size() < total) return false;
  Credentials c;
  c.username.assign(reinterpret_cast<const char*>(in_.data() + 2), ulen);
  c.password.assign(reinterpret_cast<const char*>(in_.data() + 3 + ulen), plen);
  event_ = std::move(c);
  drop_handshake_bytes(total);
  state_ = State::auth_decision;
  return true;
}

bool Server::parse_request() {
  // +----+-----+-------+------+----------+----------+
  // |VER | CMD |  RSV  | ATYP | DST.ADDR | DST.PORT |
  // +----+-----+-------+------+----------+----------+
  // | 1  |  1  | X'00' |  1   | Variable |    2     |
  const Address unspecified;  // 0.0.0.0:0, the BND of every failure reply
  if (in_.empty()) return false;
  if (in_[0] != kVersion) {
    fail(Errc::socks_bad_version);
    return false;
  }
  if (in_.size() < 2) return false;
  if (in_[1] != kCmdConnect) {
    // BIND and UDP ASSOCIATE need the climber to listen or relay datagrams on the client's
    // behalf, which an MTop tunnel (one TCP stream to one target) cannot carry.
    queue_reply(ReplyCode::command_not_supported, unspecified);
    fail(Errc::socks_command_not_supported);
    return false;
  }
  if (in_.size() < 3) return false;
  if (in_[2] != 0x00) {
    queue_reply(ReplyCode::general_failure, unspecified);
    fail(Errc::socks_bad_reserved);
    return false;
  }
  if (in_.size() < 4) return false;
  std::size_t addr_len = 0;
  std::size_t addr_at = 4;
  switch (in_[3]) {
    case kAtypIpv4: addr_len = 4; break;
    case kAtypIpv6: addr_len = 16; break;
    case kAtypDomain:
      if (in_.size() < 5) return false;
      addr_len = in_[4];
      addr_at = 5;
      // RFC 1928 has no REP for "bad name": 0x08 would tell the client that domains are not
      // supported at all (and some clients then stop sending names). A name no resolver can
      // take names no host we could reach: 0x04, host unreachable (docs/CLIMBER.md).
      if (addr_len == 0) {
        queue_reply(ReplyCode::host_unreachable, unspecified);
        fail(Errc::socks_bad_address);
        return false;
      }
      break;
    default:
      queue_reply(ReplyCode::address_type_not_supported, unspecified);
      fail(Errc::socks_bad_address_type);
      return false;
  }
  const std::size_t total = addr_at + addr_len + 2;
  if (in_.size() < total) return false;

  Address target;
  if (in_[3] == kAtypDomain) {
    std::string name(reinterpret_cast<const char*>(in_.data() + addr_at), addr_len);
    // A name with NUL, spaces, '/', '@', bytes >= 0x80 and the like would be cut or
    // reinterpreted by the resolver and the logs, and would pass the target policy under a
    // false spelling: refuse it here, with the same host unreachable as above.
    if (!is_valid_domain(name)) {
      queue_reply(ReplyCode::host_unreachable, unspecified);
      fail(Errc::socks_bad_address);
      return false;
    }
    target = Address::from_domain(std::move(name), 0);
  } else if (in_[3] == kAtypIpv4) {
    target = Address::from_ipv4({in_[4], in_[5], in_[6], in_[7]}, 0);
  } else {
    std::array<std::uint8_t, 16> ip{};
    std::copy_n(in_.begin() + 4, 16, ip.begin());
    target = Address::from_ipv6(ip, 0);
  }
  target.port = static_cast<std::uint16_t>((in_[total - 2] << 8) | in_[total - 1]);
  // Port 0 cannot be connected to; dialing it would fail later with a less clear error (or,
  // with some stacks, mean "any port"). General failure: no REP fits a bad port.
  if (target.port == 0) {
    queue_reply(ReplyCode::general_failure, unspecified);
    fail(Errc::socks_bad_address);
    return false;
  }
  event_ = ConnectRequest{std::move(target)};
  // What follows the request is payload the client pipelined: keep every byte of it.
  payload_.assign(in_.begin() + static_cast<std::ptrdiff_t>(total), in_.end());
  in_.clear();
  state_ = State::reply_decision;
  return true;
}

Result<Event> Server::next_event() {
  if (state_ == State::failed) return error_;
  if (event_) {
    Result<Event> r(std::move(*event_));
    event_.reset();
    return r;
  }
  switch (state_) {
    case State::greeting:
    case State::auth:
    case State::request:
      return Event{NeedData{}};
    case State::auth_decision:
    case State::reply_decision:
      return Event{Paused{}};
    case State::established:
    case State::closed:
    case State::failed:
      break;
  }
  return Event{Finished{}};
}

Result<void> Server::accept_credentials(bool accepted) {
  if (state_ != State::auth_decision) return Errc::invalid_state;
  event_.reset();  // an unread Credentials event is answered all the same
  if (!accepted) {
    out_.insert(out_.end(), {kAuthVersion, kAuthFailure});
    fail(Errc::socks_auth_failed);
    return {};
  }
  out_.insert(out_.end(), {kAuthVersion, kAuthSuccess});
  state_ = State::request;
  // A pipelined request may be buffered already; a peer error in it shows in next_event().
  advance();
  return {};
}

Result<void> Server::reply(ReplyCode code, const Address& bound) {
  if (state_ != State::reply_decision) return Errc::invalid_state;
  constexpr auto kLastCode = static_cast<std::uint8_t>(ReplyCode::address_type_not_supported);
  if (static_cast<std::uint8_t>(code) > kLastCode) {
    return Errc::invalid_argument;
  }
  switch (bound.type) {
    case AddressType::ipv4:
    case AddressType::ipv6:
      break;
    case AddressType::domain:
      // Any 1-255 bytes fit the wire; what the name looks like is the app's business.
      if (bound.domain.empty() || bound.domain.size() > 255) return Errc::invalid_argument;
      break;
    default:
      return Errc::invalid_argument;
  }
  event_.reset();
  queue_reply(code, bound);
  if (code == ReplyCode::succeeded) {
    state_ = State::established;
  } else {
    state_ = State::closed;
    payload_.clear();  // nobody will carry it
  }
  return {};
}

void Server::consume_output(std::size_t n) noexcept {
  n = std::min(n, out_.size());
  out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(n));
}

Bytes Server::take_payload() {
  Bytes taken = std::move(payload_);
  payload_.clear();  // a moved-from vector is valid but unspecified; make it empty
  return taken;
}

void Server::fail(Errc e) {
  state_ = State::failed;
  error_ = e;
  event_.reset();
  // The buffered input may hold a password; it is never parsed again.
  wipe(in_.data(), in_.size());
  in_.clear();
  payload_.clear();
}

void Server::queue_reply(ReplyCode code, const Address& bound) {
  out_.insert(out_.end(), {kVersion, static_cast<std::uint8_t>(code), 0x00});
  switch (bound.type) {
    case AddressType::ipv4:
      out_.push_back(kAtypIpv4);
      out_.insert(out_.end(), bound.ip.begin(), bound.ip.begin() + 4);
      break;
    case AddressType::ipv6:
      out_.push_back(kAtypIpv6);
      out_.insert(out_.end(), bound.ip.begin(), bound.ip.end());
      break;
    case AddressType::domain:
      out_.push_back(kAtypDomain);
      out_.push_back(static_cast<std::uint8_t>(bound.domain.size()));
      out_.insert(out_.end(), bound.domain.begin(), bound.domain.end());
      break;
  }
  out_.push_back(static_cast<std::uint8_t>(bound.port >> 8));
  out_.push_back(static_cast<std::uint8_t>(bound.port & 0xFF));
}

void Server::drop_handshake_bytes(std::size_t n) {
  // Wiping every handshake message is cheap and covers the RFC 1929 password without special
  // cases.
  wipe(in_.data(), n);
  in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(n));
}

}  // namespace mtop::socks5
