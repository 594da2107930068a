// TLS contexts: one SSL_CTX per configuration, shared by every connection made with it.
// TLS 1.3 only (AES-128-GCM first), SSL_MODE_RELEASE_BUFFERS so an idle connection keeps no
// record buffers. The client context also keeps a small session-ticket cache keyed by server,
// so that the next tunnel to the same server resumes instead of doing a full handshake.
//
// Contexts are used on one loop thread (the session cache is not locked).
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "mtop/result.hpp"
#include "tls/config.hpp"
#include "tls/ossl.hpp"

namespace mtop::tls {

/// What both sides share: the SSL_CTX and the BIO method the engine reads and writes through.
class ContextBase {
 public:
  ContextBase(const ContextBase&) = delete;
  ContextBase& operator=(const ContextBase&) = delete;
  virtual ~ContextBase() = default;

  SSL_CTX* native() const noexcept { return ctx_.get(); }
  const BIO_METHOD* bio_method() const noexcept { return bio_method_.get(); }

 protected:
  ContextBase() = default;
  /// Creates the SSL_CTX and BIO method with the settings both sides share, offering `groups`
  /// for the key exchange. Errors: tls_setup_failed.
  Result<void> init_common(const SSL_METHOD* method, const std::vector<TlsGroup>& groups);

  SslCtxPtr ctx_;
  BioMethodPtr bio_method_;
};

class ServerContext : public ContextBase {
 public:
  /// Loads the certificate chain and key and checks that they match. Errors: tls_setup_failed
  /// with what went wrong ("cert_chain_file 'x': cannot open: No such file or directory",
  /// "key_file 'x': bad PEM (no start line)", "key does not match the certificate", ...).
  static Result<std::shared_ptr<ServerContext>> create(const TlsServerConfig& config);

  /// The leaf certificate in one log-safe line: "subject CN=example.org, serial 0x1F,
  /// expires 2027-03-01 12:00:00 UTC".
  std::string certificate_summary() const;
  /// SHA-256 of the leaf certificate ("AB:CD:..."): tells whether a reload brings a new one.
  std::string certificate_fingerprint() const;

 private:
  ServerContext() = default;
  static int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen,
                         const unsigned char* in, unsigned int inlen, void* arg);
  std::vector<unsigned char> alpn_;  ///< config.alpn in wire format (length-prefixed)
};

class ClientContext : public ContextBase {
 public:
  /// Builds the trust store (ca_file or the system store) and decodes the pin. Errors:
  /// tls_setup_failed ("ca_file 'x': cannot open: ...", "system trust store: ..."),
  /// config_invalid ("spki_pin: not base64 of 32 bytes ...").
  static Result<std::shared_ptr<ClientContext>> create(const TlsClientConfig& config);

  const TlsClientConfig& config() const noexcept { return config_; }

  /// True when no pin is configured, or the SHA-256 of `cert`'s SubjectPublicKeyInfo equals it.
  bool pin_matches(X509* cert) const;

  /// Session cache: up to kTicketsPerServer tickets per key, kMaxServers keys. TLS 1.3 tickets
  /// are used once each (take_session removes it, and skips expired ones); the server sends a
  /// fresh one on every connection, so the cache refills itself. It must hold as many tickets
  /// as there are handshakes to one server at once: with 4, a burst of 32 concurrent tunnels
  /// (bench/run.sh) resumed only 23 % of its handshakes and paid a full one for the rest. A
  /// cached ticket holds ~6.4 KiB of heap when it is the only holder of the server's parsed
  /// certificate (tickets descended from one full handshake share it), so 64 cost < 0.5 MiB.
  static constexpr std::size_t kTicketsPerServer = 64;
  static constexpr std::size_t kMaxServers = 64;
  void store_session(const std::string& key, SslSessionPtr session);
  SslSessionPtr take_session(const std::string& key);
  std::size_t cached_sessions() const noexcept;

  /// Turns resumption off (tickets are neither stored nor offered); on by default.
  void set_resumption(bool on) noexcept { resumption_ = on; }
  bool resumption() const noexcept { return resumption_; }

 private:
  ClientContext() = default;

  TlsClientConfig config_;
  std::optional<SpkiPin> pin_;
  bool resumption_ = true;
  std::unordered_map<std::string, std::deque<SslSessionPtr>> sessions_;
};

}  // namespace mtop::tls
