// The base64 of PHC strings (https://github.com/P-H-C/phc-string-format): the standard
// alphabet (A-Z a-z 0-9 + /) without '=' padding. Decoding is strict so that one hash has
// exactly one spelling: no padding, no whitespace, no stray bits in the last character.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "mtop/bytes.hpp"

namespace mtop::auth {

/// Encodes bytes as unpadded standard base64.
std::string phc_b64_encode(ByteView data);

/// Decodes unpadded standard base64. Returns nothing for any character outside the
/// alphabet, a length of 1 mod 4 (impossible), or non-zero unused bits in the last character.
std::optional<Bytes> phc_b64_decode(std::string_view text);

}  // namespace mtop::auth
