#include "uv/tcp_stream.hpp"

#include <algorithm>
#include <memory>
#include <new>
#include <utility>

#include "uv/pooled_write.hpp"
#include "uv/sockaddr.hpp"
#include "uv/uv_error.hpp"

namespace mtop::io {

namespace {

uv_stream_t* as_stream(uv_tcp_t* t) { return reinterpret_cast<uv_stream_t*>(t); }

std::string peer_of(uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return sockaddr_to_string(reinterpret_cast<sockaddr*>(&ss));
}

}  // namespace

StreamPtr TcpStream::adopt(UvHandle<uv_tcp_t> tcp, SharedStreamBuffers buffers) {
  if (!tcp) return nullptr;
  if (!buffers) buffers = StreamBuffers::of_this_thread();
  return StreamPtr(new TcpStream(tcp.release(), std::move(buffers)));
}

TcpStream::TcpStream(uv_tcp_t* tcp, SharedStreamBuffers buffers)
    : tcp_(tcp), buffers_(std::move(buffers)), poster_(tcp->loop), peer_(peer_of(tcp)) {
  tcp_->data = this;
}

std::string TcpStream::local_name() const {
  if (closed_) return "?";
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getsockname(tcp_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return sockaddr_to_string(reinterpret_cast<sockaddr*>(&ss));
}

void TcpStream::start_read() {
  if (!usable() || eof_ || reading_) return;
  const int r = uv_read_start(as_stream(tcp_), &TcpStream::on_alloc, &TcpStream::on_read_cb);
  if (r < 0) {
    fail_later(r);
    return;
  }
  reading_ = true;
}

void TcpStream::stop_read() {
  if (closed_ || !reading_) return;
  uv_read_stop(as_stream(tcp_));
  reading_ = false;
}

void TcpStream::write(ByteView data) {
  if (!usable() || data.empty()) return;
  // uv_buf_t lengths are 32-bit: hand very large writes over in pieces.
  constexpr std::size_t kMaxPiece = std::size_t{1} << 30;
  if (data.size() > kMaxPiece) {
    for (std::size_t off = 0; off < data.size() && usable(); off += kMaxPiece) {
      write(data.subspan(off, std::min(kMaxPiece, data.size() - off)));
    }
    return;
  }
  if (shutdown_) {
    // Writing after our own half-close is a bug in the caller; say so rather than drop bytes.
    failed_ = true;
    poster_.post([this] {
      if (!closed_ && handler_) handler_->on_error("write after shutdown");
    });
    stop_read();
    return;
  }
  std::size_t done = 0;
  if (tcp_->write_queue_size == 0) {
    uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(data.data())),
                               static_cast<unsigned>(data.size()));
    const int r = uv_try_write(as_stream(tcp_), &buf, 1);
    if (r >= 0) {
      done = static_cast<std::size_t>(r);
    } else if (r != UV_EAGAIN && r != UV_ENOSYS) {
      fail_later(r);
      return;
    }
  }
  // Queue the rest, at most one chunk per request.
  const std::shared_ptr<ChunkPool> pool(buffers_, &buffers_->chunks);  // shares the buffers' life
  for (ByteView rest = data.subspan(done); !rest.empty();) {
    const ByteView piece = rest.first(std::min(rest.size(), pool->chunk_size()));
    PooledWrite* w = PooledWrite::copy(piece, pool);
    if (!w) {
      fail_later(UV_ENOMEM);
      return;
    }
    const int r = w->start(as_stream(tcp_), &TcpStream::on_write_cb);
    if (r < 0) {
      fail_later(r);
      return;
    }
    rest = rest.subspan(piece.size());
  }
  if (write_queue_size() > low_water()) above_low_water_ = true;
}

std::size_t TcpStream::write_queue_size() const {
  return closed_ ? 0 : tcp_->write_queue_size;
}

void TcpStream::shutdown() {
  if (!usable() || shutdown_) return;
  shutdown_ = true;
  auto* req = new (std::nothrow) uv_shutdown_t{};
  if (!req) {
    fail_later(UV_ENOMEM);
    return;
  }
  // libuv sends the FIN only once every queued write has gone out.
  const int r = uv_shutdown(req, as_stream(tcp_), &TcpStream::on_shutdown_cb);
  if (r < 0) {
    delete req;
    fail_later(r);
  }
}

void TcpStream::close() {
  if (closed_) return;
  closed_ = true;
  handler_ = nullptr;
  poster_.cancel();
  // Pending write/shutdown requests complete with UV_ECANCELED before on_close_cb runs.
  uv_close(reinterpret_cast<uv_handle_t*>(tcp_), &TcpStream::on_close_cb);
}

void TcpStream::fail(int status) {
  if (!usable()) return;
  failed_ = true;
  stop_read();
  if (handler_) handler_->on_error(uv_reason(status));
}

void TcpStream::fail_later(int status) {
  if (!usable()) return;
  // Stop reading now so nothing else is delivered before the error.
  stop_read();
  failed_ = true;
  poster_.post([this, status] {
    if (!closed_ && handler_) handler_->on_error(uv_reason(status));
  });
}

void TcpStream::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  // The loop's shared read buffer: on_read_cb hands it to the handler before any other read
  // can start, so nothing is allocated per read and an idle stream holds nothing.
  Bytes& b = static_cast<TcpStream*>(h->data)->buffers_->read;
  *buf = uv_buf_init(reinterpret_cast<char*>(b.data()), static_cast<unsigned>(b.size()));
}

void TcpStream::on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<TcpStream*>(s->data);
  if (!self || !self->usable()) return;
  if (nread > 0) {
    if (self->handler_) {
      self->handler_->on_read(ByteView(reinterpret_cast<const std::uint8_t*>(buf->base),
                                       static_cast<std::size_t>(nread)));
    }
    return;
  }
  if (nread == 0) return;  // EAGAIN: nothing this time
  if (nread == UV_EOF) {
    self->eof_ = true;
    self->stop_read();
    if (self->handler_) self->handler_->on_eof();
    return;
  }
  self->fail(static_cast<int>(nread));
}

void TcpStream::on_write_cb(uv_write_t* req, int status) {
  auto* self = static_cast<TcpStream*>(req->handle->data);
  PooledWrite::finish(PooledWrite::from(req));
  if (!self || !self->usable()) return;
  if (status < 0) {
    self->fail(status);
    return;
  }
  if (self->above_low_water_ && self->write_queue_size() <= low_water()) {
    self->above_low_water_ = false;
    if (self->handler_) self->handler_->on_drain();
  }
}

void TcpStream::on_shutdown_cb(uv_shutdown_t* req, int status) {
  auto* self = static_cast<TcpStream*>(req->handle->data);
  delete req;
  if (!self || !self->usable()) return;
  if (status < 0 && status != UV_ECANCELED) self->fail(status);
}

void TcpStream::on_close_cb(uv_handle_t* h) {
  auto* self = static_cast<TcpStream*>(h->data);
  delete reinterpret_cast<uv_tcp_t*>(h);
  delete self;
}

}  // namespace mtop::io
