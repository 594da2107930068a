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
// - config.workers > 1: the server also starts workers - 1 threads, each with its own loop,
//   listeners (SO_REUSEPORT) and tunnels. The promises above still hold for the caller's
//   loop: member functions are called there (they reach the other workers and wait for them
//   briefly), the user check is asked there and on_tunnel_end runs there. Only the Logger's
//   sink is called from the worker threads too: it must be thread-safe (stderr_sink() is).
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

/// Visitor rules of the reverse tunnels published on a range of ports (docs/CONFIG.md,
/// "reverse"; docs/PROTOCOL.md 9.9). The first rule whose range holds a port applies to it.
struct ReverseVisitorRule {
  std::uint16_t first_port = 1;
  std::uint16_t last_port = 65535;
  std::vector<std::string> allow;  ///< visitor CIDRs let in; empty = every address
  std::vector<std::string> deny;   ///< visitor CIDRs refused; wins over allow
  /// Live visitors per published port; 0 = ReverseOptions::max_visitors.
  std::size_t max_visitors = 0;
  bool operator==(const ReverseVisitorRule&) const = default;
};

/// Reverse tunnels (docs/PROTOCOL.md section 9): who may publish what is each user's
/// `publish` grant in the user store; these are the server's own settings.
struct ReverseOptions {
  std::uint16_t keepalive_s = 15;    ///< K of the control tunnels, 1-3600 s
  std::uint64_t grace_ms = 30'000;   ///< a port whose climber went away is kept for its user
  std::size_t pool = 2;              ///< TLS: ready data connections asked for per control tunnel
  std::size_t max_visitors = 1'000;  ///< live visitors per published port, unless a rule says
  std::vector<ReverseVisitorRule> visitors;
  bool operator==(const ReverseOptions&) const = default;
};

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

  // Admission control (docs/CONFIG.md, "Admission control"). A source is the client's address;
  // an IPv4-mapped IPv6 peer counts as its IPv4 address. Limits of 0 are off.
  std::vector<std::string> allow_sources;  ///< CIDRs that may connect; empty = everyone
  std::vector<std::string> deny_sources;   ///< CIDRs refused before TLS/QUIC; wins over allow
  std::size_t max_tunnels_per_source = 0;  ///< live tunnels from one address
  std::size_t max_tunnels_per_subnet = 0;  ///< live tunnels from one subnet (the prefixes below)
  unsigned subnet_prefix_v4 = 24;          ///< IPv4 subnet length for max_tunnels_per_subnet
  unsigned subnet_prefix_v6 = 64;          ///< IPv6 subnet length for max_tunnels_per_subnet
  /// New tunnels a second per source (an IPv4 address, an IPv6 /64), as a token bucket of
  /// `source_burst`; 0 = no rate limit. Resolution 0.001/s.
  double source_rate = 0;
  std::uint32_t source_burst = 20;  ///< >= 1
  /// Target ports refused whatever the address (a denied target, like the target policy).
  std::vector<std::uint16_t> deny_target_ports = {25};
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
  /// Fallback mode with a folder of static files instead of a backend (docs/CONFIG.md,
  /// "fallback"): the server serves it itself over HTTP/1.1 (libmicrohttpd, on a loopback port
  /// of its own) and relays visitors there as it would to `fallback`. Index.html for a
  /// directory, nothing outside the folder (no "..", no symbolic link that leaves it), no dot
  /// file but .well-known. Exclusive with `fallback`; a reload may change or remove it.
  std::string fallback_folder{};
  /// Reverse tunnels: keep-alive, grace, pool and visitor rules.
  ReverseOptions reverse{};
  bool operator==(const ServerOptions&) const = default;
};

/// Where the built-in user check finds users (docs/USERS.md, docs/USERS_DB.md).
struct UsersSource {
  std::string type = "file";  ///< file | sqlite | postgres | mysql
  std::string path;           ///< file, sqlite: a path
  std::string dsn;            ///< postgres: conninfo or URI; mysql: mysql://user:pass@host:port/db
  std::uint64_t cache_ttl_ms = 2'500;  ///< database stores: how stale a lookup may be
  std::uint64_t grace_ms = 300'000;    ///< database down: recently verified users keep working
  std::uint64_t flush_ms = 2'000;      ///< database stores: usage written back this often

  bool operator==(const UsersSource&) const = default;
};

/// How the access log writes a tunnel: one JSON object per line, or logfmt (key=value).
enum class AccessLogFormat : std::uint8_t { json, logfmt };

