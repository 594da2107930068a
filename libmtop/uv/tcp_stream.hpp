// TcpStream: io::Stream over a connected uv_tcp_t.
//
// Theory of operation
// - The socket work (the shared read buffer, uv_try_write first and pooled uv_write requests
//   for the rest, back-pressure, half-close, close) is TcpSocket's (uv/tcp_socket.hpp); this
//   class adds the Stream rules on top. write_queue_size() is libuv's count of bytes queued
//   and not yet written to the socket.
// - Every call returns without calling the handler; errors found inside a call are reported
//   from the loop a moment later (uv/poster.hpp). After close() nothing is reported.
// - close() closes the handle; the object frees itself in the close callback, after libuv has
//   cancelled the pending write and shutdown requests. reset() closes with an RST instead.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "mtop/stream.hpp"
#include "uv/handle.hpp"
#include "uv/owned_fd.hpp"
#include "uv/poster.hpp"
#include "uv/stream_buffers.hpp"
#include "uv/tcp_socket.hpp"

namespace mtop::io {

class TcpStream final : public Stream, private TcpSocket::Events {
 public:
  /// Bytes asked for per read.
  static constexpr std::size_t kReadSize = StreamBuffers::kReadSize;

  /// Wraps a connected TCP handle (from connect_tcp or an accept). The handle must be
  /// initialised, connected and not closing; the stream owns it from now on. `tcp` must not
  /// be empty. `buffers`: the read buffer and write chunks to use, shared with other streams
  /// of the same loop; null = those of the calling thread (StreamBuffers::of_this_thread()).
  static StreamPtr adopt(UvHandle<uv_tcp_t> tcp, SharedStreamBuffers buffers = nullptr);
  /// Moves the socket of `stream` towards another loop (uv/owned_fd.hpp): a duplicate of its
  /// descriptor; `stream` is closed here, the connection stays up. The stream must not have
  /// read yet (bytes it read would be lost). Empty if `stream` is not a TcpStream, is closed,
  /// or dup fails.
  static OwnedFd hand_over(StreamPtr stream);
  /// Closes `stream` as an abort: a TcpStream's peer gets a reset (RST) instead of a FIN; any
  /// other stream just closes (close() is already its abort: TLS without close_notify, QUIC
  /// with a RESET_STREAM). For a relay whose other side failed (RelayOptions).
  static void reset(StreamPtr stream);

  void set_handler(Handler* handler) override { handler_ = handler; }
  void start_read() override;
  void stop_read() override;
  void write(ByteView data) override;
  std::size_t write_queue_size() const override { return socket_.queue_size(); }
  void shutdown() override;
  void close() override;
  std::string peer_name() const override { return socket_.peer_name(); }

  /// "ip:port" of our end, for logs.
  std::string local_name() const { return socket_.local_name(); }

 private:
  TcpStream(uv_loop_t* loop, UvHandle<uv_tcp_t> tcp, const SharedStreamBuffers& buffers);
  ~TcpStream() override = default;

  // TcpSocket::Events
  std::span<std::uint8_t> socket_read_space(std::size_t suggested) override;
  void on_socket_read(ByteView data) override;
  void on_socket_eof() override;
  void on_socket_error(const char* op, int status) override;
  void on_socket_drain() override;
  void on_socket_closed() override { delete this; }

  /// close(), with an RST when `reset`.
  void close_socket(bool reset);
  /// Reports a failure now (from a loop callback): stops reading and calls on_error once.
  void fail(int status);
  /// Reports a failure found inside a call, on a later loop turn.
  void fail_later(int status);
  bool usable() const noexcept { return !closed_ && !failed_; }

  TcpSocket socket_;
  Handler* handler_ = nullptr;
  Poster poster_;
  bool failed_ = false;
  bool closed_ = false;
  bool shutdown_ = false;
};

}  // namespace mtop::io
