#include "tls/engine.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

namespace mtop::tls {

// --- the BIO between OpenSSL and the engine's buffers ------------------------------------

int engine_bio_read(BIO* bio, char* buf, int len) {
  BIO_clear_retry_flags(bio);
  auto* e = static_cast<Engine*>(BIO_get_data(bio));
  if (!e || len <= 0) return 0;
  std::size_t want = static_cast<std::size_t>(len);
  std::size_t got = 0;
  if (e->in_off_ < e->in_.size()) {
    std::size_t n = std::min(want, e->in_.size() - e->in_off_);
    std::memcpy(buf, e->in_.data() + e->in_off_, n);
    e->in_off_ += n;
    got += n;
    if (e->in_off_ == e->in_.size()) {
      // Give the memory back: idle connections hold no input buffer.
      Bytes done;
      done.swap(e->in_);
      if (e->pool_) e->pool_->give(std::move(done));
      e->in_off_ = 0;
    }
  }
  if (got < want && !e->borrowed_.empty()) {
    std::size_t n = std::min(want - got, e->borrowed_.size());
    std::memcpy(buf + got, e->borrowed_.data(), n);
    e->borrowed_ = e->borrowed_.subspan(n);
    got += n;
  }
  if (got == 0) {
    BIO_set_retry_read(bio);  // "would block": wait for the next handle_ciphertext()
    return -1;
  }
  return static_cast<int>(got);
}

int engine_bio_write(BIO* bio, const char* buf, int len) {
  BIO_clear_retry_flags(bio);
  auto* e = static_cast<Engine*>(BIO_get_data(bio));
  if (!e || len <= 0) return 0;
  const auto* p = reinterpret_cast<const std::uint8_t*>(buf);
  // Into a recycled chunk: OpenSSL writes one record at a time, and growing a fresh vector
  // record by record, freed after each write, made the heap trim and refault on every write.
  if (e->out_.capacity() == 0 && e->pool_) e->out_ = e->pool_->take();
  e->out_.insert(e->out_.end(), p, p + len);
  return len;
}

long engine_bio_ctrl(BIO* bio, int cmd, long, void*) {
  auto* e = static_cast<Engine*>(BIO_get_data(bio));
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING:
      return e ? static_cast<long>(e->in_.size() - e->in_off_ + e->borrowed_.size()) : 0;
    default:  // BIO_CTRL_WPENDING (nothing is held on the write side) and the unsupported rest
      return 0;
  }
}

namespace {
int engine_bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}
int engine_bio_destroy(BIO*) {
  return 1;
}
}  // namespace

BioMethodPtr make_engine_bio_method() {
  BioMethodPtr m(BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "mtop tls engine"));
  if (!m) return nullptr;
  if (BIO_meth_set_read(m.get(), engine_bio_read) != 1 ||
      BIO_meth_set_write(m.get(), engine_bio_write) != 1 ||
      BIO_meth_set_ctrl(m.get(), engine_bio_ctrl) != 1 ||
      BIO_meth_set_create(m.get(), engine_bio_create) != 1 ||
      BIO_meth_set_destroy(m.get(), engine_bio_destroy) != 1) {
    return nullptr;
  }
  return m;
}

// --- construction ------------------------------------------------------------------------

Result<void> Engine::init(SSL_CTX* ctx, const BIO_METHOD* method) {
  ERR_clear_error();
  ssl_.reset(SSL_new(ctx));
  BIO* bio = ssl_ ? BIO_new(method) : nullptr;
  if (!bio) return Failure{Errc::system_error, "tls: " + last_ossl_error("out of memory")};
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_.get(), bio, bio);  // one BIO both ways; the SSL owns it
  SSL_set_app_data(ssl_.get(), this);
  return {};
}

Result<std::unique_ptr<Engine>> Engine::server(std::shared_ptr<const ServerContext> ctx) {
  std::unique_ptr<Engine> e(new Engine());
  if (auto r = e->init(ctx->native(), ctx->bio_method()); !r) return r.failure();
  e->server_ctx_ = std::move(ctx);
  SSL_set_accept_state(e->ssl_.get());
  return e;
}

