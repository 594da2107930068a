// Address: a tunnel's target as it travels on the wire (MTop and SOCKS5 share the model):
// an IPv4 address, an IPv6 address or a domain name, plus a port.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "mtop/export.hpp"

namespace mtop {

enum class AddressType : std::uint8_t {
  ipv4 = 0x01,    ///< 4 bytes
  domain = 0x03,  ///< 1-255 bytes, see docs/PROTOCOL.md for the accepted characters
  ipv6 = 0x04,    ///< 16 bytes
};

struct MTOP_CPP_API Address {
  AddressType type = AddressType::ipv4;
  std::array<std::uint8_t, 16> ip{};  ///< ipv4 uses the first 4 bytes, network order
  std::string domain;                 ///< only for AddressType::domain
  std::uint16_t port = 0;             ///< host order

  static Address from_ipv4(std::array<std::uint8_t, 4> a, std::uint16_t port) {
    Address r;
    r.type = AddressType::ipv4;
    for (int i = 0; i < 4; ++i) r.ip[i] = a[i];
    r.port = port;
    return r;
  }
  static Address from_ipv6(const std::array<std::uint8_t, 16>& a, std::uint16_t port) {
    Address r;
    r.type = AddressType::ipv6;
    r.ip = a;
    r.port = port;
    return r;
  }
  static Address from_domain(std::string name, std::uint16_t port) {
    Address r;
    r.type = AddressType::domain;
    r.domain = std::move(name);
    r.port = port;
    return r;
  }

  /// The host part for logs and for getaddrinfo: "1.2.3.4", "2001:db8::1" (no brackets), or
  /// the domain. Defined in libmtop/core/address.cpp.
  std::string host_string() const;
  /// "host:port", with brackets around IPv6: "[2001:db8::1]:443".
  std::string to_string() const;

  friend bool operator==(const Address&, const Address&) = default;
};

/// True if `name` is a domain the MTop wire format accepts (docs/PROTOCOL.md, "Domain names").
MTOP_CPP_API bool is_valid_domain(std::string_view name) noexcept;

}  // namespace mtop
