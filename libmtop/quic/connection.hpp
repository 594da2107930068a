// Connection: one QUIC connection (client or server side) on ngtcp2, without a socket of its
// own. Its owner (QuicClient / QuicServer) feeds it datagrams with receive(), calls flush()
// once per loop turn after schedule(), and sends what it produces.
//
// Theory of operation. ngtcp2 is sans-IO: packets go in through read_pkt, packets come out of
// writev_stream, and get_expiry says when handle_expiry is due. All calls into ngtcp2 happen
// in receive(), flush() and the timer, never inside an ngtcp2 callback; the callbacks only
// record facts in StreamState and the flags below, and list the stream as touched. flush()
// then, for the touched streams only, (1) delivers events to the application, (2) turns the
// application's intents into ngtcp2 calls (stream aborts, flow-control credit), (3) writes
// packets, batching equal-size packets for GSO, and (4) re-arms the timer. Thousands of idle
// streams thus cost nothing per flush.
//
// Closing: a local close writes CONNECTION_CLOSE once, keeps the packet and resends it (with
// back-off) when packets keep arriving, for 3×PTO; a peer's close puts us in draining for
// 3×PTO, sending nothing. Either way the streams are detached at once; the owner reaps the
// connection when dead() (server) or as soon as !usable() (client).
#pragma once

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "mtop/bytes.hpp"
#include "mtop/result.hpp"
#include "mtop/stream.hpp"
#include "quic/connection_handle.hpp"
#include "quic/handles.hpp"
#include "quic/quic_stream.hpp"
#include "quic/tls.hpp"
#include "uv/chunk_pool.hpp"
#include "uv/handle.hpp"

namespace mtop::quic {

class Connection;

/// Length of the connection IDs we issue (servers route short-header packets by it).
inline constexpr std::size_t kCidLength = 16;
/// The byte of a server connection ID that names the worker owning the connection when the
/// server runs several (QuicServerOptions::workers): its reuseport program steers every
/// datagram by it (reuseport_steering.hpp).
inline constexpr std::size_t kWorkerCidByte = 1;
/// Largest UDP payload we send (PMTUD probes up to this; ngtcp2 0.12's ceiling).
inline constexpr std::size_t kMaxUdpPayload = 1452;
/// Server: unidirectional streams a client may open, never renewed (HTTP/3 needs 3: control,
/// QPACK encoder and decoder; a climber opens none), and each one's receive window.
inline constexpr std::uint64_t kPeerUniStreams = 8;
inline constexpr std::uint64_t kPeerUniStreamWindow = 64 * 1024;

/// What a Connection needs from the endpoint that owns its socket.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  /// Send `len` bytes as packets of `segment` bytes (last may be shorter) to `to`.
  virtual void send_packets(const sockaddr* to, const std::uint8_t* data, std::size_t len,
                            std::size_t segment) = 0;
  /// True while the socket cannot take more packets; the owner re-schedules everyone later.
  virtual bool send_blocked() const = 0;
  /// `c` has work: call c.flush() on this loop turn.
  virtual void schedule(Connection& c) = 0;
  /// A connection ID of ours now routes to `c` / no longer does (server routing).
  virtual void cid_added(Connection& c, const ngtcp2_cid& cid) = 0;
  virtual void cid_removed(const ngtcp2_cid& cid) = 0;
  /// Secret for stateless reset tokens of the connection IDs we issue.
  virtual ByteView reset_secret() const = 0;
  /// The handshake completed (called from flush()).
  virtual void handshake_completed(Connection& c) = 0;
  /// The peer opened a stream (called from flush()): a climber's tunnel on the server, a
  /// visitor (PROTOCOL.md 9.5) on the client. Dropping it refuses it.
  virtual void stream_accepted(Connection& c, io::StreamPtr stream) = 0;
  /// The endpoint's free list of send chunks; outlives every connection of the owner.
  virtual io::ChunkPool& chunk_pool() = 0;
  /// A connection ID we are about to issue, filled with random bytes: the owner may write
  /// its mark into it (a multi-worker server names the worker, kWorkerCidByte).
  virtual void mark_cid(ngtcp2_cid& /*cid*/) const {}
};

/// Tunables shared by client and server connections.
struct ConnectionLimits {
  std::uint64_t idle_timeout_ms = 30'000;
  std::uint64_t handshake_timeout_ms = 10'000;
  std::uint64_t keep_alive_ms = 0;             ///< 0 = no keep-alive PINGs
  std::uint64_t max_streams = 256;             ///< concurrent streams the peer may open (server)
  std::uint64_t stream_window = 1 << 20;       ///< initial per-stream receive window
  std::uint64_t conn_window = 4 << 20;         ///< initial connection receive window
  std::uint64_t max_stream_window = 16 << 20;  ///< auto-tuning ceiling per stream
  std::uint64_t max_conn_window = 32 << 20;    ///< auto-tuning ceiling per connection
  /// Client: server-initiated streams the server may open at once (visitors of reverse
  /// tunnels, PROTOCOL.md 9.5); 0 = none. Changeable per connection at run time
  /// (ConnectionHandle::set_peer_stream_grant).
  std::uint64_t server_streams = 0;
  /// Client: unidirectional streams the server may open (their bytes are read and dropped);
  /// an HTTP/3 server needs 3 (test clients); 0 = none.
  std::uint64_t server_uni_streams = 0;
};

