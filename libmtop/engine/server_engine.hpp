// ServerEngine: the heart of mtop-server. Every accepted tunnel stream (TLS or QUIC — the
// engine sees only io::Stream) is handed to serve(); the engine authenticates it, checks the
// account and the target policy, connects to the target and relays, and enforces the per-user
// limits while the tunnel lives.
//
// Theory of operation
// - Each stream becomes a ServerTunnel (tunnel_session.hpp), which runs the MTop handshake and
//   asks the engine (its TunnelHost) to decide on the auth request.
// - Decision: the per-source FailureThrottle, then the UserCheck (user_check.hpp), asked with
//   a UserCheckReply whose answer comes back through a CheckInbox (check_inbox.hpp) from any
//   thread; the handshake time-out bounds the wait. Then the grant's max_tunnels. Refusals
//   answer auth_failed (reply mode) or close (stealth). A deny counts against the source.
// - Per user, while they have live tunnels: one RateGate (the grant's rate_limit bytes/s each
//   way, shared by all their tunnels on every worker: SharedLimits holds it, each engine's
//   WorkerRateGate counts its own pauses). When the check keeps accounts (the built-in
//   stores, see account_source.hpp): usage sent to the store chunk by chunk (the store
//   batches), the quota checked on every chunk, and a re-check every recheck_interval_ms that
//   looks the user up again and closes their tunnels if they were disabled, deleted, expired
//   or are over quota.
// - Fallback (options.fallback): TLS tunnels that fail before a right password are relayed to
//   the web backend instead of closed (tunnel_session.hpp). A throttled source is answered
//   after about as long as a password check takes (the running mean of the checks that said
//   deny), so the timing does not tell a lock-out from a wrong password either.
// - options.fixed_target: every authorised tunnel goes there (the SIP003 plugin).
// - Above max_tunnels live tunnels, or while draining, new streams are closed at once.
// - Admission (admission.hpp): the listeners ask admit_connection() before TLS or before a
//   QUIC connection exists (deny/allow_sources); serve() asks the AdmissionPolicy about every
//   new tunnel (the lists again, live tunnels per address and subnet, the source's rate). A
//   refused tunnel is closed at once in stealth mode; in reply mode it gets the auth_failed
//   status as soon as its auth message is in, without asking the user check. Denied target
//   ports are refused after the user check, before any DNS, like a denied target. Every
//   refusal is counted per rule and logged once per source per minute.
// - Reverse tunnels (reverse_hub.hpp): a REVERSE request is decided like any tunnel, then the
//   ReverseHub publishes the bind under the user's publish grants. Control tunnels and the
//   data connections that carry visitors are tunnels of the publishing user like any other:
//   listed, counted against the quota and rate limit, closed by a re-check or revoke_user.
//   The re-check also reads the grants again: a control tunnel whose bind they no longer
//   cover is revoked (ReverseHub::withdraw).
//   The workers' hubs share their ports and tokens (SharedLimits::reverse()); a data
//   connection may be on another worker than its control tunnel (reverse_hub.hpp).
// - One log line per tunnel when it ends (info; warn for store problems): user, source,
//   target, bytes up/down, duration, reason. Never a password or a hash.
//
// Bound to one uv_loop_t; every call on the loop's thread. No global state. Destroying the
// engine closes every tunnel without log lines or callbacks; answers still to come are
// dropped. The loop must run afterwards for the engine's handles to be freed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/ip_prefix.hpp"
#include "auth/target_policy.hpp"
#include "auth/user_store.hpp"
#include "engine/account_source.hpp"
#include "engine/admission.hpp"
#include "engine/check_inbox.hpp"
#include "engine/reverse_hub.hpp"
#include "engine/server_metrics.hpp"
#include "engine/server_rate_gate.hpp"
#include "engine/shared_limits.hpp"
#include "engine/tunnel_session.hpp"
#include "mtop/host_port.hpp"
#include "mtop/log.hpp"
#include "mtop/result.hpp"
#include "mtop/server.hpp"
#include "mtop/stream.hpp"
#include "mtop/user_check.hpp"
#include "uv/connector.hpp"
#include "uv/poster.hpp"
#include "uv/stream_fallback.hpp"
#include "uv/timer.hpp"

namespace mtop {

class ServerEngine final : private TunnelHost, private ReverseHub::Host {
 public:
  /// An engine that asks `check` (not null) about every tunnel. A malformed allow_targets
  /// entry is logged (error) and ignored; Server::create validates them before. Errors:
  /// config_invalid (an admission setting, AdmissionPolicy::configure), system_error (the
  /// loop handle for answers from other threads).
  /// `limits`: what this engine shares with the other workers' engines (shared_limits.hpp);
  /// null: limits of its own.
  static Result<std::unique_ptr<ServerEngine>> create(
      uv_loop_t* loop, ServerOptions options, std::shared_ptr<UserCheck> check, Logger log,
      std::shared_ptr<SharedLimits> limits = nullptr);
  ~ServerEngine() override;
  ServerEngine(const ServerEngine&) = delete;
  ServerEngine& operator=(const ServerEngine&) = delete;

