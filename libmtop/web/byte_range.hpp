// The Range request header (RFC 9110, section 14.2), as a static file server answers it: one
// range of bytes, or the whole file.
#pragma once

#include <cstdint>
#include <string_view>

namespace mtop::web {

struct ByteRange {
  enum class Kind : std::uint8_t {
    whole,          ///< no usable Range (absent, not "bytes=", several ranges, malformed): 200
    partial,        ///< 206 with bytes first..last
    unsatisfiable,  ///< 416: the range starts at or beyond the end of the file
  };
  Kind kind = Kind::whole;
  std::uint64_t first = 0;
  std::uint64_t last = 0;  ///< inclusive
};

/// What `header` ("bytes=0-99", "bytes=100-", "bytes=-500") asks of a file of `size` bytes.
/// Several ranges are answered with the whole file, which RFC 9110 allows.
ByteRange parse_byte_range(std::string_view header, std::uint64_t size) noexcept;

}  // namespace mtop::web
