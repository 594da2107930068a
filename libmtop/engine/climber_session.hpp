// ClimberSession: one local connection of the climber, from its first byte to the end of its
// tunnel. Internal to ClimberEngine (climber_engine.hpp).
//
// Theory of operation
//   request ──target known──> dialing ──stream open──> awaiting_response ──Established──> relaying
//      │                         │                           │
//      └── bad request / refused / failure / time-out ───────┴──> lingering ──> finished
//
// - request: the local bytes go to the SOCKS5 machine or the HTTP proxy parser (a mixed port
//   picks one by the first byte: 0x05 is SOCKS5). A port-forward has its target from the rule
//   and skips this phase.
// - dialing: the ClientHandshake is built from the server credentials and the target, and the
//   dialer opens a tunnel stream. Local bytes that arrive meanwhile are early data, held up
//   to early_data_limit; beyond that the session stops reading the local socket.
// - awaiting_response: the auth message and the early data are written together; local reads
//   stop until the server answers. Server bytes go to the ClientHandshake.
// - relaying: the local side gets its success answer and the payload that came with the
//   response, then an io::Relay joins both streams.
// - lingering: a failure answer (SOCKS5 reply, HTTP status) was written and our side
//   half-closed; the session waits briefly for the client to close so the answer is not lost
//   to a reset, then ends.
// One handshake_timeout_ms timer covers the local request and the tunnel set-up.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "mtop/address.hpp"
#include "mtop/client_handshake.hpp"
#include "mtop/climber.hpp"
#include "mtop/http_proxy.hpp"
#include "mtop/log.hpp"
#include "mtop/socks5.hpp"
#include "mtop/stream.hpp"
#include "uv/relay.hpp"
#include "uv/timer.hpp"

namespace mtop {

/// What a local port speaks.
enum class LocalMode { socks, http, mixed, forward };

/// What every session of one engine shares; owned by the engine, outlives its sessions.
struct ClimberShared {
  uv_loop_t* loop = nullptr;
  ClimberOptions options;
  std::string username;
  std::string password;
  io::StreamDialer* dialer = nullptr;
  Logger log;
  /// Counters of every session and opened tunnel (active_connections is the engine's to fill).
  ClimberStats stats;
};

class ClimberSession final : private io::Stream::Handler {
 public:
  using DoneCallback = std::function<void(ClimberSession*)>;

  /// Takes the accepted local stream. For LocalMode::forward, `forward_target` is the rule's
  /// target. `done` runs once when the session is over (possibly inside one of its callbacks:
  /// the owner must defer the destruction).
  ClimberSession(ClimberShared& shared, io::StreamPtr local, LocalMode mode,
                 std::optional<Address> forward_target, DoneCallback done);
  ~ClimberSession() override;
  ClimberSession(const ClimberSession&) = delete;
  ClimberSession& operator=(const ClimberSession&) = delete;

  void start();
  /// Ends the session now (engine shutdown after the drain): closes both sides, logs.
  void abort(std::string_view reason);

 private:
  enum class Phase { request, dialing, awaiting_response, relaying, lingering, finished };

  /// Events of the tunnel stream before the relay takes it over.
  struct TunnelHandler final : io::Stream::Handler {
    explicit TunnelHandler(ClimberSession& s) : session(s) {}
    void on_read(ByteView data) override { session.on_tunnel_read(data); }
    void on_eof() override { session.on_tunnel_eof(); }
    void on_error(std::string_view reason) override { session.on_tunnel_error(reason); }
    void on_drain() override {}
    ClimberSession& session;
  };

  // Local stream events (before the relay).
  void on_read(ByteView data) override;
  void on_eof() override;
  void on_error(std::string_view reason) override;
  void on_drain() override {}

  void on_request_bytes(ByteView data);
  void on_socks_bytes(ByteView data);
  void on_http_bytes(ByteView data);
  void flush_socks();
  bool credentials_match(std::string_view user, std::string_view pass) const;
  void hold_early(ByteView data);

  void begin_tunnel();
  void on_tunnel_open(io::StreamPtr stream, const std::string& error);
  void on_tunnel_read(ByteView data);
  void on_tunnel_eof();
  void on_tunnel_error(std::string_view reason);
  void drive_handshake();
  void start_relay(Bytes to_local);
  void on_timeout();

  /// Answers the local side with the failure (per mode), logs `reason` and lingers.
  void fail(socks5::ReplyCode socks, http::ProxyStatus http_status, std::string reason);
  /// Writes what is queued, half-closes the local side and waits briefly for its close.
  void linger();
  /// The session is over: closes everything and tells the owner.
  void finish();
  void log_close(std::string_view reason, std::uint64_t up, std::uint64_t down);
  std::string mode_name() const;

  ClimberShared& shared_;
  io::StreamPtr local_;
  io::StreamPtr tunnel_;
  LocalMode mode_;
  DoneCallback done_;
  TunnelHandler tunnel_handler_{*this};
  Phase phase_ = Phase::request;
  std::optional<socks5::Server> socks_;
  std::optional<http::ProxyRequestParser> http_;
  bool http_connect_ = false;
  std::optional<Address> target_;
  Bytes early_;                     ///< early data held until the tunnel opens
  std::uint64_t early_sent_ = 0;    ///< early bytes written with the auth message
  std::optional<ClientHandshake> handshake_;
  std::unique_ptr<io::Relay> relay_;
  io::Timer timer_;
  std::string peer_;
  std::uint64_t started_ms_ = 0;
  bool local_eof_ = false;
  bool logged_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

/// Why a tunnel failed when the server's answer did not decode as an MTop response (`code`,
/// e.g. bad_version): a server in fallback mode relays a failed login to its web site, whose
/// answer ("HTTP/1.1 400 ...") lands here (docs/CONFIG.md, failure modes).
std::string non_mtop_answer(Errc code);

}  // namespace mtop
