// host:port text, the one parser for it: listen addresses and servers in the config files and
// on the command line, the host part of mtop:// and mysql:// URIs, -L forward rules, the
// authority of HTTP proxy requests and the peer names of streams all go through
// parse_host_port(). Pure text in, {host, port} out; nothing is resolved.
//
// The rules, the same for every caller (the options only relax what a caller needs):
// - "HOST:PORT", with an IPv6 literal in brackets: "[2001:db8::1]:443". A bare IPv6 literal
//   ("::1:80") is refused: which colon starts the port would be a guess.
// - Inside brackets only an IPv6 literal (RFC 4291 text), with a zone ("%eth0", "%2") unless
//   HostPortOptions::zone says no. "[example.com]:80" and "[1.2.3.4]:80" are refused.
// - Outside brackets the host is a name mtop::is_valid_domain() accepts; dotted-quad IPv4
//   literals are such names. Nothing after the port, nothing between ']' and ':'.
// - PORT is decimal digits only (leading zeros allowed: "0080" is 80), 1-65535; 0 only with
//   HostPortOptions::port_zero (a listen address: the OS picks the port).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mtop/export.hpp"
#include "mtop/result.hpp"

namespace mtop {

/// A host and a port as text writes them.
struct MTOP_CPP_API HostPort {
  std::string host;  ///< a name, an IPv4 literal, or an IPv6 literal without brackets
  std::uint16_t port = 0;

  /// "host:port", with brackets around an IPv6 host: parse_host_port() reads it back.
  std::string to_string() const;

  friend bool operator==(const HostPort&, const HostPort&) = default;
};

/// What a caller accepts beyond the strict form.
struct HostPortOptions {
  std::uint16_t default_port = 0;  ///< not 0: "HOST" and "[v6]" alone mean this port
  bool port_zero = false;          ///< accept port 0 (listen addresses)
  bool zone = true;                ///< accept "[fe80::1%eth0]" (not in HTTP request targets)
};

/// A listen address: port 0 asks the OS for a free port.
inline constexpr HostPortOptions kListenAddress{.port_zero = true};

/// Parses `text` by the rules above. Errors: invalid_argument with a message that says which
/// rule was broken ("port must be 1-65535", "an IPv6 address needs brackets", ...); the text
/// itself is not quoted, so the caller can name it as it likes.
MTOP_CPP_API Result<HostPort> parse_host_port(std::string_view text,
                                              const HostPortOptions& options = {});

/// A port by the rule above (decimal digits, 1-65535; 0 too with `zero_ok`). Errors:
/// invalid_argument ("port must be 1-65535" or "port must be 0-65535").
MTOP_CPP_API Result<std::uint16_t> parse_port(std::string_view text, bool zero_ok = false);

/// A strict dotted quad (four decimal parts 0-255, no leading zeros), network order.
MTOP_CPP_API std::optional<std::array<std::uint8_t, 4>> parse_ipv4(std::string_view text) noexcept;

/// RFC 4291 section 2.2 text: eight hex groups, at most one "::", optionally a dotted quad
/// in place of the last two groups. No zone, no brackets. Network order.
MTOP_CPP_API std::optional<std::array<std::uint8_t, 16>> parse_ipv6(std::string_view text) noexcept;

}  // namespace mtop
