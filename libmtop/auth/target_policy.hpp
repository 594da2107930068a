// TargetPolicy: may the server connect to this resolved address?
//
// Theory of operation. One table, special_ranges(), lists the special-purpose ranges (IANA's
// IPv4 and IPv6 Special-Purpose Address Registries, plus multicast and the deprecated
// site-local and ::/8 blocks). The most specific row that contains an address decides:
// - deny: not the public Internet (loopback, private, link-local, CGNAT, documentation, ...);
// - allow: special-purpose but globally reachable (AS112, AMT);
// - an IPv6 form that carries IPv4: IPv4-mapped and IPv4-compatible (::ffff:0:0/96, ::/96),
//   NAT64 well-known prefix (64:ff9b::/96), 6to4 (2002::/16, IPv4 in bits 16-47) and Teredo
//   (2001::/32, server IPv4 in bits 32-63, client IPv4 XOR-ed in bits 96-127). The IPv4
//   address(es) inside are decoded and judged by the IPv4 rows, so 2002:7f00:1::1 is
//   loopback. Where the position of the IPv4 address is not fixed (the NAT64 local-use prefix
//   64:ff9b:1::/48 may use any RFC 6052 length) the prefix is simply denied.
// No row: a public address, allowed. The allow-list (allow_targets) re-allows exactly its
// CIDRs: it matches the address as given or, for the forms above, the IPv4 address inside.
// The policy is checked on resolved addresses before any connect (ConnectOptions::refuse),
// which is what stops a name that resolves to 127.0.0.1. Denied target ports (deny_ports; the
// server denies 25 by default: open proxies become spam relays) are refused whatever the
// address; the engine also checks them before resolving (port_refusal).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/ip_prefix.hpp"

struct sockaddr;

namespace mtop::auth {

/// What a special_ranges() row does with the addresses in it.
enum class RangeRule : std::uint8_t {
  allow,          ///< special-purpose but globally reachable
  deny,           ///< refused unless allow_targets re-allows it
  embeds_low32,   ///< IPv4 in the last 32 bits (mapped, compatible, NAT64 /96)
  embeds_6to4,    ///< IPv4 in bits 16-47 (RFC 3056)
  embeds_teredo,  ///< server IPv4 in bits 32-63, client IPv4 XOR-ed in bits 96-127 (RFC 4380)
};

struct SpecialRange {
  std::string_view cidr;
  RangeRule rule;
  std::string_view name;  ///< the rule's name in log lines ("loopback", "6to4", ...)
};

/// The one table of special-purpose ranges, IPv4 rows first. Rows may nest; the longest
/// prefix that contains an address decides.
std::span<const SpecialRange> special_ranges() noexcept;

class TargetPolicy {
 public:
  /// A policy with the default deny list and no exceptions.
  TargetPolicy() = default;

  /// Adds CIDRs that are allowed even though they fall in a denied range, e.g.
  /// {"127.0.0.1/32", "10.0.0.0/8", "::1/128"}. On a malformed entry nothing is added.
  /// Errors: invalid_argument naming the entry and why.
  Result<void> allow_cidrs(const std::vector<std::string>& cidrs);

  /// Refuses these target ports whatever the address; replaces the ports denied before.
  void deny_ports(std::vector<std::uint16_t> ports) { denied_ports_ = std::move(ports); }
  /// "port 25 denied" if `port` is denied, else "".
  std::string port_refusal(std::uint16_t port) const;

  /// True if the server may connect to `addr` (AF_INET / AF_INET6; anything else is denied).
  bool allow(const struct sockaddr* addr) const;
  bool allow(const IpAddress& addr) const;

  /// Why `addr` is refused, for the log: the rule's name ("loopback") and, when the address
  /// was judged by an IPv4 address inside it, which one and in which form ("loopback
  /// (127.0.0.1 in 6to4)"). Empty when the address is allowed.
  std::string refusal(const IpAddress& addr) const;
  /// The same for a sockaddr, denied ports first (port_refusal); "not an IP address" for
  /// other families or null.
  std::string refusal(const struct sockaddr* addr) const;

  /// The rule that denies `addr` by default ("loopback", "private", ...; for an IPv6 form
  /// carrying IPv4, the IPv4 address's rule), or "" if it is allowed. Ignores the allow-list.
  static std::string_view classify(const IpAddress& addr);

  /// A copy of this policy as a ConnectOptions::refuse hook (returns refusal()).
  std::function<std::string(const struct sockaddr*)> hook() const;

  const std::vector<IpPrefix>& allowed() const { return allowed_; }

 private:
  std::vector<IpPrefix> allowed_;
  std::vector<std::uint16_t> denied_ports_;
};

}  // namespace mtop::auth
