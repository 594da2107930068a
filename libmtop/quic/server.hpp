// QuicServer: the MTop server's QUIC endpoint (a StreamAcceptor). One UDP socket, many
// connections, each client-opened bidirectional stream handed to the accept callback.
//
// Theory of operation. Every datagram is routed by its destination connection ID
// (ngtcp2_pkt_decode_version_cid). A known ID goes to its connection. An unknown ID in a
// long-header packet is a new client: ngtcp2_accept checks it is a well-formed Initial; an
// unsupported version gets Version Negotiation; past `retry_threshold` handshakes in
// progress, clients must first echo a Retry token (proof of address). An unknown ID in a
// short-header packet belongs to a connection we forgot (e.g. before a restart): it gets a
// stateless reset, rate-limited. Anything that does not parse is dropped silently.
//
// Connections are flushed once per loop turn from a uv_check handle and reaped there when
// dead (after their closing or draining period), never from inside their own calls.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "mtop/stream.hpp"
#include "quic/connection.hpp"
#include "quic/h3_gate.hpp"
#include "quic/tls.hpp"
#include "quic/udp_socket.hpp"
#include "uv/chunk_pool.hpp"
#include "uv/handle.hpp"
#include "uv/timer.hpp"

namespace mtop::quic {

struct QuicServerOptions {
  std::string host = "127.0.0.1";  ///< IP literal to bind (IPv4 or IPv6, no brackets)
  std::uint16_t port = 0;          ///< 0 = any free port (see QuicServer::port())
  mtop::tls::TlsServerConfig tls;
  ConnectionLimits limits;  ///< limits.max_streams: concurrent streams per connection
  std::size_t max_connections = 10'000;
  /// Handshakes in progress above which new clients must pass a Retry round trip.
  std::size_t retry_threshold = 128;
  /// Budget for unsolicited answers (stateless resets, version negotiation), per second.
  std::uint32_t unsolicited_per_second = 200;
  /// Optional stable secret (>= 32 bytes). The same secret across restarts lets clients
  /// resume TLS sessions and recognise our stateless resets. Empty = random per instance.
  std::string secret;
  /// Asked with the source of every new client's Initial packet before any connection state
  /// exists; false drops the packet unanswered (stealth: a denied source learns nothing, and
  /// each retransmitted Initial is asked again). Null: everyone is admitted.
  std::function<bool(const sockaddr* peer)> admit;
  /// A multi-worker server (reuseport_steering.hpp): this socket is worker `worker` of
  /// `workers` on the port, joins its SO_REUSEPORT group (bind worker 0 first, on the port
  /// it gets, then the others in order) and issues connection IDs naming `worker`. 1: alone.
  unsigned worker = 0;
  unsigned workers = 1;
  /// ALPN offered, in order of preference (TlsServerConfig::alpn is not used here): "h3", and
  /// "mtop/1" while old climbers are about (docs/PROTOCOL.md section 10).
  std::vector<std::string> alpn = {"h3", "mtop/1"};
  /// With it, streams of "h3" connections go through the connection's H3Gate: possible
  /// tunnels come here with the gate, and the rest is HTTP/3. Null: every connection is
  /// MTop's, its streams go to the accept callback.
  H3Gate::TunnelCallback on_h3_tunnel;
  /// The HTTP/3 site of an "h3" connection, asked at its first stream; nullopt: no site.
  std::function<std::optional<h3::SiteOptions>()> h3_site;
};

class QuicServer final : public io::StreamAcceptor, private ConnectionOwner {
 public:
  /// Loads the certificate, binds the socket and starts serving. Errors: config_invalid (not an
  /// IP address, a short secret), tls_setup_failed (unreadable certificate or key),
  /// listen_failed (port in use...), system_error.
  static Result<std::unique_ptr<QuicServer>> create(uv_loop_t* loop, QuicServerOptions options,
                                                    AcceptCallback on_stream);
  /// Sends CONNECTION_CLOSE (NO_ERROR) to every client and closes the socket. Streams still
  /// held get on_error on a later turn.
  ~QuicServer() override;

  /// Stops accepting: new connections are refused and new streams reset with REFUSED, except
  /// on HTTP/3 connections, which get GOAWAY and finish their requests (H3Session::shutdown).
  void stop() override;
  /// `done` (on a later loop turn) once no HTTP/3 connection serves requests any more, or
  /// after `timeout_ms`, when those left are closed (H3_NO_ERROR). For a drain, after stop().
  void when_http3_done(std::uint64_t timeout_ms, std::function<void()> done);

