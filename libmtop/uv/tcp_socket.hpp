// TcpSocket: the TCP plumbing under every stream that runs on a connected uv_tcp_t — TcpStream
// (plain bytes) and tls::TlsStream (TLS records). Reading, writing with back-pressure, the
// half-close, closing and the peer's address are written here once; a stream adds only what
// it puts between its caller's bytes and the socket's.
//
// Theory of operation
// - Calls into the socket never report through Events: they return 0 or a negative libuv
//   status, and the stream decides how and when to tell its own handler. Events come only
//   from libuv callbacks, and after close() only on_socket_closed() comes.
// - Reading: every read lands in `read_buffer`, shared with the other streams of the loop
//   (libuv callbacks do not nest, so one buffer serves them all and an idle socket holds
//   none), and is handed to on_socket_read() from there — unless the owner gives a place of
//   its own for it (Events::socket_read_space(): a relay towards a QUIC stream lends room in
//   that stream's send buffer, so the bytes are read where they are sent from). The peer's
//   EOF or a read error stops reading for good.
// - Writing: uv_try_write() first when nothing is queued; only what the kernel did not take
//   goes into a uv_write request (uv/pooled_write.hpp), on recycled chunks of `chunks`. So a
//   busy socket allocates no data buffer per write (a queued one costs only the request's
//   small header), and an idle one holds no write buffer.
// - Back-pressure: queue_size() is libuv's count of bytes queued and not yet written to the
//   kernel. Once a write has taken it above io::Stream::low_water(), on_socket_drain() fires
//   when it falls back to that mark.
// - shutdown(): the FIN goes out once every queued write has (libuv orders them).
// - close(): closes the handle; reset() does the same with an RST (SO_LINGER 0) instead of
//   the FIN, for an abort. Pending writes and the shutdown are cancelled (their memory
//   is freed, nothing is reported); last comes on_socket_closed(), from the close callback,
//   where the owner may free the socket. Until then the socket must stay alive.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "mtop/bytes.hpp"
#include "uv/chunk_pool.hpp"
#include "uv/handle.hpp"
#include "uv/owned_fd.hpp"

namespace mtop::io {

class TcpSocket {
 public:
  /// What the socket reports, from libuv callbacks only (see the file comment).
  class Events {
   public:
    /// Where the next read may land, at most `suggested` bytes (io::Stream::Handler's
    /// read_space(): the owner asks its handler); empty (the default) for the shared read
    /// buffer. Asked right before each read.
    virtual std::span<std::uint8_t> socket_read_space(std::size_t suggested) {
      (void)suggested;
      return {};
    }
    /// Bytes from the peer, in the shared read buffer or at the start of the span
    /// socket_read_space() gave: valid only during the call.
    virtual void on_socket_read(ByteView data) = 0;
    /// The peer sent its FIN. Reading has stopped for good.
    virtual void on_socket_eof() = 0;
    /// A "read", "write" or "shutdown" (`op`) failed with libuv status `status`. After a read
    /// error reading has stopped for good. Cancellations by close() are not reported.
    virtual void on_socket_error(const char* op, int status) = 0;
    /// queue_size() fell to or below io::Stream::low_water() after having been above it.
    virtual void on_socket_drain() = 0;
    /// The handle is closed and nothing refers to the socket any more: it may be freed now.
    virtual void on_socket_closed() = 0;

   protected:
    ~Events() = default;
  };

  /// Takes a connected TCP handle (initialised, not closing, not empty). `events` must outlive
  /// the socket. `read_buffer`: where reads land; it must stay valid as long as the socket
  /// (it usually belongs to the same shared buffer set as `chunks`). `chunks`: the pool that
  /// holds bytes the kernel did not take; queued writes keep it alive after the socket is gone.
  TcpSocket(UvHandle<uv_tcp_t> tcp, Events& events, std::span<std::uint8_t> read_buffer,
            std::shared_ptr<ChunkPool> chunks);
  /// Closes the handle if close() was not called (then on_socket_closed() is not called).
  ~TcpSocket();
  TcpSocket(const TcpSocket&) = delete;
  TcpSocket& operator=(const TcpSocket&) = delete;

  /// Starts delivering reads. 0 if reading (or if reading has ended for good: nothing to
  /// start), else a libuv error. Idempotent.
  int start_read();
  /// Stops delivering reads. Idempotent.
  void stop_read() noexcept;
  bool reading() const noexcept { return reading_; }

  /// Sends `data`, copying what the kernel does not take at once. 0 or a libuv error; on an
  /// error the bytes not yet handed over are dropped.
  int write(ByteView data);
  /// Sends the bytes of `chunk`, a chunk of the pool: it goes back to the pool as soon as the
  /// kernel has all of it (at once, when uv_try_write takes it), so the bytes are not copied.
  /// 0 or a libuv error, as write().
  int write_chunk(Bytes chunk);
  /// Bytes queued and not yet handed to the kernel.
  std::size_t queue_size() const noexcept { return closed_ ? 0 : tcp_->write_queue_size; }

  /// Half-closes our sending side: the FIN follows the queued writes. 0 or a libuv error.
  int shutdown();
  /// Closes the handle (see the file comment). Idempotent.
  void close() noexcept;
  /// close(), but the peer gets a reset (RST) instead of a FIN: the connection was aborted,
  /// not ended. Queued bytes are dropped, also by the kernel. Idempotent.
  void reset() noexcept;

  uv_loop_t* loop() const noexcept { return tcp_->loop; }
  /// The socket's descriptor (-1 once closed).
  int fd() const noexcept {
    return closed_ ? -1 : handle_fd(reinterpret_cast<const uv_handle_t*>(tcp_));
  }
  /// "ip:port" of the peer, read once when the socket was made ("?" if unknown).
  const std::string& peer_name() const noexcept { return peer_; }
  /// "ip:port" of our end ("?" if unknown or closed).
  std::string local_name() const;

 private:
  static void on_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf);
  static void on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write_cb(uv_write_t* req, int status);
  static void on_shutdown_cb(uv_shutdown_t* req, int status);
  static void on_close_cb(uv_handle_t* h);

  uv_stream_t* stream() const noexcept { return reinterpret_cast<uv_stream_t*>(tcp_); }
  /// Hands what the kernel takes now of `data` (at most kMaxWrite bytes), unless writes are
  /// queued that it must not overtake. Bytes taken (maybe 0), or a libuv error.
  int try_write(ByteView data) noexcept;
  /// Notes the queue size after a write, for on_socket_drain().
  void note_queue() noexcept;

  /// uv_buf_t lengths are 32-bit: no read, uv_try_write or request is given more bytes than
  /// this.
  static constexpr std::size_t kMaxWrite = std::size_t{1} << 30;

  uv_tcp_t* tcp_;
  Events* events_;
  std::span<std::uint8_t> read_buffer_;
  std::shared_ptr<ChunkPool> chunks_;
  std::string peer_;
  bool reading_ = false;
  bool read_ended_ = false;  ///< EOF or read error seen
  bool above_low_water_ = false;
  bool closed_ = false;
};

/// "ip:port" of the peer of a connected TCP handle, "?" if unknown.
std::string tcp_peer_name(const uv_tcp_t* tcp);

}  // namespace mtop::io
