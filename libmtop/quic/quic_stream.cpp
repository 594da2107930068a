#include "quic/quic_stream.hpp"

#include "quic/connection.hpp"

namespace mtop::quic {

QuicStream::QuicStream(uv_loop_t* loop, Connection* conn, StreamState* state, std::string peer)
    : loop_(loop), conn_(conn), state_(state), peer_(std::move(peer)) {}

QuicStream::~QuicStream() = default;

void QuicStream::set_handler(Handler* handler) {
  handler_ = handler;
  // Bytes held for want of a handler go to the new one on the next flush.
  if (conn_ && handler) conn_->stream_touched(*state_);
}

void QuicStream::start_read() {
  reading_ = true;
  if (conn_) conn_->stream_touched(*state_);  // buffered bytes are delivered by the next flush
}

void QuicStream::write(ByteView data) {
  if (!conn_ || !state_ || data.empty()) return;
  StreamState& s = *state_;
  if (!s.accepts_writes()) return;  // nowhere to go
  conn_->append_tx(s, data);
  if (s.unacked() > low_water()) s.above_low_water = true;
  conn_->stream_touched(s);
}

std::span<std::uint8_t> QuicStream::write_space(std::size_t want) {
  if (!conn_ || !state_ || !state_->accepts_writes()) return {};
  return conn_->tx_space(*state_, want);
}

std::size_t QuicStream::write_queue_size() const {
  return state_ ? static_cast<std::size_t>(state_->unacked()) : 0;
}

void QuicStream::shutdown() {
  if (!conn_ || !state_ || state_->fin_requested) return;
  state_->fin_requested = true;
  conn_->stream_touched(*state_);
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
