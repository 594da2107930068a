// IP addresses and CIDR prefixes as plain bytes, for the failure throttle and the target
// policy. IPv4 addresses are kept in their own 4-byte form (is_v6 false); nothing here maps
// between the families implicitly — callers decide (see TargetPolicy).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mtop/result.hpp"

struct sockaddr;

namespace mtop::auth {

struct IpAddress {
  bool is_v6 = false;
  std::array<std::uint8_t, 16> bytes{};  ///< IPv4 uses the first 4 bytes, network order

  /// From an AF_INET / AF_INET6 sockaddr; nothing for other families or a null pointer.
  static std::optional<IpAddress> from_sockaddr(const struct sockaddr* sa);
  /// From "1.2.3.4" or "2001:db8::1" (no brackets, no zone); nothing if malformed.
  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d);

  /// ::ffff:a.b.c.d (an IPv4 peer on a dual-stack socket) as a.b.c.d; any other address as is.
  IpAddress unmapped() const;
  unsigned bit_length() const { return is_v6 ? 128 : 32; }
  std::string to_string() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

/// A CIDR block: the first `length` bits of `base` (the rest of base is zero).
struct IpPrefix {
  IpAddress base;
  unsigned length = 0;

  /// Parses "10.0.0.0/8", "::1/128" or a bare address (a single host). Host bits must be
  /// zero ("10.0.0.1/8" is refused: it usually hides a typo). Errors: invalid_argument with
  /// a short reason ("bad prefix length \"33\" (0-32)").
  static Result<IpPrefix> parse(std::string_view text);

  /// True if `a` is of the same family and its first `length` bits equal base's.
  bool contains(const IpAddress& a) const;
  std::string to_string() const;
};

}  // namespace mtop::auth
