#include "quic/tls.hpp"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <cstring>
#include <vector>

#include "mtop/base64.hpp"
#include "quic/app_error.hpp"

namespace mtop::quic {
namespace {

// GnuTLS's keyword for each group.
std::string_view gnutls_group(TlsGroup g) {
  switch (g) {
    case TlsGroup::x25519:
      return "GROUP-X25519";
    case TlsGroup::p256:
      return "GROUP-SECP256R1";
    case TlsGroup::p384:
      return "GROUP-SECP384R1";
    case TlsGroup::p521:
      return "GROUP-SECP521R1";
    case TlsGroup::x448:
      return "GROUP-X448";
  }
  return "GROUP-X25519";
}

Failure gtls_failure(Errc code, const std::string& what, int rv) {
  return Failure{code, what + ": " + gnutls_strerror(rv)};
}

TlsSessionContext* context_of(gnutls_session_t s) {
  auto* ref = static_cast<ngtcp2_crypto_conn_ref*>(gnutls_session_get_ptr(s));
  return ref ? static_cast<TlsSessionContext*>(ref->user_data) : nullptr;
}

// Chain, name and purpose, as OpenSSL checks them on the TCP side: the name as a DNS name
// (RFC 6125) or, for an IP literal, against the IP SANs only; the leaf must be fit for a TLS
// server (Extended Key Usage serverAuth when it has the extension).
int verify_chain_and_name(gnutls_session_t s, TlsSessionContext& ctx) {
  std::string purpose = GNUTLS_KP_TLS_WWW_SERVER;
  gnutls_typed_vdata_st data[2]{};
  data[0].type = GNUTLS_DT_DNS_HOSTNAME;
  data[0].data = reinterpret_cast<unsigned char*>(ctx.verify_name.data());
  data[1].type = GNUTLS_DT_KEY_PURPOSE_OID;
  data[1].data = reinterpret_cast<unsigned char*>(purpose.data());
  unsigned status = 0;
  int rv = gnutls_certificate_verify_peers(s, data, 2, &status);
  if (rv < 0) {
    ctx.verify_error = std::string("certificate check failed: ") + gnutls_strerror(rv);
    return GNUTLS_E_CERTIFICATE_ERROR;
  }
  if (status == 0) return 0;
  gnutls_datum_t text{};
  std::string why = "untrusted";
  if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
    why.assign(reinterpret_cast<const char*>(text.data), text.size);
    gnutls_free(text.data);
    while (!why.empty() && (why.back() == ' ' || why.back() == '\0')) why.pop_back();
  }
  ctx.verify_error = "server certificate rejected: " + why;
  return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
}

// The client's whole check of the server, run by GnuTLS once the certificate has arrived.
int verify_server(gnutls_session_t s) {
  TlsSessionContext* ctx = context_of(s);
  if (!ctx) return GNUTLS_E_CERTIFICATE_ERROR;
  if (!ctx->insecure) {
    if (int rv = verify_chain_and_name(s, *ctx); rv != 0) return rv;
  }
  if (ctx->pin) {
    unsigned n = 0;
    const gnutls_datum_t* chain = gnutls_certificate_get_peers(s, &n);
    if (!chain || n == 0) {
      ctx->verify_error = "server sent no certificate";
      return GNUTLS_E_CERTIFICATE_ERROR;
    }
    auto digest = spki_sha256_of_der(chain[0]);
    if (!digest) {
      ctx->verify_error = "cannot compute the server's key pin: " + std::string(digest.message());
      return GNUTLS_E_CERTIFICATE_ERROR;
    }
    if (!tls::pin_matches(ctx->pin, *digest)) {
      ctx->verify_error = std::string(tls::kPinMismatch) + " (got " + base64_encode(*digest) + ")";
      return GNUTLS_E_CERTIFICATE_ERROR;
    }
  }
  return 0;
}

// Hands the serialized session (ticket + secrets) to the client when a ticket arrives.
int ticket_hook(gnutls_session_t s, unsigned htype, unsigned /*when*/, unsigned /*incoming*/,
                const gnutls_datum_t* /*msg*/) {
  if (htype != GNUTLS_HANDSHAKE_NEW_SESSION_TICKET) return 0;
  TlsSessionContext* ctx = context_of(s);
  if (!ctx || !ctx->on_ticket) return 0;
  gnutls_datum_t data{};
  if (gnutls_session_get_data2(s, &data) != 0) return 0;  // no resumption, not fatal
  ctx->on_ticket(ByteView(data.data, data.size));
  gnutls_free(data.data);
  return 0;
}

ngtcp2_conn* get_conn(ngtcp2_crypto_conn_ref* ref) {
  return static_cast<TlsSessionContext*>(ref->user_data)->conn;
}

}  // namespace

