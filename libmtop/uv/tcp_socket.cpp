#include "uv/tcp_socket.hpp"

#include <algorithm>
#include <new>
#include <utility>

#include "mtop/stream.hpp"
#include "uv/pooled_write.hpp"
#include "uv/sockaddr.hpp"

namespace mtop::io {

std::string tcp_peer_name(const uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return sockaddr_to_string(reinterpret_cast<sockaddr*>(&ss));
}

TcpSocket::TcpSocket(UvHandle<uv_tcp_t> tcp, Events& events, std::span<std::uint8_t> read_buffer,
                     std::shared_ptr<ChunkPool> chunks)
    : tcp_(tcp.release()),
      events_(&events),
      read_buffer_(read_buffer),
      chunks_(std::move(chunks)),
      peer_(tcp_peer_name(tcp_)) {
  tcp_->data = this;
}

TcpSocket::~TcpSocket() {
  if (!tcp_) return;  // closed, and the close callback has run
  // From here on libuv's callbacks find no socket and only free their requests.
  tcp_->data = nullptr;
  if (!closed_) {
    uv_close(reinterpret_cast<uv_handle_t*>(tcp_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  }
}

std::string TcpSocket::local_name() const {
  if (closed_) return "?";
  sockaddr_storage ss{};
  int len = sizeof ss;
  if (uv_tcp_getsockname(tcp_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  return sockaddr_to_string(reinterpret_cast<sockaddr*>(&ss));
}

// --- reading ------------------------------------------------------------------------------

int TcpSocket::start_read() {
  if (closed_ || read_ended_ || reading_) return 0;
  const int r = uv_read_start(stream(), &TcpSocket::on_alloc, &TcpSocket::on_read_cb);
  if (r < 0) return r;
  reading_ = true;
  return 0;
}

void TcpSocket::stop_read() noexcept {
  if (closed_ || !reading_) return;
  uv_read_stop(stream());
  reading_ = false;
}

void TcpSocket::on_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf) {
  auto* self = static_cast<TcpSocket*>(h->data);
  if (!self) {
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  // The owner's place for these bytes, else the shared read buffer: either way on_read_cb
  // hands them over before any other read can start.
  std::span<std::uint8_t> into = self->events_->socket_read_space(suggested);
  if (into.empty()) into = self->read_buffer_;
  *buf = uv_buf_init(reinterpret_cast<char*>(into.data()),
                     static_cast<unsigned>(std::min(into.size(), kMaxWrite)));
}

void TcpSocket::on_read_cb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<TcpSocket*>(s->data);
  if (!self || self->closed_) return;
  // Each event is the last thing done here: the owner may close the socket from it.
  if (nread > 0) {
    self->events_->on_socket_read(ByteView(reinterpret_cast<const std::uint8_t*>(buf->base),
                                           static_cast<std::size_t>(nread)));
    return;
  }
  if (nread == 0) return;  // EAGAIN: nothing this time
  self->stop_read();
  self->read_ended_ = true;
  if (nread == UV_EOF) {
    self->events_->on_socket_eof();
  } else {
    self->events_->on_socket_error("read", static_cast<int>(nread));
  }
}

// --- writing ------------------------------------------------------------------------------

int TcpSocket::try_write(ByteView data) noexcept {
  if (tcp_->write_queue_size != 0) return 0;  // the bytes must not overtake the queue
  uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(data.data())),
                             static_cast<unsigned>(std::min(data.size(), kMaxWrite)));
  const int r = uv_try_write(stream(), &buf, 1);
  return r == UV_EAGAIN || r == UV_ENOSYS ? 0 : r;
}

int TcpSocket::write(ByteView data) {
  if (closed_) return UV_EBADF;
  if (data.empty()) return 0;
  const int sent = try_write(data);
  if (sent < 0) return sent;
  // Queue the rest, at most one chunk per request.
  for (ByteView rest = data.subspan(static_cast<std::size_t>(sent)); !rest.empty();) {
    const ByteView piece = rest.first(std::min(rest.size(), chunks_->chunk_size()));
    PooledWrite* w = PooledWrite::copy(piece, chunks_);
    if (!w) return UV_ENOMEM;
    if (const int r = w->start(stream(), &TcpSocket::on_write_cb); r < 0) return r;
    rest = rest.subspan(piece.size());
  }
  note_queue();
  return 0;
}

int TcpSocket::write_chunk(Bytes chunk) {
  if (closed_) return UV_EBADF;
  if (chunk.size() > kMaxWrite) {  // too large for one request (no chunk of a pool is)
    const int r = write(chunk);
    chunks_->give(std::move(chunk));
    return r;
  }
  const int sent = chunk.empty() ? 0 : try_write(chunk);
  if (sent < 0 || static_cast<std::size_t>(sent) == chunk.size()) {
    // All gone (or failed): the chunk is back in the pool before the next write needs one.
    chunks_->give(std::move(chunk));
    return sent < 0 ? sent : 0;
  }
  PooledWrite* w = PooledWrite::keep(std::move(chunk), static_cast<std::size_t>(sent), chunks_);
  if (!w) return UV_ENOMEM;
  if (const int r = w->start(stream(), &TcpSocket::on_write_cb); r < 0) return r;
  note_queue();
  return 0;
}

void TcpSocket::note_queue() noexcept {
  if (queue_size() > Stream::low_water()) above_low_water_ = true;
}

void TcpSocket::on_write_cb(uv_write_t* req, int status) {
  auto* self = static_cast<TcpSocket*>(req->handle->data);
  PooledWrite::finish(PooledWrite::from(req));  // the chunk goes back to its pool
  if (!self || self->closed_) return;           // cancelled by close()
  if (status < 0) {
    self->events_->on_socket_error("write", status);
    return;
  }
  if (self->above_low_water_ && self->queue_size() <= Stream::low_water()) {
    self->above_low_water_ = false;
    self->events_->on_socket_drain();
  }
}

// --- half-close and close -------------------------------------------------------------------

int TcpSocket::shutdown() {
  if (closed_) return UV_EBADF;
  auto* req = new (std::nothrow) uv_shutdown_t{};
  if (!req) return UV_ENOMEM;
  // libuv sends the FIN only once every queued write has gone out.
  const int r = uv_shutdown(req, stream(), &TcpSocket::on_shutdown_cb);
  if (r < 0) delete req;
  return r;
}

void TcpSocket::on_shutdown_cb(uv_shutdown_t* req, int status) {
  auto* self = static_cast<TcpSocket*>(req->handle->data);
  delete req;
  if (!self || self->closed_) return;
  if (status < 0 && status != UV_ECANCELED) self->events_->on_socket_error("shutdown", status);
}

void TcpSocket::close() noexcept {
  if (closed_) return;
  closed_ = true;
  reading_ = false;
  // Pending write and shutdown requests complete with UV_ECANCELED before on_close_cb runs.
  uv_close(reinterpret_cast<uv_handle_t*>(tcp_), &TcpSocket::on_close_cb);
}

void TcpSocket::reset() noexcept {
  if (closed_) return;
  // What uv_tcp_close_reset does, which refuses a socket with a shutdown under way.
  reset_on_close(handle_fd(reinterpret_cast<const uv_handle_t*>(tcp_)));
  close();
}

void TcpSocket::on_close_cb(uv_handle_t* h) {
  auto* self = static_cast<TcpSocket*>(h->data);
  delete reinterpret_cast<uv_tcp_t*>(h);
  if (!self) return;
  self->tcp_ = nullptr;
  self->events_->on_socket_closed();  // last: the owner may free the socket here
}

}  // namespace mtop::io
