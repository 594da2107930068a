#include "engine/climber_eof_replay.hpp"

namespace mtop {

EofReplayStream::EofReplayStream(uv_loop_t* loop, io::StreamPtr inner)
    : inner_(std::move(inner)), poster_(loop) {
  inner_->set_handler(&forward_);
}

io::StreamPtr EofReplayStream::wrap(uv_loop_t* loop, io::StreamPtr inner) {
  return io::StreamPtr(new EofReplayStream(loop, std::move(inner)));
}

void EofReplayStream::start_read() {
  if (replayed_) return;
  replayed_ = true;
  poster_.post([this] {
    if (handler_) handler_->on_eof();
  });
}

void EofReplayStream::close() {
  // The inner stream frees itself once its handles are closed; the wrapper owns nothing else,
  // and the poster's pending call is discarded with it.
  inner_.reset();
  delete this;
}

}  // namespace mtop
