#include "auth/publish_grants.hpp"

#include <algorithm>
#include <charconv>

namespace mtop::auth {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
  unsigned value = 0;
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (s.empty() || ec != std::errc{} || ptr != end || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

Result<PublishGrant> parse_grant(std::string_view text) {
  auto fail = [&](const char* why) {
    return Failure{Errc::invalid_argument,
                   "publish: \"" + std::string(text) + "\": " + std::string(why)};
  };
  PublishGrant g;
  std::string_view ports = text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail("an IPv6 address is written [address]:ports");
    }
    auto a = IpAddress::parse(text.substr(1, close - 1));
    if (!a || !a->is_v6) return fail("not an IPv6 address");
    g.address = *a;
    ports = text.substr(close + 2);
  } else if (const auto colon = text.find(':'); colon != std::string_view::npos) {
    const std::string_view addr = text.substr(0, colon);
    if (addr != "*") {
      auto a = IpAddress::parse(addr);
      if (!a || a->is_v6) return fail("not an IPv4 address, \"*\" or [IPv6]");
      g.address = *a;
    }
    ports = text.substr(colon + 1);
  }
  const auto dash = ports.find('-');
  const auto first = parse_port(ports.substr(0, dash));
  const auto last =
      dash == std::string_view::npos ? first : parse_port(ports.substr(dash + 1));
  if (!first || !last) return fail("ports are a port or a range, each 1-65535");
  if (*first > *last) return fail("a range's first port is above its last");
  g.first_port = *first;
  g.last_port = *last;
  return g;
}

bool matches(const PublishGrant& g, const IpAddress& bind) {
  return !g.address || *g.address == bind;
}

}  // namespace

Result<PublishGrants> PublishGrants::parse(std::string_view text) {
  if (text.size() > max_text) {
    return Failure{Errc::invalid_argument,
                   "publish: longer than " + std::to_string(max_text) + " characters"};
  }
  PublishGrants out;
  if (trim(text).empty()) return out;
  while (true) {
    const auto comma = text.find(',');
    auto g = parse_grant(trim(text.substr(0, comma)));
    if (!g) return g.failure();
    if (out.grants_.size() == max_grants) {
      return Failure{Errc::invalid_argument,
                     "publish: more than " + std::to_string(max_grants) + " grants"};
    }
    out.grants_.push_back(*g);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

bool PublishGrants::allows(const IpAddress& bind, std::uint16_t port) const {
  return port != 0 && std::any_of(grants_.begin(), grants_.end(), [&](const PublishGrant& g) {
           return matches(g, bind) && port >= g.first_port && port <= g.last_port;
         });
}

std::vector<std::uint16_t> PublishGrants::candidate_ports(const IpAddress& bind,
                                                          std::size_t limit) const {
  std::vector<std::uint16_t> out;
  for (const auto& g : grants_) {
    if (!matches(g, bind)) continue;
    for (unsigned p = g.first_port; p <= g.last_port && out.size() < limit; ++p) {
      const auto port = static_cast<std::uint16_t>(p);
      if (std::find(out.begin(), out.end(), port) == out.end()) out.push_back(port);
    }
  }
  return out;
}

std::string PublishGrants::to_string() const {
  std::string out;
  for (const auto& g : grants_) {
    if (!out.empty()) out += ",";
    if (g.address) {
      out += g.address->is_v6 ? "[" + g.address->to_string() + "]" : g.address->to_string();
      out += ":";
    }
    out += std::to_string(g.first_port);
    if (g.last_port != g.first_port) out += "-" + std::to_string(g.last_port);
  }
  return out;
}

}  // namespace mtop::auth
