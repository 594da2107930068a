// ServerTunnel: one accepted tunnel stream on the server, from the first byte to the close.
//
// Theory of operation
//   handshake --auth message--> deciding --host says yes--> connecting --target up--> relaying
//       |                          |                            |                       |
//       |                          '--host says no--.           '--connect failed--.    |
//       '--bad bytes / time-out / client gone--> done  <--  rejecting  <-----------'    |
//                                                 ^--------------------------------------'
// - handshake: the client's bytes go to mtop::ServerHandshake under the handshake time-out.
//   When a feed() is not consumed whole (the early-data bound), reading stops and the rest is
//   kept (at most one read) until accept() (docs/PROTOCOL.md, "Early data").
// - deciding: the host (the engine) asks its user check, then calls auth_passed() or refuse().
//   The handshake time-out keeps running: a check that never answers ends the tunnel there.
//   connecting: connect_tcp under the target policy.
// - rejecting: reply mode writes the status, half-closes, and waits (bounded) for the client
//   to go; stealth closes at once. relaying: an io::Relay owns both streams, the held early
//   payload is its initial bytes, and a client EOF seen while deciding is carried across.
// - done: the host hears it once (tunnel_finished) with the summary; it destroys the tunnel
//   later, never inside that call. Destroying a tunnel closes everything without callbacks.
//   A client stream still held then is aborted with the failure's code (tunnel_abort_code):
//   over QUIC that code is what the climber sees in the stream reset.
// - fallback (set_fallback(true): a TLS tunnel on a server with a fallback web backend): every
//   client byte read is also kept, in order (bounded like the held bytes). A failure before a
//   password was found right (ends_on_fallback: malformed or truncated auth message, time-out,
//   client EOF, wrong password, unknown user, throttled, store trouble) does not close: the
//   tunnel connects to the backend (fallback_connecting, reading paused) and relays the client
//   to it (fallback_relaying), the kept bytes first. The summary keeps the failure; the tunnel
//   never reaches its MTop target. Refusals after a right password (account, tunnel limit,
//   target) keep MTop's answer: the peer is a climber that knows its password.
// - fallback to a stream sink (set_fallback_sink: a QUIC tunnel on an "h3" connection): the
//   same failures hand the client stream and the kept bytes to the sink (the connection's
//   HTTP/3 site, quic/h3_gate.hpp) while the sink is open(), and the tunnel is done; a right
//   password tells the sink the connection is a climber's; the sink may recall the tunnel
//   (its connection became HTTP/3 meanwhile), which then hands over at once.
// - reverse tunnels (docs/PROTOCOL.md section 9): a REVERSE request is decided like a CONNECT
//   one, then the host publishes the bind (tunnel_publish) instead of a connect; on success
//   the tunnel becomes a control tunnel (stage control: a ControlLink owns the stream) until
//   the climber goes or the host closes it. A TLS stream whose first bytes are an ATTACH
//   message (VER, 0x03) is a data connection: the host redeems its token (tunnel_attach) and
//   makes it pooled (idle, belonging to the publishing user) and later hands it a visitor
//   (attach_visitor): the visitor header, then a relay between the climber (a) and the
//   visitor (b). A bad token gets the stealth close (or the fallback, like a wrong password).
//   Over QUIC the server opens the visitor's stream itself: start_visitor_stream() makes it a
//   data tunnel at once (no ATTACH), then make_pooled() and attach_visitor() as over TLS.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "auth/target_policy.hpp"
#include "engine/control_link.hpp"
#include "mtop/host_port.hpp"
#include "mtop/protocol.hpp"
#include "mtop/server.hpp"
#include "mtop/server_handshake.hpp"
#include "mtop/stream.hpp"
#include "uv/connector.hpp"
#include "uv/relay.hpp"
#include "uv/stream_fallback.hpp"
#include "uv/timer.hpp"

