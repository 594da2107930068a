#include "web/http_date.hpp"

#include <array>

#include "core/ascii.hpp"

namespace mtop::web {

namespace {

// Locale-free on purpose: strftime's %a and %b follow the C locale, HTTP does not.
constexpr std::array<std::string_view, 7> kDays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void two_digits(std::string& out, int v) {
  out += static_cast<char>('0' + v / 10 % 10);
  out += static_cast<char>('0' + v % 10);
}

/// The number in `text` (all digits), or -1.
int digits(std::string_view text) noexcept {
  int v = 0;
  for (const char c : text) {
    if (!ascii::is_digit(c)) return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

std::string format_http_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::string out;
  out.reserve(29);
  out += kDays[static_cast<std::size_t>(tm.tm_wday) % 7];
  out += ", ";
  two_digits(out, tm.tm_mday);
  out += ' ';
  out += kMonths[static_cast<std::size_t>(tm.tm_mon) % 12];
  out += ' ';
  const int year = tm.tm_year + 1900;
  two_digits(out, year / 100);
  two_digits(out, year % 100);
  out += ' ';
  two_digits(out, tm.tm_hour);
  out += ':';
  two_digits(out, tm.tm_min);
  out += ':';
  two_digits(out, tm.tm_sec);
  out += " GMT";
  return out;
}

std::optional<std::time_t> parse_http_date(std::string_view s) noexcept {
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  //  0123456789012345678901234567 8
  if (s.size() != 29 || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT") {
    return std::nullopt;
  }
  bool day_known = false;
  for (const auto d : kDays) day_known |= d == s.substr(0, 3);
  int month = -1;
  for (std::size_t m = 0; m < kMonths.size(); ++m) {
    if (kMonths[m] == s.substr(8, 3)) month = static_cast<int>(m);
  }
  const int mday = digits(s.substr(5, 2));
  const int year = digits(s.substr(12, 4));
  const int hour = digits(s.substr(17, 2));
  const int min = digits(s.substr(20, 2));
  const int sec = digits(s.substr(23, 2));
  if (!day_known || month < 0 || mday < 1 || mday > 31 || year < 1970 || hour > 23 || min > 59 ||
      sec > 60 || hour < 0 || min < 0 || sec < 0) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = mday;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  return timegm(&tm);
}

}  // namespace mtop::web
