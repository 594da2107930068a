// mtop::Climber: the local side of MTop embedded in a program — the same engine the climber
// program runs. It offers local inbounds (a SOCKS5 port, an HTTP proxy port, -L forwards)
// and opens single tunnels from code.
//
//   auto config = mtop::parse_climber_config(R"({"server": "mtop://alice@vpn.example.com",
//                                                 "password_file": "pw"})", ".");
//   auto climber = mtop::Climber::create(loop, *config, log);
//   (*climber)->start();                                  // binds the inbounds, if any
//   (*climber)->open_tunnel("example.org", 80, [](mtop::Result<mtop::io::StreamPtr> t) {
//     if (!t) return log(t.message());                    // "server refused: auth_failed"
//     (*t)->set_handler(&handler);                        // a byte stream to example.org:80
//     (*t)->start_read();
//   });
//
// Theory of operation
// - Bound to one uv_loop_t the caller owns and runs (or an EventThread's); every call and
//   callback on that loop's thread. No global state.
// - Every local connection and every open_tunnel() travels in its own tunnel: a TLS 1.3
//   connection per tunnel, or a stream on a pooled QUIC connection (transport auto tries QUIC
//   and falls back to TLS when UDP is blocked). The server's certificate is verified (CA
//   file, the system store, or a key pin) unless `insecure` says otherwise, loudly.
// - Limits fail at once with a message that names them: max_connections (local connections
//   and open tunnels together), the QUIC pool.
// - Destroying a Climber closes its listeners and every connection; every tunnel it opened
//   that the app still holds is aborted (its handler gets on_error from the loop; the app's
//   StreamPtr stays safe to drop); pending open_tunnel callbacks run inside the destructor
//   with Errc::cancelled — never after it returns — and must not call into the Climber.
//   The loop must run afterwards until the climber's handles are closed.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mtop/export.hpp"
#include "mtop/log.hpp"
#include "mtop/protocol.hpp"
#include "mtop/result.hpp"
#include "mtop/stream.hpp"
#include "mtop/tls_groups.hpp"

namespace mtop {

enum class TransportKind { tls, quic, auto_select };
MTOP_CPP_API std::string_view transport_name(TransportKind t) noexcept;
MTOP_CPP_API bool parse_transport(std::string_view name, TransportKind& out) noexcept;

/// The MTop server a climber talks to, as an mtop:// URI names it:
///   mtop://USER[:PASS]@HOST:PORT?transport=tls|quic|auto&sni=NAME&ca=FILE&pin=BASE64&insecure=1
struct ServerEndpoint {
  std::string host;
  std::uint16_t port = 443;
  std::string username;
  std::string password;
  TransportKind transport = TransportKind::tls;
  std::string sni;      ///< empty: use host
  std::string ca_file;  ///< empty: the system store
  std::string pin;      ///< base64 SHA-256 of the server's SubjectPublicKeyInfo; empty: none
  bool insecure = false;
  /// TLS 1.3 key-exchange groups offered on both transports (a key share goes for the first).
  /// Must not be empty. Not part of the URI: config files set it as server.tls_groups.
  std::vector<TlsGroup> tls_groups = default_tls_groups();
  /// The name the certificate is checked against.
  const std::string& server_name() const { return sni.empty() ? host : sni; }
};

/// Parses an mtop:// URI (USER and PASS percent-decoded). Errc::config_invalid with a
/// message that never contains the password.
MTOP_CPP_API Result<ServerEndpoint> parse_server_uri(std::string_view uri);

/// -L [bind:]port:host:hostport — every connection to bind:port is tunnelled to host:hostport.
struct ForwardRule {
  std::string bind_host = "127.0.0.1";
  std::uint16_t bind_port = 0;
  std::string target_host;
  std::uint16_t target_port = 0;
};

/// Parses "[bind:]port:host:hostport" (IPv6 hosts in brackets); Errc::config_invalid.
MTOP_CPP_API Result<ForwardRule> parse_forward_rule(std::string_view spec);

/// -R [bind:]port:host:hostport — publish host:hostport (a service next to the climber) on the
/// server's bind:port through a reverse tunnel (docs/CLIMBER.md, "Reverse tunnels").
struct ReverseRule {
  std::string bind_host = "0.0.0.0";  ///< an IP address of the server; 0.0.0.0 / :: = all
  std::uint16_t bind_port = 0;        ///< 0: any port the server allows this user
  std::string target_host;            ///< the local service
  std::uint16_t target_port = 0;
  bool proxy_protocol = false;  ///< send a PROXY protocol v2 header to the service first
};

/// Parses "[bind:]port:host:hostport" (port may be 0; bind an IP literal, IPv6 in brackets);
/// Errc::config_invalid.
MTOP_CPP_API Result<ReverseRule> parse_reverse_rule(std::string_view spec);

/// What one reverse rule is doing (Climber::reverse_states()).
struct ReverseState {
  std::uint16_t port = 0;  ///< the public port the server granted; 0 until it first granted one
  bool published = false;  ///< a control tunnel holds the port now (false while reconnecting)
  /// The status of the server's last refusal since the rule was last published: not_permitted
  /// (no publish grant of the user covers the bind), port_in_use, bad_request, auth_failed,
  /// version_not_supported. success: none (a server that could not be reached, or that closed
  /// without a status, leaves it as it was: the log says why).
  Status refusal = Status::success;
  std::uint64_t visitors_total = 0;  ///< visitors carried to the local service so far
  bool operator==(const ReverseState&) const = default;
};

/// The climber's local side.
struct ClimberOptions {
  std::string socks_listen;  ///< "host:port" for SOCKS5; empty = none
  std::string http_listen;   ///< "host:port" for the HTTP proxy; the same as socks_listen =
                             ///< one port serving both (told apart by the first byte)
  std::vector<ForwardRule> forwards;
  std::string local_username;  ///< local proxy auth (SOCKS5 RFC 1929, HTTP 407); empty = none
  std::string local_password;

