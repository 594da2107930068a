// Request-target parsing for the HTTP proxy (rules in include/mtop/http_proxy.hpp): the
// authority of CONNECT and of absolute-form http URIs, down to an mtop::Address.
#include <array>
#include <cstdint>
#include <optional>

#include "mtop/http_proxy.hpp"
#include "mtop/percent.hpp"

namespace mtop::http {

namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }


char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

/// 1-65535, digits only (leading zeros allowed: "0080" is 80 in every URI parser).
std::optional<std::uint16_t> parse_port(std::string_view s) noexcept {
  if (s.empty()) return std::nullopt;
  std::uint32_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return std::nullopt;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
    if (v > 65535) return std::nullopt;
  }
  if (v == 0) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

/// A strict dotted quad: four decimal parts 0-255, no leading zeros, nothing else.
std::optional<std::array<std::uint8_t, 4>> parse_ipv4(std::string_view s) noexcept {
  std::array<std::uint8_t, 4> out{};
  size_t part = 0, i = 0;
  while (true) {
    size_t start = i;
    std::uint32_t v = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 4) v = v * 10 + static_cast<std::uint32_t>(s[i++] - '0');
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

/// RFC 4291 section 2.2 text: eight 16-bit hex groups, one "::" for a run of zero groups, and
/// optionally a dotted quad in place of the last two groups. No zone id.
std::optional<std::array<std::uint8_t, 16>> parse_ipv6(std::string_view s) noexcept {
  std::array<std::uint16_t, 8> groups{};
  int n = 0;           // groups written
  int gap = -1;        // index in groups where "::" stood
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
    const std::string_view rest = s.substr(i, next_colon == std::string_view::npos ? s.npos : next_colon - i);
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

/// True if the last label of `host` (a trailing dot ignored) is a number in the forms
/// resolvers read as IPv4 parts: decimal digits, or 0x followed by hex digits.
bool ends_in_number(std::string_view host) noexcept {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  const size_t dot = host.rfind('.');
  const std::string_view last = dot == std::string_view::npos ? host : host.substr(dot + 1);
  if (last.empty()) return false;
  bool digits = true;
  for (char c : last) digits = digits && is_digit(c);
  if (digits) return true;
  if (last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
    for (char c : last.substr(2)) {
      if (hex_digit_value(c) < 0) return false;
    }
    return true;
  }
  return false;
}

/// `host[:port]` or `[v6][:port]` to an Address. `default_port` 0 means the port is required.
Result<Address> parse_authority(std::string_view auth, std::uint16_t default_port) {
  std::string_view host, port;
  bool has_port = false;
  if (!auth.empty() && auth.front() == '[') {
    const size_t close = auth.find(']');
    if (close == std::string_view::npos) return Errc::http_bad_target;
    host = auth.substr(1, close - 1);
    const std::string_view after = auth.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Errc::http_bad_target;
      port = after.substr(1);
      has_port = true;
    }
    auto v6 = parse_ipv6(host);
    if (!v6) return Errc::http_bad_target;
    std::uint16_t p = default_port;
    if (has_port || p == 0) {
      auto pp = parse_port(port);
      if (!pp) return Errc::http_bad_target;
      p = *pp;
    }
    return Address::from_ipv6(*v6, p);
  }
  const size_t colon = auth.find(':');
  host = auth.substr(0, colon);
  if (colon != std::string_view::npos) {
    port = auth.substr(colon + 1);
    has_port = true;
  }
  std::uint16_t p = default_port;
  if (has_port || p == 0) {
    auto pp = parse_port(port);  // also refuses a second ':' (an unbracketed IPv6)
    if (!pp) return Errc::http_bad_target;
    p = *pp;
  }
  if (auto v4 = parse_ipv4(host)) return Address::from_ipv4(*v4, p);
  if (!is_valid_domain(host) || ends_in_number(host)) return Errc::http_bad_target;
  return Address::from_domain(std::string(host), p);
}

}  // namespace

Result<RequestTarget> parse_request_target(std::string_view method, std::string_view target) {
  // Only visible ASCII: the target travels between two spaces, and anything else (obs-text,
  // controls) has no place in a URI.
  if (target.empty()) return Errc::http_bad_target;
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return Errc::http_bad_target;
  }
  RequestTarget out;
  if (method == "CONNECT") {
    // authority-form: no userinfo, no path; the port is required.
    if (target.find_first_of("@/?#") != std::string_view::npos) return Errc::http_bad_target;
    auto a = parse_authority(target, 0);
    if (!a) return a.error();
    out.address = std::move(*a);
    out.absolute = false;
    return out;
  }
  // absolute-form: scheme "://" authority path-abempty [ "?" query ].
  const size_t sep = target.find("://");
  if (sep == std::string_view::npos || sep == 0) return Errc::http_bad_target;
  const std::string_view scheme = target.substr(0, sep);
  // RFC 3986 scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ); anything else is not a URI.
  for (size_t i = 0; i < scheme.size(); ++i) {
    const char c = scheme[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!(alpha || (i > 0 && (is_digit(c) || c == '+' || c == '-' || c == '.')))) {
      return Errc::http_bad_target;
    }
  }
  if (!iequals(scheme, "http")) return Errc::http_unsupported;
  const std::string_view rest = target.substr(sep + 3);
  if (rest.find('#') != std::string_view::npos) return Errc::http_bad_target;
  const size_t path_at = rest.find_first_of("/?");
  const std::string_view auth = rest.substr(0, path_at);
  if (auth.empty() || auth.find('@') != std::string_view::npos) return Errc::http_bad_target;
  auto a = parse_authority(auth, 80);
  if (!a) return a.error();
  out.address = std::move(*a);
  out.absolute = true;
  out.authority = std::string(auth);
  const std::string_view path = path_at == std::string_view::npos ? std::string_view{} : rest.substr(path_at);
  // Built with push_back/append: g++ 12 gives a false -Wrestrict on `"/" + path`.
  out.origin_form.reserve(path.size() + 1);
  if (path.empty() || path.front() == '?') out.origin_form.push_back('/');
  out.origin_form.append(path.data(), path.size());
  return out;
}

}  // namespace mtop::http