namespace mtop {

class ServerTunnel;

/// A decision the host is working on. The tunnel keeps it while it waits; dropping it tells the
/// host that nobody waits any more (the answer, when it comes, is dropped).
class PendingDecision {
 public:
  virtual ~PendingDecision() = default;
};

/// What a tunnel needs from its engine.
class TunnelHost {
 public:
  virtual ~TunnelHost() = default;
  /// A complete auth request: decide, then call t.auth_passed() or t.refuse() later (never
  /// inside this call).
  virtual std::unique_ptr<PendingDecision> tunnel_auth(ServerTunnel& t, AuthMessage request) = 0;
  /// Connects an authorised tunnel to its target: `requested` under the target policy, or the
  /// server's fixed target. `cb` as io::connect_tcp's.
  virtual std::unique_ptr<io::ConnectAttempt> tunnel_connect(ServerTunnel& t,
                                                             const Address& requested,
                                                             io::ConnectCallback cb) = 0;
  /// Connects to the fallback backend; called only for a tunnel given set_fallback(true).
  virtual std::unique_ptr<io::ConnectAttempt> tunnel_connect_fallback(ServerTunnel& t,
                                                                      io::ConnectCallback cb) = 0;
  /// Relay options (gate, traffic observer) for a tunnel about to relay.
  virtual io::RelayOptions tunnel_relay_options(ServerTunnel& t) = 0;
  /// The tunnel ended (summary in t.summary()). Called once; must not destroy t right away.
  virtual void tunnel_finished(ServerTunnel& t) = 0;

  /// The answer to a REVERSE request: a status, and the grant on success.
  struct PublishAnswer {
    Status status = Status::bad_request;
    ReverseGrant grant{0, 0, 0};
    std::string reason;  ///< log-safe, for a refusal
  };
  /// An authorised REVERSE request for `bind` (the user is t.username()): bind the public port
  /// or say why not. On success the tunnel sends the response and then calls
  /// tunnel_published().
  virtual PublishAnswer tunnel_publish(ServerTunnel& t, const Address& bind) = 0;
  /// The success response is out and t is a control tunnel now (t.send_open() works).
  virtual void tunnel_published(ServerTunnel& t) = 0;
  /// A TLS data connection's ATTACH token: true when the host took it (it has called
  /// t.make_pooled() and may have given it a visitor already); false for the stealth close.
  virtual bool tunnel_attach(ServerTunnel& t, const AttachToken& token) = 0;
  /// Data tunnel t (reverse_role() data) is relaying the climber's first byte to its visitor,
  /// right now (inside the relay's traffic callback: it must not destroy t). Called once.
  virtual void tunnel_answered(ServerTunnel& t) = 0;
};

/// What a tunnel runs under: the engine's options and the connect options (target policy)
/// made from them. A tunnel keeps the settings it started with; a reload gives new tunnels
/// new settings (ServerEngine::set_options) and leaves live ones alone.
struct TunnelSettings {
  ServerOptions options;
  auth::TargetPolicy target_policy;  ///< allow_targets and deny_target_ports
  io::ConnectOptions connect;        ///< clients' targets: its refuse hook is target_policy's
  io::ConnectOptions operator_connect;  ///< the fallback and the fixed target: no policy
  std::optional<HostPort> fallback;      ///< options.fallback, parsed
  std::optional<HostPort> fixed_target;  ///< options.fixed_target, parsed
};

class ServerTunnel final : private io::Stream::Handler {
 public:
  struct Summary {
    std::string source;     ///< client "ip:port"
    std::string transport;  ///< "tls" or "quic", as the engine was told
    std::string listener;   ///< the listening "host:port" it came in on, as the engine was told
    std::uint64_t id = 0;   ///< the engine's number for it (admin API), unique per engine
    std::string user;       ///< from the auth request (log-escaped), empty before it
    std::string target;     ///< "host:port" asked for, empty before the auth request
    std::uint64_t started_ms = 0;  ///< uv_now at serve()
    std::uint64_t up = 0, down = 0;
    bool accepted = false;  ///< the success response was sent
    std::optional<TunnelFailure> failure;  ///< why it was refused or cut, if it was
    std::string reason;     ///< log-safe
    std::string dial_failure;  ///< target_failed: dial_failure_reason() of the connect error
    bool fallback = false;  ///< relayed to the fallback backend instead of being closed
  };