  std::uint64_t handshake_timeout_ms = 10'000;  ///< local request head + tunnel set-up
  std::uint64_t connect_timeout_ms = 10'000;    ///< TLS transport: the TCP connect and the TLS
                                                ///< handshake, each (QUIC has its own)
  std::uint64_t idle_timeout_ms = 300'000;
  std::uint64_t drain_timeout_ms = 5'000;    ///< drain(): how long live connections may finish
  std::size_t max_pending = 256 * 1024;      ///< relay back-pressure bound per direction
  std::size_t early_data_limit = 16 * 1024;  ///< app bytes sent along with the auth message
  std::size_t max_connections = 10'000;      ///< local connections + open tunnels at once
  /// Reverse tunnels (docs/CLIMBER.md, "Reverse tunnels"). They follow ServerEndpoint::transport:
  /// with quic the control tunnel and every visitor are streams of the climber's QUIC connection
  /// (docs/PROTOCOL.md 9.5); with tls, and with auto_select, they go over TLS, each visitor on a
  /// data connection of its own (9.6).
  std::vector<ReverseRule> reverses{};
};

/// Everything the climber's config file says (docs/CONFIG.md).
struct ClimberConfig {
  ServerEndpoint server;
  ClimberOptions engine;
  /// limits.quic_connections: how many QUIC connections the pool may open; 0 = as many as
  /// engine.max_connections could need, so that is the limit that binds. With the pool full
  /// and every connection out of stream credit, a tunnel fails at once naming this limit.
  std::size_t quic_connections = 0;
  LogLevel log_level = LogLevel::info;
  /// quic_alpn: the ALPN the QUIC transport offers: "h3" (a climber looks like a browser), or
  /// "mtop/1" for a server from before the HTTP/3 site (docs/PROTOCOL.md section 10).
  std::string quic_alpn = "h3";
};

/// Parses the climber's JSON config text (relative paths relative to `base_dir`; the server
/// as an mtop:// string or an object; "password_file" read here). Keys the text does not name
/// keep ClimberConfig's defaults; unknown keys are errors. Errc::config_invalid with a message
/// naming the key; never the password.
MTOP_CPP_API Result<ClimberConfig> parse_climber_config(std::string_view json_text,
                                                        const std::string& base_dir);
/// The same from a file (relative paths relative to its folder); messages start with `path`.
MTOP_CPP_API Result<ClimberConfig> load_climber_config(const std::string& path);

/// The first line of a file (a password file), without its line end, so that a secret need
/// not sit in a config or on a command line. Errc::config_invalid ("cannot read PATH", "PATH
/// is empty").
MTOP_CPP_API Result<std::string> read_secret_file(const std::string& path);

struct ClimberStats {
  std::size_t active_connections = 0;  ///< local connections, pending opens and opened
                                       ///< tunnels the app holds
  std::uint64_t total_connections = 0;
  std::uint64_t refused_connections = 0;  ///< refused because max_connections was reached
  std::uint64_t tunnels_opened = 0;       ///< tunnels the server accepted
  std::uint64_t tunnels_failed = 0;       ///< tunnels refused or not set up
  std::uint64_t bytes_up = 0;             ///< local → server side
  std::uint64_t bytes_down = 0;
  std::size_t reverse_published = 0;  ///< reverse rules whose port a control tunnel holds now
  std::uint64_t reverse_visitors_total = 0;  ///< visitors carried to local services so far
};

class MTOP_CPP_API Climber {
 public:
  /// Callback of open_tunnel(): the stream (handler not set, not reading yet; the payload the
  /// server sent with its response comes first once reading starts), or the error, with a
  /// message: tunnel_refused (the server said no: "server refused: auth_failed", or closed
  /// without a status / reset the stream, its stealth refusal), tunnel_failed (server
  /// unreachable, TLS verification, bytes that are not MTop, handshake time-out),
  /// limit_reached (max_connections), invalid_argument (host neither an IP address nor a
  /// valid domain name, port 0), cancelled (abort_all(), or the Climber destroyed).
  using TunnelCallback = std::function<void(Result<io::StreamPtr> tunnel)>;

