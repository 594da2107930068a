// Request-target parsing for the HTTP proxy (rules in include/mtop/http_proxy.hpp): the
// authority of CONNECT and of absolute-form http URIs, down to an mtop::Address.
#include "ascii.hpp"
#include "mtop/host_port.hpp"
#include "mtop/http_proxy.hpp"
#include "mtop/percent.hpp"

namespace mtop::http {

namespace {

using ascii::is_digit;

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

/// `host[:port]` or `[v6][:port]` to an Address, by the one host:port parser
/// (mtop/host_port.hpp) without zones. `default_port` 0 means the port is required.
Result<Address> parse_authority(std::string_view auth, std::uint16_t default_port) {
  HostPortOptions options;
  options.default_port = default_port;
  options.zone = false;
  auto hp = parse_host_port(auth, options);
  if (!hp) return Errc::http_bad_target;
  if (auto v6 = parse_ipv6(hp->host)) return Address::from_ipv6(*v6, hp->port);
  if (auto v4 = parse_ipv4(hp->host)) return Address::from_ipv4(*v4, hp->port);
  if (ends_in_number(hp->host)) return Errc::http_bad_target;
  return Address::from_domain(std::move(hp->host), hp->port);
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
  if (!ascii::iequals(scheme, "http")) return Errc::http_unsupported;
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