  /// Takes one incoming tunnel stream (not yet reading), which came over `transport` ("tls",
  /// "quic": for the access records) through `listener` (its "host:port", for the metrics).
  /// Closed at once while draining, with max_tunnels live tunnels, or (stealth mode) when a
  /// source rule refuses it.
  /// `fallback`: where the tunnel goes should it fail before a right password (the QUIC
  /// port's HTTP/3 site, uv/stream_fallback.hpp); null: the TLS fallback backend for "tls"
  /// tunnels when options.fallback is set, else nowhere.
  void serve(io::StreamPtr stream, std::string_view transport = "tls",
             std::string_view listener = {}, std::shared_ptr<io::StreamFallback> fallback = {});
  /// The listeners' early check of a new connection's peer (before TLS, or before a QUIC
  /// connection is created): false if deny/allow_sources refuse it (counted and logged).
  /// Peers that are not IPv4/IPv6 are admitted.
  bool admit_connection(const struct sockaddr* peer);
  /// New tunnels run under `options` from now on (every field: limits, time-outs, the target
  /// policy, admission, ...); live tunnels keep the options they started with. Admission
  /// counters, live counts and the log gate are kept. A changed failure throttle starts
  /// afresh; a changed re-check interval applies from the next re-check. Errors:
  /// config_invalid naming an admission key; then nothing changes.
  Result<void> set_options(ServerOptions options);
  /// New auth requests (and re-checks of live users) go to `check` (not null) from now on.
  /// Requests the old check was asked already are still answered by it.
  void set_check(std::shared_ptr<UserCheck> check);
  /// Called on the loop with the record of every tunnel that ends after it was taken by
  /// serve() (refused in the handshake or after relaying); one observer, replaced by a call.
  void on_tunnel_end(std::function<void(const TunnelRecord&)> observer) {
    tunnel_end_ = std::move(observer);
  }

  /// Stops taking new tunnels; live ones may finish for drain_timeout_ms, then the rest are
  /// closed. `done` runs once on the loop (never inside drain()) when no tunnel is left. A
  /// second drain() replaces the callback and keeps the first deadline.
  void drain(std::function<void()> done);
  /// Stops taking new tunnels and closes every live one now (revoked, "server stopped").
  void stop();
  /// Closes every live tunnel of `user` (the grant's name); returns how many.
  std::size_t revoke_user(std::string_view user);
  /// Closes the live tunnel numbered `id` (LiveTunnel::id); false if there is none.
  bool close_tunnel(std::uint64_t id);
  /// Every tunnel not yet finished, oldest first.
  std::vector<LiveTunnel> live_tunnels() const;
  /// This engine is worker `index` of `count`: its tunnels are numbered index+1, index+1+count,
  /// ... (so that a LiveTunnel's id names its worker) and say `index` (LiveTunnel::worker).
  /// Call before the first serve(). The default: worker 0 of 1.
  void set_worker(unsigned index, unsigned count);
  /// Counts bytes per user in metrics() from now on (per_user_metrics); off forgets them.
  void count_user_bytes(bool on);
  const EngineMetrics& metrics() const noexcept { return metrics_; }

  ServerStats stats() const;
  bool draining() const noexcept { return draining_; }
  /// Users with live (authorised) tunnels right now.
  std::size_t active_users() const noexcept { return users_.size(); }

 private:
  ServerEngine(uv_loop_t* loop, ServerOptions options, std::shared_ptr<UserCheck> check, Logger log,
               std::shared_ptr<SharedLimits> limits);

  /// A user with live tunnels.
  struct UserState {
    std::string name;
    std::optional<auth::UserRecord> account;  ///< last lookup, accounts only (hash cleared)
    std::optional<std::uint32_t> max_tunnels;
    std::vector<ServerTunnel*> tunnels;    ///< each holds one of the user's SharedLimits tunnels
    std::uint64_t bytes_since_lookup = 0;  ///< moved by this engine since `account` was read
    std::uint64_t rate_limit = 0;          ///< bytes/s of the newest answer; 0 = none
    bool limits_known = false;  ///< an answer was applied here (rate_limit is the user's)
    std::string publish;        ///< publish grants of the newest custom check's answer
    std::shared_ptr<WorkerRateGate> gate;  ///< on the user's gate of all workers (SharedLimits)
    bool lookup_in_flight = false;
  };
  /// A tunnel waiting for its check's answer.
  struct Waiting {
    ServerTunnel* tunnel = nullptr;
    std::optional<auth::IpAddress> source;
    std::string username;
    std::uint16_t target_port = 0;
    bool reverse = false;        ///< a REVERSE request: the port is a bind, not a target
    std::uint64_t asked_ms = 0;  ///< uv_now when the check was asked
  };
  /// What admission decided about a live tunnel.
  struct Admitted {
    std::optional<auth::IpAddress> source;
    std::optional<AdmissionPolicy::Ticket> ticket;    ///< held while it lives
    std::optional<AdmissionPolicy::Refusal> refused;  ///< reply mode: refuse at the auth message
    bool reported = false;  ///< refused by an admission rule: reported once per source already
  };
  class PendingCheck;

