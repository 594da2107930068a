// mtop::Server: an MTop server embedded in a program — the same engine mtop-server runs.
//
//   mtop::ServerConfig config;                      // or parse_server_config(json, dir)
//   config.listen = {"127.0.0.1:0"};
//   config.cert_file = "cert.pem";  config.key_file = "key.pem";
//   auto server = mtop::Server::create(loop, config, {.user_check = my_check, .log = log});
//   if (!server) { report(server.message()); return; }
//   (*server)->start();                             // binds TLS (TCP) and QUIC (UDP)
//   uv_run(loop, UV_RUN_DEFAULT);                   // ... later: drain(done) or stop()
//
// Theory of operation
// - A Server is bound to one uv_loop_t that the caller owns and runs (or to an EventThread's,
//   event_thread.hpp, for a server on a thread of its own). Every member function is called
//   on that loop's thread, and every callback comes on it. No global state: several servers
//   may share a loop or live on different ones.
// - Users are decided by ServerHooks::user_check when given (user_check.hpp), else by the
//   store ServerConfig::users names (users file, SQLite, PostgreSQL, MySQL).
// - Each listen address gets TLS 1.3 over TCP and, with config.quic, QUIC over UDP on the same
//   port number. Every accepted tunnel runs the MTop handshake (docs/PROTOCOL.md), asks the
//   user check, applies the target policy (loopback/private targets refused unless
//   allow_targets re-allows them), connects and relays with bounded buffers.
// - Destroying a Server closes its listeners and every tunnel at once, with no callback
//   afterwards; user checks still pending are answered into the void (their replies stay
//   safe to use). The loop must run afterwards until the server's handles are closed
//   (uv_run(loop, UV_RUN_DEFAULT) returns once nothing else is active).
#pragma once

#include <uv.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mtop/export.hpp"
#include "mtop/log.hpp"
#include "mtop/result.hpp"
#include "mtop/tls_groups.hpp"
#include "mtop/user_check.hpp"

namespace mtop {

/// Tunables of the server engine. Plain values with the defaults a public server wants.
struct ServerOptions {
  std::uint64_t handshake_timeout_ms = 10'000;  ///< auth message + user check must be done by then
  std::uint64_t connect_timeout_ms = 10'000;    ///< DNS + connect to the target
  std::uint64_t idle_timeout_ms = 300'000;      ///< a tunnel with no byte either way is closed
  std::uint64_t drain_timeout_ms = 30'000;      ///< drain(): how long live tunnels may finish
  bool reply_status = false;                 ///< false: stealth (close without a status on failure)
  std::size_t early_data_limit = 64 * 1024;  ///< payload held before the target is connected
  std::size_t max_pending = 256 * 1024;      ///< relay back-pressure bound per direction
  std::size_t max_tunnels = 20'000;          ///< live tunnels per server; more are refused
  std::vector<std::string> allow_targets;    ///< CIDRs re-allowed despite the target policy

  // Authentication costs (built-in stores; the failure throttle applies to every check).
  std::uint64_t credential_cache_ttl_ms = 300'000;  ///< a verified password is trusted this long
  std::size_t credential_cache_size = 10'000;
  std::uint32_t max_failures = 10;  ///< per source address and window...
  std::uint64_t failure_window_ms = 60'000;
  std::uint64_t lockout_ms = 300'000;  ///< ...then refused for this long

  /// How often users with live tunnels are looked up again (built-in stores), so that a user
  /// disabled, deleted, expired or over quota loses their tunnels within this time.
  std::uint64_t recheck_interval_ms = 5'000;