/// The admin listener (docs/ADMIN_API.md): HTTP with JSON calls and /metrics, on a thread of
/// its own. Off while `listen` is empty.
struct AdminConfig {
  std::string listen;  ///< "host:port" (loopback advised: plain HTTP); empty = no listener
  /// A file holding the bearer token every call but /metrics needs (surrounding white space
  /// ignored). Required when `listen` is set.
  std::string token_file;
  /// A file holding the bearer token /metrics needs; empty = /metrics is open.
  std::string metrics_token_file;
  /// Bytes per user in the metrics (mtop_user_bytes_total): one series per user, so off by
  /// default.
  bool per_user_metrics = false;
};

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
  AdminConfig admin;  ///< the admin listener; off by default
  /// How often cert_file and key_file are checked for a change on disk (a renewed
  /// certificate is then served to new handshakes, no reload needed); 0 = not watched.
  std::uint64_t cert_watch_ms = 5'000;
  /// TLS over TCP: the ALPN protocols offered, in the server's order of preference (a client
  /// offering none of them gets no ALPN, as from a web server). Climbers send no ALPN. With a
  /// fallback, list only what the backend speaks on its plain port ("http/1.1"; "h2" only for
  /// a backend that speaks HTTP/2 with prior knowledge). Empty: no ALPN.
  std::vector<std::string> tls_alpn{};
  /// Threads serving tunnels, each with its own loop, engine and listeners (SO_REUSEPORT on
  /// every listen address, QUIC datagrams steered to the worker owning their connection);
  /// they share the user check, the limits and counters (docs/CONFIG.md, "workers"). 1: the
  /// server runs on the loop it was created on only, as always. 0: one per core. At most
  /// kMaxWorkers. Default 1 here, so that a program's Logger sink is called on its loop's
  /// thread only unless it asks for workers; server.json without "workers" (mtop-server,
  /// parse_server_config) means 0, one per core (docs/CONFIG.md, "Workers").
  unsigned workers = 1;
  /// QUIC: offer ALPN "mtop/1" besides "h3" for climbers from before the HTTP/3 site
  /// (docs/PROTOCOL.md section 10); off once every climber offers "h3". Applies to QUIC
  /// listeners bound from then on.
  bool quic_mtop_alpn = true;
};

/// The largest ServerConfig::workers.
inline constexpr unsigned kMaxWorkers = 64;

/// Parses mtop-server's JSON config text; relative paths are taken relative to `base_dir`.
/// Unknown keys are errors. Errc::config_invalid with a message naming the key at fault.
MTOP_CPP_API Result<ServerConfig> parse_server_config(std::string_view json_text,
                                                      const std::string& base_dir);
/// The same from a file (relative paths relative to its folder).
MTOP_CPP_API Result<ServerConfig> load_server_config(const std::string& path);

