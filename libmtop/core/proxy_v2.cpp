// PROXY protocol version 2 header (HAProxy's proxy-protocol.txt, section 2.2), the binary
// form: what a climber writes to its local service so it sees the visitor's address
// (docs/PROTOCOL.md 9.8).
#include <algorithm>
#include <array>

#include "mtop/reverse_codec.hpp"

namespace mtop {

namespace {

constexpr std::array<std::uint8_t, 12> kSignature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                     0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::uint8_t kVersion2Proxy = 0x21;  // version 2 (high nibble), PROXY (low nibble)
constexpr std::uint8_t kTcpOverIpv4 = 0x11;    // AF_INET (high), STREAM (low)
constexpr std::uint8_t kTcpOverIpv6 = 0x21;    // AF_INET6 (high), STREAM (low)

// The 16 bytes of `a` as IPv6: itself, or ::ffff:a.b.c.d for IPv4 (RFC 4291 2.5.5.2).
std::array<std::uint8_t, 16> as_ipv6(const Address& a) {
  if (a.type == AddressType::ipv6) return a.ip;
  std::array<std::uint8_t, 16> v6{};
  v6[10] = 0xff;
  v6[11] = 0xff;
  std::copy_n(a.ip.begin(), 4, v6.begin() + 12);
  return v6;
}

}  // namespace

Result<void> encode_proxy_v2(const Address& source, const Address& destination, Bytes& out) {
  for (const Address* a : {&source, &destination})
    if (a->type != AddressType::ipv4 && a->type != AddressType::ipv6) return Errc::invalid_argument;
  const bool v4 = source.type == AddressType::ipv4 && destination.type == AddressType::ipv4;
  const std::uint16_t length = v4 ? 12 : 36;  // two addresses + two ports
  out.insert(out.end(), kSignature.begin(), kSignature.end());
  out.push_back(kVersion2Proxy);
  out.push_back(v4 ? kTcpOverIpv4 : kTcpOverIpv6);
  out.push_back(static_cast<std::uint8_t>(length >> 8));
  out.push_back(static_cast<std::uint8_t>(length & 0xff));
  if (v4) {
    out.insert(out.end(), source.ip.begin(), source.ip.begin() + 4);
    out.insert(out.end(), destination.ip.begin(), destination.ip.begin() + 4);
  } else {
    const auto src = as_ipv6(source);
    const auto dst = as_ipv6(destination);
    out.insert(out.end(), src.begin(), src.end());
    out.insert(out.end(), dst.begin(), dst.end());
  }
  for (std::uint16_t port : {source.port, destination.port}) {
    out.push_back(static_cast<std::uint8_t>(port >> 8));
    out.push_back(static_cast<std::uint8_t>(port & 0xff));
  }
  return {};
}

}  // namespace mtop
