#include "auth/target_policy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>

namespace mtop::auth {

namespace {

using enum RangeRule;

// The special-purpose ranges. Reference: IANA's IPv4 and IPv6 Special-Purpose Address
// Registries (rows marked "globally reachable: false" are denied); multicast, the deprecated
// site-local block and the rest of ::/8 (RFC 4291 2.4) are added. Anycast rows that IANA marks
// globally reachable but that lead to a service in the server's own network (PCP, TURN,
// DNS-SD SRP) are denied, and so are the identifier blocks that are not routable (ORCHID, DET).
// Every row has a test (tests/unit/auth/test_target_policy.cpp); docs/CONFIG.md lists them.
constexpr std::array kRanges = {
    // IPv4
    SpecialRange{"0.0.0.0/8", deny, "this-network"},
    SpecialRange{"0.0.0.0/32", deny, "unspecified"},
    SpecialRange{"10.0.0.0/8", deny, "private"},
    SpecialRange{"100.64.0.0/10", deny, "cgnat"},
    SpecialRange{"127.0.0.0/8", deny, "loopback"},
    SpecialRange{"169.254.0.0/16", deny, "link-local"},
    SpecialRange{"172.16.0.0/12", deny, "private"},
    SpecialRange{"192.0.0.0/24", deny, "ietf-protocol-assignments"},
    SpecialRange{"192.0.0.0/29", deny, "ipv4-service-continuity"},
    SpecialRange{"192.0.0.8/32", deny, "dummy"},
    SpecialRange{"192.0.0.9/32", deny, "pcp-anycast"},
    SpecialRange{"192.0.0.10/32", deny, "turn-anycast"},
    SpecialRange{"192.0.0.170/31", deny, "nat64-discovery"},
    SpecialRange{"192.0.2.0/24", deny, "documentation"},
    SpecialRange{"192.31.196.0/24", allow, "as112"},
    SpecialRange{"192.52.193.0/24", allow, "amt"},
    SpecialRange{"192.88.99.0/24", deny, "6to4-relay-anycast"},
    SpecialRange{"192.168.0.0/16", deny, "private"},
    SpecialRange{"192.175.48.0/24", allow, "as112"},
    SpecialRange{"198.18.0.0/15", deny, "benchmarking"},
    SpecialRange{"198.51.100.0/24", deny, "documentation"},
    SpecialRange{"203.0.113.0/24", deny, "documentation"},
    SpecialRange{"224.0.0.0/4", deny, "multicast"},
    SpecialRange{"240.0.0.0/4", deny, "reserved"},
    SpecialRange{"255.255.255.255/32", deny, "broadcast"},
    // IPv6
    SpecialRange{"::/8", deny, "reserved"},
    SpecialRange{"::/96", embeds_low32, "IPv4-compatible"},
    SpecialRange{"::/128", deny, "unspecified"},
    SpecialRange{"::1/128", deny, "loopback"},
    SpecialRange{"::ffff:0:0/96", embeds_low32, "IPv4-mapped"},
    SpecialRange{"64:ff9b::/96", embeds_low32, "NAT64"},
    SpecialRange{"64:ff9b:1::/48", deny, "nat64-local"},
    SpecialRange{"100::/64", deny, "discard"},
    SpecialRange{"100:0:0:1::/64", deny, "dummy"},
    SpecialRange{"2001::/23", deny, "ietf-protocol-assignments"},
    SpecialRange{"2001::/32", embeds_teredo, "Teredo"},
    SpecialRange{"2001:1::1/128", deny, "pcp-anycast"},
    SpecialRange{"2001:1::2/128", deny, "turn-anycast"},
    SpecialRange{"2001:1::3/128", deny, "dns-sd-srp-anycast"},
    SpecialRange{"2001:2::/48", deny, "benchmarking"},
    SpecialRange{"2001:3::/32", allow, "amt"},
    SpecialRange{"2001:4:112::/48", allow, "as112"},
    SpecialRange{"2001:10::/28", deny, "orchid"},
    SpecialRange{"2001:20::/28", deny, "orchid"},
    SpecialRange{"2001:30::/28", deny, "drone-remote-id"},
    SpecialRange{"2001:db8::/32", deny, "documentation"},
    SpecialRange{"2002::/16", embeds_6to4, "6to4"},
    SpecialRange{"2620:4f:8000::/48", allow, "as112"},
    SpecialRange{"3fff::/20", deny, "documentation"},
    SpecialRange{"5f00::/16", deny, "segment-routing"},
    SpecialRange{"fc00::/7", deny, "private"},
    SpecialRange{"fe80::/10", deny, "link-local"},
    SpecialRange{"fec0::/10", deny, "site-local"},
    SpecialRange{"ff00::/8", deny, "multicast"},
};

const std::vector<IpPrefix>& parsed_ranges() {
  // Built once, read-only afterwards. The rows are constants; a typo there is caught by the
  // unit tests (every row is parsed and checked).
  static const std::vector<IpPrefix> parsed = [] {
    std::vector<IpPrefix> r;
    r.reserve(kRanges.size());
    for (const auto& row : kRanges) r.push_back(*IpPrefix::parse(row.cidr));
    return r;
  }();
  return parsed;
}

// The most specific row that contains `a`, or null.
const SpecialRange* row_for(const IpAddress& a) {
  const auto& parsed = parsed_ranges();
  const SpecialRange* best = nullptr;
  unsigned best_length = 0;
  for (std::size_t i = 0; i < kRanges.size(); ++i) {
    if (parsed[i].contains(a) && (!best || parsed[i].length > best_length)) {
      best = &kRanges[i];
      best_length = parsed[i].length;
    }
  }
  return best;
}

struct Embedded {
  IpAddress v4;
  std::string role;  ///< for the log: "in 6to4", "as Teredo server", ...
};

// The IPv4 addresses an IPv6 address of `row`'s form carries (none for other rows).
std::vector<Embedded> embedded_v4(const SpecialRange& row, const IpAddress& a) {
  const auto& b = a.bytes;
  switch (row.rule) {
    case embeds_low32:
      return {{IpAddress::v4(b[12], b[13], b[14], b[15]), "in " + std::string(row.name)}};
    case embeds_6to4:
      return {{IpAddress::v4(b[2], b[3], b[4], b[5]), "in 6to4"}};
    case embeds_teredo:
      return {{IpAddress::v4(b[4], b[5], b[6], b[7]), "as Teredo server"},
              {IpAddress::v4(static_cast<std::uint8_t>(~b[12]), static_cast<std::uint8_t>(~b[13]),
                             static_cast<std::uint8_t>(~b[14]), static_cast<std::uint8_t>(~b[15])),
               "as Teredo client"}};
    case allow:
    case deny:
      break;
  }
  return {};
}

// The verdict on one address. `rule` empty: allowed.
struct Judgement {
  std::string_view rule;
  const Embedded* via = nullptr;  ///< the IPv4 address that decided, for embedding forms
};

bool listed(const std::vector<IpPrefix>& allowed, const IpAddress& a) {
  for (const auto& p : allowed) {
    if (p.contains(a)) return true;
  }
  return false;
}

// IPv4 rows never embed, so this does not recurse further than one level.
std::string_view denying_rule(const IpAddress& a) {
  const SpecialRange* row = row_for(a);
  return row && row->rule == deny ? row->name : std::string_view{};
}

Judgement judge(const IpAddress& a, const std::vector<IpPrefix>& allowed,
                const std::vector<Embedded>& inside) {
  if (listed(allowed, a)) return {};
  const SpecialRange* row = row_for(a);
  if (!row || row->rule == allow) return {};
  if (row->rule == deny) return {row->name};
  for (const auto& e : inside) {
    const std::string_view rule = denying_rule(e.v4);
    if (!rule.empty() && !listed(allowed, e.v4)) return {rule, &e};
  }
  return {};
}

std::vector<Embedded> embedded_in(const IpAddress& a) {
  const SpecialRange* row = row_for(a);
  return row ? embedded_v4(*row, a) : std::vector<Embedded>{};
}

}  // namespace

std::span<const SpecialRange> special_ranges() noexcept {
  return kRanges;
}

Result<void> TargetPolicy::allow_cidrs(const std::vector<std::string>& cidrs) {
  std::vector<IpPrefix> parsed;
  for (const auto& c : cidrs) {
    auto p = IpPrefix::parse(c);
    if (!p) {
      return Failure{Errc::invalid_argument,
                     "allowed target \"" + c + "\": " + std::string(p.message())};
    }
    parsed.push_back(*p);
  }
  allowed_.insert(allowed_.end(), parsed.begin(), parsed.end());
  return {};
}

std::string_view TargetPolicy::classify(const IpAddress& addr) {
  return judge(addr, {}, embedded_in(addr)).rule;
}

std::string TargetPolicy::refusal(const IpAddress& addr) const {
  const auto inside = embedded_in(addr);
  const Judgement j = judge(addr, allowed_, inside);
  std::string out(j.rule);
  if (j.via) {
    out.append(" (").append(j.via->v4.to_string()).append(" ").append(j.via->role).append(")");
  }
  return out;
}

std::string TargetPolicy::port_refusal(std::uint16_t port) const {
  for (const std::uint16_t p : denied_ports_) {
    if (p == port) return "port " + std::to_string(port) + " denied";
  }
  return {};
}

std::string TargetPolicy::refusal(const struct sockaddr* addr) const {
  const auto a = IpAddress::from_sockaddr(addr);
  if (!a) return "not an IP address";
  std::uint16_t port_be = 0;
  if (addr->sa_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, addr, sizeof in);
    port_be = in.sin_port;
  } else {
    sockaddr_in6 in6;
    std::memcpy(&in6, addr, sizeof in6);
    port_be = in6.sin6_port;
  }
  if (std::string why = port_refusal(ntohs(port_be)); !why.empty()) return why;
  return refusal(*a);
}

bool TargetPolicy::allow(const IpAddress& addr) const {
  return refusal(addr).empty();
}

bool TargetPolicy::allow(const struct sockaddr* addr) const {
  return refusal(addr).empty();
}

std::function<std::string(const struct sockaddr*)> TargetPolicy::hook() const {
  return [policy = *this](const struct sockaddr* addr) { return policy.refusal(addr); };
}

}  // namespace mtop::auth
