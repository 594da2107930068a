#include <catch2/catch.hpp>

#include "mtop/percent.hpp"

TEST_CASE("percent decoding of URI user, password and path parts", "[percent]") {
  std::string out;
  CHECK(mtop::percent_decode("plain", out));
  CHECK(out == "plain");
  CHECK(mtop::percent_decode("s%40cr%3At%25%2f", out));
  CHECK(out == "s@cr:t%/");
  CHECK(mtop::percent_decode("", out));
  CHECK(out.empty());
  for (const char* bad : {"%", "%4", "a%4", "%zz", "%4g", "%00", "x%00y"}) {
    INFO(bad);
    CHECK_FALSE(mtop::percent_decode(bad, out));
  }
  CHECK(mtop::hex_digit_value('F') == 15);
  CHECK(mtop::hex_digit_value('a') == 10);
  CHECK(mtop::hex_digit_value('9') == 9);
  CHECK(mtop::hex_digit_value('g') == -1);
}
