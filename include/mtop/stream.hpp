// Stream: one bidirectional byte stream driven by a libuv loop — a plain TCP connection, a
// TLS connection over TCP, or one QUIC stream. The relay, the server engine and the climber
// engine see only this interface, so every transport plugs in the same way.
//
// Rules (the libuv ones, carried over):
// - All calls and all callbacks happen on the loop's thread. Callbacks are never made from
//   inside a call into the stream (no re-entrancy): a stream defers them to the loop.
// - close() aborts: queued output is dropped, nothing more is delivered to the handler, and the
//   object frees itself once its libuv handles are closed. StreamPtr calls close() for you.
//   abort(code) is the same with a reason code for transports that carry one (QUIC).
// - shutdown() is a half-close: queued output is sent, then the peer sees EOF (TCP FIN, TLS
//   close_notify, QUIC FIN); reading goes on until the peer's own EOF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "mtop/bytes.hpp"
#include "mtop/export.hpp"

namespace mtop::io {

class MTOP_CPP_API Stream {
 public:
  /// What a stream reports. Set with set_handler(); may be replaced at any time.
  class MTOP_CPP_API Handler {
   public:
    virtual ~Handler() = default;
    /// Bytes from the peer. `data` is valid only during the call.
    virtual void on_read(ByteView data) = 0;
    /// The peer will send nothing more (half-close). Writing may go on.
    virtual void on_eof() = 0;
    /// The stream failed (reset, TLS alert, time-out...). No more callbacks follow; the owner
    /// should drop its StreamPtr. `reason` is short and log-safe.
    virtual void on_error(std::string_view reason) = 0;
    /// The write queue fell to or below low_water() after having been above it.
    virtual void on_drain() = 0;
    /// Asked by a stream that can read in place (TCP) just before it reads: where to put the
    /// bytes, at most `suggested` of them. The next on_read() then gets a view that starts at
    /// the start of the returned span, unless nothing was read. An empty span (the default)
    /// lets the stream use its own buffer. A handler that writes what it reads on to another
    /// stream returns that stream's write_space() here, so the bytes are already where they
    /// are sent from (no copy). The span must stay valid until that on_read() or the stream's
    /// next read_space() call. Added after the first four: handlers written before it need not
    /// change.
    virtual std::span<std::uint8_t> read_space(std::size_t suggested) {
      (void)suggested;
      return {};
    }
  };

  virtual ~Stream() = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  virtual void set_handler(Handler* handler) = 0;
  /// Starts/stops delivering on_read/on_eof. A new stream does not read until start_read().
  virtual void start_read() = 0;
  virtual void stop_read() = 0;
  /// Queues bytes to send; the stream copies what it cannot send at once, except bytes that
  /// start at the start of the span the latest write_space() returned (read into it in
  /// place): those are taken as they are.
  virtual void write(ByteView data) = 0;
  /// Room at the end of the send queue, about `want` bytes, that the caller may fill and then
  /// pass to write() without a copy (see write()); empty when the stream has none to lend —
  /// the default, and always for TCP and TLS streams; QUIC streams lend room in their send
  /// buffers. Valid until the next call into the stream or the return to the loop, whichever
  /// comes first; filling it without writing it is harmless. Added after write(): streams
  /// written before it need not change.
  virtual std::span<std::uint8_t> write_space(std::size_t want) {
    (void)want;
    return {};
  }
  /// Bytes queued and not yet handed to the kernel (or, for QUIC, not yet acknowledged).
  virtual std::size_t write_queue_size() const = 0;
  /// Half-close our sending side once the queue is flushed. Idempotent.
  virtual void shutdown() = 0;
  /// Abort and free (see the rules above). Idempotent; the pointer is dangling afterwards.
  virtual void close() = 0;
  /// Like close() (abort and free; the pointer is dangling afterwards), but tells the peer
  /// why when the transport can: a QUIC stream carries `app_error` in its RESET_STREAM and
  /// STOP_SENDING (the application error codes of docs/PROTOCOL.md section 6.2,
  /// mtop::QuicAppError), where close() always sends ABORTED. A transport without such codes
  /// (TCP, TLS over TCP) just closes. As with close(), a QUIC stream that was shut down and
  /// whose bytes are all acknowledged ends with its FIN instead of a reset.
  virtual void abort(std::uint64_t app_error) {
    (void)app_error;
    close();
  }
  /// "ip:port" of the far end, for logs.
  virtual std::string peer_name() const = 0;

  /// on_drain() fires when write_queue_size() drops to this many bytes.
  static constexpr std::size_t low_water() { return 64 * 1024; }

 protected:
  Stream() = default;
};

struct StreamCloser {
  void operator()(Stream* s) const noexcept {
    if (s) s->close();
  }
};
/// Owning pointer: dropping it aborts and frees the stream.
using StreamPtr = std::unique_ptr<Stream, StreamCloser>;

/// Opens outgoing tunnel streams to an MTop server: a new TLS connection per call, or a new
/// QUIC stream on a shared connection. The callback runs on the loop, exactly once, never
/// inside open(); on failure `stream` is null and `error` says why (log-safe). An error made
/// by at_limit_error() means the dialer refused at one of its own configured limits (the
/// server was not asked): callers answer "unavailable" rather than "server unreachable".
class MTOP_CPP_API StreamDialer {
 public:
  using OpenCallback = std::function<void(StreamPtr stream, std::string error)>;
  virtual ~StreamDialer() = default;
  virtual void open(OpenCallback cb) = 0;
};

/// The error text a dialer gives when a limit of its own refuses an open: `what` (which
/// should name the limit and the setting behind it) behind a fixed prefix, so the kind
/// survives the plain string of OpenCallback and still reads well in a log.
inline constexpr std::string_view kAtLimitPrefix = "at limit: ";
inline std::string at_limit_error(std::string_view what) {
  std::string e(kAtLimitPrefix);
  e += what;
  return e;
}
/// True for errors made by at_limit_error().
inline bool is_at_limit_error(std::string_view error) noexcept {
  return error.starts_with(kAtLimitPrefix);
}

/// Accepts incoming tunnel streams (TLS listener, QUIC endpoint): each established stream is
/// handed to the callback given at construction. stop() stops accepting; streams already
/// handed out are not touched.
class MTOP_CPP_API StreamAcceptor {
 public:
  using AcceptCallback = std::function<void(StreamPtr stream)>;
  virtual ~StreamAcceptor() = default;
  virtual void stop() = 0;
};

}  // namespace mtop::io
