#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "mtop/plugin_options.hpp"

using mtop::PluginOption;
using Options = std::vector<PluginOption>;

namespace {

Options parsed(std::string_view text) {
  auto r = mtop::parse_plugin_options(text);
  INFO(text);
  REQUIRE(r);
  return *r;
}

std::string error_of(std::string_view text) {
  auto r = mtop::parse_plugin_options(text);
  REQUIRE_FALSE(r);
  CHECK(r.error() == mtop::Errc::config_invalid);
  return std::string(r.message());
}

}  // namespace

TEST_CASE("plugin options: keys, values and flags", "[plugin_options]") {
  CHECK(parsed("").empty());
  CHECK(parsed("user=alice;ca=/etc/mtop/ca.pem;insecure") ==
        Options{{"user", "alice"}, {"ca", "/etc/mtop/ca.pem"}, {"insecure", std::nullopt}});
  CHECK(parsed("key=") == Options{{"key", ""}});
  CHECK(parsed("a=b=c") == Options{{"a", "b=c"}});
  CHECK(parsed(" sp = x ") == Options{{" sp ", " x "}});
  // Empty options are skipped.
  CHECK(parsed(";;a=1;;b;") == Options{{"a", "1"}, {"b", std::nullopt}});
  // Duplicates are kept in order.
  CHECK(parsed("a=1;a=2") == Options{{"a", "1"}, {"a", "2"}});
}

TEST_CASE("plugin options: backslash escapes", "[plugin_options]") {
  CHECK(parsed(R"(password=a\;b\=c\\d)") == Options{{"password", R"(a;b=c\d)"}});
  CHECK(parsed(R"(k\=ey=v)") == Options{{"k=ey", "v"}});
  CHECK(parsed(R"(\;)") == Options{{";", std::nullopt}});
  CHECK(parsed(R"(a=\x)") == Options{{"a", "x"}});  // any escaped character is itself
  CHECK(parsed(R"(\=x)") == Options{{"=x", std::nullopt}});
}

TEST_CASE("plugin options: errors name the option, never its text", "[plugin_options]") {
  CHECK(error_of("=x") == "option 1: empty name before '='");
  CHECK(error_of("a=1;b;=secret") == "option 3: empty name before '='");
  const std::string end = error_of(R"(a=1;password=x\)");
  CHECK(end.find("option 2") != std::string::npos);
  CHECK(end.find('x') == std::string::npos);
}

TEST_CASE("plugin options: formatting reads back", "[plugin_options]") {
  const Options opts{{"password", R"(a;b=c\d)"}, {"flag", std::nullopt}, {"e", ""}, {"k=", "v"}};
  const std::string text = mtop::format_plugin_options(opts);
  CHECK(text == R"(password=a\;b\=c\\d;flag;e=;k\==v)");
  CHECK(parsed(text) == opts);
}