  /// Checks `config` (server, credentials, listen addresses, forwards, CA file) and builds the
  /// climber on `loop`; nothing is bound or connected yet. Errors: config_invalid,
  /// tls_setup_failed (the CA file cannot be read or used), not_built_in (QUIC), with a
  /// message that never contains a password.
  static Result<std::unique_ptr<Climber>> create(uv_loop_t* loop, ClimberConfig config,
                                                 Logger log = {});
  ~Climber();
  Climber(const Climber&) = delete;
  Climber& operator=(const Climber&) = delete;

  /// Binds every configured inbound (SOCKS5, HTTP, forwards; none is fine for a climber used
  /// only through open_tunnel). On failure nothing stays bound: listen_failed with a message.
  Result<void> start();

  /// Opens one tunnel to host:port through the server. `host` is a domain or an IP literal.
  /// `cb` runs exactly once on the loop, never inside this call. The tunnel counts against
  /// max_connections from now until the app drops the stream. Works without start().
  void open_tunnel(std::string host, std::uint16_t port, TunnelCallback cb);

  /// Bound ports (the OS's choice for port 0); 0 when not configured.
  std::uint16_t socks_port() const noexcept;
  std::uint16_t http_port() const noexcept;
  std::vector<std::uint16_t> forward_ports() const;
  /// Each reverse rule's state, in config order (empty without reverse rules).
  std::vector<ReverseState> reverse_states() const;

  /// Stops accepting local connections; live ones go on (open_tunnel still works). Idempotent.
  void stop();
  /// stop(), and live connections and tunnels may finish for drain_timeout_ms; then the rest
  /// are aborted as by abort_all("drain timeout"). `done` runs once on the loop (never inside
  /// drain()) when none is left. A second drain() replaces the callback and keeps the first
  /// deadline. The same contract as Server::drain.
  void drain(std::function<void()> done);
  /// Ends every local connection and every opened tunnel now with `reason` (logged per
  /// tunnel; a held tunnel's handler gets on_error(reason) from the loop); pending opens
  /// fail with Errc::cancelled.
  void abort_all(std::string_view reason);
  ClimberStats stats() const;

 private:
  struct Impl;
  explicit Climber(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtop
