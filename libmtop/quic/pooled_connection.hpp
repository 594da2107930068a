// PooledConnection: one connection of a QuicClient's pool, with its own connected UDP socket
// (its own source port, so the server sees a separate connection with its own stream limit).
// The client decides when to open, use, close and reap pool members; this class only wires
// a socket to a Connection and tells its host what happened.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "quic/connection.hpp"
#include "quic/tls.hpp"
#include "quic/udp_socket.hpp"
#include "uv/chunk_pool.hpp"

namespace mtop::quic {

class PooledConnection final : private ConnectionOwner {
 public:
  /// What a member needs from its client.
  class Host {
   public:
    virtual ~Host() = default;
    /// The member has work: run flush() on this loop turn (never call back into it here).
    virtual void wake() = 0;
    /// The handshake completed (called from flush()).
    virtual void ready(PooledConnection& member) = 0;
    /// The server opened a stream on this member (called from flush()). Dropping it resets
    /// it.
    virtual void peer_stream(io::StreamPtr stream) = 0;
    /// Secret for stateless reset tokens (shared by the client's connections).
    virtual ByteView reset_secret() const = 0;
    /// The client's free list of send chunks (outlives every member).
    virtual io::ChunkPool& chunk_pool() = 0;
  };

  /// Opens a UDP socket connected to `peer` and starts a handshake on it, resuming the TLS
  /// session `ticket` if non-empty; `on_ticket` receives new session tickets. Errors: those
  /// of UdpSocket::open and Connection::start_client.
  static Result<std::unique_ptr<PooledConnection>> start(
      uv_loop_t* loop, Host& host, const ClientTlsContext& tls, const ConnectionLimits& limits,
      ByteView ticket, std::function<void(ByteView)> on_ticket, const sockaddr* peer);
  /// Frees the connection without sending anything: call conn().close_now() first to tell
  /// the server.
  ~PooledConnection() override;
  PooledConnection(const PooledConnection&) = delete;
  PooledConnection& operator=(const PooledConnection&) = delete;

  Connection& conn() noexcept { return *conn_; }
  const Connection& conn() const noexcept { return *conn_; }
  /// The server address this member is connected to.
  const sockaddr* peer() const noexcept { return reinterpret_cast<const sockaddr*>(&peer_); }
  /// libuv error of an ICMP unreachable the socket saw since the last call, 0 if none.
  int take_unreachable() noexcept {
    const int e = unreachable_;
    unreachable_ = 0;
    return e;
  }

  /// Kept for the client's idle bookkeeping: uv_now() when this member was first seen
  /// without streams, or kBusy.
  static constexpr std::uint64_t kBusy = UINT64_MAX;
  std::uint64_t idle_since_ms = kBusy;
  /// Closed by the client as an idle extra connection (its end is not an error).
  bool retired = false;
  /// True (once) if the connection asked to be flushed since the last call: the client
  /// flushes only those, so a large pool costs nothing while its connections are quiet.
  bool take_flush() noexcept {
    const bool f = wants_flush_;
    wants_flush_ = false;
    return f;
  }

 private:
  explicit PooledConnection(Host& host) : host_(host) {}
  // ConnectionOwner
  void send_packets(const sockaddr* to, const std::uint8_t* data, std::size_t len,
                    std::size_t segment) override;
  bool send_blocked() const override;
  void schedule(Connection&) override { wake(); }
  void wake() {
    wants_flush_ = true;
    host_.wake();
  }
  void cid_added(Connection&, const ngtcp2_cid&) override {}
  void cid_removed(const ngtcp2_cid&) override {}
  ByteView reset_secret() const override { return host_.reset_secret(); }
  void handshake_completed(Connection&) override { host_.ready(*this); }
  void stream_accepted(Connection&, io::StreamPtr stream) override {
    host_.peer_stream(std::move(stream));
  }
  io::ChunkPool& chunk_pool() override { return host_.chunk_pool(); }

  Host& host_;
  sockaddr_storage peer_{};
  int unreachable_ = 0;
  bool wants_flush_ = false;
  std::unique_ptr<UdpSocket> socket_;  // declared before conn_: the connection goes first
  std::unique_ptr<Connection> conn_;
};

}  // namespace mtop::quic
