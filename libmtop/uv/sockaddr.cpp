#include "uv/sockaddr.hpp"

#include <cstring>

namespace mtop::io {

// The strings are built with append rather than operator+ chains: GCC 12 at -O3 reports a
// false -Wrestrict inside libstdc++ for `std::string(a) + ":" + ...`, and -Werror makes it fatal.
std::string sockaddr_to_string(const struct sockaddr* addr) {
  if (!addr) return "?";
  char ip[INET6_ADDRSTRLEN + 1] = {};
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    if (uv_ip4_name(in, ip, sizeof ip) != 0) return "?";
    std::string out(ip);
    out += ':';
    out += std::to_string(ntohs(in->sin_port));
    return out;
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    if (uv_ip6_name(in6, ip, sizeof ip) != 0) return "?";
    std::string out = "[";
    out += ip;
    out += "]:";
    out += std::to_string(ntohs(in6->sin6_port));
    return out;
  }
  return "?";
}

std::uint16_t sockaddr_port(const struct sockaddr* addr) noexcept {
  if (!addr) return 0;
  if (addr->sa_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(addr)->sin_port);
  if (addr->sa_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(addr)->sin6_port);
  }
  return 0;
}

bool ip_literal_to_sockaddr(const std::string& host, std::uint16_t port,
                            struct sockaddr_storage* out) noexcept {
  std::memset(out, 0, sizeof *out);
  if (host.empty()) return false;
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(out)) == 0) return true;
  // uv_ip6_addr accepts a "%zone" suffix (interface name or index) for link-local addresses.
  if (host.find(':') != std::string::npos &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(out)) == 0) {
    return true;
  }
  std::memset(out, 0, sizeof *out);
  return false;
}

namespace {

std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

}  // namespace

std::optional<HostPort> parse_host_port(std::string_view text) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    sockaddr_storage ss;
    if (host.find(':') == std::string_view::npos ||
        !ip_literal_to_sockaddr(std::string(host), 1, &ss) || ss.ss_family != AF_INET6) {
      return std::nullopt;  // brackets are for IPv6 literals only
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // bare IPv6
  }
  if (host.empty()) return std::nullopt;
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '[' || c == ']' || c == '/') return std::nullopt;
  }
  const auto p = parse_port(port);
  if (!p) return std::nullopt;
  return HostPort{std::string(host), *p};
}

}  // namespace mtop::io