class Connection {
 public:
  enum class State { handshaking, established, closing, draining, dead };

  Connection(ConnectionOwner& owner, uv_loop_t* loop, const ConnectionLimits& limits);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Client: sets up TLS (resuming from `resume` if non-empty) and ngtcp2 for the path
  /// local → remote. `on_ticket` receives session data for later resumption.
  /// Errors: system_error (GnuTLS, ngtcp2 or the random source refused).
  Result<void> start_client(const ClientTlsContext& tls, ByteView resume,
                            std::function<void(ByteView)> on_ticket, const sockaddr* local,
                            const sockaddr* remote);
  /// Server: sets up a connection for the client Initial `hd`. `retry_odcid` is the original
  /// DCID recovered from a valid Retry token (null without Retry); `token` is that token.
  /// Errors: system_error.
  Result<void> start_server(std::shared_ptr<const ServerTlsContext> tls, const ngtcp2_pkt_hd& hd,
                            const ngtcp2_cid* retry_odcid, const sockaddr* local,
                            const sockaddr* remote);

  /// One datagram from the peer.
  void receive(const sockaddr* local, const sockaddr* remote, ByteView packet);
  /// Delivers events, applies stream intents, writes packets, re-arms the timer.
  void flush();
  /// Opens a new bidirectional stream (client: a tunnel; server: towards the climber, a
  /// visitor of PROTOCOL.md 9.5); null when the peer's stream limit is reached (wait for the
  /// next handshake_completed / can_open_stream(), or ConnectionHandle::on_credit()).
  io::StreamPtr open_stream();
  bool can_open_stream() const;
  /// A weak handle on this connection for the layer above (quic/connection_handle.hpp).
  std::shared_ptr<ConnectionHandle> handle();
  /// How many streams the peer may have open at once (server: limits.max_streams; client:
  /// limits.server_streams). Raising it sends MAX_STREAMS at once; lowering it withholds the
  /// slots of the peer's streams as they close until the peer is back under it (QUIC cannot
  /// take back credit already granted).
  void set_peer_stream_grant(std::uint64_t n);
  std::uint64_t peer_stream_grant() const noexcept { return peer_grant_; }
  /// Streams the peer opened that ngtcp2 has not closed yet.
  std::uint64_t peer_streams_open() const noexcept { return peer_streams_open_; }
  /// Server: opens a unidirectional stream of ours (HTTP/3's control and QPACK streams); null
  /// before the handshake or when the client allows no more.
  io::StreamPtr open_uni_stream();
  /// Closes the connection with an application error (CONNECTION_CLOSE, then closing period).
  void close(std::uint64_t app_error, const std::string& reason);
  /// Sends CONNECTION_CLOSE once and becomes dead at once (the endpoint is going away).
  void close_now(std::uint64_t app_error, const std::string& reason);

  State state() const noexcept { return state_; }
  bool usable() const noexcept {
    return state_ == State::handshaking || state_ == State::established;
  }
  bool dead() const noexcept { return state_ == State::dead; }
  bool handshake_done() const noexcept { return state_ != State::handshaking && hs_done_; }
  /// Why the connection ended (empty while it lives).
  const std::string& error() const noexcept { return error_; }
  /// The ALPN the handshake settled on (empty before it completes).
  const std::string& alpn() const noexcept { return alpn_; }
  /// True if the TLS handshake resumed a session (client).
  bool resumed() const noexcept { return resumed_; }
  /// Connection IDs of ours that route here (server).
  const std::vector<ngtcp2_cid>& cids() const noexcept { return cids_; }
  const sockaddr* remote() const noexcept { return reinterpret_cast<const sockaddr*>(&remote_); }
  std::string peer_name() const;
  ngtcp2_conn* raw() const noexcept { return conn_.get(); }

  /// Streams not yet forgotten (open, or closing and still known to ngtcp2).
  std::size_t stream_count() const noexcept { return streams_.size(); }
  /// Client: streams the peer lets us have open at once (its initial_max_streams_bidi; a
  /// server that returns credit as streams close keeps this constant). 0 before the
  /// handshake.
  std::uint64_t peer_stream_limit() const;
  /// Client: streams we opened that are still in use: neither closed by ngtcp2 nor let go by
  /// the application. Each holds one of the peer's stream slots.
  std::uint64_t streams_holding_credit() const noexcept { return holding_credit_; }
  /// Client: streams of ours that ended (or are ending: the application let go, so a FIN or
  /// a reset is on its way) whose slot the peer has not given back yet; its MAX_STREAMS is
  /// about a round trip away. peer_stream_limit() minus the streams in use minus the credit
  /// in hand, never below 0.
  std::uint64_t credit_in_flight() const;