  std::unique_ptr<PendingDecision> tunnel_auth(ServerTunnel& t, AuthMessage request) override;
  std::unique_ptr<io::ConnectAttempt> tunnel_connect(ServerTunnel& t, const Address& requested,
                                                     io::ConnectCallback cb) override;
  std::unique_ptr<io::ConnectAttempt> tunnel_connect_fallback(ServerTunnel& t,
                                                              io::ConnectCallback cb) override;
  io::RelayOptions tunnel_relay_options(ServerTunnel& t) override;
  void tunnel_finished(ServerTunnel& t) override;
  PublishAnswer tunnel_publish(ServerTunnel& t, const Address& bind) override;
  void tunnel_published(ServerTunnel& t) override;
  bool tunnel_attach(ServerTunnel& t, const AttachToken& token) override;
  void tunnel_answered(ServerTunnel& t) override;
  void reverse_attached(ServerTunnel& data, const std::string& user) override;
  void visitor_refused(VisitorRefusal why) override;
  ServerTunnel* reverse_stream(io::StreamPtr stream, const ServerTunnel& control) override;
  /// A new tunnel of `stream`, counted live and listed with `admitted`; not started.
  ServerTunnel& add_tunnel(io::StreamPtr stream, std::string_view transport,
                           std::string_view listener, Admitted admitted);

  void on_answer(std::uint64_t id, CheckAnswer answer);
  UserState& user_state(const std::string& name);
  /// Counts `t` among `u`'s tunnels, on `gate` (the user's, from SharedLimits).
  void hold_tunnel(UserState& u, ServerTunnel& t, std::shared_ptr<RateGate> gate);
  void apply_grant(UserState& u, const UserGrant& grant);
  void apply_record(UserState& u, auth::UserRecord record);
  /// Why the account may not tunnel now ("user disabled", ...), or "" if it may.
  std::string account_problem(const UserState& u) const;
  /// The publish grants of `user`'s account as last looked up (none without an account, or
  /// when the stored text is malformed: logged).
  auth::PublishGrants publish_grants(const std::string& user) const;
  void on_traffic(UserState& u, io::Direction dir, std::size_t bytes);
  /// Closes every tunnel of `u`; `u` may be gone afterwards.
  void revoke(UserState& u, const std::string& reason);
  void arm_recheck();
  void recheck();
  void on_recheck(const std::string& name, auth::LookupResult r);
  void forget_if_idle(const std::string& name);
  void close_all(TunnelFailure failure, const std::string& reason);
  /// Counts and reports (once per source per minute) an admission refusal.
  void reject(const std::optional<auth::IpAddress>& source,
              const AdmissionPolicy::Refusal& refusal);
  /// The same for live tunnel `t`, whose own end-of-tunnel line then goes to debug.
  void note_refusal(const ServerTunnel& t, const std::optional<auth::IpAddress>& source,
                    const AdmissionPolicy::Refusal& refusal);
  void check_drained();
  void count(TunnelFailure f) { ++stats_.failures[static_cast<std::size_t>(f)]; }

  uv_loop_t* loop_;
  std::shared_ptr<UserCheck> check_;
  AccountSource* accounts_;  ///< check_ as an AccountSource, or null (a custom check)
  Logger log_;
  std::function<void(const TunnelRecord&)> tunnel_end_;
  std::shared_ptr<const TunnelSettings> settings_;  ///< for new tunnels (set_options)
  std::shared_ptr<SharedLimits> limits_;  ///< admission, throttle, live counts (all workers)
  std::uint64_t deny_check_ms_ = 0;       ///< running mean of checks that answered auth_failed
  ServerStats stats_;
  EngineMetrics metrics_;
  std::uint64_t next_tunnel_id_ = 1;
  std::uint64_t tunnel_id_step_ = 1;  ///< the number of workers (set_worker)
  unsigned worker_ = 0;
  std::unique_ptr<CheckInbox> inbox_;
  io::Poster reaper_;  ///< destroys finished tunnels outside their own calls
  io::Timer recheck_timer_;
  io::Timer drain_timer_;
  std::vector<std::shared_ptr<UserCheck>> retired_checks_;  ///< set_check: answering old asks
  io::Timer retire_timer_;
  std::unordered_map<std::string, std::unique_ptr<UserState>> users_;
  std::unordered_map<std::uint64_t, Waiting> checks_;           ///< by check number
  std::unordered_map<const ServerTunnel*, Admitted> admitted_;  ///< every live tunnel
  std::uint64_t next_check_ = 1;
  // Declared last: destroyed first, while everything they point into still exists.
  std::unordered_map<ServerTunnel*, std::unique_ptr<ServerTunnel>> tunnels_;
  std::unique_ptr<ReverseHub> reverse_;  ///< destroyed before the tunnels (~ServerEngine)
  std::function<void()> drain_done_;
  bool draining_ = false;
  std::size_t live_ = 0;                  ///< tunnels not yet finished
  std::uint64_t overload_logged_ms_ = 0;  ///< last "max_tunnels reached" line (rate-limited)
  bool overload_logged_ = false;
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);  ///< for store lookups in flight
};

}  // namespace mtop
