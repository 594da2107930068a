// Engine: one TLS connection with no I/O of its own (sans-IO, in the nghttp2 style).
//
// Theory of operation: the caller feeds ciphertext from the peer with handle_ciphertext(),
// then drives handshake() until it returns ok, then read()s plaintext out and write()s
// plaintext in. Everything OpenSSL wants to send collects in an output buffer the caller
// takes with take_output() and puts on the wire. OpenSSL reads and writes through a small
// custom BIO over those two buffers (a memory BIO we control), so the engine can give its
// buffers back whenever they are empty: an idle connection holds no ciphertext or record
// buffers at all. With a buffer pool (set_buffer_pool), those two buffers are recycled chunks
// rather than fresh allocations per write or per retained read.
//
// Input fed by handle_ciphertext() is borrowed until retain_input() or the next
// handle_ciphertext(); whatever OpenSSL has not consumed by then is copied into the engine.
//
// Errors: once a call returns Status::failed the engine is done; error() says why in a short,
// log-safe string ("certificate verify failed: ...", "server key pin mismatch", "wrong version
// number").
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "mtop/bytes.hpp"
#include "mtop/result.hpp"
#include "tls/context.hpp"
#include "tls/ossl.hpp"
#include "uv/chunk_pool.hpp"

namespace mtop::tls {

/// The BIO method engines read and write through (one per context, see ContextBase).
BioMethodPtr make_engine_bio_method();

class Engine {
 public:
  enum class Status {
    ok,          ///< done (handshake complete / data read or written)
    want_input,  ///< needs more ciphertext from the peer
    closed,      ///< read: the peer sent close_notify (a TLS 1.3 half-close)
    failed,      ///< fatal; see error()
  };

  /// A server-side engine. Errors: system_error when OpenSSL cannot make the SSL.
  static Result<std::unique_ptr<Engine>> server(std::shared_ptr<const ServerContext> ctx);
  /// A client-side engine for `server_name` (SNI unless an IP literal, and the name or IP
  /// checked in the certificate unless the context is insecure). `session_key` picks the
  /// session-cache slot (empty = no resumption); a cached ticket is offered if there is one.
  /// Errors: config_invalid (no name with a verifying context, a name OpenSSL refuses),
  /// system_error.
  static Result<std::unique_ptr<Engine>> client(std::shared_ptr<ClientContext> ctx,
                                                const std::string& server_name,
                                                std::string session_key);

  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // --- buffers ------------------------------------------------------------------------
  /// From now on, output and large retained input go into chunks taken from `pool` (null: buffers
  /// allocated as needed); retained input goes back to it once consumed. A buffer that
  /// outgrows its chunk reallocates it, and give() then frees it rather than keep it. The
  /// pool must outlive every later call into the engine.
  void set_buffer_pool(io::ChunkPool* pool) noexcept { pool_ = pool; }

  // --- input --------------------------------------------------------------------------
  /// Makes `in` available to OpenSSL (borrowed, see the file comment).
  void handle_ciphertext(ByteView in);
  /// Copies the unconsumed part of the borrowed input into the engine: into a chunk of the
  /// buffer pool when it is over kSmallInput bytes, else into a buffer of its own size.
  void retain_input();
  static constexpr std::size_t kSmallInput = 4 * 1024;
  /// True if unread ciphertext, or decrypted plaintext not yet read(), is waiting in the engine
  /// (a partial record inside OpenSSL does not count: it waits for more input).
  bool has_pending_input() const;

  // --- progress -----------------------------------------------------------------------
  /// Advances the handshake. ok = established (and, for a client, verified and pin-checked).
  Status handshake();
  bool handshake_done() const noexcept { return done_; }
  /// Client: true if the handshake resumed a cached session.
  bool resumed() const;

  /// Decrypts into `out`, filling it as far as records allow. *n = bytes written (may be > 0
  /// with any status). ok = `out` is nearly full, call again.
  Status read(std::span<std::uint8_t> out, std::size_t* n);
  /// Encrypts all of `in` into the output buffer. false = failed.
  bool write(ByteView in);
  /// Queues close_notify after everything written so far. false = failed. Idempotent.
  bool close_notify();

  // --- output -------------------------------------------------------------------------
  bool has_output() const noexcept { return !out_.empty(); }
  std::size_t output_size() const noexcept { return out_.size(); }
  /// Hands over all pending ciphertext; the engine keeps no buffer behind. With a buffer
  /// pool, the result is a chunk of it: give() it back once the bytes are sent.
  Bytes take_output();

  const std::string& error() const noexcept { return error_; }
  const std::string& session_key() const noexcept { return session_key_; }
  SSL* native() const noexcept { return ssl_.get(); }

 private:
  Engine() = default;
  Result<void> init(SSL_CTX* ctx, const BIO_METHOD* method);
  Status fail_from(int ret, const char* what);
  std::string verify_error() const;
  void release_buffers();

  friend int engine_bio_read(BIO* bio, char* buf, int len);
  friend int engine_bio_write(BIO* bio, const char* buf, int len);
  friend long engine_bio_ctrl(BIO* bio, int cmd, long num, void* ptr);

  std::shared_ptr<const ServerContext> server_ctx_;
  std::shared_ptr<ClientContext> client_ctx_;
  SslPtr ssl_;
  bool done_ = false;
  bool failed_ = false;
  bool sent_close_ = false;
  std::string error_;
  std::string session_key_;

  ByteView borrowed_;
  Bytes in_;  ///< retained ciphertext; in_off_ bytes of it already consumed
  std::size_t in_off_ = 0;
  Bytes out_;
  io::ChunkPool* pool_ = nullptr;
};

}  // namespace mtop::tls
