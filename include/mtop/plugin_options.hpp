// SIP003 plugin options: the text shadowsocks passes a plugin in SS_PLUGIN_OPTIONS (and takes
// from --plugin-opts), "key=value;flag;other=a\;b". Pure text in, a list of options out.
//
// The rules (SIP003, as shadowsocks-libev and simple-obfs read them):
// - Options are separated by ';'. Each is "key=value" or a bare "key" (a flag, no value).
// - A backslash makes the next character literal, in keys and values alike: "\;" "\=" "\\".
//   A key ends at its first unescaped '='; later '=' belong to the value.
// - Empty options (";;", a leading or trailing ';') are skipped; an empty key ("=x") and a
//   backslash at the very end are errors. Whitespace is kept as it is.
// Duplicate keys are kept in order; what they mean is the program's choice.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mtop/export.hpp"
#include "mtop/result.hpp"

namespace mtop {

/// One option: a key and, unless it is a bare flag, a value (possibly empty: "key=").
struct PluginOption {
  std::string key;
  std::optional<std::string> value;

  friend bool operator==(const PluginOption&, const PluginOption&) = default;
};

/// Parses `text` by the rules above. Errors: config_invalid with a message naming the option
/// by its position ("option 2: empty name", "option 3: '\' at the end"); the text itself is
/// not quoted (it may hold a password).
MTOP_CPP_API Result<std::vector<PluginOption>> parse_plugin_options(std::string_view text);

/// `options` written back as text that parse_plugin_options() reads back to the same list
/// (every ';', '=' and '\' escaped).
MTOP_CPP_API std::string format_plugin_options(const std::vector<PluginOption>& options);

}  // namespace mtop
