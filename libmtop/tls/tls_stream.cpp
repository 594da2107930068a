#include "tls/tls_stream.hpp"

#include <algorithm>
#include <memory>
#include <utility>

#include "uv/pooled_write.hpp"
#include "uv/sockaddr.hpp"
#include "uv/uv_error.hpp"

namespace mtop::tls {

namespace {

std::string uv_reason(const char* what, int status) {
  return std::string(what) + ": " + io::uv_reason(status);
}

std::string peer_of(uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return io::sockaddr_to_string(reinterpret_cast<sockaddr*>(&ss));
}

}  // namespace

// Marks "one of our libuv callbacks is running". close() called meanwhile (e.g. the owner
// drops its StreamPtr inside on_read) only flags the stream; the guard frees it on the way out.
struct TlsStream::EntryGuard {
  TlsStream* s;
  explicit EntryGuard(TlsStream* stream) : s(stream) { ++s->depth_; }
  ~EntryGuard() {
    if (--s->depth_ == 0 && s->closed_) delete s;
  }
  EntryGuard(const EntryGuard&) = delete;
  EntryGuard& operator=(const EntryGuard&) = delete;
};

TlsStream::TlsStream(io::UvHandle<uv_tcp_t> tcp, std::unique_ptr<Engine> engine,
                     SharedTlsBuffers buffers, HandshakeCallback on_done)
    : tcp_(std::move(tcp)),
      buffers_(std::move(buffers)),
      engine_(std::move(engine)),
      on_done_(std::move(on_done)) {
  engine_->set_buffer_pool(&buffers_->chunks);
}

TlsStream* TlsStream::start(uv_loop_t* loop, io::UvHandle<uv_tcp_t> tcp,
                            std::unique_ptr<Engine> engine, SharedTlsBuffers buffers,
                            std::uint64_t handshake_timeout_ms, HandshakeCallback on_done) {
  auto* self = new TlsStream(std::move(tcp), std::move(engine), std::move(buffers),
                             std::move(on_done));
  self->tcp_->data = self;
  self->peer_ = peer_of(self->tcp_.get());
  self->timer_ = io::UvHandle<uv_timer_t>::make();
  uv_timer_init(loop, self->timer_.get());  // cannot fail: no system resource behind it
  self->timer_->data = self;
  uv_timer_start(self->timer_.get(), on_timer_cb, handshake_timeout_ms, 0);
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
  if (write_queue_size() > low_water()) above_low_water_ = true;
}

std::size_t TlsStream::write_queue_size() const {
  if (closed_ || !tcp_) return 0;
  return tcp_->write_queue_size + engine_->output_size();
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
  // libuv runs the shutdown after every queued write, so the FIN follows the close_notify.
  auto* req = new uv_shutdown_t;
  int r = uv_shutdown(req, reinterpret_cast<uv_stream_t*>(tcp_.get()), on_shutdown_cb);
  if (r < 0) {
    delete req;
    fail(uv_reason("shutdown", r));
  }
}

void TlsStream::close() {
  if (closed_) return;
  closed_ = true;
  handler_ = nullptr;
  on_done_ = nullptr;
  // Closing cancels queued writes (their callbacks see data == nullptr and only free memory).
  tcp_.reset();
  timer_.reset();
  if (depth_ == 0) delete this;
}

// --- internals ------------------------------------------------------------------------------

void TlsStream::update_socket_reading() {
  if (closed_ || !tcp_) return;
  bool want = !failed_ && (handshaking_ || (want_read_ && !eof_received_ &&
                                            !engine_->has_pending_input()));
  auto* s = reinterpret_cast<uv_stream_t*>(tcp_.get());
  if (want && !socket_reading_) {
    int r = uv_read_start(s, on_alloc, on_read_cb);
    if (r < 0) {
      fail(uv_reason("read", r));
      return;
    }
    socket_reading_ = true;
  } else if (!want && socket_reading_) {
    uv_read_stop(s);
    socket_reading_ = false;
  }
}

void TlsStream::schedule() {
  if (closed_ || !timer_) return;
  uv_timer_start(timer_.get(), on_timer_cb, 0, 0);
}

void TlsStream::fail(std::string reason) {
  if (failed_ || closed_) return;
  failed_ = true;
  error_ = std::move(reason);
  if (socket_reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(tcp_.get()));
    socket_reading_ = false;
  }
  schedule();
}

