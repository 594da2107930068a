// HTTP dates (RFC 9110, section 5.6.7) for Last-Modified and If-Modified-Since.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace mtop::web {

/// `t` as an IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string format_http_date(std::time_t t);

/// An IMF-fixdate, or nothing for anything else (the obsolete RFC 850 and asctime forms
/// included: a condition that cannot be read is ignored, as RFC 9110 asks).
std::optional<std::time_t> parse_http_date(std::string_view text) noexcept;

}  // namespace mtop::web
