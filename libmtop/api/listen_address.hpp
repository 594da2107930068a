// The listen addresses of a ServerConfig: "host:port" / "[v6]:port", where port 0 asks the OS
// for a free port (Server::listening() tells which). The one host:port parser of the engine
// (parse_host_port) takes ports 1-65535, right for every address we connect to; only a
// listening address may say 0, so that case is handled here around it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/server_uri.hpp"

namespace mtop {

/// Splits a listen address; false if it is not "host:port" / "[v6]:port" (port 0-65535).
inline bool parse_listen_address(std::string_view text, std::string& host, std::uint16_t& port) {
  if (text.size() > 2 && text.substr(text.size() - 2) == ":0") {
    std::string any(text.substr(0, text.size() - 1));
    any += '1';
    if (!parse_host_port(any, host, port)) return false;
    port = 0;
    return true;
  }
  return parse_host_port(text, host, port);
}

}  // namespace mtop
