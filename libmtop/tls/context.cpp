#include "tls/context.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include "tls/cert_gen.hpp"
#include "tls/engine.hpp"

namespace mtop::tls {

std::string last_ossl_error(const char* fallback) {
  unsigned long e = ERR_peek_last_error();
  std::string out;
  if (e != 0) {
    const char* reason = ERR_reason_error_string(e);
    out = reason ? reason : "error " + std::to_string(ERR_GET_REASON(e));
  } else {
    out = fallback;
  }
  ERR_clear_error();
  return out;
}

namespace {

// TLS 1.3 suites in our order of preference: AES-128-GCM first (fast with AES-NI, and
// what the QUIC side uses), then AES-256-GCM, then ChaCha20 for CPUs without AES-NI.
constexpr const char* kCipherSuites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

// Key exchange groups as OpenSSL's list ("X25519:P-256"; our names are OpenSSL's). The
// default puts X25519 first (the cheapest); the client sends a key share for the first only,
// so a server that has it never needs a HelloRetryRequest. No ffdhe group is ever offered.
std::string openssl_groups(const std::vector<TlsGroup>& groups) {
  std::string list;
  for (TlsGroup g : groups) list.append(list.empty() ? "" : ":").append(tls_group_name(g));
  return list;
}

// Never prompt on the terminal for a key passphrase: a server must fail, not block.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

// Fails with "<what> 'path': cannot open: <strerror>" when the file cannot be read, so the
// user sees the OS reason rather than OpenSSL's "system lib".
Result<void> check_readable(const char* what, const std::string& path) {
  if (path.empty()) return Failure{Errc::tls_setup_failed, std::string(what) + ": not set"};
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    return Failure{Errc::tls_setup_failed,
                   std::string(what) + " '" + path + "': cannot open: " + std::strerror(errno)};
  }
  std::fclose(f);
  return {};
}

Failure setup_failure(std::string message) {
  return Failure{Errc::tls_setup_failed, std::move(message)};
}

// OpenSSL hands us each new client session (TLS 1.3: each NewSessionTicket). Returning 1
// means we took the reference.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* ctx = static_cast<ClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  auto* engine = static_cast<Engine*>(SSL_get_app_data(ssl));
  if (!ctx || !engine || !ctx->resumption() || engine->session_key().empty()) return 0;
  // Only a connection that passed verification and the pin check may feed the cache (TLS 1.3
  // tickets arrive after the handshake, so this holds anyway; it must not depend on timing).
  if (!engine->handshake_done()) return 0;
  if (!SSL_SESSION_is_resumable(session)) return 0;
  ctx->store_session(engine->session_key(), SslSessionPtr(session));
  return 1;
}

}  // namespace

Result<void> ContextBase::init_common(const SSL_METHOD* method,
                                      const std::vector<TlsGroup>& groups) {
  if (groups.empty()) return setup_failure("tls context: no key-exchange group");
  ctx_.reset(SSL_CTX_new(method));
  bio_method_ = make_engine_bio_method();
  if (!ctx_ || !bio_method_)
    return setup_failure("tls context: " + last_ossl_error("out of memory"));
  SSL_CTX* c = ctx_.get();
  if (SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_ciphersuites(c, kCipherSuites) != 1 ||
      SSL_CTX_set1_groups_list(c, openssl_groups(groups).c_str()) != 1) {
    return setup_failure("tls context: " + last_ossl_error("cannot set TLS 1.3 parameters"));
  }
  // Free the record buffers whenever a connection is idle: thousands of idle tunnels must not
  // hold 2 x 17 KiB each. Our BIO never refuses a write, so SSL_write never half-completes.
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_default_passwd_cb(c, no_passphrase);
  return {};
}

