// The message functions of mtop.h (encode/decode of the auth message and the response) and
// the conversions between mtop_auth_message and mtop::AuthMessage.
#include <algorithm>
#include <cstring>
#include <string>

#include "mtop/codec.hpp"
#include "mtop/protocol.hpp"
#include "shim.hpp"

namespace mtop::capi {

namespace {

constexpr std::size_t kMaxField = MTOP_MAX_FIELD_SIZE;

// A C field (pointer + length) as a string; the length is checked first so that a garbage
// length never makes us read far past the caller's buffer.
bool field_from_c(const void* data, std::size_t len, std::string& out) {
  if (!valid_input(data, len) || len > kMaxField) return false;
  out.assign(static_cast<const char*>(data), len);
  return true;
}

const std::uint8_t* bytes_of(const std::string& s) noexcept {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

}  // namespace

int from_c(const mtop_address& a, Address& out) {
  out = Address{};
  switch (a.type) {
    case MTOP_ADDRESS_IPV4:
      out.type = AddressType::ipv4;
      std::copy_n(a.ip, 4, out.ip.begin());
      break;
    case MTOP_ADDRESS_IPV6:
      out.type = AddressType::ipv6;
      std::copy_n(a.ip, 16, out.ip.begin());
      break;
    case MTOP_ADDRESS_DOMAIN:
      out.type = AddressType::domain;
      if (!field_from_c(a.domain, a.domain_len, out.domain)) return MTOP_ERR_INVALID_ARGUMENT;
      break;
    default:
      return MTOP_ERR_INVALID_ARGUMENT;
  }
  out.port = a.port;
  return 0;
}

int from_c(const mtop_auth_message& in, AuthMessage& out) {
  out.method = Method::connect;
  if (!field_from_c(in.username, in.username_len, out.username)) return MTOP_ERR_INVALID_ARGUMENT;
  if (!field_from_c(in.password, in.password_len, out.password)) return MTOP_ERR_INVALID_ARGUMENT;
  return from_c(in.target, out.target);
}

void view_of(const Address& a, mtop_address& out) noexcept {
  out = mtop_address{};
  out.type = static_cast<int>(a.type);
  std::copy(a.ip.begin(), a.ip.end(), out.ip);
  if (a.type == AddressType::domain) {
    out.domain = a.domain.data();
    out.domain_len = a.domain.size();
  }
  out.port = a.port;
}

void view_of(const AuthMessage& msg, mtop_auth_message& out) noexcept {
  out = mtop_auth_message{};
  out.username = bytes_of(msg.username);
  out.username_len = msg.username.size();
  out.password = bytes_of(msg.password);
  out.password_len = msg.password.size();
  view_of(msg.target, out.target);
}

}  // namespace mtop::capi

namespace {

using mtop::capi::guarded;
using mtop::capi::to_c;
using mtop::capi::valid_input;

// Wipes a local copy of the password on every way out of a function.
struct PasswordWiper {
  mtop::AuthMessage& msg;
  ~PasswordWiper() { msg.wipe_password(); }
};

// Where the variable fields of a decoded auth message sit in its wire bytes (docs/PROTOCOL.md
// section 2): VER METHOD ULEN USERNAME PLEN PASSWORD ATYP [DLEN] ADDR PORT. The decoder has
// already checked the message; the bytes are compared anyway so that a disagreement between
// this layout and the codec is reported (as MTOP_ERR_INTERNAL) instead of handing out
// pointers to the wrong bytes.
int view_into_wire(const std::uint8_t* in, const mtop::AuthMessage& m, mtop_auth_message& out) {
  mtop::capi::view_of(m, out);
  const std::uint8_t* user = in + 3;
  const std::uint8_t* pass = user + m.username.size() + 1;
  const std::uint8_t* atyp = pass + m.password.size();
  if (std::memcmp(user, m.username.data(), m.username.size()) != 0 ||
      std::memcmp(pass, m.password.data(), m.password.size()) != 0 ||
      *atyp != static_cast<std::uint8_t>(m.target.type))
    return MTOP_ERR_INTERNAL;
  out.username = user;
  out.password = pass;
  if (m.target.type == mtop::AddressType::domain) {
    const char* domain = reinterpret_cast<const char*>(atyp + 2);
    if (std::memcmp(domain, m.target.domain.data(), m.target.domain.size()) != 0)
      return MTOP_ERR_INTERNAL;
    out.target.domain = domain;
  }
  return 0;
}

}  // namespace

extern "C" MTOP_API int mtop_encode_auth(const mtop_auth_message* msg, uint8_t* out,
                                         size_t out_cap) {
  if (msg == nullptr || out == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    mtop::AuthMessage m;
    PasswordWiper wipe_m{m};
    if (int rc = mtop::capi::from_c(*msg, m); rc < 0) return rc;
    mtop::Bytes wire;
    wire.reserve(mtop::kMaxAuthMessageSize);  // one allocation: no stray password copies
    auto r = mtop::encode_auth(m, wire);
    if (!r) return to_c(r.error());
    int rc = MTOP_ERR_INVALID_ARGUMENT;
    if (wire.size() <= out_cap) {
      std::copy(wire.begin(), wire.end(), out);
      rc = static_cast<int>(wire.size());
    }
    mtop::secure_wipe(wire);
    return rc;
  });
}

extern "C" MTOP_API int mtop_encode_response(int status, uint8_t* out, size_t out_cap) {
  if (out == nullptr || out_cap < MTOP_RESPONSE_SIZE) return MTOP_ERR_INVALID_ARGUMENT;
  // Range first: the cast to a byte must not turn 0x101 into a known status.
  if (status < 0 || status > 0xff || !mtop::is_known_status(static_cast<std::uint8_t>(status)))
    return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    mtop::Bytes wire;
    auto r = mtop::encode_response(static_cast<mtop::Status>(status), wire);
    if (!r) return to_c(r.error());
    std::copy(wire.begin(), wire.end(), out);
    return static_cast<int>(wire.size());
  });
}

extern "C" MTOP_API int mtop_decode_auth(const uint8_t* in, size_t len, mtop_auth_message* msg) {
  if (msg == nullptr || !valid_input(in, len)) return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    auto r = mtop::decode_auth(mtop::ByteView(in, len));
    if (!r) return to_c(r.error());
    if (!r->complete()) return 0;
    PasswordWiper wipe_m{*r->message};
    mtop_auth_message view;
    if (int rc = view_into_wire(in, *r->message, view); rc < 0) return rc;
    *msg = view;
    return static_cast<int>(r->size);
  });
}

extern "C" MTOP_API int mtop_decode_response(const uint8_t* in, size_t len, int* status) {
  if (status == nullptr || !valid_input(in, len)) return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    auto r = mtop::decode_response(mtop::ByteView(in, len));
    if (!r) return to_c(r.error());
    if (!r->complete()) return 0;
    *status = static_cast<int>(*r->message);
    return static_cast<int>(r->size);
  });
}
