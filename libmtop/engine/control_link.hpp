// ControlLink: a reverse tunnel's control tunnel on a stream, after the REVERSE response
// (docs/PROTOCOL.md 9.3, 9.4): the sans-IO ControlChannel driven by the stream's bytes and a
// libuv timer. The server and the climber both run one.
//
// Theory of operation
// - Every byte read is fed to the channel with uv_now; PONGs it queues are written at once.
//   The channel holds back input only while its own output waits, and that is written right
//   away, so what it did not take is fed again at once. Reading stops while the stream's own
//   write queue is above kMaxQueued (a peer that pings and never reads) and resumes on drain.
// - One timer follows the channel's next_timeout(): a PING after K quiet seconds, the end
//   after 3 x K.
// - OPEN frames (climber side) go to Events::open. The link ends once, through Events::ended,
//   on the peer's EOF (half-close ends the reverse tunnel, 9.3), a stream error, a bad frame
//   or the keep-alive; it then does nothing more. The owner may not destroy the link inside
//   that callback (it runs inside the stream's own callbacks); abort() or destruction later
//   closes the stream without close_notify.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

#include "mtop/control_channel.hpp"
#include "mtop/stream.hpp"
#include "uv/timer.hpp"

namespace mtop {

class ControlLink final : private io::Stream::Handler {
 public:
  /// Why the link ended: the peer closed, the keep-alive ran out, the peer broke the frames.
  enum class End { peer_closed, keepalive, protocol_error };
  struct Events {
    std::function<void(const AttachToken& token)> open;  ///< climber: an OPEN frame
    std::function<void(End end, std::string reason)> ended;
  };

  /// Stops reading while more than this waits in the stream's write queue.
  static constexpr std::size_t kMaxQueued = 64 * 1024;

  /// Takes over `stream` (its handler is set here) and `channel` (made at the response).
  ControlLink(uv_loop_t* loop, io::StreamPtr stream, ControlChannel channel, Events events);
  ~ControlLink() override;
  ControlLink(const ControlLink&) = delete;
  ControlLink& operator=(const ControlLink&) = delete;

  /// Feeds `initial` (bytes read after the response), then starts reading and the timer.
  void start(ByteView initial);
  /// Server: sends an OPEN frame. False when the link has ended.
  bool send_open(const AttachToken& token);
  /// Closes the stream at once without close_notify (QUIC: reset with `app_error`). No
  /// callback follows.
  void abort(std::uint64_t app_error);

  bool ended() const noexcept { return ended_; }
  std::uint64_t bytes_in() const noexcept { return bytes_in_; }
  std::uint64_t bytes_out() const noexcept { return bytes_out_; }

 private:
  void on_read(ByteView data) override;
  void on_eof() override;
  void on_error(std::string_view reason) override;
  void on_drain() override;

  void feed(ByteView data);
  void flush();
  /// Takes the channel's events; false once the link has ended.
  bool take_events();
  void arm();
  void end(End end, std::string reason);

  uv_loop_t* loop_;
  io::StreamPtr stream_;
  ControlChannel channel_;
  Events events_;
  io::Timer timer_;
  Bytes held_;  ///< read while reading was stopped
  bool paused_ = false;
  bool ended_ = false;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
};

}  // namespace mtop