  // --- for QuicStream ---
  /// Queues `data` on the send side of `s` (SendQueue::append with the connection's spare).
  void append_tx(StreamState& s, ByteView data) { s.tx.append(data, tx_spare_, chunk_pool()); }
  /// Room to fill in place before append_tx (SendQueue::space).
  std::span<std::uint8_t> tx_space(StreamState& s, std::size_t want) {
    return s.tx.space(want, tx_spare_, chunk_pool());
  }
  // --- for ConnectionHandle ---
  /// `h` is told (ConnectionHandle::credit_arrived) whenever the peer grants more streams.
  void watch_credit(std::weak_ptr<ConnectionHandle> h);

  /// The application changed `s` (wrote, shut down, started reading): flush it this turn.
  void stream_touched(StreamState& s);
  void stream_app_closed(StreamState& s);

 private:
  io::ChunkPool& chunk_pool() { return owner_.chunk_pool(); }
  friend struct ConnCallbacks;

  Result<void> init_common(bool server, const ngtcp2_cid& dcid, const ngtcp2_cid& scid,
                           const sockaddr* local, const sockaddr* remote, std::uint32_t version,
                           const ngtcp2_transport_params& params, const ngtcp2_settings& settings);
  void fill_settings(ngtcp2_settings& s) const;
  void fill_params(ngtcp2_transport_params& p) const;
  StreamState* add_stream(std::int64_t id);
  void touch(StreamState& s);
  void deliver_events();
  void apply_intents();
  void forget_streams();
  void write_packets();
  void arm_timer();
  void on_timer();
  void send_batch(const sockaddr* to, std::size_t len, std::size_t segment);
  void fail_local(int liberr);
  void enter_closing(const ngtcp2_connection_close_error& ccerr, const std::string& reason);
  void enter_draining(const std::string& reason);
  void detach_streams(const std::string& reason);
  void die(const std::string& reason);
  std::string peer_close_reason();
  void enqueue_send(StreamState& s);
  void append_rx(StreamState& s, const std::uint8_t* data, std::size_t len);
  void release_credit(StreamState& s);
  void peer_stream_closed();
  void notify_credit();

  ConnectionOwner& owner_;
  uv_loop_t* loop_;
  ConnectionLimits limits_;
  bool server_ = false;
  State state_ = State::handshaking;
  bool hs_done_ = false;
  bool hs_reported_ = false;
  bool resumed_ = false;
  bool stateless_reset_ = false;
  std::string alpn_;
  std::string error_;

  TlsSessionContext tls_ctx_;
  // The server's credentials, which the session points into: kept while the session lives,
  // also after a reload gave new handshakes new ones (QuicServer::use_tls).
  std::shared_ptr<const ServerTlsContext> server_tls_;
  SessionPtr session_;  // declared before conn_: ngtcp2_conn is freed first, then the session
  ConnPtr conn_;
  sockaddr_storage local_{};
  sockaddr_storage remote_{};
  std::vector<ngtcp2_cid> cids_;

  std::map<std::int64_t, std::unique_ptr<StreamState>> streams_;
  // Streams with something new since the last flush (touch()): flush() visits only these, so
  // its cost follows what happened, not how many streams the connection carries.
  std::vector<std::int64_t> touched_;
  std::vector<std::int64_t> work_;  // the touched list being flushed (kept for its capacity)
  std::deque<std::int64_t> send_queue_;
  std::vector<std::int64_t> accepted_;  // server: streams opened by the peer, not yet handed out
  // The chunk SendQueue::space() lends when a stream's last chunk has too little room: one per
  // connection, not per stream, so a lend a read did not fill pins nothing per tunnel; and
  // back in the endpoint's pool at every flush(), so an idle connection holds none either.
  Bytes tx_spare_;
  std::uint64_t conn_consumed_ = 0;
  std::uint64_t holding_credit_ = 0;  // client: see streams_holding_credit()
  // Peer-initiated streams (set_peer_stream_grant()): the grant, the slots held back after
  // it was lowered, and the streams ngtcp2 has open.
  std::uint64_t peer_grant_ = 0;
  std::uint64_t peer_withheld_ = 0;
  std::uint64_t peer_streams_open_ = 0;
  // The peer raised our stream limit (extend_max_local_streams_bidi): tell the handles that
  // wait for it (ConnectionHandle::on_credit) from the next flush.
  bool credit_grew_ = false;
  std::vector<std::weak_ptr<ConnectionHandle>> credit_watchers_;

  Bytes closing_packet_;
  std::uint64_t closing_deadline_ = 0;
  std::uint64_t packets_while_closing_ = 0;
  std::uint64_t next_closing_resend_ = 1;

  io::UvHandle<uv_timer_t> timer_;
  std::shared_ptr<bool> alive_;
};

}  // namespace mtop::quic
