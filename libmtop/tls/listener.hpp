// TlsListener: accepts TCP connections, runs the server handshake on each (bounded in time
// and in number), and hands established TLS streams to the callback.
//
// Whatever fails the handshake — plain text, random bytes, TLS 1.2, a wrong certificate
// choice on the client, or silence until the time-out — is closed and reported through the
// optional failure hook; the listener keeps serving. Above max_handshakes concurrent
// handshakes, new connections are accepted and closed at once, so a flood of idle sockets
// cannot pin memory or file descriptors for the whole time-out.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

#include "mtop/result.hpp"
#include "mtop/stream.hpp"
#include "tls/buffers.hpp"
#include "tls/context.hpp"
#include "uv/tcp_listener.hpp"

namespace mtop::tls {

class TlsStream;

struct TlsListenerOptions {
  std::uint64_t handshake_timeout_ms = 10'000;
  std::size_t max_handshakes = 1024;  ///< concurrent server handshakes
  int backlog = 511;
  /// Asked with the peer of every accepted connection before any TLS byte is read; false
  /// closes it at once (no handshake, no CPU spent on it; not reported to the failure hook:
  /// the admission policy logs its own refusals). Null: everyone is admitted.
  std::function<bool(const struct sockaddr* peer)> admit;
  /// SO_REUSEPORT (io::ListenOptions::reuse_port): one listener per worker on the address.
  bool reuse_port = false;
};

class TlsListener final : public io::StreamAcceptor {
 public:
  /// Called for every connection that did not become a stream: peer "ip:port" and a short
  /// reason ("handshake timed out", "handshake: wrong version number", "too many handshakes").
  using FailureHook = std::function<void(std::string_view peer, std::string_view reason)>;

  /// Listens on host (IPv4 or IPv6 literal) and port (0 = the OS picks, see port()).
  /// `cb` runs on the loop with each established stream (not yet reading); it may stop() or
  /// destroy the listener. Errors: invalid_argument (no context or callback), listen_failed
  /// ("bind 127.0.0.1:80: address already in use", "not an IP address: x").
  static Result<std::unique_ptr<TlsListener>> create(uv_loop_t* loop,
                                                     std::shared_ptr<ServerContext> ctx,
                                                     const std::string& host, std::uint16_t port,
                                                     const TlsListenerOptions& options,
                                                     AcceptCallback cb);
  ~TlsListener() override;

  std::uint16_t port() const noexcept;
  const std::string& local_name() const noexcept;
  void set_failure_hook(FailureHook hook) { on_failure_ = std::move(hook); }
  /// Handshakes from now on use `ctx` (not null: a new certificate, key or groups) and time
  /// out after `handshake_timeout_ms`; those in progress and established streams keep the
  /// context they started with (each holds it).
  void reconfigure(std::shared_ptr<ServerContext> ctx, std::uint64_t handshake_timeout_ms);
  std::size_t handshakes_in_progress() const noexcept { return handshaking_.size(); }

  /// Stops accepting and aborts the handshakes in progress; established streams are not
  /// touched. Idempotent; no callback follows.
  void stop() override;

 private:
  TlsListener(uv_loop_t* loop, std::shared_ptr<ServerContext> ctx, TlsListenerOptions options,
              AcceptCallback cb);
  void on_tcp(io::UvHandle<uv_tcp_t> tcp);
  void on_handshake(TlsStream* stream, const std::string& error);
  void report(std::string_view peer, std::string_view reason);

  uv_loop_t* loop_;
  std::shared_ptr<ServerContext> ctx_;
  TlsListenerOptions options_;
  AcceptCallback cb_;
  FailureHook on_failure_;
  SharedTlsBuffers buffers_;
  std::unique_ptr<io::TcpListener> tcp_;
  std::unordered_set<TlsStream*> handshaking_;
  std::string local_;
  std::uint16_t port_ = 0;
};

}  // namespace mtop::tls
