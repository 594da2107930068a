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

}  // namespace mtop::io
