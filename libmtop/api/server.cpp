// mtop::Server (mtop/server.hpp): what mtop-server runs, as a library object. It owns the TLS
// context, the listeners (TLS over TCP, QUIC over UDP on the same port), the user check and the
// ServerEngine, wired on the caller's loop; the engine does the tunnels.
#include "mtop/server.hpp"

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "admin/bearer_token.hpp"
#include "api/access_log_file.hpp"
#include "api/admin_service.hpp"
#include "api/config_view.hpp"
#include "api/store_factory.hpp"
#include "auth/target_policy.hpp"
#include "engine/account_source.hpp"
#include "engine/server_engine.hpp"
#include "engine/server_metrics.hpp"
#include "engine/store_user_check.hpp"
#include "mtop/host_port.hpp"
#include "tls/context.hpp"
#include "tls/listener.hpp"
#ifdef MTOP_HAVE_QUIC
#include "api/quic_secret.hpp"
#include "quic/server.hpp"
#endif

namespace mtop {

namespace {

struct Endpoint {
  std::string text;  ///< as the config says it, for messages
  std::string host;  ///< without brackets
  std::uint16_t port = 0;
};

}  // namespace

struct Server::Impl {
  uv_loop_t* loop = nullptr;
  ServerConfig config;
  Logger log;
  std::vector<Endpoint> endpoints;
  std::shared_ptr<UserCheck> check;
  AccountSource* accounts = nullptr;  ///< check as the built-in store check, or null
  std::shared_ptr<tls::ServerContext> tls;
  std::string quic_secret;
  std::optional<AccessLogFile> access_log;  ///< config.access_log_path, when set
  std::function<void(const TunnelRecord&)> on_tunnel_end;  ///< Server::on_tunnel_end
  std::unique_ptr<ServerEngine> engine;
  // Declared after the engine: destroyed first, as they hand streams to it.
  std::vector<std::unique_ptr<io::StreamAcceptor>> acceptors;
  std::vector<ListenInfo> bound;
#ifdef MTOP_HAVE_QUIC
  std::vector<quic::QuicServer*> quic_servers;  ///< among the acceptors, for their counters
#endif
  std::optional<Endpoint> admin_endpoint;  ///< config.admin.listen, parsed
  std::string admin_token;
  std::string metrics_token;
  // Declared last: destroyed first (its thread calls into the server through the loop).
  std::unique_ptr<AdminService> admin;
  bool started = false;

  ~Impl() {
    admin.reset();
    acceptors.clear();
    engine.reset();
    if (accounts) accounts->account_store().flush();  // usage counted so far
  }

