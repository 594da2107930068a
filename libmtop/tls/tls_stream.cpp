#include "tls/tls_stream.hpp"

#include <algorithm>
#include <memory>
#include <utility>

#include "uv/uv_error.hpp"

namespace mtop::tls {

namespace {

std::string uv_reason(const char* what, int status) {
  return std::string(what) + ": " + io::uv_reason(status);
}

}  // namespace

TlsStream::TlsStream(io::UvHandle<uv_tcp_t> tcp, std::unique_ptr<Engine> engine,
                     SharedTlsBuffers buffers, HandshakeCallback on_done)
    : buffers_(std::move(buffers)),
      engine_(std::move(engine)),
      // The chunk pool pointer shares the buffers' life, and so keeps the read buffer valid.
      socket_(std::move(tcp), *this, buffers_->cipher,
              std::shared_ptr<io::ChunkPool>(buffers_, &buffers_->chunks)),
      on_done_(std::move(on_done)) {
  engine_->set_buffer_pool(&buffers_->chunks);
}

TlsStream* TlsStream::start(uv_loop_t* loop, io::UvHandle<uv_tcp_t> tcp,
                            std::unique_ptr<Engine> engine, SharedTlsBuffers buffers,
                            std::uint64_t handshake_timeout_ms, HandshakeCallback on_done) {
  auto* self =
      new TlsStream(std::move(tcp), std::move(engine), std::move(buffers), std::move(on_done));
  self->start_timer(loop, handshake_timeout_ms);
  self->update_socket_reading();
  // The client speaks first: this puts the ClientHello on the wire. Failures go through
  // fail(), which reports from the timer, never from here.
  if (self->engine_->handshake() == Engine::Status::failed) {
    self->fail(self->engine_->error());
  }
  self->flush();
  return self;
}

// --- the Stream interface ------------------------------------------------------------------

void TlsStream::start_read() {
  if (closed_ || failed_ || want_read_) return;
  want_read_ = true;
  if (handshaking_) return;
  if (engine_->has_pending_input() || (eof_received_ && !eof_delivered_)) {
    schedule();  // deliver what we hold from the loop, then resume the socket
  } else {
    update_socket_reading();
  }
}

void TlsStream::stop_read() {
  if (closed_) return;
  want_read_ = false;
  if (!failed_) update_socket_reading();
}

void TlsStream::write(ByteView data) {
  // After shutdown(), failure or close() there is nowhere for the bytes to go.
  if (closed_ || failed_ || shutdown_ || handshaking_ || data.empty()) return;
  // One piece at a time, each sent (or queued) before the next is encrypted, so that the
  // ciphertext of each fits one chunk of the pool however large the write.
  while (!data.empty()) {
    const ByteView piece = data.first(std::min(data.size(), TlsBuffers::kSize));
    if (!engine_->write(piece)) {
      fail(engine_->error());
      return;
    }
    flush();
    if (failed_) return;
    data = data.subspan(piece.size());
  }
}

std::size_t TlsStream::write_queue_size() const {
  if (closed_) return 0;
  return socket_.queue_size() + engine_->output_size();
}

void TlsStream::shutdown() {
  if (closed_ || failed_ || shutdown_ || handshaking_) return;
  shutdown_ = true;
  if (!engine_->close_notify()) {
    fail(engine_->error());
    return;
  }
  flush();
  if (failed_) return;
  // The socket runs the shutdown after every queued write, so the FIN follows the close_notify.
  if (const int r = socket_.shutdown(); r < 0) fail(uv_reason("shutdown", r));
}

void TlsStream::close() {
  if (closed_) return;
  closed_ = true;
  handler_ = nullptr;
  on_done_ = nullptr;
  timer_.reset();
  socket_.close();  // cancels queued writes; on_socket_closed() frees us
}

// --- internals ------------------------------------------------------------------------------

void TlsStream::update_socket_reading() {
  if (closed_) return;
  const bool want =
      !failed_ && (handshaking_ || (want_read_ && !eof_received_ && !engine_->has_pending_input()));
  if (!want) {
    socket_.stop_read();
  } else if (const int r = socket_.start_read(); r < 0) {
    fail(uv_reason("read", r));
  }
}

void TlsStream::start_timer(uv_loop_t* loop, std::uint64_t timeout_ms) {
  if (!timer_) {
    timer_ = io::UvHandle<uv_timer_t>::make();
    uv_timer_init(loop, timer_.get());  // cannot fail: no system resource behind it
    timer_->data = this;
  }
  uv_timer_start(timer_.get(), on_timer_cb, timeout_ms, 0);
}

void TlsStream::schedule() {
  if (closed_) return;
  start_timer(socket_.loop(), 0);
}

void TlsStream::fail(std::string reason) {
  if (failed_ || closed_) return;
  failed_ = true;
  error_ = std::move(reason);
  socket_.stop_read();
  schedule();
}

void TlsStream::flush() {
  // Also after a failure: the alert OpenSSL wrote should reach the peer.
  if (closed_ || !engine_->has_output()) return;
  if (const int r = socket_.write_chunk(engine_->take_output()); r < 0) {
    fail(uv_reason("write", r));
  }
}

void TlsStream::continue_handshake() {
  Engine::Status st = engine_->handshake();
  if (st != Engine::Status::ok) {
    flush();  // our next flight, or the alert
    if (st == Engine::Status::want_input) return;
    fail(engine_->error());
    return;
  }
  handshaking_ = false;
  // The handshake time-out is over. The handle is only needed again for a deferred delivery
  // (schedule()), which makes a new one: an idle connection keeps no timer (152 bytes).
  timer_->data = nullptr;
  timer_.reset();
  // A client's Finished waits for the owner's first write from the callback, so that both
  // leave in one segment (one write and one wake-up fewer on each side); an owner that closes
  // the stream from the callback drops it, and the server sees the handshake cut short, as it
  // would see the close a moment later. The server's ticket goes out now, whatever its owner
  // does. The socket's read state waits for the owner too: one that starts reading from the
  // callback does not see the socket stopped and started again (two epoll_ctl calls).
  if (SSL_is_server(engine_->native())) flush();
  if (auto cb = std::move(on_done_)) cb(this, std::string());
  flush();
  update_socket_reading();  // stops reading unless the owner called start_read()
}

void TlsStream::pump() {
  auto& plain = buffers_->plain;
  for (;;) {
    if (closed_ || failed_ || !want_read_) break;
    if (eof_received_) {
      if (!eof_delivered_) {
        eof_delivered_ = true;
        if (handler_) handler_->on_eof();
      }
      break;
    }
    std::size_t n = 0;
    Engine::Status st = engine_->read(plain, &n);
    flush();  // a KeyUpdate or alert may have produced output
    if (n > 0 && handler_) {
      handler_->on_read(ByteView(plain.data(), n));
      if (closed_) return;
    }
    if (st == Engine::Status::ok) continue;
    if (st == Engine::Status::closed) {
      eof_received_ = true;
      continue;  // delivered at the top of the loop, if the owner still reads
    }
    if (st == Engine::Status::failed) {
      fail(engine_->error());
      return;
    }
    break;  // want_input
  }
  update_socket_reading();
}

// --- socket events ----------------------------------------------------------------------------

void TlsStream::on_socket_read(ByteView data) {
  if (closed_ || failed_) return;
  engine_->handle_ciphertext(data);
  if (handshaking_) {
    continue_handshake();
  } else {
    pump();
  }
  // The shared buffer is about to be reused by another stream: keep what is left.
  if (!closed_) engine_->retain_input();
}

void TlsStream::on_socket_eof() {
  // The socket reads no more. After our peer's close_notify that is the clean end; before it,
  // the peer did not finish what it was sending.
  if (handshaking_) {
    fail("handshake: peer closed the connection");
  } else if (!eof_received_) {
    fail("truncated (TCP closed without close_notify)");
  }
}

void TlsStream::on_socket_error(const char* op, int status) {
  fail(uv_reason(op, status));
}

void TlsStream::on_socket_drain() {
  if (!closed_ && !failed_ && handler_) handler_->on_drain();
}

void TlsStream::on_timer_cb(uv_timer_t* t) {
  auto* self = static_cast<TlsStream*>(t->data);
  if (!self) return;
  if (!self->failed_ && self->handshaking_) {
    self->fail("handshake timed out");  // and deliver right away, below
    uv_timer_stop(t);
  }
  if (self->failed_) {
    if (self->error_delivered_) return;
    self->error_delivered_ = true;
    if (self->handshaking_) {
      if (auto cb = std::move(self->on_done_)) cb(self, self->error_);
    } else if (self->handler_) {
      self->handler_->on_error(self->error_);
    }
    return;
  }
  self->pump();
  // A deferred delivery is over (e.g. the first bytes that came with the handshake's last
  // flight): an established stream keeps no timer while idle, as after the handshake.
  if (!self->closed_ && !self->handshaking_ && self->timer_ &&
      !uv_is_active(self->timer_.handle())) {
    self->timer_->data = nullptr;
    self->timer_.reset();  // uv_close from inside the callback: libuv allows it
  }
}

}  // namespace mtop::tls
