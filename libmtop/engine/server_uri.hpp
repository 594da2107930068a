// The climber's way of naming a server in one string:
//
//   mtop://USER[:PASS]@HOST:PORT?transport=tls|quic|auto&sni=NAME&ca=FILE&pin=BASE64&insecure=1
//
// Without :PASS the password comes from elsewhere (climber: --password-file, MTOP_PASSWORD or
// the config file), which is the better habit: a command line is visible in `ps`.
// USER and PASS are percent-decoded (so ':' '@' '%' can appear in them as %3A %40 %25). HOST is
// a name, an IPv4 address or a bracketed IPv6 address; PORT defaults to 443. `sni` defaults to
// HOST; `ca` is a PEM file of trusted CAs (default: the system store); `pin` is the base64
// SHA-256 of the server's SubjectPublicKeyInfo; `insecure=1` turns verification off (loudly).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mtop {

enum class TransportKind { tls, quic, auto_select };

std::string_view transport_name(TransportKind t) noexcept;
bool parse_transport(std::string_view name, TransportKind& out) noexcept;

struct ServerEndpoint {
  std::string host;
  std::uint16_t port = 443;
  std::string username;
  std::string password;
  TransportKind transport = TransportKind::tls;
  std::string sni;      ///< empty: use host
  std::string ca_file;  ///< empty: system store
  std::string pin;      ///< empty: no pin
  bool insecure = false;

  /// The name the certificate is checked against.
  const std::string& server_name() const { return sni.empty() ? host : sni; }
};

/// Parses an mtop:// URI. On failure returns false and sets `error` to a message that never
/// contains the password.
bool parse_server_uri(std::string_view uri, ServerEndpoint& out, std::string& error);

/// Splits "host:port", "[v6]:port" (and, with default_port != 0, a bare "host" or "[v6]").
/// The host comes back without brackets.
bool parse_host_port(std::string_view text, std::string& host, std::uint16_t& port,
                     std::uint16_t default_port = 0);

}  // namespace mtop