  /// `settings` not null; the tunnel holds them until it is destroyed.
  ServerTunnel(uv_loop_t* loop, TunnelHost& host, std::shared_ptr<const TunnelSettings> settings,
               io::StreamPtr client);
  ~ServerTunnel() override;
  ServerTunnel(const ServerTunnel&) = delete;
  ServerTunnel& operator=(const ServerTunnel&) = delete;

  /// Failures before a right password go to the fallback backend (see the theory above).
  /// Call before start().
  void set_fallback(bool on) noexcept { fallback_ = on; }
  /// Failures before a right password hand the stream to `sink` while it is open() (see the
  /// theory above); replaces set_fallback(). Call before start().
  void set_fallback_sink(std::shared_ptr<io::StreamFallback> sink) noexcept {
    fallback_ = sink != nullptr;
    sink_ = std::move(sink);
  }
  /// Starts the handshake time-out and reading.
  void start();
  /// The host's yes to tunnel_auth: connect to the target.
  void auth_passed(std::string username);
  /// The host's no: reject with auth_failed (status in reply mode).
  void refuse(TunnelFailure failure, std::string reason);
  /// The host's no to the target (a denied port): reject as the target policy does, with
  /// connect_failed (status in reply mode) and failure target_denied.
  void deny_target(std::string reason);
  /// Ends the tunnel in whatever stage (revoked user, quota, drain); a relaying tunnel ends
  /// once the relay has closed both streams (a reverse visitor's with a reset, 9.7). No effect
  /// once done.
  void close(TunnelFailure failure, std::string reason);

  /// Control tunnel: sends an OPEN frame with `token`. False unless a live control tunnel.
  bool send_open(const AttachToken& token);
  /// tunnel_attach's yes: the data connection now waits, idle, for a visitor of `username`'s
  /// port `bind` ("host:port", for the summary).
  void make_pooled(std::string username, std::string bind);
  /// Instead of start(), for a stream the server opened itself to carry a visitor (QUIC,
  /// docs/PROTOCOL.md 9.5): a data tunnel from the start, without an ATTACH message;
  /// make_pooled() and attach_visitor() follow.
  void start_visitor_stream();
  /// Hands a pooled data connection its visitor: writes `header` (the visitor header), then
  /// relays the climber and `visitor` both ways. `visitor_name` is its "ip:port".
  void attach_visitor(io::StreamPtr visitor, ByteView header, std::string visitor_name);

  /// What the tunnel is in a reverse tunnel.
  enum class ReverseRole { none, control, data };
  ReverseRole reverse_role() const noexcept { return role_; }
  bool pooled() const noexcept { return stage_ == Stage::pooled; }

  /// The client's stream while the tunnel holds it (until a relay or control link takes it
  /// over), else null: the reverse hub asks for its QUIC connection before the response.
  io::Stream* client_stream() const noexcept { return client_.get(); }

  bool relaying() const noexcept { return stage_ == Stage::relaying; }
  bool done() const noexcept { return stage_ == Stage::done; }
  const Summary& summary() const noexcept { return summary_; }
  /// The engine's settings of when this tunnel came in.
  const TunnelSettings& settings() const noexcept { return *settings_; }
  void set_transport(std::string_view transport) { summary_.transport = transport; }
  void set_origin(std::uint64_t id, std::string_view listener) {
    summary_.id = id;
    summary_.listener = listener;
  }
  /// Bytes up and down so far (live while relaying).
  std::pair<std::uint64_t, std::uint64_t> bytes() const noexcept;
  /// "handshake", "deciding", "connecting", "rejecting", "relaying" or "done".
  std::string_view stage_name() const noexcept;
  const std::string& username() const noexcept { return username_; }

 private:
  enum class Stage {
    created,
    handshake,
    deciding,
    connecting,
    rejecting,
    relaying,
    fallback_connecting,
    fallback_relaying,
    control,  ///< a reverse tunnel's control tunnel: control_ owns the stream
    pooled,   ///< a data connection waiting for a visitor
    done
  };

  void on_read(ByteView data) override;
  void on_eof() override;
  void on_error(std::string_view reason) override;
  void on_drain() override {}

