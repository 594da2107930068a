#include "engine/server_uri.hpp"

#include <charconv>

#include "mtop/percent.hpp"

namespace mtop {

namespace {

bool parse_port(std::string_view s, std::uint16_t& port) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value == 0 || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

std::string_view transport_name(TransportKind t) noexcept {
  switch (t) {
    case TransportKind::tls: return "tls";
    case TransportKind::quic: return "quic";
    case TransportKind::auto_select: return "auto";
  }
  return "?";
}

bool parse_transport(std::string_view name, TransportKind& out) noexcept {
  if (name == "tls") out = TransportKind::tls;
  else if (name == "quic") out = TransportKind::quic;
  else if (name == "auto") out = TransportKind::auto_select;
  else return false;
  return true;
}

bool parse_host_port(std::string_view text, std::string& host, std::uint16_t& port,
                     std::uint16_t default_port) {
  std::string_view h, p;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    h = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty()) {
      if (default_port == 0) return false;
    } else {
      if (rest.front() != ':') return false;
      p = rest.substr(1);
    }
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      if (default_port == 0) return false;
      h = text;
    } else {
      h = text.substr(0, colon);
      p = text.substr(colon + 1);
      if (h.find(':') != std::string_view::npos) return false;  // IPv6 needs brackets
    }
  }
  if (h.empty()) return false;
  std::uint16_t parsed = default_port;
  if (!p.empty() || (text.back() == ':')) {
    if (!parse_port(p, parsed)) return false;
  }
  host.assign(h);
  port = parsed;
  return true;
}

bool parse_server_uri(std::string_view uri, ServerEndpoint& out, std::string& error) {
  constexpr std::string_view scheme = "mtop://";
  if (uri.substr(0, scheme.size()) != scheme) {
    error = "server URI must start with mtop://";
    return false;
  }
  std::string_view rest = uri.substr(scheme.size());
  std::string_view query;
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  ServerEndpoint ep;
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    // USER alone is fine (the password then comes from a file or the environment, not from
    // a command line that `ps` shows); USER:PASS is accepted too.
    const size_t colon = userinfo.find(':');
    if (!percent_decode(userinfo.substr(0, colon), ep.username) || ep.username.empty()) {
      error = "server URI: bad or empty username before the @";
      return false;
    }
    if (colon != std::string_view::npos &&
        !percent_decode(userinfo.substr(colon + 1), ep.password)) {
      error = "server URI: bad percent-encoding in the password";
      return false;
    }
  }
  if (!parse_host_port(rest, ep.host, ep.port, 443)) {
    error = "server URI: expected HOST[:PORT] (IPv6 in brackets), port 1-65535";
    return false;
  }
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string value;
    if (!percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1),
                        value)) {
      error = "server URI: bad percent-encoding in parameter " + std::string(key);
      return false;
    }
    if (key == "transport") {
      if (!parse_transport(value, ep.transport)) {
        error = "server URI: transport must be tls, quic or auto";
        return false;
      }
    } else if (key == "sni") {
      ep.sni = value;
    } else if (key == "ca") {
      ep.ca_file = value;
    } else if (key == "pin") {
      ep.pin = value;
    } else if (key == "insecure") {
      if (value != "1" && value != "0" && value != "true" && value != "false") {
        error = "server URI: insecure must be 1 or 0";
        return false;
      }
      ep.insecure = value == "1" || value == "true";
    } else {
      error = "server URI: unknown parameter " + std::string(key);
      return false;
    }
  }
  out = std::move(ep);
  return true;
}

}  // namespace mtop
