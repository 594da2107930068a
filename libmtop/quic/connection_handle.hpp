// ConnectionHandle: a weak handle on the QUIC connection that carries a stream, for the layer
// above the streams (reverse tunnels, PROTOCOL.md 9.5). The server opens a visitor's stream on
// the connection that carries the climber's control tunnel; the climber sets how many such
// streams it lets the server open at once on that connection.
//
// Theory of operation. The handle holds the connection's liveness flag, not the connection:
// once the connection is freed every call is a harmless no-op (open_stream() fails). Stream
// credit is QUIC's MAX_STREAMS: open_stream() fails with Errc::limit_reached while the peer
// grants no more streams, and on_credit() tells when it granted more (the peer gives a slot
// back whenever one of our streams closes), so a caller waits without polling and bounds
// the wait with a timer of its own. A new stream's first write goes out in the next packet:
// there is no round trip before the first bytes. Everything runs on the loop's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "mtop/result.hpp"
#include "mtop/stream.hpp"

namespace mtop::quic {

class Connection;

class ConnectionHandle : public std::enable_shared_from_this<ConnectionHandle> {
 public:
  /// Made by Connection::handle(); `alive` is the connection's liveness flag.
  ConnectionHandle(Connection* conn, std::shared_ptr<bool> alive)
      : conn_(conn), alive_(std::move(alive)) {}

  /// The connection that carries `stream`, or null when `stream` is not a QUIC stream or its
  /// connection has gone.
  static std::shared_ptr<ConnectionHandle> of(io::Stream& stream);

  /// True while the connection is established (not closing, draining or freed).
  bool usable() const;
  /// True when `other` is a handle on the same connection (of() makes a new handle per call).
  bool same_connection(const ConnectionHandle& other) const noexcept {
    return alive_ == other.alive_;
  }

  /// Opens a bidirectional stream to the peer on this connection (server: a server-initiated
  /// stream, which the climber receives through QuicClient::on_peer_stream). The stream is
  /// an io::Stream like any other: write, shutdown, abort(code), read once started. Errors:
  /// limit_reached (the peer's stream credit is used up: wait for on_credit()),
  /// invalid_state (the connection is not established, or has gone).
  Result<io::StreamPtr> open_stream();

  /// Streams open_stream() can open right now (the peer's credit); 0 when not usable().
  std::uint64_t streams_left() const;

  /// `cb` runs, on a later loop turn and never inside a call into the handle, each time the
  /// peer grants more streams; it may call open_stream(). Replaces an earlier callback;
  /// an empty one stops the notifications. Not called once the connection has ended (its
  /// streams get on_error then).
  void on_credit(std::function<void()> cb);

  /// How many streams the peer may have open at once on this connection (the climber's grant
  /// for server-initiated streams; see Connection::set_peer_stream_grant). No-op once the
  /// connection has gone.
  void set_peer_stream_grant(std::uint64_t n);
  /// The current grant (0 once the connection has gone).
  std::uint64_t peer_stream_grant() const;
  /// Streams the peer opened on this connection that are not closed yet.
  std::uint64_t peer_streams_open() const;

 private:
  friend class Connection;
  Connection* live() const { return alive_ && *alive_ ? conn_ : nullptr; }
  /// Called by the connection's flush when the peer granted more streams.
  void credit_arrived();

  Connection* conn_;
  std::shared_ptr<bool> alive_;
  std::function<void()> on_credit_;
  bool watching_ = false;  // listed in the connection's credit watchers
};

}  // namespace mtop::quic
