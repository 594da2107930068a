// SourceFilter: which client addresses may connect at all — allow and deny lists of CIDRs.
//
// A source in a deny CIDR is refused; otherwise, when the allow list is not empty, a source in
// none of its CIDRs is refused; an empty allow list admits everyone. An IPv4-mapped IPv6 peer
// (::ffff:a.b.c.d on a dual-stack socket) is judged as the IPv4 address a.b.c.d (and as itself,
// so a "::ffff:0:0/96" entry still matches it).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "auth/ip_prefix.hpp"
#include "mtop/result.hpp"

namespace mtop::auth {

class SourceFilter {
 public:
  /// Admits everyone.
  SourceFilter() = default;

  /// From CIDR texts ("203.0.113.0/24", "2001:db8::/32", a bare address for one host).
  /// Errors: invalid_argument naming the list ("deny_sources"), the entry and why.
  static Result<SourceFilter> parse(const std::vector<std::string>& allow,
                                    const std::vector<std::string>& deny);

  /// Why `source` is refused ("in deny_sources 10.0.0.0/8", "not in allow_sources"), or ""
  /// if it is admitted.
  std::string refusal(const IpAddress& source) const;
  bool empty() const noexcept { return allow_.empty() && deny_.empty(); }

 private:
  std::vector<IpPrefix> allow_;
  std::vector<IpPrefix> deny_;
};

}  // namespace mtop::auth