/// Why a tunnel did not become a relay (or why the server ended it).
enum class TunnelFailure : std::uint8_t {
  overloaded,  ///< max_tunnels live, or a source limit (ServerStats::rejections says which)
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

/// The admission rules that refuse a connection or a new tunnel (ServerStats::rejections).
enum class AdmissionRule : std::uint8_t {
  source_denied,           ///< deny_sources / allow_sources (TCP: before TLS; QUIC: per Initial)
  max_tunnels,             ///< the server's max_tunnels live (also failure `overloaded`)
  max_tunnels_per_user,    ///< the user's own limit (also failure `user_tunnel_limit`)
  max_tunnels_per_source,  ///< max_tunnels_per_source live from the address
  max_tunnels_per_subnet,  ///< max_tunnels_per_subnet live from the subnet
  source_rate,             ///< the source's new-tunnel token bucket was empty
  target_port,             ///< deny_target_ports (also failure `target_denied`)
};
inline constexpr std::size_t kAdmissionRuleCount = 7;
/// Short name for logs and metrics: the option that was reached ("max_tunnels_per_source").
MTOP_CPP_API std::string_view admission_rule_name(AdmissionRule r) noexcept;

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
  /// Refusals per admission rule. A tunnel refused by a source rule (max_tunnels_per_source,
  /// max_tunnels_per_subnet, source_rate) also counts as failure `overloaded`; source_denied
  /// counts TCP connections and QUIC Initial packets refused before any tunnel existed (and
  /// tunnels of a QUIC connection admitted before the lists changed).
  std::array<std::uint64_t, kAdmissionRuleCount> rejections{};
  std::size_t reverse_ports = 0;     ///< public ports held by live control tunnels
  std::size_t reverse_visitors = 0;  ///< visitors waiting for or carried on a data connection
  std::uint64_t reverse_visitors_total = 0;    ///< visitors accepted on published ports
  std::uint64_t reverse_visitors_refused = 0;  ///< reset: no climber, a CIDR rule, the limit
  std::size_t reverse_ports_grace = 0;         ///< public ports kept bound in their grace period
  std::uint64_t failed(TunnelFailure f) const noexcept {
    return failures[static_cast<std::size_t>(f)];
  }
  std::uint64_t rejected(AdmissionRule r) const noexcept {
    return rejections[static_cast<std::size_t>(r)];
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

/// A tunnel that has not ended yet (Server::tunnels()).
struct LiveTunnel {
  std::uint64_t id = 0;   ///< the server's number for it (Server::close_tunnel)
  std::string transport;  ///< "tls" or "quic"
  std::string listener;   ///< the listen address it came in on ("host:port")
  std::string source;     ///< the client's "ip:port"
  std::string user;       ///< as the client sent it (log-escaped); empty before that
  std::string target;     ///< "host:port" asked for; empty before the request
  std::string stage;      ///< handshake, deciding, connecting, rejecting, relaying; reverse
                          ///< tunnels: control, pooled (an idle data connection), visitor
  std::uint64_t up = 0;   ///< bytes client → target so far
  std::uint64_t down = 0;
  std::uint64_t age_ms = 0;
  unsigned worker = 0;  ///< the worker serving it (0 with a single worker)
};

/// A bound listening address: what `listen` asked for, and what the OS gave.
struct ListenInfo {
  std::string host;        ///< without brackets
  std::uint16_t port = 0;  ///< the bound port (the OS's choice for port 0)
  bool quic = false;       ///< true: QUIC over UDP; false: TLS over TCP
};

/// What Server::reload(ServerConfig) did.
struct ReloadReport {
  /// What took effect, in words for a log line: "certificate", "users source", "engine
  /// options", "allow_targets", "log_level", "access_log", "listen +127.0.0.1:8443",
  /// "listen -127.0.0.1:443". Empty: the new config equals the running one (the users file
  /// and the certificate files were still read again).
  std::vector<std::string> changed;
  /// Parts of the new config that did not take effect live, each with the reason.
  std::vector<std::string> warnings;
};
/// "certificate, listen +127.0.0.1:8443" or "nothing changed", then "; not applied: ..." for
/// each warning.
MTOP_CPP_API std::string reload_summary(const ReloadReport& report);

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
  /// Re-reads the users file of the running config (other stores follow their database live;
  /// a custom user check: nothing). Errors: config_invalid with the file's problem (the old
  /// users stay). reload(config()) does this and re-reads the certificate files too.
  Result<void> reload();
  /// Applies `next` without dropping a live tunnel (mtop-server's SIGHUP, an admin API):
  /// - certificate, key and tls_groups: read again (also when unchanged) and used by new
  ///   handshakes on both transports; live connections keep theirs;
  /// - users: a changed source (type, path, dsn, cache settings) or credential cache opens the
  ///   new store and new tunnels are checked there; else the users file is read again;
  ///   ignored when ServerHooks::user_check was given;
  /// - engine (ServerOptions, all of it: limits, time-outs, allow_targets, ...): new tunnels
  ///   run under the new options, live ones keep theirs;
  /// - log_level: set on ServerHooks::log (which all its copies share, Logger::set_level)
  ///   when it differs from the running config's;
  /// - access_log_path/format: the new file is opened; cert_watch_ms: the watch restarts;
  /// - listen and quic: new addresses are bound (by every worker), removed ones stop
  ///   accepting (their live tunnels go on; a removed QUIC socket stays open until its last
  ///   connection with a tunnel is gone, idle connections on it are closed), unchanged ones
  ///   are not touched. With several workers, QUIC on a port a removed socket still holds is
  ///   refused (listen_failed) until its connections end.
  /// quic_streams_per_connection applies to QUIC listeners bound from now on (a warning in
  /// the report says so). All or nothing: everything is prepared first (files read, store
  /// opened, addresses bound) and only then switched; on any error nothing changed. Errors:
  /// config_invalid, tls_setup_failed, listen_failed, not_built_in, store_unavailable,
  /// system_error (each message names the part at fault), invalid_state while draining.
  Result<ReloadReport> reload(ServerConfig next);
  /// Where a reload asked for from outside the program (the admin API's POST /api/reload)
  /// gets the next config, e.g. mtop-server's config file read again; called on the loop.
  /// Without one such a reload re-reads the users file only, like reload().
  void set_config_source(std::function<Result<ServerConfig>()> source);
  /// The config in effect (as given to create() or the last successful reload).
  const ServerConfig& config() const noexcept;
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

  /// Closes the live tunnel numbered `id` (its client sees the stream end); false if no live
  /// tunnel has that number.
  bool close_tunnel(std::uint64_t id);
  /// Every live tunnel, oldest first.
  std::vector<LiveTunnel> tunnels() const;
  /// What the server counts, in the Prometheus text exposition format (docs/ADMIN_API.md
  /// lists the metrics): for a program that serves /metrics itself.
  std::string metrics_text() const;
  /// The admin listener's bound port after start(); 0 when config.admin.listen is empty.
  std::uint16_t admin_port() const noexcept;

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
