// A TLS listener + dialer pair on loopback for the stream tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "must.hpp"
#include "tls/dialer.hpp"
#include "tls/listener.hpp"
#include "tls/tls_stream.hpp"
#include "tls_test_support.hpp"

namespace tls_test {

/// A listener that keeps every accepted stream and every failure reason.
struct Server {
  std::shared_ptr<ServerContext> ctx;
  std::unique_ptr<TlsListener> listener;
  std::vector<io::StreamPtr> accepted;
  std::vector<std::string> failures;

  Server(Loop& loop, const std::string& cert, const std::string& key,
         TlsListenerOptions options = {}, const std::string& host = "127.0.0.1") {
    std::string err;
    ctx = must(ServerContext::create({cert, key}));
    if (!ctx) throw std::runtime_error(err);
    listener = must(TlsListener::create(loop.get(), ctx, host, 0, options, [this](io::StreamPtr s) {
      accepted.push_back(std::move(s));
    }));
    if (!listener) throw std::runtime_error(err);
    listener->set_failure_hook(
        [this](std::string_view, std::string_view reason) { failures.emplace_back(reason); });
  }
  std::uint16_t port() const { return listener->port(); }
};

struct DialOutcome {
  io::StreamPtr stream;
  std::string error;
  bool done = false;
};

inline std::shared_ptr<ClientContext> client_ctx(TlsClientConfig c) {
  std::string err;
  auto ctx = must(ClientContext::create(c));
  if (!ctx) throw std::runtime_error(err);
  return ctx;
}

inline DialOutcome dial(Loop& loop, std::shared_ptr<ClientContext> ctx, const std::string& host,
                        std::uint16_t port, TlsDialOptions options = {}) {
  TlsDialer dialer(loop.get(), std::move(ctx), host, port, options);
  DialOutcome out;
  dialer.open([&](io::StreamPtr s, std::string e) {
    out.stream = std::move(s);
    out.error = std::move(e);
    out.done = true;
  });
  loop.run_until([&] { return out.done; });
  return out;
}

/// Echoes what it reads; answers the peer's EOF with its own shutdown.
struct Echo : io::Stream::Handler {
  io::Stream* s;
  std::string error;
  explicit Echo(io::Stream* stream) : s(stream) {}
  void on_read(ByteView d) override { s->write(d); }
  void on_eof() override { s->shutdown(); }
  void on_error(std::string_view r) override { error = std::string(r); }
  void on_drain() override {}
};

}  // namespace tls_test
