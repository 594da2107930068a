// Relay: joins two streams (a = client side, b = target side) in both directions.
//
// Theory of operation
// - Bytes read from one side are written to the other at once (the stream copies what the
//   kernel does not take). A side that reads in place is pointed at the other side's
//   write_space(), when it lends one (a QUIC stream's send buffer): a TCP read then lands
//   where QUIC sends it from, and the write that follows copies nothing.
// - When the receiving side's write_queue_size() exceeds RelayOptions::max_pending, the relay
//   stops reading the sending side and resumes on the receiving side's on_drain: memory per
//   tunnel stays bounded (max_pending plus one read) however slowly a peer reads.
// - Half-close is carried across: EOF from a side becomes shutdown() of the other, and the
//   opposite direction keeps flowing. The relay is done when both sides have sent EOF and
//   both write queues are empty ("closed"), on the first error of either side
//   ("client: <reason>" / "target: <reason>"), on the idle time-out ("idle timeout"), or on
//   close(reason) / abort_b(reason). Both streams are then closed, unless side a failed and
//   the options ask for b to be reset (RelayOptions::reset_b_when_a_fails), or abort_b() did.
// - When done, the relay closes both streams and then calls the done callback from the loop
//   (never inside a call into the relay). The callback may destroy the relay.
// - TrafficGate (optional) is asked about every chunk before it is forwarded; the chunk is
//   always forwarded, and a non-zero answer pauses reading of that side for that long. This
//   is the hook for quotas and bandwidth limits. The traffic observer sees every chunk.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "mtop/bytes.hpp"
#include "mtop/stream.hpp"
#include "uv/poster.hpp"
#include "uv/timer.hpp"

namespace mtop::io {

enum class Direction : std::uint8_t {
  a_to_b,  ///< client → target (upload)
  b_to_a,  ///< target → client (download)
};

/// Consulted before each chunk is forwarded (quota, bandwidth limit). Called on the loop
/// thread; must not call back into the relay.
class TrafficGate {
 public:
  virtual ~TrafficGate() = default;
  /// `bytes` are about to be forwarded in `dir`. Returns how long (ms) to stop reading the
  /// sending side afterwards; 0 to go on at once.
  virtual std::uint64_t delay_ms(Direction dir, std::size_t bytes) = 0;
};

struct RelayOptions {
  /// Stop reading a side while the other side has more than this queued. Values below
  /// Stream::low_water() are raised to it (on_drain fires only at low_water()).
  std::size_t max_pending = 256 * 1024;
  /// Close when no byte moved either way for this long; 0 = never.
  std::uint64_t idle_timeout_ms = 300'000;
  /// Optional gate, shared e.g. by every tunnel of one user.
  std::shared_ptr<TrafficGate> gate;
  /// Optional observer of every forwarded chunk (usage counting). Must not destroy the relay;
  /// it may call Relay::close().
  std::function<void(Direction, std::size_t bytes)> on_traffic;
  /// When side a fails (reset, abort), side b is reset (TcpStream::reset: a TCP peer gets an
  /// RST, not a FIN) rather than closed: a reverse tunnel's visitor when the climber aborts
  /// its data connection (docs/PROTOCOL.md 9.5, 9.6).
  bool reset_b_when_a_fails = false;
  /// Side a already sent EOF before start() (a client that half-closed while the server was
  /// still deciding): b is shut down right after `initial_to_b`, and a is never read.
  bool a_ended = false;
};

struct RelayStats {
  std::uint64_t bytes_a_to_b = 0;
  std::uint64_t bytes_b_to_a = 0;
  std::size_t peak_queued_to_a = 0;  ///< largest write_queue_size() of a seen after a write
  std::size_t peak_queued_to_b = 0;  ///< same for b
  std::string reason;                ///< why it ended (empty while running)
};

class Relay {
 public:
  using DoneCallback = std::function<void(const RelayStats& stats)>;

  /// Takes both streams. Nothing happens before start(); a null stream makes start() end the
  /// relay at once ("client: no stream" / "target: no stream").
  Relay(uv_loop_t* loop, StreamPtr a, StreamPtr b, RelayOptions options, DoneCallback done);
  /// Closes both streams; the done callback is not called.
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  /// Writes `initial_to_b` to b first (e.g. early data the server already read from the
  /// client), then starts reading both sides. Counted as a → b traffic. Call once.
  void start(ByteView initial_to_b = {});
  /// Ends the relay with `reason` (e.g. "user disabled"): both streams are closed and the done
  /// callback follows from the loop. No effect once the relay has ended.
  void close(std::string reason);
  /// close(), but b is reset (TcpStream::reset: a TCP peer gets an RST, not a FIN): a reverse
  /// tunnel's visitor whose tunnel the server ends (docs/PROTOCOL.md 9.7).
  void abort_b(std::string reason);

  const RelayStats& stats() const noexcept { return stats_; }
  bool finished() const noexcept { return finished_; }

 private:
  struct Side final : Stream::Handler {
    Side(Relay& r, bool a, StreamPtr s, uv_loop_t* loop)
        : relay(r), is_a(a), stream(std::move(s)), gate_timer(loop) {}
    void on_read(ByteView data) override { relay.on_read(*this, data); }
    void on_eof() override { relay.on_eof(*this); }
    void on_error(std::string_view reason) override { relay.on_error(*this, reason); }
    void on_drain() override { relay.on_drain(*this); }
    std::span<std::uint8_t> read_space(std::size_t suggested) override {
      return relay.read_space(*this, suggested);
    }

    Relay& relay;
    const bool is_a;
    StreamPtr stream;
    Timer gate_timer;
    bool eof = false;           ///< the peer of this side sent EOF
    bool reading = false;       ///< start_read() in effect
    bool held_by_queue = false; ///< the other side's queue is over max_pending
    bool held_by_gate = false;  ///< the gate asked for a pause
  };

  Side& other(Side& s) noexcept { return s.is_a ? b_ : a_; }
  void on_read(Side& from, ByteView data);
  void on_eof(Side& from);
  void on_error(Side& from, std::string_view reason);
  void on_drain(Side& drained);
  std::span<std::uint8_t> read_space(Side& from, std::size_t suggested);
  void update_reading(Side& s);
  void touch() noexcept;
  void arm_idle(std::uint64_t ms);
  void check_done();
  /// Ends the relay; `reset_b`: b is reset rather than closed.
  void finish(std::string reason, bool reset_b = false);

  uv_loop_t* loop_;
  RelayOptions options_;
  DoneCallback done_;
  Side a_;
  Side b_;
  Timer idle_timer_;
  Timer flush_timer_;
  Poster poster_;
  RelayStats stats_;
  std::uint64_t last_activity_ = 0;
  std::size_t last_queued_ = 0;
  bool started_ = false;
  bool finished_ = false;
};

}  // namespace mtop::io
