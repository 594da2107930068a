#include "uv/tcp_stream.hpp"

#include <memory>
#include <utility>

#include "uv/uv_error.hpp"

namespace mtop::io {

StreamPtr TcpStream::adopt(UvHandle<uv_tcp_t> tcp, SharedStreamBuffers buffers) {
  if (!tcp) return nullptr;
  if (!buffers) buffers = StreamBuffers::of_this_thread();
  uv_loop_t* loop = tcp->loop;
  return StreamPtr(new TcpStream(loop, std::move(tcp), buffers));
}

OwnedFd TcpStream::hand_over(StreamPtr stream) {
  auto* tcp = dynamic_cast<TcpStream*>(stream.get());
  if (!tcp || !tcp->usable()) return {};
  return OwnedFd::duplicate(tcp->socket_.fd());  // `stream` closes its own descriptor
}

TcpStream::TcpStream(uv_loop_t* loop, UvHandle<uv_tcp_t> tcp, const SharedStreamBuffers& buffers)
    // The chunk pool pointer shares the buffers' life, and so keeps the read buffer valid.
    : socket_(std::move(tcp), *this, buffers->read,
              std::shared_ptr<ChunkPool>(buffers, &buffers->chunks)),
      poster_(loop) {}

void TcpStream::start_read() {
  if (!usable()) return;
  if (const int r = socket_.start_read(); r < 0) fail_later(r);
}

void TcpStream::stop_read() {
  if (closed_) return;
  socket_.stop_read();
}

void TcpStream::write(ByteView data) {
  if (!usable() || data.empty()) return;
  if (shutdown_) {
    // Writing after our own half-close is a bug in the caller; say so rather than drop bytes.
    failed_ = true;
    poster_.post([this] {
      if (!closed_ && handler_) handler_->on_error("write after shutdown");
    });
    socket_.stop_read();
    return;
  }
  if (const int r = socket_.write(data); r < 0) fail_later(r);
}

void TcpStream::shutdown() {
  if (!usable() || shutdown_) return;
  shutdown_ = true;
  if (const int r = socket_.shutdown(); r < 0) fail_later(r);
}

void TcpStream::reset(StreamPtr stream) {
  auto* tcp = dynamic_cast<TcpStream*>(stream.get());
  if (!tcp) return;  // `stream` closes the way its transport aborts
  (void)stream.release();
  tcp->close_socket(true);
}

void TcpStream::close() {
  close_socket(false);
}

void TcpStream::close_socket(bool reset) {
  if (closed_) return;
  closed_ = true;
  handler_ = nullptr;
  poster_.cancel();
  if (reset) {
    socket_.reset();  // on_socket_closed() frees us
  } else {
    socket_.close();
  }
}

void TcpStream::fail(int status) {
  if (!usable()) return;
  failed_ = true;
  socket_.stop_read();
  if (handler_) handler_->on_error(uv_reason(status));
}

void TcpStream::fail_later(int status) {
  if (!usable()) return;
  // Stop reading now so nothing else is delivered before the error.
  socket_.stop_read();
  failed_ = true;
  poster_.post([this, status] {
    if (!closed_ && handler_) handler_->on_error(uv_reason(status));
  });
}

std::span<std::uint8_t> TcpStream::socket_read_space(std::size_t suggested) {
  if (!usable() || !handler_) return {};
  return handler_->read_space(suggested);
}

void TcpStream::on_socket_read(ByteView data) {
  if (usable() && handler_) handler_->on_read(data);
}

void TcpStream::on_socket_eof() {
  if (usable() && handler_) handler_->on_eof();
}

void TcpStream::on_socket_error(const char* /*op*/, int status) {
  fail(status);
}

void TcpStream::on_socket_drain() {
  if (usable() && handler_) handler_->on_drain();
}

}  // namespace mtop::io
