// Socket addresses: printing them for logs and parsing the address forms we accept in config.
#pragma once

#include <uv.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mtop::io {

/// "1.2.3.4:80" or "[2001:db8::1]:443" for an AF_INET / AF_INET6 address; "?" for anything
/// else (or a null pointer).
std::string sockaddr_to_string(const struct sockaddr* addr);

/// The port of an AF_INET / AF_INET6 address (host order); 0 for anything else.
std::uint16_t sockaddr_port(const struct sockaddr* addr) noexcept;

/// Fills `out` from an IP literal ("127.0.0.1", "::1", "fe80::1%eth0"; no brackets) and a
/// port. Returns false (leaving `out` unspecified) when `host` is not an IP literal.
bool ip_literal_to_sockaddr(const std::string& host, std::uint16_t port,
                            struct sockaddr_storage* out) noexcept;

/// A host and a port as written in a config or on a command line.
struct HostPort {
  std::string host;  ///< a name, an IPv4 literal or an IPv6 literal (without brackets)
  std::uint16_t port = 0;
  friend bool operator==(const HostPort&, const HostPort&) = default;
};

/// Parses "host:port", "1.2.3.4:port" or "[v6]:port". The port must be 1-65535 in decimal;
/// the host must be non-empty without spaces, control bytes, '[', ']' or '/', and an IPv6 literal must be in brackets (a bare "::1:80" is
/// ambiguous). Returns nullopt for anything else.
std::optional<HostPort> parse_host_port(std::string_view text);

}  // namespace mtop::io
