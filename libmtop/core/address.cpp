#include "mtop/address.hpp"

#include <cstdio>

namespace mtop {

namespace {

std::string ipv6_string(const std::array<std::uint8_t, 16>& ip) {
  // RFC 5952: lower-case hex, leading zeros dropped, the longest run (>= 2) of zero groups
  // replaced by "::" (the first such run on ties).
  std::uint16_t g[8];
  for (int i = 0; i < 8; ++i) g[i] = static_cast<std::uint16_t>((ip[2 * i] << 8) | ip[2 * i + 1]);
  int best = -1, best_len = 0;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len && j - i >= 2) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  std::string out;
  char buf[8];
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%x", g[i]);
    out += buf;
  }
  return out;
}

}  // namespace

std::string Address::host_string() const {
  switch (type) {
    case AddressType::ipv4: {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
      return buf;
    }
    case AddressType::ipv6:
      return ipv6_string(ip);
    case AddressType::domain:
      return domain;
  }
  return {};
}

std::string Address::to_string() const {
  std::string host = host_string();
  if (type == AddressType::ipv6) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

}  // namespace mtop

namespace mtop {

bool is_valid_domain(std::string_view name) noexcept {
  // Host names as resolvers take them: LDH labels, plus '_' (seen in real service names).
  // Not allowed: empty names, longer than 255, a leading dot, empty labels (".."); a single
  // trailing dot (fully qualified form) is fine. Everything else (NUL, control bytes, spaces,
  // '/', ':', '@', '%', bytes >= 0x80) is refused: IDNs travel in their ASCII (xn--) form.
  if (name.empty() || name.size() > 255 || name.front() == '.') return false;
  char prev = 0;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_';
    if (!ok || (c == '.' && prev == '.')) return false;
    prev = c;
  }
  return true;
}

}  // namespace mtop
