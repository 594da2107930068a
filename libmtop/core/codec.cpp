// MTop auth message and response codecs (docs/PROTOCOL.md, "Messages").
//
// The auth decoder walks the fields in order with a cursor. Each field check runs as soon as
// the field's bytes are present, so an error is found at the offending byte; running out of
// input anywhere is "need more". Domain names are checked while they arrive: every rule of
// is_valid_domain() holds for every prefix of a valid name, so an invalid prefix can never
// become valid and is refused at once.
#include "mtop/codec.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace mtop {

namespace {

constexpr std::size_t kMaxField = 255;

bool valid_address_type(AddressType t) noexcept {
  return t == AddressType::ipv4 || t == AddressType::ipv6 || t == AddressType::domain;
}

// The address rules of each METHOD: a REVERSE bind is an IP address, and its port may be 0
// ("any port the user may publish", docs/PROTOCOL.md 9.1).
bool valid_address_type_for(Method m, AddressType t) noexcept {
  if (m == Method::reverse) return t == AddressType::ipv4 || t == AddressType::ipv6;
  return valid_address_type(t);
}

// memset called through a volatile pointer: the compiler cannot know which function it calls,
// so it cannot drop the zeroing as a store nobody reads (OPENSSL_cleanse's trick, in standard
// C++). It replaces a byte-at-a-time volatile loop, which cost ~1 µs per 773-byte auth buffer
// and showed up in the profile of every QUIC tunnel (bench/QUIC_NOTES.md, section 5).
void* (*const volatile wipe_memset)(void*, int, std::size_t) = std::memset;

void wipe(void* p, std::size_t n) noexcept {
  if (n > 0) wipe_memset(p, 0, n);
}

}  // namespace

void secure_wipe(std::string& s) noexcept {
  // Growing within the capacity never allocates, so this cannot throw; it lets us zero the
  // spare bytes too (an earlier, longer value may still sit there).
  s.resize(s.capacity());
  wipe(s.data(), s.size());
  s.clear();
}

void secure_wipe(Bytes& b) noexcept {
  b.resize(b.capacity());
  wipe(b.data(), b.size());
  b.clear();
}

void AuthMessage::wipe_password() noexcept { secure_wipe(password); }

Result<void> encode_auth(const AuthMessage& msg, Bytes& out) {
  if (msg.method != Method::connect && msg.method != Method::reverse) return Errc::invalid_argument;
  if (msg.username.empty() || msg.username.size() > kMaxField) return Errc::invalid_argument;
  if (msg.password.empty() || msg.password.size() > kMaxField) return Errc::invalid_argument;
  if (!valid_address_type_for(msg.method, msg.target.type)) return Errc::invalid_argument;
  if (msg.target.type == AddressType::domain && !is_valid_domain(msg.target.domain))
    return Errc::invalid_argument;
  if (msg.target.port == 0 && msg.method == Method::connect) return Errc::invalid_argument;

  out.reserve(out.size() + kMaxAuthMessageSize);
  out.push_back(kProtocolVersion);
  out.push_back(static_cast<std::uint8_t>(msg.method));
  out.push_back(static_cast<std::uint8_t>(msg.username.size()));
  out.insert(out.end(), msg.username.begin(), msg.username.end());
  out.push_back(static_cast<std::uint8_t>(msg.password.size()));
  out.insert(out.end(), msg.password.begin(), msg.password.end());
  out.push_back(static_cast<std::uint8_t>(msg.target.type));
  switch (msg.target.type) {
    case AddressType::ipv4:
      out.insert(out.end(), msg.target.ip.begin(), msg.target.ip.begin() + 4);
      break;
    case AddressType::ipv6:
      out.insert(out.end(), msg.target.ip.begin(), msg.target.ip.end());
      break;
    case AddressType::domain:
      out.push_back(static_cast<std::uint8_t>(msg.target.domain.size()));
      out.insert(out.end(), msg.target.domain.begin(), msg.target.domain.end());
      break;
  }
  out.push_back(static_cast<std::uint8_t>(msg.target.port >> 8));
  out.push_back(static_cast<std::uint8_t>(msg.target.port & 0xff));
  return {};
}

