#include "web/byte_range.hpp"

#include <limits>
#include <optional>

#include "core/ascii.hpp"

namespace mtop::web {

namespace {

/// A non-empty run of digits that fits in 64 bits, or nothing.
std::optional<std::uint64_t> number(std::string_view s) noexcept {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (const char c : s) {
    if (!ascii::is_digit(c)) return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

}  // namespace

ByteRange parse_byte_range(std::string_view header, std::uint64_t size) noexcept {
  constexpr std::string_view kUnit = "bytes=";
  if (header.size() < kUnit.size() || !ascii::iequals(header.substr(0, kUnit.size()), kUnit)) {
    return {};
  }
  std::string_view spec = header.substr(kUnit.size());
  while (!spec.empty() && (spec.front() == ' ' || spec.front() == '\t')) spec.remove_prefix(1);
  while (!spec.empty() && (spec.back() == ' ' || spec.back() == '\t')) spec.remove_suffix(1);
  if (spec.find(',') != std::string_view::npos) return {};
  const std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return {};
  const auto first = number(spec.substr(0, dash));
  const auto last = number(spec.substr(dash + 1));
  if (!first) {
    // "-N": the last N bytes.
    if (!last) return {};
    if (*last == 0 || size == 0) return {ByteRange::Kind::unsatisfiable, 0, 0};
    const std::uint64_t n = *last < size ? *last : size;
    return {ByteRange::Kind::partial, size - n, size - 1};
  }
  if (dash + 1 < spec.size() && !last) return {};
  if (last && *last < *first) return {};  // invalid: ignored, the whole file
  if (*first >= size) return {ByteRange::Kind::unsatisfiable, 0, 0};
  const std::uint64_t end = last && *last < size - 1 ? *last : size - 1;
  return {ByteRange::Kind::partial, *first, end};
}

}  // namespace mtop::web