  /// A TLS context for `config` (a new certificate, key or groups) with this server's
  /// session-ticket key, for use_tls(); nothing changes yet. Errors: as at create().
  Result<std::shared_ptr<const ServerTlsContext>> make_tls(
      const tls::TlsServerConfig& config) const;
  /// Handshakes from now on use `tls` (not null); live connections keep the credentials they
  /// started with (each holds its context).
  void use_tls(std::shared_ptr<const ServerTlsContext> tls);

  /// Closes every connection with CONNECTION_CLOSE carrying `app_error` and `reason`; each one
  /// lingers for 3×PTO in its closing period (answering stray packets with the same close)
  /// and is then freed. The server keeps serving new clients unless stop() was called.
  void close_all(std::uint64_t app_error, const std::string& reason);

  /// close_all() for the connections that carry no stream right now (and have finished their
  /// handshake): what a listener removed by a reload does to climbers that idle on it.
  void close_idle(std::uint64_t app_error, const std::string& reason);

  /// The bound UDP port.
  std::uint16_t port() const noexcept;
  std::size_t connection_count() const noexcept { return conns_.size(); }

  struct Stats {
    std::uint64_t dropped = 0;  ///< datagrams that could not be used
    std::uint64_t version_negotiations = 0;
    std::uint64_t stateless_resets = 0;
    std::uint64_t retries = 0;
    std::uint64_t refused = 0;  ///< new connections refused (limit or stopped)
    std::uint64_t accepted_connections = 0;
    std::uint64_t streams = 0;  ///< streams climbers opened (refused ones included)
  };
  const Stats& stats() const noexcept { return stats_; }

 private:
  explicit QuicServer(uv_loop_t* loop) : loop_(loop), http3_timer_(loop) {}
  // ConnectionOwner
  void send_packets(const sockaddr* to, const std::uint8_t* data, std::size_t len,
                    std::size_t segment) override;
  bool send_blocked() const override;
  void schedule(Connection& c) override;
  void cid_added(Connection& c, const ngtcp2_cid& cid) override;
  void cid_removed(const ngtcp2_cid& cid) override;
  ByteView reset_secret() const override { return secret_; }
  void handshake_completed(Connection& c) override;
  void stream_accepted(Connection& c, io::StreamPtr stream) override;
  io::ChunkPool& chunk_pool() override { return chunks_; }
  void mark_cid(ngtcp2_cid& cid) const override;

  void on_datagram(const sockaddr* from, ByteView data);
  void accept_connection(const sockaddr* from, ByteView data);
  void send_version_negotiation(const sockaddr* from, const std::uint8_t* dcid, std::size_t dcidlen,
                                const std::uint8_t* scid, std::size_t scidlen);
  void send_stateless_reset(const sockaddr* from, const std::uint8_t* dcid, std::size_t dcidlen,
                            std::size_t received);
  void send_retry(const sockaddr* from, const ngtcp2_pkt_hd& hd);
  void send_initial_close(const sockaddr* from, const ngtcp2_pkt_hd& hd, std::uint64_t code);
  bool take_unsolicited_budget();
  void wake();
  void on_check();
  void reap(Connection* c);
  H3Gate& gate_of(Connection& c);
  void check_http3_done();
  const sockaddr* local() const {
    return reinterpret_cast<const sockaddr*>(&socket_->local_address());
  }

  uv_loop_t* loop_;
  QuicServerOptions options_;
  AcceptCallback on_stream_;
  Bytes ticket_key_;  ///< session-ticket key (derived from the secret), for make_tls()
  std::shared_ptr<const ServerTlsContext> tls_;
  std::unique_ptr<UdpSocket> socket_;
  Bytes secret_;
  bool stopped_ = false;
  io::ChunkPool chunks_;  // declared before conns_: outlives every connection
  std::unordered_map<Connection*, std::unique_ptr<Connection>> conns_;
  std::unordered_map<std::string, Connection*> routes_;  // CID bytes -> connection
  std::unordered_map<Connection*, std::shared_ptr<H3Gate>> gates_;  // "h3" connections
  std::unordered_set<Connection*> handshaking_;
  std::vector<Connection*> dirty_;
  std::unordered_set<Connection*> dirty_set_;
  std::uint64_t budget_second_ = 0;
  std::uint32_t budget_used_ = 0;
  Stats stats_;
  bool woken_ = false;
  io::UvHandle<uv_check_t> check_;
  io::UvHandle<uv_idle_t> idle_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::function<void()> http3_done_;  ///< when_http3_done()
  std::uint64_t http3_deadline_ = 0;
  io::Timer http3_timer_;
};

}  // namespace mtop::quic
