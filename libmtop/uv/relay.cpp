#include "uv/relay.hpp"

#include <algorithm>
#include <utility>

#include "uv/tcp_stream.hpp"

namespace mtop::io {

namespace {
/// While both sides have ended but bytes are still queued, how often to look whether the
/// queues are empty (the Stream interface has no "flushed" event).
constexpr std::uint64_t kFlushPollMs = 20;
}  // namespace

Relay::Relay(uv_loop_t* loop, StreamPtr a, StreamPtr b, RelayOptions options, DoneCallback done)
    : loop_(loop),
      options_(std::move(options)),
      done_(std::move(done)),
      a_(*this, true, std::move(a), loop),
      b_(*this, false, std::move(b), loop),
      idle_timer_(loop),
      flush_timer_(loop),
      poster_(loop) {
  options_.max_pending = std::max(options_.max_pending, Stream::low_water());
  if (a_.stream) a_.stream->set_handler(&a_);
  if (b_.stream) b_.stream->set_handler(&b_);
}

Relay::~Relay() {
  finished_ = true;
  a_.stream.reset();
  b_.stream.reset();
}

void Relay::start(ByteView initial_to_b) {
  if (started_ || finished_) return;
  started_ = true;
  if (!a_.stream || !b_.stream) {
    finish(!a_.stream ? "client: no stream" : "target: no stream");
    return;
  }
  touch();
  if (options_.idle_timeout_ms > 0) arm_idle(options_.idle_timeout_ms);
  if (!initial_to_b.empty()) {
    // Treated exactly like a chunk read from a, so counts, the gate and the bound all apply.
    on_read(a_, initial_to_b);
    if (finished_) return;
  }
  if (options_.a_ended) {
    // The EOF was consumed before the relay owned the stream: carry it across now.
    a_.eof = true;
    b_.stream->shutdown();
  }
  update_reading(a_);
  update_reading(b_);
}

void Relay::close(std::string reason) { finish(std::move(reason)); }

void Relay::abort_b(std::string reason) {
  finish(std::move(reason), true);
}

void Relay::on_read(Side& from, ByteView data) {
  if (finished_) return;
  Side& to = other(from);
  const Direction dir = from.is_a ? Direction::a_to_b : Direction::b_to_a;
  touch();
  (from.is_a ? stats_.bytes_a_to_b : stats_.bytes_b_to_a) += data.size();
  if (options_.on_traffic) {
    options_.on_traffic(dir, data.size());
    if (finished_) return;  // the observer closed us
  }
  const std::uint64_t delay = options_.gate ? options_.gate->delay_ms(dir, data.size()) : 0;
  to.stream->write(data);
  const std::size_t queued = to.stream->write_queue_size();
  auto& peak = to.is_a ? stats_.peak_queued_to_a : stats_.peak_queued_to_b;
  peak = std::max(peak, queued);
  if (queued > options_.max_pending) from.held_by_queue = true;
  if (delay > 0) {
    from.held_by_gate = true;
    from.gate_timer.start(delay, [this, &from] {
      from.held_by_gate = false;
      update_reading(from);
    });
  }
  update_reading(from);
}

void Relay::on_eof(Side& from) {
  if (finished_) return;
  from.eof = true;
  from.reading = false;  // a stream stops reading by itself at EOF
  from.gate_timer.stop();
  from.held_by_gate = false;
  other(from).stream->shutdown();
  check_done();
}

void Relay::on_error(Side& from, std::string_view reason) {
  finish(std::string(from.is_a ? "client: " : "target: ") + std::string(reason),
         from.is_a && options_.reset_b_when_a_fails);
}

void Relay::on_drain(Side& drained) {
  if (finished_) return;
  touch();  // the slow reader is reading: not idle
  Side& writer = other(drained);
  if (writer.held_by_queue && drained.stream->write_queue_size() <= options_.max_pending) {
    writer.held_by_queue = false;
    update_reading(writer);
  }
  if (a_.eof && b_.eof) check_done();
}

std::span<std::uint8_t> Relay::read_space(Side& from, std::size_t suggested) {
  if (finished_ || !started_) return {};
  return other(from).stream->write_space(suggested);
}

void Relay::update_reading(Side& s) {
  if (finished_ || !started_) return;
  const bool want = !s.eof && !s.held_by_queue && !s.held_by_gate;
  if (want == s.reading) return;
  s.reading = want;
  if (want) {
    s.stream->start_read();
  } else {
    s.stream->stop_read();
  }
}

void Relay::touch() noexcept { last_activity_ = uv_now(loop_); }

void Relay::arm_idle(std::uint64_t ms) {
  idle_timer_.start(ms, [this] {
    const std::uint64_t idle = uv_now(loop_) - last_activity_;
    if (idle >= options_.idle_timeout_ms) {
      finish("idle timeout");
      return;
    }
    arm_idle(options_.idle_timeout_ms - idle);
  });
}

void Relay::check_done() {
  if (finished_ || !a_.eof || !b_.eof) return;
  const std::size_t queued = a_.stream->write_queue_size() + b_.stream->write_queue_size();
  if (queued == 0) {
    finish("closed");
    return;
  }
  // Both directions ended but a slow reader still has bytes coming: wait for them to leave,
  // counting progress as activity so the idle time-out only cuts a stalled peer.
  if (queued < last_queued_) touch();
  last_queued_ = queued;
  flush_timer_.start(kFlushPollMs, [this] { check_done(); });
}

void Relay::finish(std::string reason, bool reset_b) {
  if (finished_) return;
  finished_ = true;
  stats_.reason = std::move(reason);
  idle_timer_.stop();
  flush_timer_.stop();
  a_.gate_timer.stop();
  b_.gate_timer.stop();
  // Closing a stream from inside its own callback is allowed (stream.hpp).
  if (reset_b) TcpStream::reset(std::move(b_.stream));
  a_.stream.reset();
  b_.stream.reset();
  poster_.post([this] {
    auto done = std::move(done_);
    done_ = nullptr;
    const RelayStats stats = stats_;
    if (done) done(stats);  // may destroy *this: nothing after it
  });
}

}  // namespace mtop::io
