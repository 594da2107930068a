// ASCII character tests for the core's text parsers (HTTP heads, host:port, URIs). Private to
// libmtop/core; locale-free on purpose: <cctype> depends on the C locale, wire formats do not.
#pragma once

#include <cstddef>
#include <string_view>

namespace mtop::ascii {

constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

constexpr char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

/// Case-insensitive equality for ASCII tokens (RFC 9110 field names, URI schemes).
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace mtop::ascii
