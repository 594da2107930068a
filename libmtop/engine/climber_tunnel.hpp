// Tunnels opened from code (mtop::Climber::open_tunnel): no local connection; the application
// gets the tunnel stream itself once the server has accepted it. Internal to ClimberEngine.
//
// Theory of operation
//   dialing ──stream open──> awaiting_response ──Established──> done: raw stream + payload
//      └── dial failure / refusal / close without status / junk / time-out ──> done: Failure
//
// - TunnelOpen runs the ClientHandshake (auth message with the target, no early data) over a
//   stream from the engine's dialer; one handshake_timeout_ms timer covers dialing and the
//   response. It reports once through its done callback and then does nothing more; the
//   engine frees it and calls the application from a later loop turn.
// - TunnelStream is what the application gets: the payload that came with the response first,
//   then the raw stream, one io::Stream. While attached to the engine's TunnelLedger it counts
//   against max_connections and adds its bytes to the stats; dropping it tells the ledger.
//   detach() (the engine going away, abort_all) closes the raw stream at once; the
//   application's handler then gets on_error from the loop, and the object lives on until the
//   application drops its StreamPtr.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>

#include "engine/climber_session.hpp"
#include "mtop/address.hpp"
#include "mtop/client_handshake.hpp"
#include "mtop/result.hpp"
#include "mtop/stream.hpp"
#include "uv/poster.hpp"
#include "uv/timer.hpp"

namespace mtop {

class TunnelOpen final : private io::Stream::Handler {
 public:
  /// A tunnel the server accepted: the raw stream (not reading; its handler is still the
  /// TunnelOpen, so the receiver must set its own at once) and the payload that came with the
  /// response.
  struct Opened {
    io::StreamPtr stream;
    Bytes payload;
  };
  /// Runs once: from a loop callback, or inside start() when the target is refused by the
  /// core. The TunnelOpen may be on the stack: the owner must free it later.
  using DoneCallback = std::function<void(Result<Opened> outcome)>;

  TunnelOpen(ClimberShared& shared, Address target, DoneCallback done);
  /// Closes what it holds; the done callback does not run.
  ~TunnelOpen() override;
  TunnelOpen(const TunnelOpen&) = delete;
  TunnelOpen& operator=(const TunnelOpen&) = delete;

  void start();
  const Address& target() const noexcept { return target_; }

 private:
  enum class Phase { idle, dialing, awaiting_response, done };

  void on_open(io::StreamPtr stream, const std::string& error);
  void on_read(ByteView data) override;
  void on_eof() override;
  void on_error(std::string_view reason) override;
  void on_drain() override {}
  void drive();
  void fail(Errc code, std::string message);

  ClimberShared& shared_;
  Address target_;
  DoneCallback done_;
  Phase phase_ = Phase::idle;
  std::optional<ClientHandshake> handshake_;
  io::StreamPtr tunnel_;
  io::Timer timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

class TunnelStream;

/// The engine's record of the tunnels the application holds.
struct TunnelLedger {
  explicit TunnelLedger(ClimberShared& s) : shared(s) {}
  ClimberShared& shared;
  std::unordered_set<TunnelStream*> live;
  std::function<void()> on_leave;  ///< after a tunnel left `live` (the engine's drain check)
};

class TunnelStream final : public io::Stream {
 public:
  /// Takes over `opened.stream` (sets itself as its handler). Not attached to a ledger yet.
  /// The object frees itself on close(), as every io::Stream.
  static TunnelStream* wrap(uv_loop_t* loop, TunnelOpen::Opened opened, std::string target);

  /// From now on the tunnel is counted by `ledger` and logged when it ends.
  void attach(TunnelLedger& ledger);
  /// Closes the raw stream now and leaves the ledger (which has logged `reason`); the handler
  /// gets on_error(reason) from the loop. Further calls do nothing but close().
  void detach(std::string_view reason);

  // io::Stream
  void set_handler(Handler* handler) override;
  void start_read() override;
  void stop_read() override;
  void write(ByteView data) override;
  /// The raw stream's room (a QUIC stream lends some): write() passes the bytes on unmoved.
  std::span<std::uint8_t> write_space(std::size_t want) override {
    return inner_ ? inner_->write_space(want) : std::span<std::uint8_t>();
  }
  std::size_t write_queue_size() const override;
  void shutdown() override;
  void close() override;
  void abort(std::uint64_t app_error) override;
  std::string peer_name() const override { return peer_; }

  /// The line the ledger logs when the tunnel ends.
  std::string summary(std::string_view reason) const;

 private:
  TunnelStream(uv_loop_t* loop, TunnelOpen::Opened opened, std::string target);
  ~TunnelStream() override = default;

  // The raw stream's events, passed on.
  struct Forward final : io::Stream::Handler {
    explicit Forward(TunnelStream& s) : self(s) {}
    void on_read(ByteView data) override { self.on_inner_read(data); }
    void on_eof() override { self.on_inner_eof(); }
    void on_error(std::string_view reason) override { self.on_inner_error(reason); }
    void on_drain() override { self.on_inner_drain(); }
    TunnelStream& self;
  };
  void on_inner_read(ByteView data);
  void on_inner_eof();
  void on_inner_error(std::string_view reason);
  void on_inner_drain();

  void deliver_prefix();
  /// Reports `reason` through on_error from the loop once a handler is set.
  void report_later(std::string reason);
  void leave_ledger(std::string_view reason);

  uv_loop_t* loop_;
  Forward forward_{*this};
  io::StreamPtr inner_;
  Bytes prefix_;  ///< payload that came with the response, delivered before the raw stream's
  io::Poster poster_;
  Handler* handler_ = nullptr;
  TunnelLedger* ledger_ = nullptr;
  std::string target_;
  std::string peer_;
  std::optional<std::string> pending_error_;  ///< to report once a handler is set
  std::string error_;                         ///< the raw stream's failure, for the log
  std::uint64_t started_ms_ = 0;
  std::uint64_t up_ = 0;
  std::uint64_t down_ = 0;
  bool reading_ = false;
  bool prefix_posted_ = false;
};

}  // namespace mtop
