// TLS 1.3 for QUIC through GnuTLS and ngtcp2_crypto_gnutls: credentials for each side, one
// GnuTLS session per connection, and the client's check of the server.
//
// The client applies the policy of tls/config.hpp (TlsClientConfig: CA file or system store,
// name, SPKI pin, insecure), the same description the OpenSSL side reads. GnuTLS verifies
// nothing on its own in a QUIC handshake: the client installs a verify function that checks
// the chain against the trust store, the server name and the TLS server purpose (unless
// `insecure`), then the optional SPKI pin. A refusal aborts the handshake and leaves a
// log-safe reason in TlsSessionContext::verify_error.
#pragma once

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mtop/bytes.hpp"
#include "mtop/result.hpp"
#include "mtop/tls_groups.hpp"
#include "quic/handles.hpp"
#include "tls/config.hpp"

namespace mtop::quic {

/// Per-connection data the GnuTLS session points at (gnutls_session_set_ptr(&ref)), as
/// ngtcp2_crypto_gnutls expects. Must outlive the session.
struct TlsSessionContext {
  ngtcp2_crypto_conn_ref ref{};  ///< ref.user_data == this; ref.get_conn returns `conn`
  ngtcp2_conn* conn = nullptr;   ///< set once the ngtcp2 connection exists
  // Client side only:
  std::string verify_name;          ///< name the certificate must carry (empty with insecure)
  std::optional<tls::SpkiPin> pin;  ///< SHA-256 of the DER SubjectPublicKeyInfo, if pinned
  bool insecure = false;            ///< skip chain and name checks (the pin is still checked)
  std::string verify_error;         ///< why the server was refused (empty if it was not)
  /// Called with serialized session data (gnutls_session_get_data2) when a ticket arrives.
  std::function<void(ByteView)> on_ticket;

  TlsSessionContext();
  TlsSessionContext(const TlsSessionContext&) = delete;
  TlsSessionContext& operator=(const TlsSessionContext&) = delete;
};

class ClientTlsContext {
 public:
  /// Decodes the pin and loads the trust store; sessions offer the one ALPN `alpn` ("h3", or
  /// "mtop/1" for an old server). Errors: config_invalid (a malformed pin, no server name
  /// without `insecure`, an empty ALPN), tls_setup_failed (unreadable or empty CA file...).
  static Result<std::unique_ptr<ClientTlsContext>> create(const tls::TlsClientConfig& options,
                                                          std::string alpn);
  /// A client session for one connection attempt: TLS 1.3 only, the ALPN mandatory,
  /// SNI, the verify function, and `resume` (from on_ticket) for resumption if non-empty.
  /// `ctx` must outlive the session. Errors: system_error (GnuTLS refused a setting).
  Result<SessionPtr> new_session(TlsSessionContext& ctx, ByteView resume) const;

 private:
  ClientTlsContext() = default;
  tls::TlsClientConfig options_;
  std::optional<tls::SpkiPin> pin_;
  std::string priority_;  ///< gnutls_priority(options_.groups)
  std::vector<std::string> alpn_;
  CredentialsPtr cred_;
};

class ServerTlsContext {
 public:
  /// Loads the certificate and key; sessions offer `options.alpn` (mandatory: a client offering
  /// none of them fails the handshake). `ticket_key` (64 bytes) and the certificate make the key
  /// that encrypts session tickets: the same key and certificate across restarts and reloads
  /// let clients resume, another certificate invalidates the tickets of the old one. Errors:
  /// tls_setup_failed (certificate or key unusable), invalid_argument (ticket key size),
  /// config_invalid (no ALPN), no_memory.
  static Result<std::unique_ptr<ServerTlsContext>> create(const tls::TlsServerConfig& options,
                                                          ByteView ticket_key);
  ~ServerTlsContext();
  /// A server session for one connection (the ALPN list mandatory, tickets sent by us after
  /// the handshake). `ctx` must outlive the session. Errors: system_error.
  Result<SessionPtr> new_session(TlsSessionContext& ctx) const;

 private:
  ServerTlsContext() = default;
  std::string priority_;  ///< gnutls_priority(options.groups)
  std::vector<std::string> alpn_;
  CredentialsPtr cred_;
  gnutls_datum_t ticket_key_{};  // gnutls_malloc'ed copy
};

/// The GnuTLS priority string both sides use: TLS 1.3 only, AES-128-GCM first, no middlebox
/// compatibility mode (RFC 9001 8.4), and only `groups` for the key exchange (the create()
/// functions refuse an empty list).
std::string gnutls_priority(const std::vector<TlsGroup>& groups);

/// Base64 SHA-256 of the SubjectPublicKeyInfo of the first certificate in a PEM file (the
/// value TlsClientConfig::spki_pin expects). Errors: tls_setup_failed (unreadable, not PEM).
Result<std::string> spki_pin_of_pem_file(const std::string& path);

/// SHA-256 of the SubjectPublicKeyInfo of one DER certificate. Errors: tls_setup_failed.
Result<tls::SpkiPin> spki_sha256_of_der(const gnutls_datum_t& der);

}  // namespace mtop::quic
