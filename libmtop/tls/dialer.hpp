// TlsDialer: opens one TLS connection per open() to a fixed server: connect_tcp (DNS, every
// address, time-out), then the client handshake under its own time-out, then the stream.
// Failures are short strings: "connect: connection refused", "handshake timed out",
// "certificate verify failed: ...", "pin mismatch".
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "mtop/stream.hpp"
#include "tls/buffers.hpp"
#include "tls/context.hpp"
#include "uv/connector.hpp"

namespace mtop::tls {

class TlsStream;

struct TlsDialOptions {
  io::ConnectOptions connect;
  std::uint64_t handshake_timeout_ms = 10'000;
};

class TlsDialer final : public io::StreamDialer {
 public:
  /// `host` is a name or an IP literal (no brackets). The name checked in the certificate is
  /// ctx->config().server_name, or `host` when that is empty. Sessions are cached per
  /// (server name, host, port) in the context.
  TlsDialer(uv_loop_t* loop, std::shared_ptr<ClientContext> ctx, std::string host,
            std::uint16_t port, TlsDialOptions options = {});
  /// Cancels every open() in progress; their callbacks are not called.
  ~TlsDialer() override;
  TlsDialer(const TlsDialer&) = delete;
  TlsDialer& operator=(const TlsDialer&) = delete;

  /// Starts one connection; `cb` runs exactly once on the loop, never inside open(), unless
  /// the dialer is destroyed first. It may destroy the dialer.
  void open(OpenCallback cb) override;

  std::size_t in_progress() const noexcept { return pending_.size(); }

 private:
  struct Pending {
    OpenCallback cb;
    std::unique_ptr<io::ConnectAttempt> connect;
    TlsStream* stream = nullptr;
  };
  void on_connected(std::uint64_t id, io::ConnectResult result);
  void on_handshake(std::uint64_t id, TlsStream* stream, std::string error);

  uv_loop_t* loop_;
  std::shared_ptr<ClientContext> ctx_;
  std::string host_;
  std::uint16_t port_;
  TlsDialOptions options_;
  std::string server_name_;
  std::string session_key_;
  SharedTlsBuffers buffers_;
  std::map<std::uint64_t, Pending> pending_;
  std::uint64_t next_id_ = 1;
};

}  // namespace mtop::tls
