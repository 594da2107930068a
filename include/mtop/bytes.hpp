// Byte buffers and views used across the core and its adapters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace mtop {

/// A borrowed, read-only run of bytes. Never owns; valid as long as what it points into.
using ByteView = std::span<const std::uint8_t>;
/// An owned, growable run of bytes.
using Bytes = std::vector<std::uint8_t>;

/// Views the characters of a string as bytes (no copy).
inline ByteView as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

/// Views bytes as characters (no copy).
inline std::string_view as_chars(ByteView b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace mtop
