// mtop::Server (mtop/server.hpp): what mtop-server runs, as a library object. It owns the TLS
// context, the listeners (TLS over TCP, QUIC over UDP on the same port), the user check and the
// ServerEngine, wired on the caller's loop; the engine does the tunnels.
#include "mtop/server.hpp"

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "api/access_log_file.hpp"
#include "api/store_factory.hpp"
#include "auth/target_policy.hpp"
#include "engine/account_source.hpp"
#include "engine/server_engine.hpp"
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
  bool started = false;

  ~Impl() {
    acceptors.clear();
    engine.reset();
    if (accounts) accounts->account_store().flush();  // usage counted so far
  }

  void watch_tunnel_ends();
  void stop_accepting() {
    for (auto& a : acceptors) a->stop();
  }
  Result<void> listen_on(const Endpoint& e);
};

Result<void> Server::Impl::listen_on(const Endpoint& e) {
  tls::TlsListenerOptions tls_options;
  tls_options.handshake_timeout_ms = config.engine.handshake_timeout_ms;
  ServerEngine* eng = engine.get();
  auto listener =
      tls::TlsListener::create(loop, tls, e.host, e.port, tls_options,
                               [eng](io::StreamPtr stream) { eng->serve(std::move(stream)); });
  if (!listener) return Result<void>(Errc::listen_failed, std::string(listener.message()));
  (*listener)->set_failure_hook([l = log](std::string_view peer, std::string_view reason) {
    l.debug("TLS handshake from " + std::string(peer) + " failed: " + std::string(reason));
  });
  const std::uint16_t port = (*listener)->port();
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
    auto quic_server = quic::QuicServer::create(
        loop, std::move(q),
        [eng](io::StreamPtr stream) { eng->serve(std::move(stream), "quic"); });
    if (!quic_server) {
      return Result<void>(Errc::listen_failed,
                          "QUIC on " + e.text + ": " + std::string(quic_server.message()));
    }
    log.info("listening on " + HostPort{e.host, port}.to_string() + " (QUIC over UDP)");
    acceptors.push_back(std::move(*quic_server));
    bound.push_back(ListenInfo{e.host, port, true});
  }
#endif
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
    std::string error;
    if (!policy.allow_cidrs(config.engine.allow_targets, error)) {
      return Result<std::unique_ptr<Server>>(Errc::config_invalid, "allow_targets: " + error);
    }
  }
  if (config.tls_groups.empty()) {
    return Result<std::unique_ptr<Server>>(Errc::config_invalid, "tls_groups: no group");
  }
  for (const auto* key : {"fallback", "fixed_target"}) {
    const std::string& text =
        std::string_view(key) == "fallback" ? config.engine.fallback : config.engine.fixed_target;
    if (text.empty()) continue;
    if (auto hp = parse_host_port(text); !hp) {
      return Result<std::unique_ptr<Server>>(
          Errc::config_invalid,
          std::string(key) + ": \"" + text + "\": " + std::string(hp.message()));
    }
  }
  auto tls = tls::ServerContext::create(
      tls::TlsServerConfig{config.cert_file, config.key_file, config.tls_groups, config.tls_alpn});
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
  auto engine = ServerEngine::create(loop, config.engine, impl->check, log);
  if (!engine) return engine.failure();
  impl->engine = std::move(*engine);
  impl->watch_tunnel_ends();
  impl->config = std::move(config);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<void> Server::start() {
  if (impl_->started) return Result<void>(Errc::invalid_state, "start() was called already");
  impl_->started = true;
  for (const auto& e : impl_->endpoints) {
    if (auto r = impl_->listen_on(e); !r) {
      impl_->acceptors.clear();  // nothing stays bound
      impl_->bound.clear();
      return r;
    }
  }
  const ServerOptions& o = impl_->config.engine;
  std::string mode = o.reply_status ? "reply with a status on failure"
                                    : "stealth (close without a status on failure)";
  if (!o.fallback.empty()) {
    mode = "fallback: TLS connections that are not authenticated climbers go to " + o.fallback +
           "; otherwise " + mode;
  }
  impl_->log.info("mode: " + mode);
  if (!o.fixed_target.empty()) {
    impl_->log.info("every authorised tunnel goes to " + o.fixed_target + " (fixed target)");
  }
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