Result<std::shared_ptr<ServerContext>> ServerContext::create(const TlsServerConfig& config) {
  std::shared_ptr<ServerContext> self(new ServerContext());
  if (auto r = self->init_common(TLS_server_method(), config.groups); !r) return r.failure();
  SSL_CTX* c = self->ctx_.get();
  ERR_clear_error();
  if (auto r = check_readable("cert_chain_file", config.cert_chain_file); !r) return r.failure();
  if (SSL_CTX_use_certificate_chain_file(c, config.cert_chain_file.c_str()) != 1) {
    return setup_failure("cert_chain_file '" + config.cert_chain_file + "': bad PEM (" +
                         last_ossl_error("no certificate") + ")");
  }
  if (auto r = check_readable("key_file", config.key_file); !r) return r.failure();
  if (SSL_CTX_use_PrivateKey_file(c, config.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    std::string reason = last_ossl_error("no private key");
    // OpenSSL already compares the key with the certificate while loading it.
    if (reason == "key values mismatch") {
      return setup_failure("key_file '" + config.key_file +
                           "': key does not match the certificate");
    }
    return setup_failure("key_file '" + config.key_file + "': bad PEM (" + reason + ")");
  }
  if (SSL_CTX_check_private_key(c) != 1) {
    ERR_clear_error();
    return setup_failure("key_file '" + config.key_file + "': key does not match the certificate");
  }
  // Resumption is stateless in TLS 1.3 (tickets encrypted with this context's keys): no
  // server-side session cache, so no per-connection state survives the connection.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  // One ticket per connection (OpenSSL sends 2 after a full handshake, 1 after a resumed one).
  // A client uses each ticket once and every connection brings it a fresh one, so its supply
  // keeps up with its concurrency; a second ticket would cost a session encoding, an AES-CBC
  // encryption and an HMAC here and a session copy on the client, for a ticket seldom used.
  if (SSL_CTX_set_num_tickets(c, 1) != 1) {
    return setup_failure("tls context: " + last_ossl_error("cannot set the number of tickets"));
  }
  SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  for (const auto& proto : config.alpn) {
    if (proto.empty() || proto.size() > 255) {
      return setup_failure("alpn: a protocol name must be 1 to 255 bytes");
    }
    self->alpn_.push_back(static_cast<unsigned char>(proto.size()));
    self->alpn_.insert(self->alpn_.end(), proto.begin(), proto.end());
  }
  if (!self->alpn_.empty()) SSL_CTX_set_alpn_select_cb(c, &ServerContext::select_alpn, self.get());
  return self;
}

std::string ServerContext::certificate_summary() const {
  X509* cert = SSL_CTX_get0_certificate(ctx_.get());
  if (!cert) return "no certificate";
  std::string out = "subject ";
  BIO* mem = BIO_new(BIO_s_mem());
  if (!mem) return "certificate (out of memory)";
  X509_NAME_print_ex(mem, X509_get_subject_name(cert), 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
  BIO_puts(mem, ", serial 0x");
  if (BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(serial)) {
      BIO_puts(mem, hex);
      OPENSSL_free(hex);
    }
    BN_free(serial);
  }
  BIO_puts(mem, ", expires ");
  const ASN1_TIME* not_after = X509_get0_notAfter(cert);
  struct tm t {};
  if (ASN1_TIME_to_tm(not_after, &t) == 1) {
    char when[32];
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &t);
    BIO_puts(mem, when);
  } else {
    BIO_puts(mem, "(unreadable)");
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(mem, &data);
  if (n > 0) out.append(data, static_cast<std::size_t>(n));
  BIO_free(mem);
  ERR_clear_error();
  // The subject comes from the file: keep control characters out of the log line.
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

std::string ServerContext::certificate_fingerprint() const {
  return sha256_fingerprint(SSL_CTX_get0_certificate(ctx_.get()));
}

// The server's preference wins (SSL_select_next_proto walks our list first), as in web
// servers; no match means no ALPN rather than a failed handshake, so a client offering
// something else (or a climber, offering nothing) is still served.
int ServerContext::select_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                               const unsigned char* in, unsigned int inlen, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, self->alpn_.data(),
                            static_cast<unsigned int>(self->alpn_.size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

// The policy of tls/config.hpp on OpenSSL: the trust store here, the name per connection
// (Engine::client), the pin after the handshake (Engine::handshake).
Result<std::shared_ptr<ClientContext>> ClientContext::create(const TlsClientConfig& config) {
  auto pin = parse_spki_pin(config.spki_pin);
  if (!pin) return pin.failure();
  std::shared_ptr<ClientContext> self(new ClientContext());
  if (auto r = self->init_common(TLS_client_method(), config.groups); !r) return r.failure();
  SSL_CTX* c = self->ctx_.get();
  self->config_ = config;
  self->pin_ = *pin;
  ERR_clear_error();
  if (!config.insecure) {
    if (config.ca_file.empty()) {
      if (SSL_CTX_set_default_verify_paths(c) != 1) {
        return setup_failure("system trust store: " + last_ossl_error("cannot load"));
      }
    } else {
      if (auto r = check_readable("ca_file", config.ca_file); !r) return r.failure();
      if (SSL_CTX_load_verify_file(c, config.ca_file.c_str()) != 1) {
        return setup_failure("ca_file '" + config.ca_file + "': bad PEM (" +
                             last_ossl_error("no certificate") + ")");
      }
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
  }
  SSL_CTX_set_app_data(c, self.get());
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(c, on_new_session);
  return self;
}

bool ClientContext::pin_matches(X509* cert) const {
  if (!pin_) return true;
  if (!cert) return false;
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (len <= 0) return false;
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<size_t>(len), digest);
  OPENSSL_free(der);
  return tls::pin_matches(pin_, ByteView(digest, sizeof digest));
}

void ClientContext::store_session(const std::string& key, SslSessionPtr session) {
  auto it = sessions_.find(key);
  if (it == sessions_.end()) {
    // Bound the number of servers remembered: forget an arbitrary one when full.
    if (sessions_.size() >= kMaxServers) sessions_.erase(sessions_.begin());
    it = sessions_.emplace(key, std::deque<SslSessionPtr>{}).first;
  }
  auto& q = it->second;
  if (q.size() >= kTicketsPerServer) q.pop_front();
  q.push_back(std::move(session));
}

SslSessionPtr ClientContext::take_session(const std::string& key) {
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return nullptr;
  auto& q = it->second;
  const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  SslSessionPtr s;
  while (!s && !q.empty()) {
    s = std::move(q.back());  // the newest ticket lives longest
    q.pop_back();
    // An expired ticket would only be refused by the server: drop it, try the next one.
    const std::int64_t expires =
        static_cast<std::int64_t>(SSL_SESSION_get_time(s.get())) + SSL_SESSION_get_timeout(s.get());
    if (expires <= now) s.reset();
  }
  if (q.empty()) sessions_.erase(it);
  return s;
}

std::size_t ClientContext::cached_sessions() const noexcept {
  std::size_t n = 0;
  for (const auto& [key, q] : sessions_) n += q.size();
  return n;
}

}  // namespace mtop::tls
