#include "quic/quic_stream.hpp"

#include <algorithm>

#include "quic/connection.hpp"

namespace mtop::quic {

QuicStream::QuicStream(uv_loop_t* loop, Connection* conn, StreamState* state, std::string peer)
    : loop_(loop), conn_(conn), state_(state), peer_(std::move(peer)) {}

QuicStream::~QuicStream() = default;

void QuicStream::start_read() {
  reading_ = true;
  if (conn_) conn_->stream_touched();  // buffered bytes are delivered by the next flush
}

void QuicStream::write(ByteView data) {
  if (!conn_ || !state_ || data.empty()) return;
  StreamState& s = *state_;
  if (s.failed || s.tx_closed || s.fin_requested) return;  // nowhere to go
  s.tx_end += data.size();
  // Fill the last chunk up to its capacity (never beyond: that would move bytes ngtcp2 may
  // still point at), then the endpoint's recycled chunks (uv/chunk_pool.hpp).
  while (!data.empty()) {
    if (s.tx.empty() || s.tx.back().size() == s.tx.back().capacity()) {
      s.tx.push_back(conn_->chunk_pool().take());
    }
    Bytes& last = s.tx.back();
    const std::size_t n = std::min(data.size(), last.capacity() - last.size());
    last.insert(last.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
    data = data.subspan(n);
  }
  if (s.unacked() > low_water()) s.above_low_water = true;
  conn_->stream_touched();
}

std::size_t QuicStream::write_queue_size() const {
  return state_ ? static_cast<std::size_t>(state_->unacked()) : 0;
}

void QuicStream::shutdown() {
  if (!conn_ || !state_ || state_->fin_requested) return;
  state_->fin_requested = true;
  conn_->stream_touched();
}

void QuicStream::close() {
  if (conn_ && state_) conn_->stream_app_closed(*state_);
  conn_ = nullptr;
  state_ = nullptr;
  error_timer_.reset();  // a pending on_error is dropped with it
  delete this;
}

void QuicStream::abort(std::uint64_t app_error) {
  if (state_) state_->abort_code = app_error;
  close();
}

void QuicStream::detach(const std::string& reason) {
  conn_ = nullptr;
  state_ = nullptr;
  if (reason.empty()) return;  // on_error was already delivered
  detached_error_ = reason;
  error_timer_ = io::UvHandle<uv_timer_t>::make();
  uv_timer_init(loop_, error_timer_.get());
  error_timer_->data = this;
  uv_timer_start(error_timer_.get(), on_error_timer, 0, 0);
}

void QuicStream::on_error_timer(uv_timer_t* t) {
  auto* self = static_cast<QuicStream*>(t->data);
  if (!self) return;
  if (self->handler_) self->handler_->on_error(self->detached_error_);
}

}  // namespace mtop::quic
