#include "quic/quic_stream.hpp"

#include <algorithm>

#include "quic/connection.hpp"

namespace mtop::quic {
namespace {
// Smallest send chunk: small writes are appended to the last chunk while it has room (which
// never moves bytes ngtcp2 may still point at).
constexpr std::size_t kChunk = 64 * 1024;
}  // namespace

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
  if (!s.tx.empty() && s.tx.back().capacity() - s.tx.back().size() >= data.size()) {
    s.tx.back().insert(s.tx.back().end(), data.begin(), data.end());
  } else {
    Bytes chunk;
    chunk.reserve(std::max(data.size(), kChunk));
    chunk.assign(data.begin(), data.end());
    s.tx.push_back(std::move(chunk));
  }
  s.tx_end += data.size();
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

void QuicStream::reset(std::uint64_t app_error) {
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