  /// Fallback mode: "host:port" of a web server (docs/CONFIG.md, "fallback"). A TLS tunnel
  /// that fails before a right password (malformed or truncated auth message, time-out,
  /// unknown user, wrong password, throttled source) is relayed to it, decrypted, with every
  /// byte the client sent, instead of being closed: the visitor sees that site. Operator
  /// configuration: the target policy does not apply. Empty: stealth or reply as set above.
  /// QUIC tunnels are not affected.
  std::string fallback{};
  /// "host:port" every authorised tunnel is connected to, whatever target it asked for (the
  /// SIP003 plugin's ss-server); the target policy does not apply. Empty: the asked target.
  std::string fixed_target{};
};

/// Where the built-in user check finds users (docs/USERS.md, docs/USERS_DB.md).
struct UsersSource {
  std::string type = "file";  ///< file | sqlite | postgres | mysql
  std::string path;           ///< file, sqlite: a path
  std::string dsn;            ///< postgres: conninfo or URI; mysql: mysql://user:pass@host:port/db
  std::uint64_t cache_ttl_ms = 2'500;  ///< database stores: how stale a lookup may be
  std::uint64_t grace_ms = 300'000;    ///< database down: recently verified users keep working
  std::uint64_t flush_ms = 2'000;      ///< database stores: usage written back this often
};

/// How the access log writes a tunnel: one JSON object per line, or logfmt (key=value).
enum class AccessLogFormat : std::uint8_t { json, logfmt };

/// Everything mtop-server's config file says (docs/CONFIG.md).
struct ServerConfig {
  std::vector<std::string> listen;  ///< "host:port" / "[v6]:port" (port 0: the OS picks)
  bool quic = true;                 ///< also QUIC over UDP on each listen port
  /// QUIC: concurrent tunnels (streams) one climber connection may carry.
  std::uint64_t quic_streams_per_connection = 256;
  std::string cert_file;  ///< PEM certificate chain
  std::string key_file;   ///< PEM private key
  /// TLS 1.3 key-exchange groups accepted on both transports, in order of preference; a client
  /// offering none of them fails the handshake. Must not be empty.
  std::vector<TlsGroup> tls_groups = default_tls_groups();
  UsersSource users;      ///< ignored when ServerHooks::user_check is given
  ServerOptions engine;
  LogLevel log_level = LogLevel::info;
  /// access_log: a file that gets one line per finished tunnel (format_access_record), opened
  /// for appending by Server::create; empty = none. reopen_access_log() (SIGHUP in
  /// mtop-server) opens it again by name, for log rotation.
  std::string access_log_path;
  AccessLogFormat access_log_format = AccessLogFormat::json;
  /// TLS over TCP: the ALPN protocols offered, in the server's order of preference (a client
  /// offering none of them gets no ALPN, as from a web server). Climbers send no ALPN. With a
  /// fallback, list only what the backend speaks on its plain port ("http/1.1"; "h2" only for
  /// a backend that speaks HTTP/2 with prior knowledge). Empty: no ALPN.
  std::vector<std::string> tls_alpn{};
};

/// Parses mtop-server's JSON config text; relative paths are taken relative to `base_dir`.
/// Unknown keys are errors. Errc::config_invalid with a message naming the key at fault.
MTOP_CPP_API Result<ServerConfig> parse_server_config(std::string_view json_text,
                                                      const std::string& base_dir);
/// The same from a file (relative paths relative to its folder).
MTOP_CPP_API Result<ServerConfig> load_server_config(const std::string& path);

/// Why a tunnel did not become a relay (or why the server ended it).
enum class TunnelFailure : std::uint8_t {
  overloaded,         ///< max_tunnels live already: closed at once
  draining,           ///< the server is draining: closed at once
  handshake_timeout,  ///< no complete auth message (or no user-check answer) in time
  protocol_error,     ///< malformed auth message (bad version included)
  client_closed,      ///< the client closed or failed before the decision
  throttled,          ///< the source address is locked out after too many failures
  auth_failed,        ///< unknown user or wrong password (UserCheckReply::deny)
  store_unavailable,  ///< the user check could not answer (UserCheckReply::unavailable)
  store_error,        ///< the stored hash is malformed, or hashing failed
  account_refused,    ///< right password, but disabled / expired / over quota
  user_tunnel_limit,  ///< the user's max_tunnels reached
  target_denied,      ///< the target policy refused every address
  target_failed,      ///< DNS failure, refused, unreachable or timed out
  revoked,            ///< a live tunnel closed by the re-check, the quota, revoke_user or drain
};
inline constexpr std::size_t kTunnelFailureCount = 14;
/// Short name for logs and metrics ("auth_failed").
MTOP_CPP_API std::string_view tunnel_failure_name(TunnelFailure f) noexcept;

/// A snapshot of what the server counts.
struct ServerStats {
  std::size_t live = 0;               ///< tunnels in any stage (handshake, auth, connect, relay)
  std::size_t relaying = 0;           ///< of which relaying
  std::uint64_t total = 0;            ///< tunnel streams accepted
  std::uint64_t accepted = 0;         ///< tunnels that got a success response
  std::uint64_t password_checks = 0;  ///< built-in stores: hash verifications run
  std::uint64_t cache_hits = 0;       ///< built-in stores: passwords accepted from the cache
  std::uint64_t rate_limit_delay_ms = 0;  ///< pauses asked by the users' bandwidth limits
  std::uint64_t bytes_up = 0;             ///< client → target, all tunnels
  std::uint64_t bytes_down = 0;           ///< target → client
  std::size_t active_users = 0;           ///< users with live tunnels
  std::array<std::uint64_t, kTunnelFailureCount> failures{};
  std::uint64_t failed(TunnelFailure f) const noexcept {
    return failures[static_cast<std::size_t>(f)];
  }
};

/// One finished tunnel, as the access log records it (Server::on_tunnel_end, and the
/// access_log file). No secret: the password never reaches it.
struct TunnelRecord {
  std::int64_t end_unix_ms = 0;  ///< when the tunnel ended, ms since 1970-01-01 UTC
  std::string transport;         ///< "tls" or "quic"
  std::string source;            ///< the client's "ip:port"
  std::string user;              ///< as the client sent it (log-escaped); empty before that
  std::string target;            ///< "host:port" asked for; empty before the request
  bool accepted = false;         ///< the tunnel relayed (the success response was sent)
  std::string failure;           ///< tunnel_failure_name() of why it was refused or cut, or empty
  std::string reason;            ///< a human-readable detail ("EOF both ways", "idle time-out")
  std::uint64_t up = 0;          ///< bytes client → target
  std::uint64_t down = 0;        ///< bytes target → client
  std::uint64_t duration_ms = 0;
};

/// `record` as one line without a line end. json: an object with the keys time (RFC 3339,
/// UTC, milliseconds), transport, source, user, target, accepted, failure, reason, up, down,
/// duration_ms. logfmt: the same keys as key=value pairs; a value that is empty or holds a
/// space, '=', '"' or a control character is quoted, with backslash escapes inside.
MTOP_CPP_API std::string format_access_record(const TunnelRecord& record, AccessLogFormat format);

/// A bound listening address: what `listen` asked for, and what the OS gave.
struct ListenInfo {
  std::string host;        ///< without brackets
  std::uint16_t port = 0;  ///< the bound port (the OS's choice for port 0)
  bool quic = false;       ///< true: QUIC over UDP; false: TLS over TCP
};

/// What the embedding program plugs in.
struct ServerHooks {
  /// Decides every tunnel's user; null = the built-in store of ServerConfig::users.
  std::shared_ptr<UserCheck> user_check;
  /// Where the server logs (one line per tunnel, start-up, warnings); default: nowhere.
  Logger log;
};

class MTOP_CPP_API Server {
 public:
  /// Checks `config` (listen addresses, allow_targets, certificate and key, the users source
  /// unless a user check is given) and builds the server on `loop`; nothing is bound yet.
  /// Errors: config_invalid, tls_setup_failed, not_built_in (a store left out of this build),
  /// store_unavailable, system_error, each with a message. config.quic in a build without QUIC
  /// logs a warning and serves TLS only (as mtop-server always did).
  static Result<std::unique_ptr<Server>> create(uv_loop_t* loop, ServerConfig config,
                                                ServerHooks hooks = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds every listen address (TLS over TCP, and QUIC over UDP on the same port) and starts
  /// accepting. On failure nothing stays bound: listen_failed ("listen 127.0.0.1:443: address
  /// already in use"), system_error. Call once.
  Result<void> start();
  /// What is bound (after start()), in config order, TLS before QUIC for each address.
  std::vector<ListenInfo> listening() const;

  /// Stops accepting; live tunnels may finish for drain_timeout_ms, then the rest are closed.
  /// `done` runs once on the loop (never inside drain()) when no tunnel is left.
  void drain(std::function<void()> done);
  /// Stops accepting and closes every tunnel now. Idempotent; the server can then be freed.
  void stop();
  /// Reloads what can change without a restart: the users file (other stores follow their
  /// database live). Errors: config_invalid with the file's problem (the old users stay).
  Result<void> reload();
  /// Opens config.access_log_path again by name (after logrotate moved the old file), so new
  /// lines go to a new file. Errors: system_error naming the file (lines then go to the old
  /// file). Without an access log: nothing.
  Result<void> reopen_access_log();
  /// `observer` is called on the loop with the record of every tunnel that ends from now on
  /// (accepted or refused), after the access log line is written; one observer, replaced by
  /// the next call, none with an empty function.
  void on_tunnel_end(std::function<void(const TunnelRecord&)> observer);
  /// Closes every live tunnel of `user` (as UserGrant::user named it); returns how many.
  std::size_t revoke_user(std::string_view user);

  ServerStats stats() const;
  bool draining() const noexcept;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The built-in user check over `source` (what Server uses when no user check is given),
/// for programs that want to wrap it (e.g. try their own directory first, then the file).
/// Bound to `loop`; errors as Server::create.
MTOP_CPP_API Result<std::shared_ptr<UserCheck>> open_user_check(uv_loop_t* loop,
                                                                const UsersSource& source,
                                                                const ServerOptions& options,
                                                                Logger log = {});

}  // namespace mtop
