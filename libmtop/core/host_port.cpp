// parse_host_port and the IP literal parsers (rules in include/mtop/host_port.hpp).
#include "mtop/host_port.hpp"

#include "ascii.hpp"
#include "mtop/address.hpp"
#include "mtop/percent.hpp"

namespace mtop {

namespace {

using ascii::is_digit;

/// An interface name or index after '%': what `ip link` names and if_nametoindex() takes.
bool is_zone(std::string_view z) noexcept {
  if (z.empty() || z.size() > 64) return false;
  for (char c : z) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
                    c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

Failure bad(const char* why) {
  return Failure{Errc::invalid_argument, why};
}

}  // namespace

std::optional<std::array<std::uint8_t, 4>> parse_ipv4(std::string_view s) noexcept {
  std::array<std::uint8_t, 4> out{};
  size_t part = 0, i = 0;
  while (true) {
    size_t start = i;
    std::uint32_t v = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 4)
      v = v * 10 + static_cast<std::uint32_t>(s[i++] - '0');
    const size_t len = i - start;
    if (len == 0 || len > 3 || v > 255 || (len > 1 && s[start] == '0')) return std::nullopt;
    out[part++] = static_cast<std::uint8_t>(v);
    if (part == 4) break;
    if (i >= s.size() || s[i] != '.') return std::nullopt;
    ++i;
  }
  if (i != s.size()) return std::nullopt;
  return out;
}

std::optional<std::array<std::uint8_t, 16>> parse_ipv6(std::string_view s) noexcept {
  std::array<std::uint16_t, 8> groups{};
  int n = 0;     // groups written
  int gap = -1;  // index in groups where "::" stood
  size_t i = 0;
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    gap = 0;
    i = 2;
  } else if (!s.empty() && s[0] == ':') {
    return std::nullopt;
  }
  while (i < s.size()) {
    if (n == 8) return std::nullopt;
    // A dotted quad may end the address, in place of two groups.
    const size_t next_colon = s.find(':', i);
    const std::string_view rest =
        s.substr(i, next_colon == std::string_view::npos ? s.npos : next_colon - i);
    if (next_colon == std::string_view::npos && rest.find('.') != std::string_view::npos) {
      auto v4 = parse_ipv4(rest);
      if (!v4 || n > 6) return std::nullopt;
      groups[n++] = static_cast<std::uint16_t>(((*v4)[0] << 8) | (*v4)[1]);
      groups[n++] = static_cast<std::uint16_t>(((*v4)[2] << 8) | (*v4)[3]);
      break;  // the dotted quad ran to the end of s
    }
    std::uint32_t v = 0;
    size_t len = 0;
    while (i < s.size() && len < 5 && hex_digit_value(s[i]) >= 0) {
      v = (v << 4) | static_cast<std::uint32_t>(hex_digit_value(s[i++]));
      ++len;
    }
    if (len == 0 || len > 4) return std::nullopt;
    groups[n++] = static_cast<std::uint16_t>(v);
    if (i == s.size()) break;
    if (s[i] != ':') return std::nullopt;
    ++i;
    if (i < s.size() && s[i] == ':') {
      if (gap >= 0) return std::nullopt;  // a second "::"
      gap = n;
      ++i;
    } else if (i == s.size()) {
      return std::nullopt;  // a single trailing ':'
    }
  }
  if (gap < 0 && n != 8) return std::nullopt;
  if (gap >= 0 && n > 7) return std::nullopt;  // "::" must stand for at least one group
  std::array<std::uint16_t, 8> full{};
  if (gap < 0) {
    full = groups;
  } else {
    const int tail = n - gap;
    for (int k = 0; k < gap; ++k) full[k] = groups[k];
    for (int k = 0; k < tail; ++k) full[8 - tail + k] = groups[gap + k];
  }
  std::array<std::uint8_t, 16> out{};
  for (int k = 0; k < 8; ++k) {
    out[2 * k] = static_cast<std::uint8_t>(full[k] >> 8);
    out[2 * k + 1] = static_cast<std::uint8_t>(full[k] & 0xff);
  }
  return out;
}

std::string HostPort::to_string() const {
  std::string out;
  out.reserve(host.size() + 8);
  const bool v6 = host.find(':') != std::string::npos;
  if (v6) out += '[';
  out += host;
  if (v6) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

Result<std::uint16_t> parse_port(std::string_view text, bool zero_ok) {
  const char* range = zero_ok ? "port must be 0-65535" : "port must be 1-65535";
  if (text.empty()) return bad(range);
  std::uint32_t v = 0;
  for (char c : text) {
    if (!is_digit(c)) return bad(range);
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
    if (v > 65535) return bad(range);
  }
  if (v == 0 && !zero_ok) return bad(range);
  return static_cast<std::uint16_t>(v);
}

Result<HostPort> parse_host_port(std::string_view text, const HostPortOptions& options) {
  std::string_view host, port;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) return bad("an IPv6 address in brackets needs its ']'");
    host = text.substr(1, close - 1);
    const std::string_view after = text.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("expected ':' and a port after ']'");
      port = after.substr(1);
      has_port = true;
    }
    const size_t percent = host.find('%');
    if (!parse_ipv6(host.substr(0, percent))) {
      return bad("only an IPv6 address goes in brackets");
    }
    if (percent != std::string_view::npos &&
        (!options.zone || !is_zone(host.substr(percent + 1)))) {
      return bad(options.zone ? "bad IPv6 zone after '%'" : "no IPv6 zone allowed here");
    }
  } else {
    const size_t colon = text.rfind(':');
    host = text.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = text.substr(colon + 1);
      has_port = true;
    }
    if (host.empty()) return bad("empty host");
    if (host.find(':') != std::string_view::npos) {
      return bad("an IPv6 address needs brackets: [v6]:port");
    }
    if (!is_valid_domain(host)) return bad("the host is neither an IP address nor a valid name");
  }
  std::uint16_t p = options.default_port;
  if (has_port || p == 0) {
    if (!has_port) return bad("missing :port");
    auto parsed = parse_port(port, options.port_zero);
    if (!parsed) return parsed.failure();
    p = *parsed;
  }
  return HostPort{std::string(host), p};
}

}  // namespace mtop
