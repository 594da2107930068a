// Reverse-tunnel message codecs (docs/PROTOCOL.md section 9). Each decoder walks its fields
// with a cursor and checks a field as soon as its bytes are present, as codec.cpp does.
#include "mtop/reverse_codec.hpp"

#include <algorithm>

namespace mtop {

namespace {

void put16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
}

void put32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

std::uint16_t get16(ByteView in, std::size_t at) {
  return static_cast<std::uint16_t>((in[at] << 8) | in[at + 1]);
}

bool is_ip(const Address& a) noexcept {
  return a.type == AddressType::ipv4 || a.type == AddressType::ipv6;
}

std::size_t ip_size(AddressType t) noexcept {
  return t == AddressType::ipv4 ? 4 : 16;
}

// The body length a known frame type must have; 0 for a type unknown to us.
std::size_t known_body_size(std::uint8_t type) noexcept {
  switch (static_cast<FrameType>(type)) {
    case FrameType::ping:
    case FrameType::pong:
      return kPingBodySize;
    case FrameType::open:
      return kAttachTokenSize;
  }
  return 0;
}

void put_ip_port(Bytes& out, const Address& a) {
  out.push_back(static_cast<std::uint8_t>(a.type));
  out.insert(out.end(), a.ip.begin(), a.ip.begin() + static_cast<std::ptrdiff_t>(ip_size(a.type)));
  put16(out, a.port);
}

// One ATYP + address + port of a visitor header at `at`. Returns false for "need more";
// advances `at` past it when complete.
Result<bool> get_ip_port(ByteView in, std::size_t& at, Address& out) {
  if (in.size() - at < 1) return false;
  const auto type = static_cast<AddressType>(in[at]);
  if (type != AddressType::ipv4 && type != AddressType::ipv6) return Errc::bad_address_type;
  const std::size_t len = ip_size(type);
  if (in.size() - at < 1 + len + 2) return false;
  out.type = type;
  out.ip = {};
  std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(at + 1), len, out.ip.begin());
  out.port = get16(in, at + 1 + len);
  if (out.port == 0) return Errc::bad_port;
  at += 1 + len + 2;
  return true;
}

}  // namespace

Result<void> encode_reverse_success(const ReverseGrant& grant, Bytes& out) {
  if (grant.port == 0 || grant.keepalive_s == 0 || grant.keepalive_s > kMaxKeepaliveSeconds)
    return Errc::invalid_argument;
  out.push_back(kProtocolVersion);
  out.push_back(static_cast<std::uint8_t>(Status::success));
  put16(out, grant.port);
  put32(out, grant.tunnel);
  put16(out, grant.keepalive_s);
  return {};
}

Result<void> encode_reverse_failure(Status status, Bytes& out) {
  const auto s = static_cast<std::uint8_t>(status);
  if (status == Status::success || !is_reverse_status(s)) return Errc::invalid_argument;
  out.push_back(kProtocolVersion);
  out.push_back(s);
  return {};
}

Result<Decoded<ReverseReply>> decode_reverse_response(ByteView in) {
  const Decoded<ReverseReply> need_more{};
  if (in.empty()) return need_more;
  if (in[0] != kProtocolVersion) return Errc::bad_version;
  if (in.size() < 2) return need_more;
  if (!is_reverse_status(in[1])) return Errc::bad_status;
  const auto status = static_cast<Status>(in[1]);
  if (status != Status::success) return Decoded<ReverseReply>{ReverseReply{status}, kResponseSize};
  if (in.size() < 4) return need_more;
  ReverseGrant grant;
  grant.port = get16(in, 2);
  if (grant.port == 0) return Errc::bad_port;
  if (in.size() < kReverseResponseSize) return need_more;
  grant.tunnel = (std::uint32_t{in[4]} << 24) | (std::uint32_t{in[5]} << 16) |
                 (std::uint32_t{in[6]} << 8) | std::uint32_t{in[7]};
  grant.keepalive_s = get16(in, 8);
  if (grant.keepalive_s == 0 || grant.keepalive_s > kMaxKeepaliveSeconds) return Errc::bad_frame;
  return Decoded<ReverseReply>{ReverseReply{status, grant}, kReverseResponseSize};
}

Result<void> encode_frame(std::uint8_t type, ByteView body, Bytes& out) {
  if (body.size() > kMaxControlFrameSize - 2) return Errc::invalid_argument;
  const std::size_t known = known_body_size(type);
  if (known != 0 && body.size() != known) return Errc::invalid_argument;
  out.push_back(type);
  out.push_back(static_cast<std::uint8_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return {};
}

Result<Decoded<ControlFrame>> decode_frame(ByteView in) {
  const Decoded<ControlFrame> need_more{};
  if (in.size() < 2) return need_more;
  const std::size_t len = in[1];
  const std::size_t known = known_body_size(in[0]);
  if (known != 0 && len != known) return Errc::bad_frame;
  if (in.size() < 2 + len) return need_more;
  Decoded<ControlFrame> out;
  ControlFrame& f = out.message.emplace();
  f.type = in[0];
  f.body.assign(in.begin() + 2, in.begin() + static_cast<std::ptrdiff_t>(2 + len));
  out.size = 2 + len;
  return out;
}

void encode_attach(const AttachToken& token, Bytes& out) {
  out.push_back(kProtocolVersion);
  out.push_back(kMethodAttach);
  out.insert(out.end(), token.begin(), token.end());
}

Result<Decoded<AttachToken>> decode_attach(ByteView in) {
  const Decoded<AttachToken> need_more{};
  if (in.empty()) return need_more;
  if (in[0] != kProtocolVersion) return Errc::bad_version;
  if (in.size() < 2) return need_more;
  if (in[1] != kMethodAttach) return Errc::bad_method;
  if (in.size() < kAttachMessageSize) return need_more;
  Decoded<AttachToken> out;
  AttachToken& token = out.message.emplace();
  std::copy_n(in.begin() + 2, kAttachTokenSize, token.begin());
  out.size = kAttachMessageSize;
  return out;
}

Result<void> encode_visitor_header(const VisitorHeader& header, Bytes& out) {
  for (const Address* a : {&header.source, &header.destination})
    if (!is_ip(*a) || a->port == 0) return Errc::invalid_argument;
  out.push_back(kProtocolVersion);
  out.push_back(kVisitorKind);
  put32(out, header.tunnel);
  put_ip_port(out, header.source);
  put_ip_port(out, header.destination);
  return {};
}

Result<Decoded<VisitorHeader>> decode_visitor_header(ByteView in) {
  const Decoded<VisitorHeader> need_more{};
  if (in.empty()) return need_more;
  if (in[0] != kProtocolVersion) return Errc::bad_version;
  if (in.size() < 2) return need_more;
  if (in[1] != kVisitorKind) return Errc::bad_frame;
  if (in.size() < 6) return need_more;
  VisitorHeader h;
  h.tunnel = (std::uint32_t{in[2]} << 24) | (std::uint32_t{in[3]} << 16) |
             (std::uint32_t{in[4]} << 8) | std::uint32_t{in[5]};
  std::size_t at = 6;
  for (Address* a : {&h.source, &h.destination}) {
    auto got = get_ip_port(in, at, *a);
    if (!got) return got.error();
    if (!*got) return need_more;
  }
  return Decoded<VisitorHeader>{std::move(h), at};
}

}  // namespace mtop
