// What the application tells the TLS layers: files and the server-certificate policy. Plain
// values, no OpenSSL or GnuTLS types, so apps and config loaders can fill them without either.
//
// TlsClientConfig is the one description of how a client checks a server, for both backends:
// OpenSSL (TLS over TCP, tls/context.cpp + tls/engine.cpp) and GnuTLS (QUIC, quic/tls.cpp).
// The backend-neutral parts of that check (the pin's syntax and comparison, "is the name an IP
// literal", "a name is needed unless insecure") live here once; each backend only asks its
// library for the chain-and-name verdict and the SHA-256 of the leaf's SubjectPublicKeyInfo.
// tests/unit/engine/test_server_cert_checks.cpp runs one table of certificates against both
// and requires the same verdict from each.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mtop/base64.hpp"
#include "mtop/bytes.hpp"
#include "mtop/result.hpp"
#include "mtop/tls_groups.hpp"

namespace mtop::tls {

/// Server side: the certificate chain (leaf first, PEM) and its private key (PEM, not
/// encrypted: the server never prompts for a passphrase).
struct TlsServerConfig {
  std::string cert_chain_file;
  std::string key_file;
  /// Key-exchange groups accepted, in the server's order of preference; a client offering
  /// none of them is refused with a handshake_failure alert.
  std::vector<TlsGroup> groups = default_tls_groups();
  /// ALPN protocols offered, in the server's order of preference (each 1-255 bytes); a client
  /// offering none of them gets no ALPN (the handshake goes on). Empty: ALPN is ignored.
  std::vector<std::string> alpn{};
};

/// Client side: the server-certificate policy.
struct TlsClientConfig {
  /// PEM file of trusted CA certificates; empty = the system trust store.
  std::string ca_file;
  /// The name sent as SNI and checked against the certificate. An IP literal is not sent as
  /// SNI (RFC 6066) and is checked against the certificate's IP SANs only. Empty = the dialer
  /// uses the host it connects to.
  std::string server_name;
  /// Optional "pin-sha256": base64 of SHA-256 over the server certificate's DER
  /// SubjectPublicKeyInfo. Checked in addition to normal verification, and still checked when
  /// `insecure` is set (a pin alone is a sound way to trust a self-signed server).
  std::string spki_pin;
  /// No chain or name verification at all. The library obeys; warning the user is the app's job.
  bool insecure = false;
  /// Key-exchange groups offered; the client sends a key share for the first.
  std::vector<TlsGroup> groups = default_tls_groups();
};

/// A decoded pin: SHA-256 of a DER SubjectPublicKeyInfo.
using SpkiPin = std::array<std::uint8_t, 32>;

/// What a refused pin is called in both backends' error text.
inline constexpr std::string_view kPinMismatch = "server key pin mismatch";

/// Decodes TlsClientConfig::spki_pin: empty = no pin (nullopt); otherwise canonical base64 of
/// exactly 32 bytes. Errors: config_invalid ("spki_pin: not base64 of 32 bytes ...").
inline Result<std::optional<SpkiPin>> parse_spki_pin(std::string_view text) {
  if (text.empty()) return std::optional<SpkiPin>();
  std::optional<std::string> raw = base64_decode(text);
  if (!raw || raw->size() != SpkiPin().size()) {
    return Failure{Errc::config_invalid, "spki_pin: not base64 of 32 bytes (a pin-sha256 value)"};
  }
  SpkiPin pin{};
  for (std::size_t i = 0; i < pin.size(); ++i) pin[i] = static_cast<std::uint8_t>((*raw)[i]);
  return std::optional<SpkiPin>(pin);
}

/// True when there is no pin, or `spki_sha256` (the server's) equals it. Compares every byte
/// whatever the first difference (no early exit).
inline bool pin_matches(const std::optional<SpkiPin>& pin, ByteView spki_sha256) noexcept {
  if (!pin) return true;
  if (spki_sha256.size() != pin->size()) return false;
  unsigned diff = 0;
  for (std::size_t i = 0; i < pin->size(); ++i) diff |= (*pin)[i] ^ spki_sha256[i];
  return diff == 0;
}

/// True for an IPv4 or IPv6 literal (no brackets): not sent as SNI, matched against IP SANs.
inline bool is_ip_literal(const std::string& host) noexcept {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

/// A connection needs a name to check the certificate against unless the policy is insecure.
/// Errors: config_invalid.
inline Result<void> check_server_name(const TlsClientConfig& config, const std::string& name) {
  if (!config.insecure && name.empty()) {
    return Failure{Errc::config_invalid, "no server name to verify the certificate against"};
  }
  return {};
}

}  // namespace mtop::tls
