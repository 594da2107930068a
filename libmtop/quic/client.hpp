// QuicClient: the climber's side of MTop over QUIC. One QUIC connection to host:port, one new
// bidirectional stream per open() (a StreamDialer).
//
// Theory of operation. The first open() resolves the name (uv_getaddrinfo), opens a connected
// UDP socket and starts the handshake; opens wait in a queue until it completes, then each gets
// a stream (waiting again whenever the server's concurrent-stream limit is reached). When the
// connection cannot be made (DNS, handshake time-out, certificate refused...) every waiting
// open fails with the reason, and the next attempt waits for a back-off that doubles per
// failure. When an established connection dies (idle time-out, server restart, stateless
// reset), its streams get on_error and the next open() reconnects at once, resuming the TLS
// session from the last ticket (kept in memory, optionally in a file). 0-RTT is not used.
// Keep-alive PINGs keep NAT bindings open while the connection is idle.
//
// Work is batched: events and writes are flushed once per loop turn from a uv_check handle.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "quic/connection.hpp"
#include "quic/tls.hpp"
#include "quic/udp_socket.hpp"
#include "uv/handle.hpp"
#include "uv/stream.hpp"

namespace mtop::quic {

struct QuicClientOptions {
  std::string host;        ///< server name or IP literal (no brackets)
  std::uint16_t port = 0;
  /// TLS: `tls.server_name` defaults to `host`; set it when dialing an IP literal whose
  /// certificate names a host.
  ClientTlsOptions tls;
  ConnectionLimits limits = [] {
    ConnectionLimits l;
    l.keep_alive_ms = 15'000;  // well under common NAT UDP time-outs (30 s and up)
    return l;
  }();
  std::uint64_t backoff_initial_ms = 200;
  std::uint64_t backoff_max_ms = 30'000;
  /// If set, the TLS session (for resumption) is also kept in this file (mode 0600).
  std::string session_file;
};

class QuicClient final : public io::StreamDialer, private ConnectionOwner {
 public:
  /// Checks the options and loads the trust store; connects on the first open(). Null with
  /// `error` set when the options are unusable (no host, no port, unreadable CA file...).
  static std::unique_ptr<QuicClient> create(uv_loop_t* loop, QuicClientOptions options,
                                            std::string& error);
  /// Closes the connection (CONNECTION_CLOSE, NO_ERROR). Streams still held get on_error on
  /// a later turn; opens still waiting are dropped without their callback. May be called from
  /// inside one of the client's callbacks.
  ~QuicClient() override;

  /// See io::StreamDialer. The callback runs on a later loop turn, exactly once.
  void open(OpenCallback cb) override;

  /// True while a connection is established.
  bool connected() const noexcept;
  /// Handshakes completed so far (a reconnect adds one).
  std::uint64_t handshakes() const noexcept { return handshakes_; }
  /// True if the last completed handshake resumed a TLS session.
  bool last_resumed() const noexcept { return last_resumed_; }
  /// Why the last connection ended or the last attempt failed (empty if none did).
  const std::string& last_error() const noexcept { return last_error_; }

 private:
  enum class Phase { idle, resolving, connecting, connected, backoff };

  explicit QuicClient(uv_loop_t* loop) : loop_(loop) {}
  // ConnectionOwner
  void send_packets(const sockaddr* to, const std::uint8_t* data, std::size_t len,
                    std::size_t segment) override;
  bool send_blocked() const override;
  void schedule(Connection& c) override;
  void cid_added(Connection&, const ngtcp2_cid&) override {}
  void cid_removed(const ngtcp2_cid&) override {}
  ByteView reset_secret() const override { return reset_secret_; }
  void handshake_completed(Connection& c) override;
  void stream_accepted(Connection&, io::StreamPtr) override {}

  void wake();
  void on_check();
  void reap();
  void fail_if_refused();
  void serve_opens();
  void start_resolve();
  void on_resolved(int status, addrinfo* res);
  void connect_failed(const std::string& reason);
  void store_ticket(ByteView data);

  uv_loop_t* loop_;
  QuicClientOptions options_;
  std::unique_ptr<ClientTlsContext> tls_;
  Phase phase_ = Phase::idle;
  std::unique_ptr<UdpSocket> socket_;
  std::unique_ptr<Connection> conn_;
  std::deque<OpenCallback> pending_;
  uv_getaddrinfo_t* resolving_ = nullptr;  // in flight; its data is cleared when we go away
  std::vector<sockaddr_storage> addresses_;
  std::size_t attempt_ = 0;
  std::uint64_t backoff_ms_ = 0;
  std::uint64_t next_attempt_ms_ = 0;  // uv_now() value
  Bytes ticket_;
  Bytes reset_secret_;
  std::uint64_t handshakes_ = 0;
  bool last_resumed_ = false;
  std::string last_error_;
  bool woken_ = false;
  int unreachable_ = 0;  ///< libuv error the socket reported (ICMP unreachable), 0 if none
  io::UvHandle<uv_check_t> check_;
  io::UvHandle<uv_idle_t> idle_;
  io::UvHandle<uv_timer_t> backoff_timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mtop::quic
