// What a climber engine can be told; apps/climber fills it from flags and the JSON config.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mtop {

/// -L [bind:]port:host:hostport — every connection to bind:port is tunnelled to host:hostport.
struct ForwardRule {
  std::string bind_host = "127.0.0.1";
  std::uint16_t bind_port = 0;
  std::string target_host;
  std::uint16_t target_port = 0;
};

/// Parses "[bind:]port:host:hostport" (IPv6 hosts in brackets). False with `error` if malformed.
bool parse_forward_rule(std::string_view spec, ForwardRule& out, std::string& error);

struct ClimberOptions {
  std::string socks_listen;  ///< "host:port" for SOCKS5; empty = none
  std::string http_listen;   ///< "host:port" for the HTTP proxy; the same as socks_listen = one
                             ///< port serving both (told apart by the first byte)
  std::vector<ForwardRule> forwards;
  std::string local_username;  ///< local proxy auth (SOCKS5 RFC 1929, HTTP 407); empty = none
  std::string local_password;

  std::uint64_t handshake_timeout_ms = 10'000;  ///< local request head + tunnel set-up
  std::uint64_t idle_timeout_ms = 300'000;
  std::size_t max_pending = 256 * 1024;         ///< relay back-pressure bound per direction
  std::size_t early_data_limit = 16 * 1024;     ///< app bytes sent along with the auth message
  std::size_t max_connections = 10'000;         ///< local connections at once; more are refused
};

}  // namespace mtop
