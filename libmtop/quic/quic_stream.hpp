// QuicStream: one bidirectional QUIC stream as an io::Stream (one MTop tunnel).
//
// Theory of operation. The stream's bytes live in a StreamState owned by the Connection;
// QuicStream is the application's handle on it, owned through a StreamPtr. Every call only
// records intent (queue bytes, request FIN, ask for more data) and asks the connection for a
// flush; the connection talks to ngtcp2 and calls the handler later, from its once-per-loop
// flush, so no callback ever runs inside a call into the stream.
//
// Sending: ngtcp2 does not copy stream data; written bytes stay in `tx` until the peer
// acknowledges them (acked_stream_data_offset), so write_queue_size() is "not yet
// acknowledged". write_space() lends room in `tx` (or the connection's spare chunk), so a
// relay's TCP reads land where ngtcp2 reads them: no copy in between (quic/send_queue.hpp).
// Receiving: bytes wait in `rx` until delivered, in chunks from the endpoint's free list (a
// growing vector freed per delivery churned the heap: page faults and realloc copies per MB);
// only delivered bytes extend the flow-control windows, so stop_read() back-pressures the
// peer.
//
// When the connection goes away first, detach() cuts the link and the stream reports
// on_error on a later loop turn through its own timer.
#pragma once

#include <uv.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "mtop/bytes.hpp"
#include "mtop/stream.hpp"
#include "quic/app_error.hpp"
#include "quic/send_queue.hpp"
#include "uv/handle.hpp"

namespace mtop::quic {

class Connection;
class QuicStream;

/// Per-stream state kept by the Connection (see the theory above). Offsets are absolute
/// stream offsets.
struct StreamState {
  std::int64_t id = -1;
  QuicStream* app = nullptr;  ///< the application's handle (null before accept / after close)
  bool app_closed = false;    ///< the application dropped its handle: discard incoming bytes
  bool holds_credit = false;  ///< client: counted in Connection's streams holding credit
  bool touched = false;       ///< listed for the next flush (Connection::touch)
  /// Opened by the peer (counted in Connection::peer_streams_open()).
  bool peer_initiated = false;

  // Send side: the bytes written and not yet acknowledged (quic/send_queue.hpp).
  SendQueue tx;
  bool fin_requested = false;  ///< shutdown(): FIN after the queued bytes
  bool fin_sent = false;
  bool tx_closed = false;      ///< ngtcp2 takes no more data (reset, FIN sent, stream gone)
  bool blocked = false;        ///< flow control: wait for extend_max_stream_data
  bool in_send_queue = false;
  bool above_low_water = false;

  // Receive side.
  std::vector<Bytes> rx;  ///< received, not yet delivered; chunks from the ChunkPool
  bool rx_fin = false;
  bool eof_delivered = false;
  std::uint64_t consumed = 0;  ///< delivered bytes not yet given back as flow-control credit

  // Life cycle.
  bool closed_by_ngtcp2 = false;
  bool abort_pending = false;  ///< the app closed: RESET_STREAM + STOP_SENDING to send
  std::uint64_t abort_code = kAborted;  ///< application error code carried by them
  bool failed = false;         ///< reset by the peer or connection lost
  bool error_pending = false;  ///< on_error not yet delivered
  std::string error;

  std::uint64_t unacked() const noexcept { return tx.unacked(); }
  std::uint64_t unsent() const noexcept { return tx.unsent(); }
  /// write() and write_space() may add bytes.
  bool accepts_writes() const noexcept { return !failed && !tx_closed && !fin_requested; }
  bool wants_to_send() const noexcept {
    return !tx_closed && !blocked && (unsent() > 0 || (fin_requested && !fin_sent));
  }
};

class QuicStream final : public io::Stream {
 public:
  QuicStream(uv_loop_t* loop, Connection* conn, StreamState* state, std::string peer);
  ~QuicStream() override;

  void set_handler(Handler* handler) override;
  void start_read() override;
  void stop_read() override { reading_ = false; }
  void write(ByteView data) override;
  std::span<std::uint8_t> write_space(std::size_t want) override;
  std::size_t write_queue_size() const override;
  void shutdown() override;
  void close() override;
  std::string peer_name() const override { return peer_; }

  /// Like close(), but RESET_STREAM / STOP_SENDING carry `app_error` (see app_error.hpp)
  /// instead of ABORTED, e.g. kRefused or kConnectFailed. Frees the stream.
  void abort(std::uint64_t app_error) override;

  /// The QUIC stream ID (-1 once detached).
  std::int64_t id() const noexcept { return state_ ? state_->id : -1; }

  // --- for Connection ---
  Handler* handler() const noexcept { return handler_; }
  /// The connection carrying this stream (null once detached).
  Connection* connection() const noexcept { return conn_; }
  bool reading() const noexcept { return reading_; }
  /// The connection is gone: forget it and report `reason` via on_error on a later turn.
  void detach(const std::string& reason);

 private:
  static void on_error_timer(uv_timer_t* t);

  uv_loop_t* loop_;
  Connection* conn_;
  StreamState* state_;
  std::string peer_;
  Handler* handler_ = nullptr;
  bool reading_ = false;
  std::string detached_error_;
  io::UvHandle<uv_timer_t> error_timer_;
};

}  // namespace mtop::quic
