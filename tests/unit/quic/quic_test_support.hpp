// Shared helpers for the QUIC tests: a loop that runs until a condition holds (bounded by a
// time-out), certificates made with the openssl command in a temp folder, and small stream
// handlers (echo server side, collecting client side).
#pragma once

#include <uv.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "mtop/bytes.hpp"
#include "mtop/stream.hpp"
#include "must.hpp"
#include "quic/client.hpp"
#include "quic/server.hpp"
#include "uv/handle.hpp"

namespace qt {

using mtop::Bytes;
using mtop::ByteView;
using mtop::io::Stream;
using mtop::io::StreamPtr;

/// A private libuv loop; the destructor lets every closing handle finish, then closes it.
struct Loop {
  uv_loop_t loop;
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    for (int i = 0; i < 50; ++i) uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  uv_loop_t* get() { return &loop; }
  /// Runs the loop until `done()` or `timeout_ms` passed. Returns done().
  bool run_until(const std::function<bool()>& done, std::uint64_t timeout_ms = 20'000) {
    auto tick = mtop::io::UvHandle<uv_timer_t>::make();
    uv_timer_init(&loop, tick.get());
    uv_timer_start(
        tick.get(), [](uv_timer_t*) {}, 5, 5);  // guarantees wake-ups
    std::uint64_t deadline = uv_hrtime() + timeout_ms * 1'000'000ull;
    while (!done() && uv_hrtime() < deadline) uv_run(&loop, UV_RUN_ONCE);
    tick.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
    return done();
  }
  /// Runs the loop for about `ms` (used only to let things settle, never as an assertion).
  void run_for(std::uint64_t ms) {
    std::uint64_t until = uv_hrtime() + ms * 1'000'000ull;
    run_until([&] { return uv_hrtime() >= until; }, ms + 1000);
  }
};

/// A temp folder with a CA, a server certificate for "localhost" / 127.0.0.1 / ::1 signed by
/// it, and an unrelated self-signed certificate. Removed by the destructor.
struct Certs {
  std::filesystem::path dir;
  std::string ca, cert, key, other_cert, other_key;

  Certs() {
    char tmpl[] = "/tmp/mtop-quic-test-XXXXXX";
    dir = mkdtemp(tmpl);
    ca = (dir / "ca.pem").string();
    cert = (dir / "server.pem").string();
    key = (dir / "server.key").string();
    other_cert = (dir / "other.pem").string();
    other_key = (dir / "other.key").string();
    std::string d = dir.string();
    std::string script =
        "set -e; cd '" + d +
        "';"
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
        " -subj /CN=mtop-test-ca -keyout ca.key -out ca.pem"
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign;"
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost"
        " -keyout server.key -out server.csr;"
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\\n"
        "basicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf;"
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2"
        " -extfile ext.cnf -out server.pem;"
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
        " -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
        " -keyout other.key -out other.pem";
    std::string cmd = "sh -c \"" + escape(script) + "\" >/dev/null 2>&1";
    ok = std::system(cmd.c_str()) == 0;
  }
  ~Certs() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  bool ok = false;

 private:
  static std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '"' || c == '\\' || c == '$' || c == '`') out += '\\';
      out += c;
    }
    return out;
  }
};

inline std::uint64_t fnv1a(ByteView b, std::uint64_t h = 1469598103934665603ull) {
  for (std::uint8_t c : b) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

inline Bytes random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

/// Server side: echoes everything back and answers EOF with shutdown().
struct EchoServer {
  struct Session : Stream::Handler {
    StreamPtr s;
    std::uint64_t received = 0;
    bool eof = false;
    std::string error;
    void on_read(ByteView d) override {
      received += d.size();
      s->write(d);
    }
    void on_eof() override {
      eof = true;
      s->shutdown();
    }
    void on_error(std::string_view r) override { error = std::string(r); }
    void on_drain() override {}
  };
  std::vector<std::unique_ptr<Session>> sessions;
  std::function<void(Session&)> on_new;  // optional hook

  mtop::io::StreamAcceptor::AcceptCallback acceptor() {
    return [this](StreamPtr s) {
      auto sess = std::make_unique<Session>();
      sess->s = std::move(s);
      sess->s->set_handler(sess.get());
      sess->s->start_read();
      if (on_new) on_new(*sess);
      sessions.push_back(std::move(sess));
    };
  }
};

/// Client side: collects what arrives.
struct Collector : Stream::Handler {
  StreamPtr s;
  Bytes data;
  std::uint64_t bytes = 0;
  bool keep = true;  // keep the bytes (or only count them)
  std::uint64_t hash = 1469598103934665603ull;
  bool eof = false;
  bool drained = false;
  std::string error;
  /// If set, the stream must carry this block over and over: checked exactly with memcmp
  /// (much cheaper than hashing 64 MiB byte by byte).
  const Bytes* pattern = nullptr;
  bool pattern_ok = true;
  void on_read(ByteView d) override {
    if (pattern) {
      std::size_t done = 0;
      while (done < d.size()) {
        std::size_t at = (bytes + done) % pattern->size();
        std::size_t n = std::min(d.size() - done, pattern->size() - at);
        if (std::memcmp(d.data() + done, pattern->data() + at, n) != 0) pattern_ok = false;
        done += n;
      }
    } else {
      hash = fnv1a(d, hash);
    }
    bytes += d.size();
    if (keep) data.insert(data.end(), d.begin(), d.end());
  }
  void on_eof() override { eof = true; }
  void on_error(std::string_view r) override { error = std::string(r); }
  void on_drain() override { drained = true; }
};

inline mtop::quic::QuicServerOptions server_options(const Certs& c, std::uint16_t port = 0) {
  mtop::quic::QuicServerOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.tls.cert_chain_file = c.cert;
  o.tls.key_file = c.key;
  return o;
}

inline mtop::quic::QuicClientOptions client_options(const Certs& c, std::uint16_t port) {
  mtop::quic::QuicClientOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.tls.server_name = "localhost";
  o.tls.ca_file = c.ca;
  o.backoff_initial_ms = 50;
  o.backoff_max_ms = 500;
  return o;
}

/// Opens one stream and waits for the result. Returns the stream (null on failure, with the
/// error in `error`).
inline StreamPtr open_stream(Loop& loop, mtop::quic::QuicClient& client, std::string& error,
                             std::uint64_t timeout_ms = 15'000) {
  struct Result {
    bool done = false;
    StreamPtr stream;
    std::string error;
  };
  auto r = std::make_shared<Result>();  // outlives a timed-out wait
  client.open([r](StreamPtr s, std::string e) {
    r->done = true;
    r->stream = std::move(s);
    r->error = std::move(e);
  });
  if (!loop.run_until([&] { return r->done; }, timeout_ms)) {
    error = "test: open timed out";
    return nullptr;
  }
  error = r->error;
  return std::move(r->stream);
}

}  // namespace qt
