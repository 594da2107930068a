#include "quic/tls.hpp"

#include <arpa/inet.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <cstring>

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

std::string gtls_error(const char* what, int rv) {
  return std::string(what) + ": " + gnutls_strerror(rv);
}

TlsSessionContext* context_of(gnutls_session_t s) {
  auto* ref = static_cast<ngtcp2_crypto_conn_ref*>(gnutls_session_get_ptr(s));
  return ref ? static_cast<TlsSessionContext*>(ref->user_data) : nullptr;
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// The client's whole check of the server, run by GnuTLS once the certificate has arrived.
int verify_server(gnutls_session_t s) {
  TlsSessionContext* ctx = context_of(s);
  if (!ctx) return GNUTLS_E_CERTIFICATE_ERROR;
  if (!ctx->insecure) {
    unsigned status = 0;
    const char* name = ctx->verify_name.empty() ? nullptr : ctx->verify_name.c_str();
    int rv = gnutls_certificate_verify_peers3(s, name, &status);
    if (rv < 0) {
      ctx->verify_error = gtls_error("certificate check failed", rv);
      return GNUTLS_E_CERTIFICATE_ERROR;
    }
    if (status != 0) {
      gnutls_datum_t text{};
      std::string why = "untrusted";
      if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
        why.assign(reinterpret_cast<const char*>(text.data), text.size);
        gnutls_free(text.data);
        while (!why.empty() && (why.back() == ' ' || why.back() == '\0')) why.pop_back();
      }
      ctx->verify_error = "server certificate rejected: " + why;
      return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
    }
  }
  if (!ctx->spki_pin.empty()) {
    unsigned n = 0;
    const gnutls_datum_t* chain = gnutls_certificate_get_peers(s, &n);
    if (!chain || n == 0) {
      ctx->verify_error = "server sent no certificate";
      return GNUTLS_E_CERTIFICATE_ERROR;
    }
    std::string error;
    std::string pin = spki_pin_of_der(chain[0], error);
    if (pin.empty()) {
      ctx->verify_error = "cannot compute the server's key pin: " + error;
      return GNUTLS_E_CERTIFICATE_ERROR;
    }
    if (pin != ctx->spki_pin) {
      ctx->verify_error = "server key pin mismatch (got " + pin + ")";
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

const gnutls_datum_t kAlpnDatum{
    reinterpret_cast<unsigned char*>(const_cast<char*>(kAlpn.data())),
    static_cast<unsigned>(kAlpn.size())};

}  // namespace

std::string gnutls_priority(const std::vector<TlsGroup>& groups) {
  // TLS 1.3 only (QUIC needs it); AES-128-GCM first because GnuTLS's ChaCha20 is several times
  // slower here; NORMAL's groups include ffdhe2048-8192, so the list is replaced whole.
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

std::unique_ptr<ClientTlsContext> ClientTlsContext::create(const ClientTlsOptions& options,
                                                           std::string& error) {
  gnutls_certificate_credentials_t raw = nullptr;
  if (int rv = gnutls_certificate_allocate_credentials(&raw); rv < 0) {
    error = gtls_error("credentials", rv);
    return nullptr;
  }
  std::unique_ptr<ClientTlsContext> c(new ClientTlsContext());
  c->cred_.reset(raw);
  if (options.groups.empty()) {
    error = "no key-exchange group";
    return nullptr;
  }
  c->priority_ = gnutls_priority(options.groups);
  c->options_ = options;
  if (!options.insecure) {
    int rv = options.ca_file.empty()
                 ? gnutls_certificate_set_x509_system_trust(raw)
                 : gnutls_certificate_set_x509_trust_file(raw, options.ca_file.c_str(),
                                                          GNUTLS_X509_FMT_PEM);
    if (rv < 0) {
      error = gtls_error(options.ca_file.empty() ? "system trust store" : "CA file", rv);
      return nullptr;
    }
    if (rv == 0) {
      error = options.ca_file.empty() ? "system trust store is empty"
                                      : "CA file holds no certificate: " + options.ca_file;
      return nullptr;
    }
    if (options.server_name.empty()) {
      error = "server name needed to verify the server";
      return nullptr;
    }
  }
  return c;
}

SessionPtr ClientTlsContext::new_session(TlsSessionContext& ctx, ByteView resume,
                                         std::string& error) const {
  gnutls_session_t raw = nullptr;
  if (int rv = gnutls_init(&raw, GNUTLS_CLIENT | GNUTLS_NO_END_OF_EARLY_DATA); rv < 0) {
    error = gtls_error("gnutls_init", rv);
    return nullptr;
  }
  SessionPtr s(raw);
  if (int rv = gnutls_priority_set_direct(raw, priority_.c_str(), nullptr); rv < 0) {
    error = gtls_error("priority", rv);
    return nullptr;
  }
  if (ngtcp2_crypto_gnutls_configure_client_session(raw) != 0) {
    error = "ngtcp2_crypto_gnutls_configure_client_session failed";
    return nullptr;
  }
  gnutls_handshake_set_hook_function(raw, GNUTLS_HANDSHAKE_NEW_SESSION_TICKET, GNUTLS_HOOK_POST,
                                     ticket_hook);
  if (!resume.empty()) {
    // A stale or foreign ticket only costs a full handshake, so a failure here is ignored.
    (void)gnutls_session_set_data(raw, resume.data(), resume.size());
  }
  if (int rv = gnutls_credentials_set(raw, GNUTLS_CRD_CERTIFICATE, cred_.get()); rv < 0) {
    error = gtls_error("credentials", rv);
    return nullptr;
  }
  if (int rv = gnutls_alpn_set_protocols(raw, &kAlpnDatum, 1, GNUTLS_ALPN_MANDATORY); rv < 0) {
    error = gtls_error("alpn", rv);
    return nullptr;
  }
  const std::string& name = options_.server_name;
  if (!name.empty() && !is_ip_literal(name)) {
    if (int rv = gnutls_server_name_set(raw, GNUTLS_NAME_DNS, name.data(), name.size()); rv < 0) {
      error = gtls_error("server name", rv);
      return nullptr;
    }
  }
  ctx.verify_name = options_.insecure ? std::string() : name;
  ctx.spki_pin = options_.spki_pin;
  ctx.insecure = options_.insecure;
  ctx.verify_error.clear();
  gnutls_session_set_verify_function(raw, verify_server);
  gnutls_session_set_ptr(raw, &ctx.ref);
  return s;
}

std::unique_ptr<ServerTlsContext> ServerTlsContext::create(const ServerTlsOptions& options,
                                                           ByteView ticket_key,
                                                           std::string& error) {
  gnutls_certificate_credentials_t raw = nullptr;
  if (int rv = gnutls_certificate_allocate_credentials(&raw); rv < 0) {
    error = gtls_error("credentials", rv);
    return nullptr;
  }
  std::unique_ptr<ServerTlsContext> c(new ServerTlsContext());
  c->cred_.reset(raw);
  if (options.groups.empty()) {
    error = "no key-exchange group";
    return nullptr;
  }
  c->priority_ = gnutls_priority(options.groups);
  if (int rv = gnutls_certificate_set_x509_key_file(raw, options.cert_file.c_str(),
                                                    options.key_file.c_str(),
                                                    GNUTLS_X509_FMT_PEM);
      rv < 0) {
    error = gtls_error("certificate/key", rv);
    return nullptr;
  }
  if (ticket_key.size() != 64) {
    error = "session ticket key must be 64 bytes";
    return nullptr;
  }
  c->ticket_key_.data = static_cast<unsigned char*>(gnutls_malloc(ticket_key.size()));
  if (!c->ticket_key_.data) {
    error = "out of memory";
    return nullptr;
  }
  std::memcpy(c->ticket_key_.data, ticket_key.data(), ticket_key.size());
  c->ticket_key_.size = static_cast<unsigned>(ticket_key.size());
  return c;
}

ServerTlsContext::~ServerTlsContext() {
  if (ticket_key_.data) {
    gnutls_memset(ticket_key_.data, 0, ticket_key_.size);
    gnutls_free(ticket_key_.data);
  }
}

SessionPtr ServerTlsContext::new_session(TlsSessionContext& ctx, std::string& error) const {
  gnutls_session_t raw = nullptr;
  if (int rv = gnutls_init(&raw, GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET |
                                     GNUTLS_NO_END_OF_EARLY_DATA);
      rv < 0) {
    error = gtls_error("gnutls_init", rv);
    return nullptr;
  }
  SessionPtr s(raw);
  if (int rv = gnutls_priority_set_direct(raw, priority_.c_str(), nullptr); rv < 0) {
    error = gtls_error("priority", rv);
    return nullptr;
  }
  if (ngtcp2_crypto_gnutls_configure_server_session(raw) != 0) {
    error = "ngtcp2_crypto_gnutls_configure_server_session failed";
    return nullptr;
  }
  if (int rv = gnutls_session_ticket_enable_server(raw, &ticket_key_); rv < 0) {
    error = gtls_error("session tickets", rv);
    return nullptr;
  }
  if (int rv = gnutls_credentials_set(raw, GNUTLS_CRD_CERTIFICATE, cred_.get()); rv < 0) {
    error = gtls_error("credentials", rv);
    return nullptr;
  }
  if (int rv = gnutls_alpn_set_protocols(raw, &kAlpnDatum, 1, GNUTLS_ALPN_MANDATORY); rv < 0) {
    error = gtls_error("alpn", rv);
    return nullptr;
  }
  gnutls_session_set_ptr(raw, &ctx.ref);
  return s;
}

std::string spki_pin_of_der(const gnutls_datum_t& der, std::string& error) {
  gnutls_x509_crt_t crt = nullptr;
  gnutls_pubkey_t key = nullptr;
  std::string out;
  gnutls_datum_t spki{};
  gnutls_datum_t b64{};
  unsigned char digest[32];
  int rv = gnutls_x509_crt_init(&crt);
  if (rv >= 0) rv = gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER);
  if (rv >= 0) rv = gnutls_pubkey_init(&key);
  if (rv >= 0) rv = gnutls_pubkey_import_x509(key, crt, 0);
  if (rv >= 0) rv = gnutls_pubkey_export2(key, GNUTLS_X509_FMT_DER, &spki);
  if (rv >= 0) rv = gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, digest);
  if (rv >= 0) {
    gnutls_datum_t d{digest, sizeof digest};
    rv = gnutls_base64_encode2(&d, &b64);
  }
  if (rv >= 0) {
    out.assign(reinterpret_cast<const char*>(b64.data), b64.size);
  } else {
    error = gnutls_strerror(rv);
  }
  gnutls_free(b64.data);
  gnutls_free(spki.data);
  if (key) gnutls_pubkey_deinit(key);
  if (crt) gnutls_x509_crt_deinit(crt);
  return out;
}

std::string spki_pin_of_pem_file(const std::string& path, std::string& error) {
  gnutls_datum_t pem{};
  if (int rv = gnutls_load_file(path.c_str(), &pem); rv < 0) {
    error = gtls_error(path.c_str(), rv);
    return {};
  }
  gnutls_x509_crt_t crt = nullptr;
  gnutls_datum_t der{};
  std::string out;
  int rv = gnutls_x509_crt_init(&crt);
  if (rv >= 0) rv = gnutls_x509_crt_import(crt, &pem, GNUTLS_X509_FMT_PEM);
  if (rv >= 0) rv = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
  if (rv >= 0) {
    out = spki_pin_of_der(der, error);
  } else {
    error = gtls_error(path.c_str(), rv);
  }
  gnutls_free(der.data);
  if (crt) gnutls_x509_crt_deinit(crt);
  gnutls_free(pem.data);
  return out;
}

}  // namespace mtop::quic
