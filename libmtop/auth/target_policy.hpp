// TargetPolicy: may the server connect to this resolved address?
//
// Denied by default: everything that is not the public Internet — loopback, unspecified,
// private (RFC 1918, fc00::/7), CGNAT (100.64/10), link-local, multicast, reserved (240/4,
// which includes the broadcast address) and a few special-purpose blocks. IPv6 forms that
// carry an IPv4 address (IPv4-mapped ::ffff:0:0/96, IPv4-compatible ::/96, NAT64
// 64:ff9b::/96) are judged by the IPv4 address inside, so ::ffff:127.0.0.1 is loopback.
// An allow-list of CIDRs re-allows exactly those blocks; it matches the address as given or
// the IPv4 address inside it. The policy is checked on resolved addresses (ConnectOptions::
// allow), which is what stops a name that resolves to 127.0.0.1.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/ip_prefix.hpp"

struct sockaddr;

namespace mtop::auth {

class TargetPolicy {
 public:
  /// A policy with the default deny list and no exceptions.
  TargetPolicy() = default;

  /// Adds CIDRs that are allowed even though they fall in a denied range, e.g.
  /// {"127.0.0.1/32", "10.0.0.0/8", "::1/128"}. On a malformed entry nothing is added,
  /// false is returned and `error` says which entry and why.
  bool allow_cidrs(const std::vector<std::string>& cidrs, std::string& error);

  /// True if the server may connect to `addr` (AF_INET / AF_INET6; anything else is denied).
  bool allow(const struct sockaddr* addr) const;
  bool allow(const IpAddress& addr) const;

  /// Why `addr` is denied by default ("loopback", "private", ...), or "" if it is public.
  /// Ignores the allow-list: this is the classification used for log lines.
  static std::string_view classify(const IpAddress& addr);

  /// A copy of this policy as a ConnectOptions::allow hook.
  std::function<bool(const struct sockaddr*)> hook() const;

  const std::vector<IpPrefix>& allowed() const { return allowed_; }

 private:
  std::vector<IpPrefix> allowed_;
};

}  // namespace mtop::auth