Result<void> encode_response(Status status, Bytes& out) {
  if (!is_known_status(static_cast<std::uint8_t>(status))) return Errc::invalid_argument;
  out.push_back(kProtocolVersion);
  out.push_back(static_cast<std::uint8_t>(status));
  return {};
}

namespace {

Result<Decoded<AuthMessage>> decode_auth_message(ByteView in, bool reverse_allowed) {
  // Fields are located first and copied only once the message is complete, so an error or a
  // "need more" leaves no copy of the password behind.
  const Decoded<AuthMessage> need_more{};
  const std::string_view chars = as_chars(in);
  std::size_t at = 0;
  auto have = [&](std::size_t n) { return in.size() - at >= n; };

  if (!have(1)) return need_more;
  if (in[at++] != kProtocolVersion) return Errc::bad_version;

  if (!have(1)) return need_more;
  const std::uint8_t method_byte = in[at++];
  const bool reverse = method_byte == static_cast<std::uint8_t>(Method::reverse);
  if (method_byte != static_cast<std::uint8_t>(Method::connect) && !(reverse && reverse_allowed))
    return Errc::bad_method;
  const Method method = reverse ? Method::reverse : Method::connect;

  // USERNAME and PASSWORD: opaque, 1-255 bytes.
  if (!have(1)) return need_more;
  const std::size_t ulen = in[at++];
  if (ulen == 0) return Errc::bad_username;
  if (!have(ulen)) return need_more;
  const std::string_view username = chars.substr(at, ulen);
  at += ulen;

  if (!have(1)) return need_more;
  const std::size_t plen = in[at++];
  if (plen == 0) return Errc::bad_password;
  if (!have(plen)) return need_more;
  const std::string_view password = chars.substr(at, plen);
  at += plen;

  if (!have(1)) return need_more;
  const auto type = static_cast<AddressType>(in[at++]);
  if (!valid_address_type_for(method, type)) return Errc::bad_address_type;
  std::size_t addr_at = at;
  std::size_t addr_len = 0;
  switch (type) {
    case AddressType::ipv4:
    case AddressType::ipv6:
      addr_len = type == AddressType::ipv4 ? 4 : 16;
      if (!have(addr_len)) return need_more;
      break;
    case AddressType::domain: {
      if (!have(1)) return need_more;
      addr_len = in[at++];
      addr_at = at;
      if (addr_len == 0) return Errc::bad_domain;
      const std::size_t avail = std::min(addr_len, in.size() - at);
      if (avail > 0 && !is_valid_domain(chars.substr(at, avail))) return Errc::bad_domain;
      if (avail < addr_len) return need_more;
      break;
    }
  }
  at += addr_len;

  if (!have(2)) return need_more;
  const auto port = static_cast<std::uint16_t>((in[at] << 8) | in[at + 1]);
  at += 2;
  if (port == 0 && method == Method::connect) return Errc::bad_port;

  Decoded<AuthMessage> out;
  AuthMessage& msg = out.message.emplace();
  msg.method = method;
  msg.username.assign(username);
  msg.password.assign(password);
  msg.target.type = type;
  if (type == AddressType::domain) {
    msg.target.domain.assign(chars.substr(addr_at, addr_len));
  } else {
    for (std::size_t i = 0; i < addr_len; ++i) msg.target.ip[i] = in[addr_at + i];
  }
  msg.target.port = port;
  out.size = at;
  return out;
}

}  // namespace

Result<Decoded<AuthMessage>> decode_auth(ByteView in) {
  return decode_auth_message(in, false);
}

Result<Decoded<AuthMessage>> decode_request(ByteView in) {
  return decode_auth_message(in, true);
}

Result<Decoded<Status>> decode_response(ByteView in) {
  if (in.empty()) return Decoded<Status>{};
  if (in[0] != kProtocolVersion) return Errc::bad_version;
  if (in.size() < 2) return Decoded<Status>{};
  if (!is_known_status(in[1])) return Errc::bad_status;
  return Decoded<Status>{static_cast<Status>(in[1]), kResponseSize};
}

}  // namespace mtop