void TlsStream::flush() {
  // Also after a failure: the alert OpenSSL wrote should reach the peer.
  if (closed_ || !engine_->has_output()) return;
  Bytes out = engine_->take_output();
  auto* s = reinterpret_cast<uv_stream_t*>(tcp_.get());
  std::size_t sent = 0;
  if (tcp_->write_queue_size == 0) {
    // Nothing queued, so the bytes may go straight to the kernel: usually all of them, and
    // the chunk is back in the pool before the next write needs one.
    uv_buf_t buf =
        uv_buf_init(reinterpret_cast<char*>(out.data()), static_cast<unsigned>(out.size()));
    const int r = uv_try_write(s, &buf, 1);
    if (r >= 0) {
      sent = static_cast<std::size_t>(r);
    } else if (r != UV_EAGAIN && r != UV_ENOSYS) {
      buffers_->chunks.give(std::move(out));
      fail(uv_reason("write", r));
      return;
    }
  }
  if (sent == out.size()) {
    buffers_->chunks.give(std::move(out));
    return;
  }
  // The request keeps the buffers (and so the pool) alive: the stream may be gone by the time
  // libuv is done with it.
  auto* w = io::PooledWrite::keep(std::move(out), sent,
                                  std::shared_ptr<io::ChunkPool>(buffers_, &buffers_->chunks));
  if (!w) {
    fail("write: out of memory");
    return;
  }
  const int r = w->start(s, on_write_cb);
  if (r < 0) fail(uv_reason("write", r));
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
  uv_timer_stop(timer_.get());
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

void TlsStream::handle_read(ssize_t nread) {
  if (closed_ || failed_) return;
  if (nread > 0) {
    engine_->handle_ciphertext(ByteView(buffers_->cipher.data(), static_cast<std::size_t>(nread)));
    if (handshaking_) {
      continue_handshake();
    } else {
      pump();
    }
    // The shared buffer is about to be reused by another stream: keep what is left.
    if (!closed_) engine_->retain_input();
    return;
  }
  if (nread == 0) return;  // EAGAIN
  if (nread == UV_EOF) {
    if (handshaking_) {
      fail("handshake: peer closed the connection");
    } else if (!eof_received_) {
      fail("truncated (TCP closed without close_notify)");
    } else {
      update_socket_reading();
    }
    return;
  }
  fail(uv_reason("read", static_cast<int>(nread)));
}

// --- libuv callbacks --------------------------------------------------------------------------

void TlsStream::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<TlsStream*>(h->data);
  if (!self) {
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  auto& b = self->buffers_->cipher;
  *buf = uv_buf_init(reinterpret_cast<char*>(b.data()), static_cast<unsigned>(b.size()));
}

void TlsStream::on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
  auto* self = static_cast<TlsStream*>(s->data);
  if (!self) return;
  EntryGuard guard(self);
  self->handle_read(nread);
}

void TlsStream::on_write_cb(uv_write_t* req, int status) {
  auto* self = static_cast<TlsStream*>(req->handle->data);
  io::PooledWrite::finish(io::PooledWrite::from(req));  // the chunk goes back to its pool
  if (!self) return;  // closed: the handle is on its way out
  EntryGuard guard(self);
  if (status < 0) {
    if (status != UV_ECANCELED) self->fail(uv_reason("write", status));
    return;
  }
  if (self->above_low_water_ && self->write_queue_size() <= low_water()) {
    self->above_low_water_ = false;
    if (self->handler_ && !self->failed_) self->handler_->on_drain();
  }
}

void TlsStream::on_shutdown_cb(uv_shutdown_t* req, int status) {
  auto* self = static_cast<TlsStream*>(req->handle->data);
  delete req;
  if (!self) return;
  EntryGuard guard(self);
  if (status < 0 && status != UV_ECANCELED) self->fail(uv_reason("shutdown", status));
}

void TlsStream::on_timer_cb(uv_timer_t* t) {
  auto* self = static_cast<TlsStream*>(t->data);
  if (!self) return;
  EntryGuard guard(self);
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
}

}  // namespace mtop::tls
