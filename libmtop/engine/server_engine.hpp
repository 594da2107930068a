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
//   way, shared by all their tunnels). When the check keeps accounts (the built-in stores, see
//   account_source.hpp): usage sent to the store chunk by chunk (the store batches), the quota
//   checked on every chunk, and a re-check every recheck_interval_ms that looks the user up
//   again and closes their tunnels if they were disabled, deleted, expired or are over quota.
// - Fallback (options.fallback): TLS tunnels that fail before a right password are relayed to
//   the web backend instead of closed (tunnel_session.hpp). A throttled source is answered
//   after about as long as a password check takes (the running mean of the checks that said
//   deny), so the timing does not tell a lock-out from a wrong password either.
// - options.fixed_target: every authorised tunnel goes there (the SIP003 plugin).
// - Above max_tunnels live tunnels, or while draining, new streams are closed at once.
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

#include "auth/failure_throttle.hpp"
#include "auth/ip_prefix.hpp"
#include "auth/user_store.hpp"
#include "engine/account_source.hpp"
#include "engine/check_inbox.hpp"
#include "engine/server_rate_gate.hpp"
#include "engine/tunnel_session.hpp"
#include "mtop/host_port.hpp"
#include "mtop/log.hpp"
#include "mtop/result.hpp"
#include "mtop/server.hpp"
#include "mtop/stream.hpp"
#include "mtop/user_check.hpp"
#include "uv/connector.hpp"
#include "uv/poster.hpp"
#include "uv/timer.hpp"

namespace mtop {

class ServerEngine final : private TunnelHost {
 public:
  /// An engine that asks `check` (not null) about every tunnel. A malformed allow_targets
  /// entry is logged (error) and ignored; Server::create validates them before. Errors:
  /// system_error (the loop handle for answers from other threads).
  static Result<std::unique_ptr<ServerEngine>> create(uv_loop_t* loop, ServerOptions options,
                                                      std::shared_ptr<UserCheck> check, Logger log);
  ~ServerEngine() override;
  ServerEngine(const ServerEngine&) = delete;
  ServerEngine& operator=(const ServerEngine&) = delete;

  /// Takes one incoming tunnel stream (not yet reading), which came over `transport` ("tls",
  /// "quic": for the access records). Closed at once while draining or with max_tunnels
  /// live tunnels.
  void serve(io::StreamPtr stream, std::string_view transport = "tls");
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

  ServerStats stats() const;
  bool draining() const noexcept { return draining_; }
  /// Users with live (authorised) tunnels right now.
  std::size_t active_users() const noexcept { return users_.size(); }

 private:
  ServerEngine(uv_loop_t* loop, ServerOptions options, std::shared_ptr<UserCheck> check,
               Logger log);

  /// A user with live tunnels.
  struct UserState {
    std::string name;
    std::optional<auth::UserRecord> account;  ///< last lookup, accounts only (hash cleared)
    std::optional<std::uint32_t> max_tunnels;
    std::vector<ServerTunnel*> tunnels;
    std::uint64_t bytes_since_lookup = 0;  ///< moved by this engine since `account` was read
    std::shared_ptr<RateGate> gate;
    bool lookup_in_flight = false;
  };
  /// A tunnel waiting for its check's answer.
  struct Waiting {
    ServerTunnel* tunnel = nullptr;
    std::optional<auth::IpAddress> source;
    std::string username;
    std::uint64_t asked_ms = 0;  ///< uv_now when the check was asked
  };
  class PendingCheck;

  std::unique_ptr<PendingDecision> tunnel_auth(ServerTunnel& t, AuthMessage request) override;
  std::unique_ptr<io::ConnectAttempt> tunnel_connect(ServerTunnel& t, const Address& requested,
                                                     io::ConnectCallback cb) override;
  std::unique_ptr<io::ConnectAttempt> tunnel_connect_fallback(ServerTunnel& t,
                                                              io::ConnectCallback cb) override;
  io::RelayOptions tunnel_relay_options(ServerTunnel& t) override;
  void tunnel_finished(ServerTunnel& t) override;

  void on_answer(std::uint64_t id, CheckAnswer answer);
  UserState& user_state(const std::string& name);
  void apply_grant(UserState& u, const UserGrant& grant);
  void apply_record(UserState& u, auth::UserRecord record);
  /// Why the account may not tunnel now ("user disabled", ...), or "" if it may.
  std::string account_problem(const UserState& u) const;
  void on_traffic(UserState& u, io::Direction dir, std::size_t bytes);
  /// Closes every tunnel of `u`; `u` may be gone afterwards.
  void revoke(UserState& u, const std::string& reason);
  void arm_recheck();
  void recheck();
  void on_recheck(const std::string& name, auth::LookupResult r);
  void forget_if_idle(const std::string& name);
  void close_all(TunnelFailure failure, const std::string& reason);
  void check_drained();
  void count(TunnelFailure f) { ++stats_.failures[static_cast<std::size_t>(f)]; }

  uv_loop_t* loop_;
  ServerOptions options_;
  std::shared_ptr<UserCheck> check_;
  AccountSource* accounts_;  ///< check_ as an AccountSource, or null (a custom check)
  Logger log_;
  std::function<void(const TunnelRecord&)> tunnel_end_;
  io::ConnectOptions connect_options_;   ///< clients' targets: under the target policy
  io::ConnectOptions operator_connect_;  ///< the fallback and the fixed target: no policy
  std::optional<HostPort> fallback_;
  std::optional<HostPort> fixed_target_;
  std::uint64_t deny_check_ms_ = 0;  ///< running mean of checks that answered auth_failed
  ServerStats stats_;
  auth::FailureThrottle throttle_;
  std::unique_ptr<CheckInbox> inbox_;
  io::Poster reaper_;  ///< destroys finished tunnels outside their own calls
  io::Timer recheck_timer_;
  io::Timer drain_timer_;
  std::unordered_map<std::string, std::unique_ptr<UserState>> users_;
  std::unordered_map<std::uint64_t, Waiting> checks_;  ///< by check number
  std::uint64_t next_check_ = 1;
  // Declared last: destroyed first, while everything they point into still exists.
  std::unordered_map<ServerTunnel*, std::unique_ptr<ServerTunnel>> tunnels_;
  std::function<void()> drain_done_;
  bool draining_ = false;
  std::size_t live_ = 0;                    ///< tunnels not yet finished
  std::uint64_t overload_logged_ms_ = 0;    ///< last "max_tunnels reached" line (rate-limited)
  bool overload_logged_ = false;
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);  ///< for store lookups in flight
};

}  // namespace mtop
