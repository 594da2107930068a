// One parser for "host:port" as the programs' configs and the mtop:// URI write it (the
// mtop:// URI itself is parsed by mtop::parse_server_uri, include/mtop/climber.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mtop {

/// Splits "host:port", "[v6]:port" (and, with default_port != 0, a bare "host" or "[v6]").
/// The host comes back without brackets.
bool parse_host_port(std::string_view text, std::string& host, std::uint16_t& port,
                     std::uint16_t default_port = 0);

}  // namespace mtop
