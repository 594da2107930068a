#include "auth/target_policy.hpp"

#include <optional>

namespace mtop::auth {

namespace {

struct Range {
  const char* cidr;
  std::string_view reason;
};

// Denied IPv4 blocks (RFC 6890 and friends). Order does not matter: they do not overlap.
constexpr Range kDeniedV4[] = {
    {"0.0.0.0/8", "unspecified"},       {"10.0.0.0/8", "private"},
    {"100.64.0.0/10", "cgnat"},         {"127.0.0.0/8", "loopback"},
    {"169.254.0.0/16", "link-local"},   {"172.16.0.0/12", "private"},
    {"192.0.0.0/24", "special-purpose"}, {"192.168.0.0/16", "private"},
    {"198.18.0.0/15", "benchmarking"},  {"224.0.0.0/4", "multicast"},
    {"240.0.0.0/4", "reserved"},  // includes 255.255.255.255, the broadcast address
};

// Denied IPv6 blocks, except those that embed IPv4 (handled by inner_v4 below).
constexpr Range kDeniedV6[] = {
    {"::/128", "unspecified"},       {"::1/128", "loopback"},
    {"64:ff9b:1::/48", "nat64-local"}, {"100::/64", "discard"},
    {"fc00::/7", "private"},         {"fe80::/10", "link-local"},
    {"fec0::/10", "site-local"},     {"ff00::/8", "multicast"},
};

struct Table {
  std::vector<std::pair<IpPrefix, std::string_view>> v4, v6;
  IpPrefix mapped, compatible, nat64, unspecified6, loopback6;
};

IpPrefix must_parse(const char* cidr) {
  // The tables above are constants; a typo there is caught by the unit tests.
  return *IpPrefix::parse(cidr);
}

const Table& table() {
  // Built once, read-only afterwards (a constant, not mutable state).
  static const Table t = [] {
    Table r;
    for (const auto& range : kDeniedV4) r.v4.emplace_back(must_parse(range.cidr), range.reason);
    for (const auto& range : kDeniedV6) r.v6.emplace_back(must_parse(range.cidr), range.reason);
    r.mapped = must_parse("::ffff:0:0/96");
    r.compatible = must_parse("::/96");
    r.nat64 = must_parse("64:ff9b::/96");
    r.unspecified6 = must_parse("::/128");
    r.loopback6 = must_parse("::1/128");
    return r;
  }();
  return t;
}

// The IPv4 address carried in the last 32 bits of a mapped, compatible or NAT64 address.
std::optional<IpAddress> inner_v4(const IpAddress& a) {
  if (!a.is_v6) return std::nullopt;
  const Table& t = table();
  // :: and ::1 sit inside ::/96 but are IPv6 addresses of their own, judged by the v6 table.
  const bool special = t.unspecified6.contains(a) || t.loopback6.contains(a);
  if (!t.mapped.contains(a) && !t.nat64.contains(a) && !(t.compatible.contains(a) && !special)) {
    return std::nullopt;
  }
  return IpAddress::v4(a.bytes[12], a.bytes[13], a.bytes[14], a.bytes[15]);
}

}  // namespace

bool TargetPolicy::allow_cidrs(const std::vector<std::string>& cidrs, std::string& error) {
  std::vector<IpPrefix> parsed;
  for (const auto& c : cidrs) {
    std::string why;
    auto p = IpPrefix::parse(c, &why);
    if (!p) {
      error = "allowed target \"";
      error.append(c).append("\": ").append(why);
      return false;
    }
    parsed.push_back(*p);
  }
  allowed_.insert(allowed_.end(), parsed.begin(), parsed.end());
  return true;
}

std::string_view TargetPolicy::classify(const IpAddress& addr) {
  const Table& t = table();
  if (auto v4 = inner_v4(addr)) return classify(*v4);
  for (const auto& [prefix, reason] : addr.is_v6 ? t.v6 : t.v4) {
    if (prefix.contains(addr)) return reason;
  }
  return {};
}

bool TargetPolicy::allow(const IpAddress& addr) const {
  if (classify(addr).empty()) return true;
  const auto inner = inner_v4(addr);
  for (const auto& p : allowed_) {
    if (p.contains(addr) || (inner && p.contains(*inner))) return true;
  }
  return false;
}

bool TargetPolicy::allow(const struct sockaddr* addr) const {
  const auto a = IpAddress::from_sockaddr(addr);
  return a && allow(*a);
}

std::function<bool(const struct sockaddr*)> TargetPolicy::hook() const {
  return [policy = *this](const struct sockaddr* addr) { return policy.allow(addr); };
}

}  // namespace mtop::auth
