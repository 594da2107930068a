// TcpStream: io::Stream over a connected uv_tcp_t.
//
// Theory of operation
// - Reading: every read lands in the read buffer of the stream's StreamBuffers, shared with
//   the other streams of its loop (uv/stream_buffers.hpp), and is handed to on_read from
//   there. An idle connection holds no read buffer at all (the memory of an idle tunnel is the
//   handles and a few flags), and a busy one allocates nothing per read.
// - Writing: uv_try_write() first; only what the kernel did not take is copied into uv_write
//   requests, on recycled chunks when it is large (uv/pooled_write.hpp). write_queue_size()
//   is libuv's count of bytes queued and not yet written to the socket.
// - Every call returns without calling the handler; errors found inside a call are reported
//   from the loop a moment later (uv/poster.hpp). After close() nothing is reported.
// - close() closes the handle; the object frees itself in the close callback, after libuv has
//   cancelled the pending write and shutdown requests.
#pragma once

#include <uv.h>

#include <cstddef>
#include <string>

#include "mtop/stream.hpp"
#include "uv/handle.hpp"
#include "uv/poster.hpp"
#include "uv/stream_buffers.hpp"

namespace mtop::io {

class TcpStream final : public Stream {
 public:
  /// Bytes asked for per read.
  static constexpr std::size_t kReadSize = StreamBuffers::kReadSize;

  /// Wraps a connected TCP handle (from connect_tcp or an accept). The handle must be
  /// initialised, connected and not closing; the stream owns it from now on. `tcp` must not
  /// be empty. `buffers`: the read buffer and write chunks to use, shared with other streams
  /// of the same loop; null = those of the calling thread (StreamBuffers::of_this_thread()).
  static StreamPtr adopt(UvHandle<uv_tcp_t> tcp, SharedStreamBuffers buffers = nullptr);

  void set_handler(Handler* handler) override { handler_ = handler; }
  void start_read() override;
  void stop_read() override;
  void write(ByteView data) override;
  std::size_t write_queue_size() const override;
  void shutdown() override;
  void close() override;
  std::string peer_name() const override { return peer_; }

  /// "ip:port" of our end, for logs.
  std::string local_name() const;

 private:
  TcpStream(uv_tcp_t* tcp, SharedStreamBuffers buffers);
  ~TcpStream() override = default;

  static void on_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write_cb(uv_write_t* req, int status);
  static void on_shutdown_cb(uv_shutdown_t* req, int status);
  static void on_close_cb(uv_handle_t* h);

  /// Reports a failure now (from a loop callback): stops reading and calls on_error once.
  void fail(int status);
  /// Reports a failure found inside a call, on a later loop turn.
  void fail_later(int status);
  bool usable() const noexcept { return !closed_ && !failed_; }

  uv_tcp_t* tcp_;
  SharedStreamBuffers buffers_;
  Handler* handler_ = nullptr;
  Poster poster_;
  std::string peer_;
  bool reading_ = false;
  bool eof_ = false;
  bool failed_ = false;
  bool closed_ = false;
  bool shutdown_ = false;
  bool above_low_water_ = false;
};

}  // namespace mtop::io
