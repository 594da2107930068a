// Fuzz target for the SIP003 plugin-options parser (include/mtop/plugin_options.hpp).
// Invariants, any violation aborts:
// - an error has a message; an accepted text gives options with non-empty keys;
// - format_plugin_options() of the result parses back to the same list.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mtop/plugin_options.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = mtop::parse_plugin_options(text);
  if (!parsed) {
    if (parsed.message().empty()) std::abort();
    return 0;
  }
  for (const auto& o : *parsed) {
    if (o.key.empty()) std::abort();
  }
  auto again = mtop::parse_plugin_options(mtop::format_plugin_options(*parsed));
  if (!again || *again != *parsed) std::abort();
  return 0;
}
