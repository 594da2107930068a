#include "mtop/plugin_options.hpp"

namespace mtop {

Result<std::vector<PluginOption>> parse_plugin_options(std::string_view text) {
  std::vector<PluginOption> out;
  PluginOption current;
  bool in_value = false;  ///< an unescaped '=' was seen in this option
  bool any = false;       ///< this option has a character (escaped or not) or an '='
  std::size_t index = 1;  ///< 1-based position of the option, for messages
  auto close = [&]() -> Result<void> {
    if (any) {
      if (current.key.empty()) {
        return Failure{Errc::config_invalid,
                       "option " + std::to_string(index) + ": empty name before '='"};
      }
      out.push_back(std::move(current));
      ++index;
    }
    current = PluginOption{};
    in_value = false;
    any = false;
    return {};
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ';') {
      if (auto r = close(); !r) return r.failure();
      continue;
    }
    any = true;
    if (c == '\\') {
      if (i + 1 == text.size()) {
        return Failure{Errc::config_invalid, "option " + std::to_string(index) +
                                                 ": '\\' at the end (escape it as '\\\\')"};
      }
      c = text[++i];
    } else if (c == '=' && !in_value) {
      in_value = true;
      current.value.emplace();
      continue;
    }
    (in_value ? *current.value : current.key) += c;
  }
  if (auto r = close(); !r) return r.failure();
  return out;
}

std::string format_plugin_options(const std::vector<PluginOption>& options) {
  auto escaped = [](const std::string& s) {
    std::string e;
    for (const char c : s) {
      if (c == ';' || c == '=' || c == '\\') e += '\\';
      e += c;
    }
    return e;
  };
  std::string out;
  for (const auto& o : options) {
    if (!out.empty()) out += ';';
    out += escaped(o.key);
    if (o.value) out += '=' + escaped(*o.value);
  }
  return out;
}

}  // namespace mtop
