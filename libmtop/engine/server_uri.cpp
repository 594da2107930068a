#include "engine/server_uri.hpp"

#include <charconv>

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

}  // namespace mtop
