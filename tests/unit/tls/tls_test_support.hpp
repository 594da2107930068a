// Test support for the TLS layer: a throw-away PKI made with OpenSSL in a temp folder, a loop
// runner with a safety time-out, a recording stream handler, and a blocking raw client in a
// thread for the "misbehaving peer" cases. Header-only; included by the tests in this folder.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mtop/stream.hpp"
#include "tls/ossl.hpp"

namespace tls_test {

using namespace mtop;
using namespace mtop::tls;

// --- a small PKI ----------------------------------------------------------------------------

inline EvpPkeyPtr make_key() {
  return EvpPkeyPtr(EVP_EC_gen("P-256"));
}

inline void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) throw std::runtime_error("bad extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

/// Validity (seconds from now) and Extended Key Usage of a test certificate.
struct CertShape {
  long not_before_s = -3600;
  long not_after_s = 30L * 24 * 3600;
  const char* extended_key_usage = nullptr;  ///< e.g. "clientAuth"; null = no extension
};

/// A certificate for `key`, signed by issuer/issuer_key (or self-signed when null).
inline X509Ptr make_cert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key, bool ca,
                         const char* sans, long serial, const CertShape& shape = {}) {
  X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), shape.not_before_s);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), shape.not_after_s);
  X509_set_pubkey(x.get(), key);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509* signer = issuer ? issuer : x.get();
  X509_set_issuer_name(x.get(), X509_get_subject_name(signer));
  add_ext(x.get(), signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
  add_ext(x.get(), signer, NID_key_usage,
          ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  add_ext(x.get(), signer, NID_subject_key_identifier, "hash");
  if (sans) add_ext(x.get(), signer, NID_subject_alt_name, sans);
  if (shape.extended_key_usage) {
    add_ext(x.get(), signer, NID_ext_key_usage, shape.extended_key_usage);
  }
  if (X509_sign(x.get(), issuer_key ? issuer_key : key, EVP_sha256()) == 0) {
    throw std::runtime_error("X509_sign failed");
  }
  return x;
}

inline void write_pem(const std::string& path, X509* a, X509* b = nullptr) {
  BioPtr bio(BIO_new_file(path.c_str(), "w"));
  PEM_write_bio_X509(bio.get(), a);
  if (b) PEM_write_bio_X509(bio.get(), b);
}

inline void write_key(const std::string& path, EVP_PKEY* key) {
  BioPtr bio(BIO_new_file(path.c_str(), "w"));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
}

inline std::string spki_pin(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(der, static_cast<size_t>(len), digest);
  OPENSSL_free(der);
  unsigned char b64[64] = {0};
  EVP_EncodeBlock(b64, digest, sizeof digest);
  return reinterpret_cast<char*>(b64);
}

/// CA + server certificate for localhost / 127.0.0.1 / ::1, a second unrelated CA, a
/// self-signed server certificate, and a key that matches none of them.
struct Pki {
  std::string dir;
  std::string ca, other_ca;              // CA certificates (PEM)
  std::string server_chain, server_key;  // leaf + CA, key
  std::string self_cert, self_key;       // self-signed leaf
  std::string stray_key;                 // matches no certificate
  std::string server_pin, self_pin, other_pin;

  Pki() {
    char tmpl[] = "/tmp/mtop-tls-test-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir = tmpl;
    auto ca_key = make_key();
    auto ca_cert = make_cert(ca_key.get(), "MTop Test CA", nullptr, nullptr, true, nullptr, 1);
    auto leaf_key = make_key();
    auto leaf = make_cert(leaf_key.get(), "localhost", ca_cert.get(), ca_key.get(), false,
                          "DNS:localhost,IP:127.0.0.1,IP:::1", 2);
    auto o_key = make_key();
    auto o_cert = make_cert(o_key.get(), "Other CA", nullptr, nullptr, true, nullptr, 3);
    auto s_key = make_key();
    auto s_cert = make_cert(s_key.get(), "localhost", nullptr, nullptr, false,
                            "DNS:localhost,IP:127.0.0.1", 4);
    auto stray = make_key();
    ca = dir + "/ca.pem";
    other_ca = dir + "/other-ca.pem";
    server_chain = dir + "/server.pem";
    server_key = dir + "/server.key";
    self_cert = dir + "/self.pem";
    self_key = dir + "/self.key";
    stray_key = dir + "/stray.key";
    write_pem(ca, ca_cert.get());
    write_pem(other_ca, o_cert.get());
    write_pem(server_chain, leaf.get(), ca_cert.get());
    write_key(server_key, leaf_key.get());
    write_pem(self_cert, s_cert.get());
    write_key(self_key, s_key.get());
    write_key(stray_key, stray.get());
    server_pin = spki_pin(leaf.get());
    self_pin = spki_pin(s_cert.get());
    other_pin = spki_pin(o_cert.get());
  }
  ~Pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  Pki(const Pki&) = delete;
  Pki& operator=(const Pki&) = delete;
};

// --- the loop -------------------------------------------------------------------------------

/// A loop that must close cleanly: the destructor runs it until every handle is gone and
/// records whether uv_loop_close succeeded (tests CHECK closed_ok()).
class Loop {
 public:
  Loop() {
    // As in every libuv program: a write to a reset socket must be an EPIPE, not a signal.
    std::signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop_);
  }
  ~Loop() { finish(); }
  uv_loop_t* get() { return &loop_; }

  /// Runs until `done()` or `timeout_ms` (a safety bound). Returns done().
  bool run_until(const std::function<bool()>& done, std::uint64_t timeout_ms = 10'000) {
    bool expired = false;
    uv_timer_t t;
    uv_timer_init(&loop_, &t);
    t.data = &expired;
    uv_timer_start(
        &t, [](uv_timer_t* h) { *static_cast<bool*>(h->data) = true; }, timeout_ms, 0);
    while (!done() && !expired) uv_run(&loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return done();
  }
  /// Runs the loop while nothing is expected to happen, `ms` long (for "still X after a while").
  void idle(std::uint64_t ms) {
    run_until([] { return false; }, ms);
  }
  /// Lets every closing handle finish, then closes the loop. Returns uv_loop_close() == 0.
  bool finish() {
    if (finished_) return closed_ok_;
    finished_ = true;
    for (int i = 0; i < 1000 && uv_loop_alive(&loop_); ++i) uv_run(&loop_, UV_RUN_NOWAIT);
    closed_ok_ = uv_loop_close(&loop_) == 0;
    if (!closed_ok_) {
      // Leave nothing behind for the next test: close whatever is still open.
      uv_walk(
          &loop_,
          [](uv_handle_t* h, void*) {
            if (!uv_is_closing(h)) uv_close(h, nullptr);
          },
          nullptr);
      uv_run(&loop_, UV_RUN_DEFAULT);
      uv_loop_close(&loop_);
    }
    return closed_ok_;
  }

 private:
  uv_loop_t loop_;
  bool finished_ = false;
  bool closed_ok_ = false;
};

// --- a recording handler --------------------------------------------------------------------

struct Recorder : io::Stream::Handler {
  std::string data;
  bool eof = false;
  std::string error;
  int errors = 0;
  int drains = 0;
  int calls_after_close = 0;
  bool closed = false;  // set by a test once it closed the stream
  std::function<void(ByteView)> read_hook;
  std::function<void()> eof_hook;

  void on_read(ByteView d) override {
    if (closed) ++calls_after_close;
    data.append(as_chars(d));
    if (read_hook) read_hook(d);
  }
  void on_eof() override {
    if (closed) ++calls_after_close;
    eof = true;
    if (eof_hook) eof_hook();
  }
  void on_error(std::string_view reason) override {
    if (closed) ++calls_after_close;
    ++errors;
    error = std::string(reason);
  }
  void on_drain() override {
    if (closed) ++calls_after_close;
    ++drains;
  }
};

/// Deterministic pseudo-random bytes (xorshift), so failures are reproducible.
inline std::string pattern(std::size_t n, std::uint32_t seed = 12345) {
  std::string s(n, '\0');
  std::uint32_t x = seed;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return s;
}

// --- a blocking raw client in a thread ------------------------------------------------------

/// Connects to 127.0.0.1:port with a blocking socket (5 s receive time-out) and runs `fn`
/// with it in a thread while the caller's loop runs; returns when the thread is done.
/// `fn` returns a string the test asserts on.
inline std::string run_raw_client(Loop& loop, std::uint16_t port,
                                  std::function<std::string(int fd)> fn) {
  std::atomic<bool> done{false};
  std::string result;
  std::thread th([&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      result = "connect failed";
    } else {
      result = fn(fd);
    }
    ::close(fd);
    done = true;
  });
  // A repeating timer wakes the loop so that it notices the thread is done.
  uv_timer_t tick;
  uv_timer_init(loop.get(), &tick);
  uv_timer_start(
      &tick, [](uv_timer_t*) {}, 5, 5);
  loop.run_until([&] { return done.load(); }, 20'000);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  th.join();
  uv_run(loop.get(), UV_RUN_NOWAIT);
  return result;
}

/// Reads until EOF/reset/time-out; "closed" if the server closed, "timeout" otherwise.
inline std::string wait_closed(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return "closed";
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? "timeout" : "closed";
  }
}

}  // namespace tls_test
