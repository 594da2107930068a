// Socket addresses: printing them for logs, and IP literals into them. (host:port text is
// parsed by mtop::parse_host_port, mtop/host_port.hpp.)
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

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

}  // namespace mtop::io
