// What the application tells the TLS layer: files and verification choices. Plain values,
// no OpenSSL types, so apps and config loaders can fill them without including OpenSSL.
#pragma once

#include <string>
#include <vector>

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
};

/// Client side.
struct TlsClientConfig {
  /// PEM file of trusted CA certificates; empty = the system trust store.
  std::string ca_file;
  /// The name sent as SNI and checked against the certificate. An IP literal is not sent as
  /// SNI (RFC 6066) and is checked against the certificate's IP SANs. Empty = the dialer uses
  /// the host it connects to.
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

}  // namespace mtop::tls
