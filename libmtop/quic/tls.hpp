// TLS 1.3 for QUIC through GnuTLS and ngtcp2_crypto_gnutls: credentials for each side, one
// GnuTLS session per connection, and the client's check of the server (chain, name, pin).
//
// GnuTLS verifies nothing on its own in a QUIC handshake: the client installs a verify
// function that checks the chain against the trust store and the server name (unless
// `insecure`), then the optional SPKI pin. A refusal aborts the handshake and leaves a
// log-safe reason in TlsSessionContext::verify_error.
#pragma once

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mtop/bytes.hpp"
#include "mtop/tls_groups.hpp"
#include "quic/handles.hpp"

namespace mtop::quic {

/// Per-connection data the GnuTLS session points at (gnutls_session_set_ptr(&ref)), as
/// ngtcp2_crypto_gnutls expects. Must outlive the session.
struct TlsSessionContext {
  ngtcp2_crypto_conn_ref ref{};   ///< ref.user_data == this; ref.get_conn returns `conn`
  ngtcp2_conn* conn = nullptr;    ///< set once the ngtcp2 connection exists
  // Client side only:
  std::string verify_name;  ///< name the certificate must carry (empty with insecure)
  std::string spki_pin;     ///< base64 SHA-256 of the DER SubjectPublicKeyInfo, or empty
  bool insecure = false;    ///< skip chain and name checks (the pin is still checked)
  std::string verify_error;  ///< why the server was refused (empty if it was not)
  /// Called with serialized session data (gnutls_session_get_data2) when a ticket arrives.
  std::function<void(ByteView)> on_ticket;

  TlsSessionContext();
  TlsSessionContext(const TlsSessionContext&) = delete;
  TlsSessionContext& operator=(const TlsSessionContext&) = delete;
};

struct ClientTlsOptions {
  std::string server_name;  ///< SNI (not sent for IP literals) and name to verify
  std::string ca_file;      ///< PEM CA bundle; empty = the system trust store
  std::string spki_pin;     ///< optional pin, base64 SHA-256 of the DER SPKI
  bool insecure = false;    ///< accept any chain and name (testing only)
  std::vector<TlsGroup> groups = default_tls_groups();  ///< key-exchange groups offered
};

class ClientTlsContext {
 public:
  /// Loads the trust store. Null with `error` set on failure (unreadable CA file...).
  static std::unique_ptr<ClientTlsContext> create(const ClientTlsOptions& options,
                                                  std::string& error);
  /// A client session for one connection attempt: TLS 1.3 only, ALPN "mtop/1" mandatory,
  /// SNI, the verify function, and `resume` (from on_ticket) for resumption if non-empty.
  /// `ctx` must outlive the session. Null with `error` set on failure.
  SessionPtr new_session(TlsSessionContext& ctx, ByteView resume, std::string& error) const;

 private:
  ClientTlsContext() = default;
  ClientTlsOptions options_;
  std::string priority_;
  CredentialsPtr cred_;
};

struct ServerTlsOptions {
  std::string cert_file;  ///< PEM certificate chain
  std::string key_file;   ///< PEM private key
  std::vector<TlsGroup> groups = default_tls_groups();  ///< key-exchange groups accepted
};

class ServerTlsContext {
 public:
  /// Loads the certificate and key. `ticket_key` (64 bytes) encrypts session tickets; the same
  /// key across restarts lets clients resume. Null with `error` set on failure.
  static std::unique_ptr<ServerTlsContext> create(const ServerTlsOptions& options,
                                                  ByteView ticket_key, std::string& error);
  ~ServerTlsContext();
  /// A server session for one connection (ALPN "mtop/1" mandatory, tickets sent by us after
  /// the handshake). `ctx` must outlive the session.
  SessionPtr new_session(TlsSessionContext& ctx, std::string& error) const;

 private:
  ServerTlsContext() = default;
  std::string priority_;
  CredentialsPtr cred_;
  gnutls_datum_t ticket_key_{};  // gnutls_malloc'ed copy
};

/// The GnuTLS priority string both sides use: TLS 1.3 only, AES-128-GCM first, no middlebox
/// compatibility mode (RFC 9001 8.4), and only `groups` for the key exchange (the create()
/// functions refuse an empty list).
std::string gnutls_priority(const std::vector<TlsGroup>& groups);

/// Base64 SHA-256 of the SubjectPublicKeyInfo of the first certificate in a PEM file (the
/// value ClientTlsOptions::spki_pin expects). Empty with `error` set on failure.
std::string spki_pin_of_pem_file(const std::string& path, std::string& error);

/// The same for one DER certificate.
std::string spki_pin_of_der(const gnutls_datum_t& der, std::string& error);

}  // namespace mtop::quic