std::string gnutls_priority(const std::vector<TlsGroup>& groups) {
  // TLS 1.3 only (QUIC needs it); AES-128-GCM first because GnuTLS's ChaCha20 is several times
  // slower here; NORMAL's groups include ffdhe2048-8192, so the list is replaced whole; no
  // middlebox compatibility mode (RFC 9001 8.4).
  std::string p =
      "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
      "+CHACHA20-POLY1305:-GROUP-ALL";
  for (TlsGroup g : groups) p.append(":+").append(gnutls_group(g));
  return p + ":%DISABLE_TLS13_COMPAT_MODE";
}

TlsSessionContext::TlsSessionContext() {
  ref.get_conn = get_conn;
  ref.user_data = this;
}

namespace {

// What every session shares, client or server: the priorities (gnutls_priority), ngtcp2's QUIC
// hooks for the side (`configure`), the credentials, mandatory ALPN (`alpn`, in order of
// preference), and the pointer ngtcp2_crypto_gnutls reads (`ctx`, which must outlive the session).
Result<SessionPtr> new_quic_session(unsigned side_flags, int (*configure)(gnutls_session_t),
                                    gnutls_certificate_credentials_t cred,
                                    const std::string& priority,
                                    const std::vector<std::string>& alpn, TlsSessionContext& ctx) {
  gnutls_session_t raw = nullptr;
  if (int rv = gnutls_init(&raw, side_flags | GNUTLS_NO_END_OF_EARLY_DATA); rv < 0) {
    return gtls_failure(Errc::system_error, "gnutls_init", rv);
  }
  SessionPtr s(raw);
  if (int rv = gnutls_priority_set_direct(raw, priority.c_str(), nullptr); rv < 0) {
    return gtls_failure(Errc::system_error, "priority", rv);
  }
  if (configure(raw) != 0) {
    return Failure{Errc::system_error, "ngtcp2_crypto_gnutls cannot configure the session"};
  }
  if (int rv = gnutls_credentials_set(raw, GNUTLS_CRD_CERTIFICATE, cred); rv < 0) {
    return gtls_failure(Errc::system_error, "credentials", rv);
  }
  std::vector<gnutls_datum_t> protocols;
  for (const std::string& p : alpn) {
    protocols.push_back(
        gnutls_datum_t{reinterpret_cast<unsigned char*>(const_cast<char*>(p.data())),
                       static_cast<unsigned>(p.size())});
  }
  if (int rv = gnutls_alpn_set_protocols(
          raw, protocols.data(), static_cast<unsigned>(protocols.size()), GNUTLS_ALPN_MANDATORY);
      rv < 0) {
    return gtls_failure(Errc::system_error, "alpn", rv);
  }
  gnutls_session_set_ptr(raw, &ctx.ref);
  return s;
}

Result<CredentialsPtr> new_credentials() {
  gnutls_certificate_credentials_t raw = nullptr;
  if (int rv = gnutls_certificate_allocate_credentials(&raw); rv < 0) {
    return gtls_failure(Errc::no_memory, "credentials", rv);
  }
  return CredentialsPtr(raw);
}

}  // namespace

