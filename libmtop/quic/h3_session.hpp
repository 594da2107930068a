// H3Session: HTTP/3 (nghttp3) on one QUIC connection that the server classified as HTTP/3
// (docs/PROTOCOL.md section 10); every request goes to an H3Request.
//
// Theory of operation. The connection's streams are io::Streams (QuicStream); the session is
// their handler. Bytes read go to nghttp3_conn_read_stream, kept bytes of a stream that first
// ran an MTop handshake first. What nghttp3 wants to send (nghttp3_conn_writev_stream) is
// copied into the QUIC stream's send queue, which keeps it until the peer acknowledges it, so
// nghttp3 is told at once that it was written and acknowledged; a stream whose queue is above
// kHighWater is blocked in nghttp3 until it drains (back-pressure on response bodies). The
// session opens our control and QPACK streams at start().
//
// nghttp3 callbacks never destroy anything: a request whose stream closed is moved to a
// graveyard that a Poster empties on a later loop turn, and a QUIC stream whose last bytes are
// still unacknowledged lingers (polled) until they are, so it ends with FIN, not a reset.
// An HTTP/3 error closes the QUIC connection with the code nghttp3 infers.
//
// Shutdown (a drain): GOAWAY with the largest id first (nghttp3's shutdown notice), so the
// client stops opening requests, then, kGoawayGraceMs later, GOAWAY with the first id not
// processed (nghttp3 rejects later streams with H3_REQUEST_REJECTED); once no request is left
// and every byte sent is acknowledged the connection is closed with H3_NO_ERROR.
#pragma once

#include <nghttp3/nghttp3.h>
#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "mtop/bytes.hpp"
#include "mtop/stream.hpp"
#include "quic/h3_request.hpp"
#include "uv/poster.hpp"
#include "uv/timer.hpp"

namespace mtop::quic {
class Connection;
}

namespace mtop::quic::h3 {

class H3Session final : private RequestSink {
 public:
  /// Bytes queued on a QUIC stream (not yet acknowledged) above which nghttp3 waits.
  static constexpr std::size_t kHighWater = 256 * 1024;

  H3Session(uv_loop_t* loop, Connection& conn, SiteOptions site);
  ~H3Session() override;
  H3Session(const H3Session&) = delete;
  H3Session& operator=(const H3Session&) = delete;

  /// Creates the nghttp3 connection and opens our three unidirectional streams; false (the
  /// connection is being closed) when that fails.
  bool start();
  /// A client stream of the connection, with the bytes already read from it (`kept`, wiped
  /// here) and whether its end was read.
  void add_stream(io::StreamPtr stream, Bytes kept, bool eof);
  /// The connection is gone: forget it (its streams report errors to nobody).
  void detach() noexcept { conn_ = nullptr; }
  /// Winds the session down gracefully (see above); again: no effect.
  void shutdown();
  /// The session closed its connection (an HTTP/3 error, or the end of a shutdown).
  bool ended() const noexcept { return failed_; }

 private:
  struct Stream;
  struct Callbacks;

  // RequestSink
  void respond(std::int64_t id, int status, const std::vector<Field>& fields, bool body) override;
  void resume(std::int64_t id) override;
  void abort(std::int64_t id, std::uint64_t h3_error) override;
  void read_client(std::int64_t id, bool on) override;

  void read(Stream& s, ByteView data, bool fin);
  void stream_failed(Stream& s);
  void drained(Stream& s);
  /// A request stream whose both ends are done is closed in nghttp3 and retired.
  void close_if_done(Stream& s);
  void write_out();
  /// Closes the connection with the HTTP/3 error nghttp3 infers from `liberr`.
  void fatal(int liberr);
  Stream* find(std::int64_t id);
  /// The stream is done for HTTP/3: release it once its bytes are acknowledged.
  void retire(std::int64_t id);
  void check_lingering();
  H3Request* request_of(std::int64_t id);
  /// Shutdown, second step: the final GOAWAY.
  void final_goaway();
  /// Shutdown, last step: closes the connection once no request is left (polled).
  void close_when_idle();

  uv_loop_t* loop_;
  Connection* conn_;
  SiteOptions site_;
  nghttp3_conn* h3_ = nullptr;
  bool failed_ = false;
  bool writing_ = false;
  std::map<std::int64_t, std::unique_ptr<Stream>> streams_;
  std::vector<std::unique_ptr<Stream>> lingering_;  ///< ended, bytes not yet acknowledged
  std::vector<std::unique_ptr<H3Request>> graveyard_;
  io::Poster reaper_;
  io::Timer linger_timer_;
  io::Timer shutdown_timer_;
  bool shutting_down_ = false;
};

}  // namespace mtop::quic::h3
