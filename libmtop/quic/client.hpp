// QuicClient: the climber's side of MTop over QUIC. A pool of QUIC connections to host:port
// (usually one), one new bidirectional stream per open() (a StreamDialer).
//
// Theory of operation. The first open() resolves the name (uv_getaddrinfo), opens a connected
// UDP socket and starts the handshake; opens wait in a queue until it completes, then each gets
// a stream on the oldest connection that has stream credit. The server grants each connection
// a number of streams at once and gives a slot back (MAX_STREAMS) whenever one of our streams
// ends; opens that such credit, already on its way, can serve wait for it. Beyond that, when
// every connection is at the server's limit, another connection to the same address is opened
// (one handshake at a time, at most max_connections). With the pool full and no credit on its
// way, the opens that cannot be served fail at once with an io::at_limit_error() naming the
// limit. An extra connection that has carried no stream for idle_connection_ms is closed; the
// oldest one stays. When a connection cannot be made (DNS, handshake time-out, certificate
// refused...) the waiting opens fail with the reason (except those that credit on its way to
// a live connection will serve), and the next attempt waits for a back-off that doubles per
// failure. When an established connection dies (idle time-out, server restart, stateless
// reset), its streams get on_error and the next open() reconnects at once, resuming the TLS
// session from the last ticket (kept in memory, optionally in a file; shared by the pool).
// 0-RTT is not used. Keep-alive PINGs keep NAT bindings open while a connection is idle.
//
// Work is batched: events and writes are flushed once per loop turn from a uv_check handle.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "mtop/stream.hpp"
#include "quic/app_error.hpp"
#include "quic/connection.hpp"
#include "quic/pooled_connection.hpp"
#include "quic/tls.hpp"
#include "uv/chunk_pool.hpp"
#include "uv/handle.hpp"

namespace mtop::quic {

struct QuicClientOptions {
  std::string host;  ///< server name or IP literal (no brackets)
  std::uint16_t port = 0;
  /// TLS: `tls.server_name` defaults to `host`; set it when dialing an IP literal whose
  /// certificate names a host.
  mtop::tls::TlsClientConfig tls;
  /// The one ALPN offered: "h3" (a climber looks like a browser), or "mtop/1" for a server
  /// from before the HTTP/3 site (docs/PROTOCOL.md section 10).
  std::string alpn = std::string(kAlpnH3);
  ConnectionLimits limits = [] {
    ConnectionLimits l;
    l.keep_alive_ms = 15'000;  // well under common NAT UDP time-outs (30 s and up)
    return l;
  }();
  /// Pool bound: connections to the server at once (1..1,000,000). A server grants a fixed
  /// number of streams at once per connection (256 by default); more tunnels at once need
  /// more connections. The default is the climber's default for local connections, so that
  /// one is the limit that binds.
  std::size_t max_connections = 10'000;
  /// The setting behind max_connections, named in the error when the pool is full (the
  /// climber says "limits.quic_connections").
  std::string max_connections_name = "max_connections";
  /// An extra connection (not the oldest) with no stream for this long is closed.
  std::uint64_t idle_connection_ms = 20'000;
  std::uint64_t backoff_initial_ms = 200;
  std::uint64_t backoff_max_ms = 30'000;
  /// If set, the TLS session (for resumption) is also kept in this file (mode 0600).
  std::string session_file;
};

class QuicClient final : public io::StreamDialer, private PooledConnection::Host {
 public:
  /// Checks the options and loads the trust store; connects on the first open(). Errors:
  /// config_invalid (no host, no port, max_connections out of range, a malformed pin),
  /// tls_setup_failed (unreadable CA file...), system_error.
  static Result<std::unique_ptr<QuicClient>> create(uv_loop_t* loop, QuicClientOptions options);
  /// Closes every connection (CONNECTION_CLOSE, NO_ERROR). Streams still held get on_error
  /// on a later turn; opens still waiting are dropped without their callback. May be called
  /// from inside one of the client's callbacks.
  ~QuicClient() override;

  /// See io::StreamDialer. The callback runs on a later loop turn, exactly once.
  void open(OpenCallback cb) override;

  /// Streams the server opens (visitors of reverse tunnels, PROTOCOL.md 9.5) go to `cb`, on
  /// the loop, never inside a call into the client; without one they are reset with
  /// REFUSED. The server can open them only where we grant some: limits.server_streams, or
  /// ConnectionHandle::of(a stream)->set_peer_stream_grant() for the connection that
  /// carries that stream. Their slots go back to the server as they close.
  void on_peer_stream(io::StreamAcceptor::AcceptCallback cb) { on_peer_stream_ = std::move(cb); }

  /// True while at least one connection is established.
  bool connected() const noexcept;
  /// Connections established and usable right now (the pool's size, without the one whose
  /// handshake is in progress).
  std::size_t connection_count() const noexcept;
  /// Handshakes completed so far (a reconnect or an extra pool connection adds one).
  std::uint64_t handshakes() const noexcept { return handshakes_; }
  /// True if the last completed handshake resumed a TLS session.
  bool last_resumed() const noexcept { return last_resumed_; }
  /// Why the last connection ended or the last attempt failed (empty if none did).
  const std::string& last_error() const noexcept { return last_error_; }
  /// The send-chunk free list shared by the pool (exposed for tests and diagnostics).
  const io::ChunkPool& chunks() const noexcept { return chunks_; }

 private:
  explicit QuicClient(uv_loop_t* loop) : loop_(loop) {}
  // PooledConnection::Host
  void wake() override;
  void ready(PooledConnection& member) override;
  ByteView reset_secret() const override { return reset_secret_; }
  io::ChunkPool& chunk_pool() override { return chunks_; }
  void peer_stream(io::StreamPtr stream) override;

  void on_check();
  void flush_all();
  void reap();
  void fail_if_refused();
  void serve_opens();
  std::uint64_t credit_in_flight() const;
  void fail_beyond(std::size_t keep, const std::string& error);
  std::string pool_full_error() const;
  void close_idle();
  PooledConnection* with_credit() const;
  PooledConnection* established_member() const;
  bool handshaking() const;
  void start_connection();
  void start_resolve();
  void on_resolved(int status, addrinfo* res);
  void connect_to(const sockaddr* peer);
  void connect_failed(const std::string& reason);
  void store_ticket(ByteView data);

  uv_loop_t* loop_;
  QuicClientOptions options_;
  std::unique_ptr<ClientTlsContext> tls_;
  io::ChunkPool chunks_;  // declared before pool_: outlives every connection
  std::vector<std::unique_ptr<PooledConnection>> pool_;  // oldest first
  std::deque<OpenCallback> pending_;
  io::StreamAcceptor::AcceptCallback on_peer_stream_;
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
  io::UvHandle<uv_check_t> check_;
  io::UvHandle<uv_idle_t> idle_;
  io::UvHandle<uv_timer_t> backoff_timer_;
  io::UvHandle<uv_timer_t> idle_timer_;  // wakes us when an extra connection's idle time ends
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mtop::quic
