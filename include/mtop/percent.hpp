// Percent-encoding (RFC 3986) as the URIs of MTop's configuration use it: mtop://USER:PASS@...
// for the climber's server, mysql://USER:PASS@.../DB for the user store.
#pragma once

#include <string>
#include <string_view>

#include "mtop/export.hpp"

namespace mtop {

/// The value of a hexadecimal digit, or -1.
MTOP_CPP_API int hex_digit_value(char c) noexcept;

/// Decodes %XX escapes into `out`. False on a truncated or non-hex escape, and on %00: a NUL
/// inside a user name, password or database name is never meant and breaks C APIs.
MTOP_CPP_API bool percent_decode(std::string_view in, std::string& out);

}  // namespace mtop
