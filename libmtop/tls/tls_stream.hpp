// TlsStream: io::Stream over a TLS 1.3 connection on a uv_tcp_t it owns.
//
// Theory of operation: a TlsStream is born handshaking (made by TlsListener or TlsDialer),
// reports the outcome once through the handshake callback, and only then becomes a Stream
// for its owner. It is the TLS Engine between its owner's bytes and a TcpSocket
// (uv/tcp_socket.hpp), which does the socket work: reading into the shared read buffer,
// uv_try_write first and pooled uv_write requests for the rest, back-pressure, half-close and
// close. Socket bytes go from the shared ciphertext buffer into the Engine; plaintext comes
// out into the shared plaintext buffer and goes to on_read. Writes are encrypted at once, in
// pieces of at most 64 KiB, into a ciphertext chunk of the shared pool (tls/buffers.hpp),
// which the socket sends without copying and gives back to the pool once the kernel has it.
// So the stream keeps no buffer while idle, and a busy one allocates no data buffers.
//
// Stream rules (mtop/stream.hpp), as this transport keeps them:
// - No callback from inside a call: errors found inside write()/shutdown(), and data or EOF
//   left in the engine when start_read() is called, are delivered from a 0 ms timer. So are
//   errors the socket reports.
// - write_queue_size() = ciphertext not yet handed to the kernel (the plaintext is encrypted
//   as it is accepted, so this is plaintext accepted and not yet sent, plus TLS overhead).
// - shutdown(): close_notify after everything queued, then TCP shutdown (FIN). Reading goes on.
// - A received close_notify is on_eof(); we may keep writing (TLS 1.3 half-close).
// - A TCP EOF without close_notify is on_error("truncated"): the peer did not finish the
//   stream, so the relay must not pass it on as a clean end of data.
// - close() aborts: queued output is dropped, no callback afterwards; the object frees itself
//   once its socket is closed (a close() from inside a callback is therefore safe).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "mtop/stream.hpp"
#include "tls/buffers.hpp"
#include "tls/engine.hpp"
#include "uv/handle.hpp"
#include "uv/tcp_socket.hpp"

namespace mtop::tls {

class TlsStream final : public io::Stream, private io::TcpSocket::Events {
 public:
  /// Called once when the handshake ends: `error` empty = established. The callee owns the
  /// stream from then on either way (it wraps it in a StreamPtr or close()s it).
  using HandshakeCallback = std::function<void(TlsStream* stream, std::string error)>;

  /// Takes a connected TCP handle and an engine, starts the handshake with a time-out.
  /// The callback is never called from inside this function. The returned pointer is owned by
  /// the caller: close() it (or hand it to a StreamPtr) to free it.
  static TlsStream* start(uv_loop_t* loop, io::UvHandle<uv_tcp_t> tcp,
                          std::unique_ptr<Engine> engine, SharedTlsBuffers buffers,
                          std::uint64_t handshake_timeout_ms, HandshakeCallback on_done);

  // io::Stream
  void set_handler(Handler* handler) override { handler_ = handler; }
  void start_read() override;
  void stop_read() override;
  void write(ByteView data) override;
  std::size_t write_queue_size() const override;
  void shutdown() override;
  void close() override;
  std::string peer_name() const override { return socket_.peer_name(); }

  /// True if the handshake resumed a cached session (client side).
  bool resumed() const { return engine_ && engine_->resumed(); }

 private:
  TlsStream(io::UvHandle<uv_tcp_t> tcp, std::unique_ptr<Engine> engine, SharedTlsBuffers buffers,
            HandshakeCallback on_done);
  ~TlsStream() override = default;

  // io::TcpSocket::Events
  void on_socket_read(ByteView data) override;
  void on_socket_eof() override;
  void on_socket_error(const char* op, int status) override;
  void on_socket_drain() override;
  void on_socket_closed() override { delete this; }

  static void on_timer_cb(uv_timer_t* t);

  void continue_handshake();
  void pump();
  void flush();
  void fail(std::string reason);
  /// Starts timer_ (made on first use, see continue_handshake) to fire in `timeout_ms`.
  void start_timer(uv_loop_t* loop, std::uint64_t timeout_ms);
  void schedule();
  void update_socket_reading();

  io::UvHandle<uv_timer_t> timer_;  ///< handshake time-out, then deferred deliveries; lazy
  SharedTlsBuffers buffers_;        // before engine_: its buffer pool outlives the engine
  std::unique_ptr<Engine> engine_;
  io::TcpSocket socket_;
  HandshakeCallback on_done_;
  Handler* handler_ = nullptr;
  std::string error_;  ///< set by fail(), delivered by the timer
  bool handshaking_ = true;
  bool want_read_ = false;     ///< the owner called start_read()
  bool eof_received_ = false;  ///< close_notify seen
  bool eof_delivered_ = false;
  bool shutdown_ = false;
  bool failed_ = false;
  bool error_delivered_ = false;
  bool closed_ = false;
};

}  // namespace mtop::tls
