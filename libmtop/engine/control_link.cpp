#include "engine/control_link.hpp"

#include <limits>
#include <utility>
#include <variant>

namespace mtop {

ControlLink::ControlLink(uv_loop_t* loop, io::StreamPtr stream, ControlChannel channel,
                         Events events)
    : loop_(loop),
      stream_(std::move(stream)),
      channel_(std::move(channel)),
      events_(std::move(events)),
      timer_(loop) {
  if (stream_) stream_->set_handler(this);
}

ControlLink::~ControlLink() {
  ended_ = true;
  timer_.stop();
  // stream_ closes itself (StreamCloser) without callbacks.
}

void ControlLink::start(ByteView initial) {
  if (!stream_) {
    end(End::peer_closed, "no stream");
    return;
  }
  if (!initial.empty()) feed(initial);
  if (ended_) return;
  stream_->start_read();
  arm();
}

void ControlLink::on_read(ByteView data) {
  if (ended_) return;
  if (paused_) {
    // Delivered after stop_read(): keep the order, within one bound.
    if (held_.size() + data.size() > kMaxQueued) {
      end(End::protocol_error, "control tunnel read past its stop");
      return;
    }
    held_.insert(held_.end(), data.begin(), data.end());
    return;
  }
  feed(data);
}

void ControlLink::feed(ByteView data) {
  bytes_in_ += data.size();
  while (!ended_) {
    const auto r = channel_.feed(data, uv_now(loop_));
    if (!r) break;  // failed earlier: its Error event says why
    flush();
    if (!take_events()) return;
    data = data.subspan(*r);
    if (data.empty() || *r == 0) break;
  }
  if (ended_) return;
  if (!data.empty()) {
    // Cannot happen with the output written at once; never drop bytes silently.
    end(End::protocol_error, "control channel stalled");
    return;
  }
  if (stream_->write_queue_size() > kMaxQueued && !paused_) {
    paused_ = true;
    stream_->stop_read();
  }
  arm();
}

void ControlLink::on_drain() {
  if (ended_ || !paused_ || stream_->write_queue_size() > kMaxQueued) return;
  paused_ = false;
  Bytes held = std::move(held_);
  held_.clear();
  if (!held.empty()) feed(held);
  if (!ended_ && !paused_) stream_->start_read();
}

void ControlLink::on_eof() {
  if (ended_) return;
  (void)channel_.feed_eof();
  if (take_events()) end(End::peer_closed, "control tunnel closed by the peer");
}

void ControlLink::on_error(std::string_view reason) {
  end(End::peer_closed, "control tunnel: " + std::string(reason));
}

void ControlLink::flush() {
  const ByteView out = channel_.pending_output();
  if (out.empty() || !stream_) return;
  stream_->write(out);
  bytes_out_ += out.size();
  channel_.consume_output(out.size());
}

bool ControlLink::take_events() {
  for (;;) {
    ControlEvent ev = channel_.next_event();
    if (std::holds_alternative<event::NeedData>(ev)) return true;
    if (auto* o = std::get_if<event::OpenRequest>(&ev)) {
      if (events_.open) events_.open(o->token);
      if (ended_) return false;
      continue;
    }
    if (auto* e = std::get_if<event::Error>(&ev)) {
      if (e->code == Errc::keepalive_timeout) {
        end(End::keepalive, "control tunnel: keep-alive timed out");
      } else if (e->code == Errc::peer_closed) {
        end(End::peer_closed, "control tunnel closed inside a frame");
      } else {
        end(End::protocol_error, "control tunnel: " + std::string(errc_message(e->code)));
      }
      return false;
    }
    // EndOfInput: on_eof ends the link after the queued events.
    return true;
  }
}

void ControlLink::arm() {
  if (ended_) return;
  const std::uint64_t due = channel_.next_timeout();
  if (due == std::numeric_limits<std::uint64_t>::max()) {
    timer_.stop();
    return;
  }
  const std::uint64_t now = uv_now(loop_);
  timer_.start(due > now ? due - now : 0, [this] {
    channel_.handle_timeout(uv_now(loop_));
    flush();
    if (take_events()) arm();
  });
}

bool ControlLink::send_open(const AttachToken& token) {
  if (ended_ || !channel_.send_open(token)) return false;
  flush();
  return true;
}

void ControlLink::abort(std::uint64_t app_error) {
  ended_ = true;
  timer_.stop();
  if (stream_) stream_.release()->abort(app_error);
}

void ControlLink::end(End end, std::string reason) {
  if (ended_) return;
  ended_ = true;
  timer_.stop();
  if (events_.ended) events_.ended(end, std::move(reason));
}

}  // namespace mtop