Result<std::unique_ptr<Engine>> Engine::client(std::shared_ptr<ClientContext> ctx,
                                               const std::string& server_name,
                                               std::string session_key) {
  if (auto r = check_server_name(ctx->config(), server_name); !r) {
    return Failure{r.error(), "tls: " + std::string(r.message())};
  }
  const bool verify = !ctx->config().insecure;
  std::unique_ptr<Engine> e(new Engine());
  if (auto r = e->init(ctx->native(), ctx->bio_method()); !r) return r.failure();
  SSL* ssl = e->ssl_.get();
  if (!server_name.empty()) {
    bool ok = true;
    if (is_ip_literal(server_name)) {
      // RFC 6066: no IP literals in SNI. The certificate must carry the IP as an IP SAN.
      if (verify) ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), server_name.c_str()) == 1;
    } else {
      ok = SSL_set_tlsext_host_name(ssl, server_name.c_str()) == 1;
      if (ok && verify) {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set1_host(ssl, server_name.c_str()) == 1;
      }
    }
    if (!ok) {
      ERR_clear_error();
      return Failure{Errc::config_invalid, "tls: bad server name '" + server_name + "'"};
    }
  }
  if (ctx->resumption() && !session_key.empty()) {
    e->session_key_ = std::move(session_key);
    if (SslSessionPtr s = ctx->take_session(e->session_key_)) SSL_set_session(ssl, s.get());
  }
  e->client_ctx_ = std::move(ctx);
  SSL_set_connect_state(ssl);
  return e;
}

Engine::~Engine() {
  // The SSL frees its BIO; make sure no callback can reach this half-destroyed engine.
  if (ssl_) {
    // SSL_free marks the session of a connection that did not send close_notify as not
    // resumable, and for a client that session is the ticket we just cached. A TLS 1.3 ticket
    // stays valid however the connection ended, so say "shut down" to keep it usable.
    if (done_) SSL_set_shutdown(ssl_.get(), SSL_get_shutdown(ssl_.get()) | SSL_SENT_SHUTDOWN);
    BIO* bio = SSL_get_rbio(ssl_.get());
    if (bio) BIO_set_data(bio, nullptr);
    SSL_set_app_data(ssl_.get(), nullptr);
  }
}

// --- input -------------------------------------------------------------------------------

void Engine::handle_ciphertext(ByteView in) {
  retain_input();
  borrowed_ = in;
}

void Engine::retain_input() {
  if (borrowed_.empty()) return;
  if (in_off_ > 0) {
    in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(in_off_));
    in_off_ = 0;
  }
  // A chunk too when the rest is large: a relay that pauses reading leaves up to a whole socket
  // read behind, and a fresh buffer for it, freed once read, would churn the heap at every
  // pause. A small rest (the first bytes behind the handshake's last flight, held until the
  // owner reads) gets a buffer of its size: a burst of set-ups holds one each until the next
  // loop turn, and a 68 KiB chunk apiece filled the pool's spares for good (bench/RESULTS.md,
  // issue 14).
  if (in_.capacity() == 0 && pool_ && borrowed_.size() > kSmallInput) in_ = pool_->take();
  in_.insert(in_.end(), borrowed_.begin(), borrowed_.end());
  borrowed_ = {};
}

bool Engine::has_pending_input() const {
  // SSL_pending, not SSL_has_pending: a partial record held inside OpenSSL needs more bytes
  // from the peer, so it must not count as "input waiting" (that would stop the socket).
  return in_off_ < in_.size() || !borrowed_.empty() || (ssl_ && SSL_pending(ssl_.get()) > 0);
}

// --- progress ----------------------------------------------------------------------------

std::string Engine::verify_error() const {
  long v = SSL_get_verify_result(ssl_.get());
  if (v == X509_V_OK) return {};
  if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    return "certificate verify failed: the certificate is not for this server name";
  }
  return std::string("certificate verify failed: ") + X509_verify_cert_error_string(v);
}

