// ClimberEngine: the climber's local side on one libuv loop — a SOCKS5 port, an HTTP proxy
// port (or one port serving both), and -L port-forwards — each local connection carried to
// the MTop server in its own tunnel stream (docs/CLIMBER.md); and tunnels opened from code
// (open_tunnel), handed to the caller as streams. mtop::Climber (include/mtop/climber.hpp) is
// its public face.
//
//   mtop::ClimberEngine engine(loop, options, user, password, dialer, logger);
//   if (auto r = engine.start(); !r) { print(r.message()); return 1; }
//   uv_run(loop, UV_RUN_DEFAULT);      // ... on SIGTERM: engine.drain(done)
//
// No global state: everything lives in the engine, which must be used on the loop's thread.
// The dialer must outlive the engine. Passwords are never logged.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/climber_session.hpp"
#include "engine/climber_tunnel.hpp"
#include "mtop/climber.hpp"
#include "mtop/log.hpp"
#include "mtop/result.hpp"
#include "mtop/stream.hpp"
#include "uv/poster.hpp"
#include "uv/tcp_listener.hpp"
#include "uv/timer.hpp"

namespace mtop {

class ClimberEngine {
 public:
  /// The stream of an opened tunnel, or why not (Climber::TunnelCallback).
  using TunnelCallback = std::function<void(Result<io::StreamPtr> tunnel)>;

  /// `username` / `password` are the MTop server credentials (checked by check()). `dialer`
  /// opens the tunnel streams and must outlive the engine.
  ClimberEngine(uv_loop_t* loop, ClimberOptions options, std::string username,
                std::string password, io::StreamDialer& dialer, Logger log);
  /// Stops listening and closes every live connection at once (no callbacks follow). Tunnels
  /// the application holds are detached (their handlers get on_error from the loop); pending
  /// open_tunnel callbacks run now, with Errc::cancelled (or the failure already decided).
  /// They must not call into the engine.
  ~ClimberEngine();
  ClimberEngine(const ClimberEngine&) = delete;
  ClimberEngine& operator=(const ClimberEngine&) = delete;

  /// Checks what start() and open_tunnel() rely on: credentials of 1-255 bytes, local auth
  /// complete, listen addresses host:port, forward targets the core accepts, limits above 0.
  /// Errc::config_invalid with a message naming the value (never a password).
  static Result<void> check(const ClimberOptions& options, std::string_view username,
                            std::string_view password);

  /// check(), then binds every listener: SOCKS5, HTTP (one mixed listener when both name the
  /// same address), then each forward; none configured is fine (open_tunnel only). Errors:
  /// config_invalid, listen_failed ("socks 127.0.0.1:1080: bind 127.0.0.1:1080: address
  /// already in use"); nothing stays bound. Call once.
  Result<void> start();

  /// Opens a tunnel to host:port (an IP literal or a domain): dial, auth message, the
  /// server's response; `cb` gets the
  /// stream (the payload that came with the response first) or tunnel_refused /
  /// tunnel_failed / limit_reached / invalid_argument / cancelled with a message. `cb` runs
  /// once, from the loop, never inside this call. Counts against max_connections while
  /// pending and until the stream is dropped. Needs no start().
  void open_tunnel(const std::string& host, std::uint16_t port, TunnelCallback cb);

  /// Stops accepting on every port; live connections go on. Idempotent.
  void stop();
  /// stop(), and live connections and tunnels may finish for options.drain_timeout_ms; then
  /// the rest are aborted ("drain timeout"). `done` runs once on the loop (never inside
  /// drain()) when none is left. A second drain() replaces the callback and keeps the first
  /// deadline. The same contract as ServerEngine::drain.
  void drain(std::function<void()> done);
  /// Ends every live connection and every opened tunnel now with `reason` (logged per
  /// tunnel); pending opens fail with Errc::cancelled.
  void abort_all(std::string_view reason);

  /// Bound ports (the OS's choice when the option said port 0); 0 when not configured.
  /// On a mixed port both getters return it.
  std::uint16_t socks_port() const noexcept { return socks_port_; }
  std::uint16_t http_port() const noexcept { return http_port_; }
  /// One per ForwardRule, in the options' order.
  const std::vector<std::uint16_t>& forward_ports() const noexcept { return forward_ports_; }

  /// Local connections being served (request, set-up, relay or closing), opens pending and
  /// opened tunnels the application holds.
  std::size_t active_connections() const noexcept {
    return sessions_.size() + opens_.size() + tunnels_.live.size();
  }
  /// Connections and opens refused because max_connections was reached.
  std::uint64_t refused_connections() const noexcept { return shared_.stats.refused_connections; }
  ClimberStats stats() const;

 private:
  /// One open_tunnel() call until its callback has run.
  struct PendingOpen {
    TunnelCallback cb;
    std::unique_ptr<TunnelOpen> open;              ///< null once decided
    std::optional<Result<io::StreamPtr>> outcome;  ///< set once decided
  };

  Result<void> listen(const std::string& what, const std::string& address, LocalMode mode,
                      const std::optional<Address>& forward_target, std::uint16_t& port);
  void on_accept(io::StreamPtr stream, LocalMode mode, const std::optional<Address>& target);
  void on_session_done(ClimberSession* session);
  /// Runs the drain's callback (posted) once draining and nothing is active any more.
  void check_drained();
  /// True (counted, logged) when `others` connections leave no room for `who`.
  bool refuse_if_full(std::size_t others, const std::string& who);
  void decide(PendingOpen* p, Result<io::StreamPtr> outcome);
  void deliver(PendingOpen* p);

  ClimberShared shared_;
  std::vector<std::unique_ptr<io::TcpListener>> listeners_;
  std::unordered_map<ClimberSession*, std::unique_ptr<ClimberSession>> sessions_;
  std::unordered_map<PendingOpen*, std::unique_ptr<PendingOpen>> opens_;
  TunnelLedger tunnels_{shared_};
  io::Poster reaper_;  ///< frees finished sessions and delivers opens outside their callbacks
  io::Timer drain_timer_;
  std::function<void()> drain_done_;
  bool draining_ = false;
  std::uint16_t socks_port_ = 0;
  std::uint16_t http_port_ = 0;
  std::vector<std::uint16_t> forward_ports_;
  bool started_ = false;
};

/// host:port as an MTop target address: IPv4 / IPv6 literals become addresses, anything else
/// must be a valid domain. nullopt when the core would refuse it (or port 0).
std::optional<Address> target_address(const std::string& host, std::uint16_t port);

}  // namespace mtop
