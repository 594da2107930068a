// ClimberEngine: the climber's local side on one libuv loop — a SOCKS5 port, an HTTP proxy
// port (or one port serving both), and -L port-forwards — each local connection carried to
// the MTop server in its own tunnel stream (docs/CLIMBER.md).
//
//   mtop::ClimberEngine engine(loop, options, user, password, dialer, logger);
//   std::string error;
//   if (!engine.start(error)) { print(error); return 1; }
//   uv_run(loop, UV_RUN_DEFAULT);      // ... on SIGTERM: engine.stop(), wait for
//                                      // active_connections() == 0 or abort_all("shutdown")
//
// No global state: everything lives in the engine, which must be used on the loop's thread
// and must outlive nothing it hands out (it hands out nothing). The dialer must outlive the
// engine. Passwords are never logged.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/climber_options.hpp"
#include "engine/climber_session.hpp"
#include "mtop/log.hpp"
#include "mtop/stream.hpp"
#include "uv/poster.hpp"
#include "uv/tcp_listener.hpp"

namespace mtop {

class ClimberEngine {
 public:
  /// `username` / `password` are the MTop server credentials (1-255 bytes each, checked by
  /// start()). `dialer` opens the tunnel streams and must outlive the engine.
  ClimberEngine(uv_loop_t* loop, ClimberOptions options, std::string username,
                std::string password, io::StreamDialer& dialer, Logger log);
  /// Stops listening and closes every live connection at once (no callbacks follow).
  ~ClimberEngine();
  ClimberEngine(const ClimberEngine&) = delete;
  ClimberEngine& operator=(const ClimberEngine&) = delete;

  /// Checks the options and binds every listener: SOCKS5, HTTP (one mixed listener when both
  /// name the same address), then each forward. On failure returns false with `error`
  /// ("socks 127.0.0.1:1080: bind 127.0.0.1:1080: address already in use", "nothing to
  /// listen on: give a SOCKS5, HTTP or forward address", ...) and nothing stays bound.
  /// Call once.
  bool start(std::string& error);

  /// Stops accepting on every port; live connections go on. Idempotent.
  void stop();
  /// Ends every live connection now with `reason` (logged per tunnel).
  void abort_all(std::string_view reason);

  /// Bound ports (the OS's choice when the option said port 0); 0 when not configured.
  /// On a mixed port both getters return it.
  std::uint16_t socks_port() const noexcept { return socks_port_; }
  std::uint16_t http_port() const noexcept { return http_port_; }
  /// One per ForwardRule, in the options' order.
  const std::vector<std::uint16_t>& forward_ports() const noexcept { return forward_ports_; }

  /// Local connections being served (request, set-up, relay or closing).
  std::size_t active_connections() const noexcept { return sessions_.size(); }
  /// Local connections refused because max_connections was reached.
  std::uint64_t refused_connections() const noexcept { return refused_; }

 private:
  bool listen(const std::string& what, const std::string& address, LocalMode mode,
              const std::optional<Address>& forward_target, std::uint16_t& port, std::string& error);
  void on_accept(io::StreamPtr stream, LocalMode mode, const std::optional<Address>& target);
  void on_session_done(ClimberSession* session);

  ClimberShared shared_;
  std::vector<std::unique_ptr<io::TcpListener>> listeners_;
  std::unordered_map<ClimberSession*, std::unique_ptr<ClimberSession>> sessions_;
  io::Poster reaper_;  ///< frees finished sessions outside their own callbacks
  std::uint16_t socks_port_ = 0;
  std::uint16_t http_port_ = 0;
  std::vector<std::uint16_t> forward_ports_;
  std::uint64_t refused_ = 0;
  bool started_ = false;
};

/// Splits a listen address "host:port" / "[v6]:port" (port 0-65535; 0 = the OS picks).
/// False for anything else. Exposed for the app's own checks and for tests.
bool parse_listen_address(std::string_view text, std::string& host, std::uint16_t& port);

/// The forward rule's target as an MTop address: IPv4 / IPv6 literals become addresses,
/// anything else must be a valid domain. nullopt when the core would refuse it.
std::optional<Address> forward_target_address(const ForwardRule& rule);

}  // namespace mtop
