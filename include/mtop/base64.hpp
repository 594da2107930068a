// Base64 (RFC 4648 section 4, the standard alphabet with '=' padding), as HTTP Basic
// credentials use it (RFC 7617).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "mtop/bytes.hpp"
#include "mtop/export.hpp"

namespace mtop {

/// Encodes `in` with the standard alphabet, padded with '=' to a multiple of 4 characters.
MTOP_CPP_API std::string base64_encode(ByteView in);

/// Decodes canonical base64 and nothing else, so that one credential has exactly one spelling:
/// only the standard alphabet, no whitespace, length a multiple of 4, at most two '=' and only
/// at the end, and the unused low bits of the last data character zero ("QQ==" decodes,
/// "QR==" does not). Returns std::nullopt for anything else. The empty string decodes to "".
MTOP_CPP_API std::optional<std::string> base64_decode(std::string_view in);

}  // namespace mtop