  void feed(ByteView data);
  /// Sorts the first bytes: an ATTACH message (a data connection) or an auth message. True
  /// when `data` was taken here (ATTACH, or too few bytes to tell yet).
  bool sort_first_bytes(ByteView& data);
  void attach(ByteView message);
  void publish();
  void pump();
  void on_connected(io::ConnectResult r);
  void accept(io::StreamPtr target);
  /// After accept() / accept_reverse() in the core: sends the queued response, feeds the held
  /// bytes, and appends the payload that came with the request to `initial`. True when the
  /// client already half-closed.
  bool send_response(Bytes& initial);
  /// Relays the client (a) and `other` (b), `initial` written to b first.
  void relay(io::StreamPtr other, ByteView initial, bool client_ended);
  void reject(Status status, TunnelFailure failure, std::string reason);
  void fail(TunnelFailure failure, std::string reason);
  /// Hands the tunnel to the fallback backend when it has one and `failure` may end there;
  /// false (nothing done) otherwise.
  bool fall_back(TunnelFailure failure, std::string& reason);
  void on_fallback_connected(io::ConnectResult r);
  /// fall_back() to the sink: hands the stream and the kept bytes over and finishes.
  void hand_over();
  void finish();

  uv_loop_t* loop_;
  TunnelHost& host_;
  std::shared_ptr<const TunnelSettings> settings_;
  const ServerOptions& options_;  ///< settings_->options
  io::StreamPtr client_;
  /// The auth message's core, until the handshake's part is over (relaying, control, pooled
  /// data connection, fallback): freed then, so an idle tunnel does not carry it.
  std::unique_ptr<ServerHandshake> hs_;
  Bytes held_;  ///< client bytes the core did not take (early-data bound), fed after accept
  Bytes seen_;  ///< with a fallback: every client byte read so far, for the backend
  bool fallback_ = false;
  std::shared_ptr<io::StreamFallback> sink_;           ///< set_fallback_sink
  std::unique_ptr<io::StreamFallback::Watch> recall_;  ///< while the sink may recall us
  std::optional<Address> target_;
  std::string username_;
  Stage stage_ = Stage::created;
  bool client_eof_ = false;
  io::Timer timer_;  ///< handshake time-out (auth message and decision), then the reject linger
  std::unique_ptr<PendingDecision> auth_;
  std::unique_ptr<io::ConnectAttempt> connect_;
  std::unique_ptr<io::Relay> relay_;
  Summary summary_;
  // Reverse tunnels.
  bool reverse_request_ = false;  ///< the auth request was REVERSE
  bool sorted_ = false;           ///< the first bytes were sorted (ATTACH or auth message)
  Bytes first_;                   ///< first bytes until sorted, then an ATTACH message's
  ReverseRole role_ = ReverseRole::none;
  std::unique_ptr<ControlLink> control_;
};

/// The code a failed tunnel's stream is aborted with (io::Stream::abort): over QUIC the
/// RESET_STREAM / STOP_SENDING the climber sees (docs/PROTOCOL.md sections 4 and 6.2). Every
/// refusal by credentials, account, throttling, load or policy is REFUSED (a denied target
/// looks like a wrong password, so the codes do not reveal the policy); an unreachable target
/// CONNECT_FAILED; a malformed auth message PROTOCOL_ERROR; no auth message in time
/// HANDSHAKE_TIMEOUT; a tunnel cut after it was up (or whose client went away) ABORTED.
QuicAppError tunnel_abort_code(TunnelFailure failure) noexcept;

/// Whether a tunnel that fails with `failure` goes to the fallback backend (when it has one):
/// the failures that can happen before a right password was seen, so that no answer tells a
/// prober more than "this is a web site". Refusals after it (account, limits, target) do not.
bool ends_on_fallback(TunnelFailure failure) noexcept;

/// `text` with every byte outside printable ASCII (and '\\', '"') escaped as \xNN, cut to
/// `max` characters: usernames are arbitrary bytes and must not forge log lines.
std::string log_escape(std::string_view text, std::size_t max = 64);

}  // namespace mtop