Engine::Status Engine::fail_from(int ret, const char* what) {
  int err = SSL_get_error(ssl_.get(), ret);
  if (err == SSL_ERROR_WANT_READ) {
    ERR_clear_error();
    return Status::want_input;
  }
  failed_ = true;
  if (client_ctx_ && !done_ && !client_ctx_->config().insecure) {
    std::string v = verify_error();
    if (!v.empty()) {
      error_ = std::move(v);
      ERR_clear_error();
      return Status::failed;
    }
  }
  if (err == SSL_ERROR_ZERO_RETURN) {
    error_ = std::string(what) + ": peer closed";
    ERR_clear_error();
  } else {
    error_ = std::string(what) + ": " + last_ossl_error("protocol error");
  }
  return Status::failed;
}

Engine::Status Engine::handshake() {
  if (failed_) return Status::failed;
  if (done_) return Status::ok;
  ERR_clear_error();
  int r = SSL_do_handshake(ssl_.get());
  if (r != 1) return fail_from(r, "handshake");
  if (client_ctx_ && !client_ctx_->pin_matches(SSL_get0_peer_certificate(ssl_.get()))) {
    failed_ = true;
    error_ = kPinMismatch;
    return Status::failed;
  }
  done_ = true;
  release_buffers();
  return Status::ok;
}

void Engine::release_buffers() {
  // SSL_MODE_RELEASE_BUFFERS frees the record buffer only after application data; after
  // handshake messages or tickets OpenSSL keeps ~17 KiB waiting for the next header.
  // SSL_free_buffers does nothing (returns 0) while a partial record is held.
  if (!SSL_has_pending(ssl_.get())) SSL_free_buffers(ssl_.get());
}

bool Engine::resumed() const {
  return ssl_ && SSL_session_reused(ssl_.get()) == 1;
}

Engine::Status Engine::read(std::span<std::uint8_t> out, std::size_t* n) {
  *n = 0;
  if (failed_) return Status::failed;
  while (*n < out.size()) {
    // Calling SSL_read with no input at all makes OpenSSL allocate its 16 KiB record buffer
    // to wait for the next header, and keep it while the connection idles. Only call it when
    // there are bytes to work on: plaintext ready, a partial record, or unread ciphertext.
    if (SSL_has_pending(ssl_.get()) == 0 && in_off_ == in_.size() && borrowed_.empty()) {
      release_buffers();
      return Status::want_input;
    }
    ERR_clear_error();
    std::size_t got = 0;
    int r = SSL_read_ex(ssl_.get(), out.data() + *n, out.size() - *n, &got);
    if (r == 1) {
      *n += got;
      continue;
    }
    int err = SSL_get_error(ssl_.get(), r);
    if (err == SSL_ERROR_ZERO_RETURN) {
      ERR_clear_error();
      return Status::closed;
    }
    Status st = fail_from(r, "tls");
    if (st == Status::want_input) release_buffers();
    return st;
  }
  return Status::ok;
}

bool Engine::write(ByteView in) {
  if (failed_ || sent_close_) return false;
  while (!in.empty()) {
    ERR_clear_error();
    std::size_t written = 0;
    int r = SSL_write_ex(ssl_.get(), in.data(), in.size(), &written);
    if (r != 1) {
      fail_from(r, "tls write");
      failed_ = true;
      return false;
    }
    in = in.subspan(written);
  }
  return true;
}

bool Engine::close_notify() {
  if (failed_) return false;
  if (sent_close_) return true;
  ERR_clear_error();
  int r = SSL_shutdown(ssl_.get());
  if (r < 0) {
    fail_from(r, "tls shutdown");
    failed_ = true;
    return false;
  }
  sent_close_ = true;
  return true;
}

Bytes Engine::take_output() {
  Bytes r;
  r.swap(out_);
  return r;
}

}  // namespace mtop::tls