  void watch_tunnel_ends();
  void stop_accepting() {
    for (auto& a : acceptors) a->stop();
  }
  Result<void> listen_on(const Endpoint& e);
  Result<void> read_admin_config(const AdminConfig& a);
  Result<void> start_admin(Server& server);
};

Result<void> Server::Impl::listen_on(const Endpoint& e) {
  tls::TlsListenerOptions tls_options;
  tls_options.handshake_timeout_ms = config.engine.handshake_timeout_ms;
  ServerEngine* eng = engine.get();
  // Deny/allow_sources before any TLS or QUIC work on a connection.
  auto admit = [eng](const sockaddr* peer) { return eng->admit_connection(peer); };
  tls_options.admit = admit;
  // Every stream of this address counts under its bound name (the OS's port for port 0).
  auto name = std::make_shared<std::string>(e.text);
  auto listener = tls::TlsListener::create(
      loop, tls, e.host, e.port, tls_options,
      [eng, name](io::StreamPtr stream) { eng->serve(std::move(stream), "tls", *name); });
  if (!listener) return Result<void>(Errc::listen_failed, std::string(listener.message()));
  (*listener)->set_failure_hook([l = log](std::string_view peer, std::string_view reason) {
    l.debug("TLS handshake from " + std::string(peer) + " failed: " + std::string(reason));
  });
  const std::uint16_t port = (*listener)->port();
  *name = HostPort{e.host, port}.to_string();
  log.info("listening on " + (*listener)->local_name() + " (TLS over TCP)");
  acceptors.push_back(std::move(*listener));
  bound.push_back(ListenInfo{e.host, port, false});
#ifdef MTOP_HAVE_QUIC
  if (config.quic) {
    quic::QuicServerOptions q;
    q.host = e.host;
    q.port = port;  // the same port number on UDP: the normal set-up
    q.tls.cert_chain_file = config.cert_file;
    q.tls.key_file = config.key_file;
    q.tls.groups = config.tls_groups;
    q.limits.max_streams = config.quic_streams_per_connection;
    q.secret = quic_secret;
    q.admit = admit;
    auto quic_server = quic::QuicServer::create(
        loop, std::move(q),
        [eng, name](io::StreamPtr stream) { eng->serve(std::move(stream), "quic", *name); });
    if (!quic_server) {
      return Result<void>(Errc::listen_failed,
                          "QUIC on " + e.text + ": " + std::string(quic_server.message()));
    }
    log.info("listening on " + HostPort{e.host, port}.to_string() + " (QUIC over UDP)");
    quic_servers.push_back(quic_server->get());
    acceptors.push_back(std::move(*quic_server));
    bound.push_back(ListenInfo{e.host, port, true});
  }
#endif
  return {};
}

Result<void> Server::Impl::read_admin_config(const AdminConfig& a) {
  if (a.listen.empty()) return {};
  auto address = parse_host_port(a.listen, kListenAddress);
  if (!address) {
    return Result<void>(Errc::config_invalid,
                        "admin.listen: \"" + a.listen + "\": " + std::string(address.message()));
  }
  admin_endpoint = Endpoint{a.listen, std::move(address->host), address->port};
  if (a.token_file.empty()) {
    return Result<void>(Errc::config_invalid, "admin.token_file: required with admin.listen");
  }
  auto token = admin::read_token_file(a.token_file);
  if (!token) return Result<void>(Errc::config_invalid, "admin: " + std::string(token.message()));
  admin_token = std::move(*token);
  if (!a.metrics_token_file.empty()) {
    auto m = admin::read_token_file(a.metrics_token_file);
    if (!m) return Result<void>(Errc::config_invalid, "admin: " + std::string(m.message()));
    metrics_token = std::move(*m);
  }
  return {};
}

Result<void> Server::Impl::start_admin(Server& server) {
  if (!admin_endpoint) return {};
  AdminService::Options o;
  o.host = admin_endpoint->host;
  o.port = admin_endpoint->port;
  o.token = admin_token;
  o.metrics_token = metrics_token;
  if (accounts) o.users = config.users;
  o.config_json = config_view(config).dump(2) + "\n";
  o.log = log;
  auto service = AdminService::start(loop, server, std::move(o));
  if (!service) return Result<void>(service.error(), std::string(service.message()));
  admin = std::move(*service);
  const bool loopback = admin_endpoint->host == "127.0.0.1" || admin_endpoint->host == "::1" ||
                        admin_endpoint->host.rfind("127.", 0) == 0;
  const std::string where = HostPort{admin_endpoint->host, admin->port()}.to_string();
  log.info("admin API on http://" + where + " (docs/ADMIN_API.md)");
  if (!loopback) {
    log.warn("the admin listener " + where +
             " is not on loopback: its plain HTTP carries the bearer token in the clear");
  }
  return {};
}

// The engine builds a TunnelRecord for every ending tunnel only while someone reads it: the
// access log or the program's observer. Defined out of line: a lambda in an inline member of
// this (exported) class would give libmtop_cpp.so an exported typeinfo symbol.
void Server::Impl::watch_tunnel_ends() {
  if (!access_log && !on_tunnel_end) {
    engine->on_tunnel_end(nullptr);
    return;
  }
  engine->on_tunnel_end([this](const TunnelRecord& r) {
    if (access_log) access_log->write(r);
    if (on_tunnel_end) on_tunnel_end(r);
  });
}

Result<std::unique_ptr<Server>> Server::create(uv_loop_t* loop, ServerConfig config,
                                               ServerHooks hooks) {
  if (!loop) return Result<std::unique_ptr<Server>>(Errc::invalid_argument, "no loop");
  auto impl = std::make_unique<Impl>();
  impl->loop = loop;
  impl->log = std::move(hooks.log);
  const Logger& log = impl->log;

  if (config.listen.empty()) {
    return Result<std::unique_ptr<Server>>(Errc::config_invalid, "listen: no address");
  }
  for (const auto& l : config.listen) {
    auto address = parse_host_port(l, kListenAddress);
    if (!address) {
      return Result<std::unique_ptr<Server>>(
          Errc::config_invalid, "listen: \"" + l + "\": " + std::string(address.message()));
    }
    impl->endpoints.push_back(Endpoint{l, std::move(address->host), address->port});
  }
  {
    auth::TargetPolicy policy;
    if (auto r = policy.allow_cidrs(config.engine.allow_targets); !r) {
      return Result<std::unique_ptr<Server>>(Errc::config_invalid,
                                             "allow_targets: " + std::string(r.message()));
    }
  }
  if (config.tls_groups.empty()) {
    return Result<std::unique_ptr<Server>>(Errc::config_invalid, "tls_groups: no group");
  }
  auto tls = tls::ServerContext::create(
      tls::TlsServerConfig{config.cert_file, config.key_file, config.tls_groups});
  if (!tls) {
    return Result<std::unique_ptr<Server>>(Errc::tls_setup_failed,
                                           "TLS: " + std::string(tls.message()));
  }
  impl->tls = std::move(*tls);
#ifdef MTOP_HAVE_QUIC
  if (config.quic) {
    // Stable across restarts, so climbers recognise our stateless resets (quic_secret.hpp).
    auto secret = quic_secret_from_key_file(config.key_file);
    if (!secret)
      return Result<std::unique_ptr<Server>>(secret.error(),
                                             "QUIC: " + std::string(secret.message()));
    impl->quic_secret = std::move(*secret);
  }
#else
  if (config.quic) log.warn("built without QUIC support: serving TLS over TCP only");
#endif

  if (hooks.user_check) {
    impl->check = std::move(hooks.user_check);
  } else {
    auto check = open_user_check(loop, config.users, config.engine, log);
    if (!check) {
      return Result<std::unique_ptr<Server>>(check.error(),
                                             "users: " + std::string(check.message()));
    }
    impl->check = std::move(*check);
  }
  impl->accounts = dynamic_cast<AccountSource*>(impl->check.get());
  if (impl->accounts) {
    log.info("users from " + std::string(impl->accounts->account_store().kind()) + " store");
  }
  if (!config.engine.allow_targets.empty()) {
    std::string allowed;
    for (const auto& c : config.engine.allow_targets) allowed += (allowed.empty() ? "" : ", ") + c;
    log.warn("targets in " + allowed + " are allowed despite the private-address policy");
  }
  if (!config.access_log_path.empty()) {
    auto file = AccessLogFile::open(config.access_log_path, config.access_log_format);
    if (!file) return file.failure();
    impl->access_log.emplace(std::move(*file));
  }
  if (auto r = impl->read_admin_config(config.admin); !r) return r.failure();
  auto engine = ServerEngine::create(loop, config.engine, impl->check, log);
  if (!engine) return engine.failure();
  impl->engine = std::move(*engine);
  impl->engine->count_user_bytes(config.admin.per_user_metrics);
  impl->watch_tunnel_ends();
  impl->config = std::move(config);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<void> Server::start() {
  if (impl_->started) return Result<void>(Errc::invalid_state, "start() was called already");
  impl_->started = true;
  auto unbind = [this] {  // on failure nothing stays bound
    impl_->admin.reset();
    impl_->acceptors.clear();
    impl_->bound.clear();
#ifdef MTOP_HAVE_QUIC
    impl_->quic_servers.clear();
#endif
  };
  for (const auto& e : impl_->endpoints) {
    if (auto r = impl_->listen_on(e); !r) {
      unbind();
      return r;
    }
  }
  if (auto r = impl_->start_admin(*this); !r) {
    unbind();
    return r;
  }
  impl_->log.info(std::string("mode: ") + (impl_->config.engine.reply_status
                                               ? "reply with a status on failure"
                                               : "stealth (close without a status on failure)"));
  return {};
}

std::vector<ListenInfo> Server::listening() const {
  return impl_->bound;
}

void Server::drain(std::function<void()> done) {
  impl_->stop_accepting();
  impl_->engine->drain(std::move(done));
}

void Server::stop() {
  impl_->stop_accepting();
  impl_->engine->stop();
}

Result<void> Server::reload() {
  if (!impl_->accounts) return {};  // a custom check reloads by itself
  return impl_->accounts->reload();
}

void Server::on_tunnel_end(std::function<void(const TunnelRecord&)> observer) {
  impl_->on_tunnel_end = std::move(observer);
  impl_->watch_tunnel_ends();
}

Result<void> Server::reopen_access_log() {
  if (!impl_->access_log) return {};
  return impl_->access_log->reopen();
}

std::size_t Server::revoke_user(std::string_view user) {
  return impl_->engine->revoke_user(user);
}

bool Server::close_tunnel(std::uint64_t id) {
  return impl_->engine->close_tunnel(id);
}

std::vector<LiveTunnel> Server::tunnels() const {
  return impl_->engine->live_tunnels();
}

std::string Server::metrics_text() const {
  MetricsSnapshot m;
  m.stats = impl_->engine->stats();
  m.engine = impl_->engine->metrics();
  if (impl_->accounts) {
    m.has_store = true;
    m.store = impl_->accounts->counters();
  }
#ifdef MTOP_HAVE_QUIC
  if (impl_->config.quic) {
    m.has_quic = true;
    for (const quic::QuicServer* q : impl_->quic_servers) {
      m.quic.connections_total += q->stats().accepted_connections;
      m.quic.connections_live += q->connection_count();
      m.quic.streams_total += q->stats().streams;
    }
  }
#endif
  return format_metrics(m);
}

std::uint16_t Server::admin_port() const noexcept {
  return impl_->admin ? impl_->admin->port() : 0;
}

ServerStats Server::stats() const {
  return impl_->engine->stats();
}

bool Server::draining() const noexcept {
  return impl_->engine->draining();
}

Result<std::shared_ptr<UserCheck>> open_user_check(uv_loop_t* loop, const UsersSource& source,
                                                   const ServerOptions& options, Logger log) {
  if (!loop) return Result<std::shared_ptr<UserCheck>>(Errc::invalid_argument, "no loop");
  auto store = open_user_store(loop, source, log);
  if (!store) return store.failure();
  return std::shared_ptr<UserCheck>(
      std::make_shared<StoreUserCheck>(loop, std::move(*store), options, std::move(log)));
}

}  // namespace mtop