// The policy of tls/config.hpp on GnuTLS: pin and name checked here, the trust store loaded
// here, chain, name and pin verified per handshake by verify_server().
Result<std::unique_ptr<ClientTlsContext>> ClientTlsContext::create(
    const tls::TlsClientConfig& options, std::string alpn) {
  if (alpn.empty() || alpn.size() > 255) {
    return Failure{Errc::config_invalid, "quic: ALPN must be 1 to 255 bytes"};
  }
  auto pin = tls::parse_spki_pin(options.spki_pin);
  if (!pin) return pin.failure();
  if (auto r = tls::check_server_name(options, options.server_name); !r) return r.failure();
  if (options.groups.empty()) return Failure{Errc::config_invalid, "no key-exchange group"};
  auto cred = new_credentials();
  if (!cred) return cred.failure();
  std::unique_ptr<ClientTlsContext> c(new ClientTlsContext());
  c->cred_ = std::move(*cred);
  c->priority_ = gnutls_priority(options.groups);
  c->options_ = options;
  c->pin_ = *pin;
  c->alpn_ = {std::move(alpn)};
  if (!options.insecure) {
    gnutls_certificate_credentials_t raw = c->cred_.get();
    int rv = options.ca_file.empty() ? gnutls_certificate_set_x509_system_trust(raw)
                                     : gnutls_certificate_set_x509_trust_file(
                                           raw, options.ca_file.c_str(), GNUTLS_X509_FMT_PEM);
    if (rv < 0) {
      return gtls_failure(Errc::tls_setup_failed,
                          options.ca_file.empty() ? "system trust store" : "CA file", rv);
    }
    if (rv == 0) {
      return Failure{Errc::tls_setup_failed,
                     options.ca_file.empty() ? "system trust store is empty"
                                             : "CA file holds no certificate: " + options.ca_file};
    }
  }
  return c;
}

Result<SessionPtr> ClientTlsContext::new_session(TlsSessionContext& ctx, ByteView resume) const {
  auto s = new_quic_session(GNUTLS_CLIENT, ngtcp2_crypto_gnutls_configure_client_session,
                            cred_.get(), priority_, alpn_, ctx);
  if (!s) return s;
  gnutls_session_t raw = s->get();
  gnutls_handshake_set_hook_function(raw, GNUTLS_HANDSHAKE_NEW_SESSION_TICKET, GNUTLS_HOOK_POST,
                                     ticket_hook);
  if (!resume.empty()) {
    // A stale or foreign ticket only costs a full handshake, so a failure here is ignored.
    (void)gnutls_session_set_data(raw, resume.data(), resume.size());
  }
  const std::string& name = options_.server_name;
  if (!name.empty() && !tls::is_ip_literal(name)) {
    if (int rv = gnutls_server_name_set(raw, GNUTLS_NAME_DNS, name.data(), name.size()); rv < 0) {
      return gtls_failure(Errc::system_error, "server name", rv);
    }
  }
  ctx.verify_name = options_.insecure ? std::string() : name;
  ctx.pin = pin_;
  ctx.insecure = options_.insecure;
  ctx.verify_error.clear();
  gnutls_session_set_verify_function(raw, verify_server);
  return s;
}

Result<std::unique_ptr<ServerTlsContext>> ServerTlsContext::create(
    const tls::TlsServerConfig& options, ByteView ticket_key) {
  if (ticket_key.size() != 64) {
    return Failure{Errc::invalid_argument, "session ticket key must be 64 bytes"};
  }
  if (options.groups.empty()) return Failure{Errc::config_invalid, "no key-exchange group"};
  if (options.alpn.empty()) return Failure{Errc::config_invalid, "quic: no ALPN to offer"};
  auto cred = new_credentials();
  if (!cred) return cred.failure();
  std::unique_ptr<ServerTlsContext> c(new ServerTlsContext());
  c->alpn_ = options.alpn;
  c->cred_ = std::move(*cred);
  c->priority_ = gnutls_priority(options.groups);
  if (int rv = gnutls_certificate_set_x509_key_file(c->cred_.get(), options.cert_chain_file.c_str(),
                                                    options.key_file.c_str(), GNUTLS_X509_FMT_PEM);
      rv < 0) {
    return gtls_failure(Errc::tls_setup_failed, "certificate/key", rv);
  }
  // The tickets of this context are encrypted under the server's key bound to the certificate
  // it serves: SHA-512(ticket_key || certificate DER). A ticket resumes the session it was made
  // in without the certificate being sent again, so after a reload to another certificate
  // (renewed, or replaced after a compromise) a ticket of the old one must not resume: it no
  // longer decrypts, and the client gets a full handshake with the new certificate. The same
  // certificate read again (restart, cert watch) keeps its tickets good.
  gnutls_datum_t der{};
  if (int rv = gnutls_certificate_get_crt_raw(c->cred_.get(), 0, 0, &der); rv < 0) {
    return gtls_failure(Errc::tls_setup_failed, "certificate", rv);
  }
  std::vector<unsigned char> in(ticket_key.begin(), ticket_key.end());
  in.insert(in.end(), der.data, der.data + der.size);
  constexpr std::size_t kKeySize = 64;  // SHA-512: what gnutls_session_ticket_enable_server takes
  c->ticket_key_.data = static_cast<unsigned char*>(gnutls_malloc(kKeySize));
  if (!c->ticket_key_.data) return Failure{Errc::no_memory, "out of memory"};
  c->ticket_key_.size = static_cast<unsigned>(kKeySize);
  const int hashed = gnutls_hash_fast(GNUTLS_DIG_SHA512, in.data(), in.size(), c->ticket_key_.data);
  gnutls_memset(in.data(), 0, in.size());
  if (hashed < 0) return gtls_failure(Errc::tls_setup_failed, "session ticket key", hashed);
  return c;
}

ServerTlsContext::~ServerTlsContext() {
  if (ticket_key_.data) {
    gnutls_memset(ticket_key_.data, 0, ticket_key_.size);
    gnutls_free(ticket_key_.data);
  }
}

Result<SessionPtr> ServerTlsContext::new_session(TlsSessionContext& ctx) const {
  auto s = new_quic_session(GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET,
                            ngtcp2_crypto_gnutls_configure_server_session, cred_.get(), priority_,
                            alpn_, ctx);
  if (!s) return s;
  if (int rv = gnutls_session_ticket_enable_server(s->get(), &ticket_key_); rv < 0) {
    return gtls_failure(Errc::system_error, "session tickets", rv);
  }
  return s;
}

Result<tls::SpkiPin> spki_sha256_of_der(const gnutls_datum_t& der) {
  gnutls_x509_crt_t crt = nullptr;
  gnutls_pubkey_t key = nullptr;
  gnutls_datum_t spki{};
  tls::SpkiPin digest{};
  int rv = gnutls_x509_crt_init(&crt);
  if (rv >= 0) rv = gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER);
  if (rv >= 0) rv = gnutls_pubkey_init(&key);
  if (rv >= 0) rv = gnutls_pubkey_import_x509(key, crt, 0);
  if (rv >= 0) rv = gnutls_pubkey_export2(key, GNUTLS_X509_FMT_DER, &spki);
  if (rv >= 0) rv = gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, digest.data());
  gnutls_free(spki.data);
  if (key) gnutls_pubkey_deinit(key);
  if (crt) gnutls_x509_crt_deinit(crt);
  if (rv < 0) return Failure{Errc::tls_setup_failed, gnutls_strerror(rv)};
  return digest;
}

Result<std::string> spki_pin_of_pem_file(const std::string& path) {
  gnutls_datum_t pem{};
  if (int rv = gnutls_load_file(path.c_str(), &pem); rv < 0) {
    return gtls_failure(Errc::tls_setup_failed, path, rv);
  }
  gnutls_x509_crt_t crt = nullptr;
  gnutls_datum_t der{};
  int rv = gnutls_x509_crt_init(&crt);
  if (rv >= 0) rv = gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM);
  if (rv >= 0) rv = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
  Result<tls::SpkiPin> digest =
      rv < 0 ? Result<tls::SpkiPin>(gtls_failure(Errc::tls_setup_failed, path, rv))
             : spki_sha256_of_der(der);
  gnutls_free(der.data);
  if (crt) gnutls_x509_crt_deinit(crt);
  gnutls_free(pem.data);
  if (!digest) return digest.failure();
  return base64_encode(*digest);
}

}  // namespace mtop::quic
