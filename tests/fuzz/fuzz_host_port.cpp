// Fuzz target for the one host:port parser (include/mtop/host_port.hpp).
//
// Input layout: byte 0 = options (0x01 a default port of 443, 0x02 port 0 allowed, 0x04 no
// zones), the rest = the text. Invariants, any violation aborts:
// - an accepted text gives a non-empty host, and a port that is not 0 unless port 0 is
//   allowed (or it is the default port, which is never 0 here);
// - the host never carries brackets, and a '%' zone only when zones are allowed;
// - HostPort::to_string() reads back to the same value under the same options;
// - the options only relax: what the strict parse accepts, every relaxed parse accepts with
//   the same result; what a relaxed parse refuses, the strict parse refuses too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mtop/host_port.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

mtop::HostPortOptions options_of(std::uint8_t flags) {
  mtop::HostPortOptions o;
  if (flags & 0x01) o.default_port = 443;
  o.port_zero = (flags & 0x02) != 0;
  o.zone = (flags & 0x04) == 0;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const mtop::HostPortOptions options = options_of(data[0]);
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto parsed = mtop::parse_host_port(text, options);

  const mtop::HostPortOptions strict = options_of(0x04);
  const mtop::HostPortOptions relaxed = options_of(0x03);
  auto strict_parse = mtop::parse_host_port(text, strict);
  auto relaxed_parse = mtop::parse_host_port(text, relaxed);
  if (strict_parse) {
    check(parsed && *parsed == *strict_parse);
    check(relaxed_parse && *relaxed_parse == *strict_parse);
  }
  if (!relaxed_parse) check(!parsed);

  if (!parsed) {
    check(!parsed.message().empty());
    return 0;
  }
  const mtop::HostPort& hp = *parsed;
  check(!hp.host.empty());
  check(hp.port != 0 || options.port_zero);
  check(hp.host.find_first_of("[]") == std::string::npos);
  check(options.zone || hp.host.find('%') == std::string::npos);
  auto again = mtop::parse_host_port(hp.to_string(), options);
  check(again && *again == hp);
  return 0;
}
