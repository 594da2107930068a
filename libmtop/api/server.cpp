// mtop::Server (mtop/server.hpp): what mtop-server runs, as a library object. It owns the TLS
// context, the listeners (TLS over TCP, QUIC over UDP on the same port), the user check and the
// ServerEngine, wired on the caller's loop; the engine does the tunnels. reload() swaps any of
// them for new tunnels while live ones keep what they started with; CertWatch reloads the
// certificate when its files change.
#include "mtop/server.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "admin/bearer_token.hpp"
#include "api/access_log_file.hpp"
#include "api/admin_service.hpp"
#include "api/cert_watch.hpp"
#include "api/config_view.hpp"
#include "api/store_factory.hpp"
#include "auth/target_policy.hpp"
#include "engine/account_source.hpp"
#include "engine/remote_user_check.hpp"
#include "engine/server_engine.hpp"
#include "engine/server_metrics.hpp"
#include "engine/shared_limits.hpp"
#include "engine/store_user_check.hpp"
#include "mtop/event_thread.hpp"
#include "mtop/host_port.hpp"
#include "tls/context.hpp"
#include "tls/listener.hpp"
#include "uv/loop_mailbox.hpp"
#include "uv/timer.hpp"
#include "web/static_site.hpp"
#ifdef MTOP_HAVE_QUIC
#include "api/quic_secret.hpp"
#include "quic/app_error.hpp"
#include "quic/server.hpp"
#endif

namespace mtop {

namespace {

struct Endpoint {
  std::string text;  ///< as the config says it, for messages
  std::string host;  ///< without brackets
  std::uint16_t port = 0;
  bool same_address(const Endpoint& o) const { return host == o.host && port == o.port; }
};

/// How often a QUIC socket removed by a reload looks for its last connection to be gone.
constexpr std::uint64_t kRetiredQuicCheckMs = 1'000;

/// Runs `fn` when the scope ends, however it ends.
template <class F>
class ScopeExit {
 public:
  explicit ScopeExit(F fn) : fn_(std::move(fn)) {}
  ~ScopeExit() { fn_(); }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;
  ScopeExit(ScopeExit&&) = delete;
  ScopeExit& operator=(ScopeExit&&) = delete;

 private:
  F fn_;
};

/// Frees, each on its own worker's thread, what workers 1 and up hold in `per_worker`
/// (index = worker; `workers` are Server::Impl's workers 1 and up). Here rather than a member
/// template of Server::Impl, which libmtop_cpp.so would export.
template <class T, class Workers>
void release_on_workers(std::vector<T>& per_worker, const Workers& workers) {
  for (std::size_t i = 1; i < per_worker.size() && i <= workers.size(); ++i) {
    workers[i - 1]->thread->call([&per_worker, i] { per_worker[i] = T{}; });
  }
}

/// The checks create() and reload() share, before anything is built: listen addresses,
/// allow_targets, tls_groups. Errors: config_invalid naming the key.
Result<std::vector<Endpoint>> check_config(const ServerConfig& config) {
  if (config.listen.empty()) return Failure{Errc::config_invalid, "listen: no address"};
  std::vector<Endpoint> endpoints;
  for (const auto& l : config.listen) {
    auto address = parse_host_port(l, kListenAddress);
    if (!address) {
      return Failure{Errc::config_invalid,
                     "listen: \"" + l + "\": " + std::string(address.message())};
    }
    Endpoint e{l, std::move(address->host), address->port};
    for (const auto& seen : endpoints) {
      if (seen.same_address(e) && e.port != 0) {
        return Failure{Errc::config_invalid, "listen: \"" + l + "\" is given twice"};
      }
    }
    endpoints.push_back(std::move(e));
  }
  auth::TargetPolicy policy;
  if (auto r = policy.allow_cidrs(config.engine.allow_targets); !r) {
    return Failure{Errc::config_invalid, "allow_targets: " + std::string(r.message())};
  }
  if (auto r = AdmissionPolicy().configure(config.engine); !r) return r.failure();
  if (config.tls_groups.empty()) return Failure{Errc::config_invalid, "tls_groups: no group"};
  for (const auto* key : {"fallback", "fixed_target"}) {
    const std::string& text =
        std::string_view(key) == "fallback" ? config.engine.fallback : config.engine.fixed_target;
    if (text.empty()) continue;
    if (auto hp = parse_host_port(text); !hp) {
      return Failure{Errc::config_invalid,
                     std::string(key) + ": \"" + text + "\": " + std::string(hp.message())};
    }
  }
  if (!config.engine.fallback_folder.empty()) {
    if (!config.engine.fallback.empty()) {
      return Failure{Errc::config_invalid, "fallback: a backend or a folder, not both (\"" +
                                               config.engine.fallback + "\" and \"" +
                                               config.engine.fallback_folder + "\")"};
    }
    for (const auto& p : config.tls_alpn) {
      if (p != "http/1.1") {
        return Failure{Errc::config_invalid, "tls_alpn: \"" + p +
                                                 "\": the fallback folder is served over "
                                                 "HTTP/1.1 only"};
      }
    }
  }
  return endpoints;
}

/// The fallback folder `o` names, opened (its real path checked). Errors: config_invalid.
Result<std::optional<web::SiteFolder>> open_fallback_folder(const ServerOptions& o) {
  if (o.fallback_folder.empty()) return std::optional<web::SiteFolder>();
  auto folder = web::SiteFolder::open(o.fallback_folder);
  if (!folder) {
    return Failure{Errc::config_invalid, "fallback folder: " + std::string(folder.message())};
  }
  return std::optional<web::SiteFolder>(std::move(*folder));
}

tls::TlsServerConfig tls_config(const ServerConfig& config) {
  return tls::TlsServerConfig{config.cert_file, config.key_file, config.tls_groups,
                              config.tls_alpn};
}

Result<std::shared_ptr<tls::ServerContext>> load_tls(const ServerConfig& config) {
  auto tls = tls::ServerContext::create(tls_config(config));
  if (!tls) return Failure{Errc::tls_setup_failed, "TLS: " + std::string(tls.message())};
  return std::move(*tls);
}

/// True when the built-in user check of `a` would be built the same for `b`.
bool same_user_check(const ServerConfig& a, const ServerConfig& b) {
  return a.users == b.users &&
         a.engine.credential_cache_ttl_ms == b.engine.credential_cache_ttl_ms &&
         a.engine.credential_cache_size == b.engine.credential_cache_size;
}

/// ServerConfig::workers as a number of threads: 0 is one per core.
unsigned worker_count(unsigned asked) {
  if (asked > 0) return std::min(asked, kMaxWorkers);
  return std::clamp(std::thread::hardware_concurrency(), 1U, kMaxWorkers);
}

/// Adds what another worker counted alone; what the workers share (rejections, active users,
/// the store's password checks) is the first worker's already. Reverse ports and visitors are
/// counted by the worker of their control tunnel, so each once; ports in grace are in the shared
/// registry, which every worker reports whole.
void add_worker_stats(ServerStats& into, const ServerStats& w) {
  into.live += w.live;
  into.relaying += w.relaying;
  into.total += w.total;
  into.accepted += w.accepted;
  into.rate_limit_delay_ms += w.rate_limit_delay_ms;
  into.bytes_up += w.bytes_up;
  into.bytes_down += w.bytes_down;
  for (std::size_t i = 0; i < into.failures.size(); ++i) into.failures[i] += w.failures[i];
  into.reverse_ports += w.reverse_ports;
  into.reverse_visitors += w.reverse_visitors;
  into.reverse_visitors_total += w.reverse_visitors_total;
  into.reverse_visitors_refused += w.reverse_visitors_refused;
}

#ifdef MTOP_HAVE_QUIC
void add_quic(QuicMetrics& into, const quic::QuicServer& q) {
  into.connections_total += q.stats().accepted_connections;
  into.connections_live += q.connection_count();
  into.streams_total += q.stats().streams;
}
#endif

void log_allowed_targets(const Logger& log, const ServerOptions& options) {
  if (options.allow_targets.empty()) return;
  std::string allowed;
  for (const auto& c : options.allow_targets) allowed += (allowed.empty() ? "" : ", ") + c;
  log.warn("targets in " + allowed + " are allowed despite the private-address policy");
}

}  // namespace

struct Server::Impl {
  /// One listen address: TLS over TCP, and QUIC over UDP on the same port when on.
  struct Listener {
    Endpoint endpoint;
    std::uint16_t port = 0;  ///< bound
    std::unique_ptr<tls::TlsListener> tls;
#ifdef MTOP_HAVE_QUIC
    std::unique_ptr<quic::QuicServer> quic;
#endif
  };

#ifdef MTOP_HAVE_QUIC
  /// One worker's QUIC sockets a reload removed: stopped, kept until their last connection is
  /// gone. Touched only on that worker's loop.
  struct RetiredQuic {
    std::vector<std::unique_ptr<quic::QuicServer>> sockets;
    std::unique_ptr<io::Timer> timer;
    QuicMetrics reaped;  ///< totals of the sockets closed since (metrics_text)
  };
#endif

  /// Where a listener and its streams live: the loop, its engine and the worker's index.
  struct Slot {
    uv_loop_t* loop = nullptr;
    ServerEngine* engine = nullptr;
    unsigned index = 0;
#ifdef MTOP_HAVE_QUIC
    RetiredQuic* retired = nullptr;  ///< where this worker keeps its removed QUIC sockets
#endif
  };

  /// What a reload does to the listener set; the same for every worker, whose listener lists
  /// are parallel.
  struct ListenerChange {
    const std::vector<Endpoint>* endpoints = nullptr;  ///< the next listen addresses
    std::vector<std::optional<std::size_t>> kept;      ///< by next address: index in the current
    std::vector<bool> staying;                         ///< by current listener
    bool quic = false;                                 ///< the next config's `quic`
  };
  /// Workers 1 and up (config.workers): a loop on a thread of its own with its own engine
  /// and listeners (one per listen address, parallel to `listeners`), deciding with the
  /// others through `limits` and asking the user check through a RemoteUserCheck. Touched
  /// only on its thread (on_workers()).
  struct Worker {
    unsigned index = 0;
    std::unique_ptr<EventThread> thread;
    std::unique_ptr<io::LoopMailbox> mailbox;  ///< answers of store look-ups come back here
    std::unique_ptr<ServerEngine> engine;
    std::vector<Listener> listeners;
#ifdef MTOP_HAVE_QUIC
    RetiredQuic retired;
    Slot slot() {
      return {thread->loop(), engine.get(), index, &retired};
    }
#else
    Slot slot() {
      return {thread->loop(), engine.get(), index};
    }
#endif
  };

  uv_loop_t* loop = nullptr;
  ServerConfig config;
  unsigned worker_total = 1;  ///< worker_count(config.workers) at create()
  Logger log;
  bool custom_check = false;  ///< ServerHooks::user_check was given: config.users is unused
  std::vector<Endpoint> endpoints;
  std::shared_ptr<UserCheck> check;
  AccountSource* accounts = nullptr;  ///< check as the built-in store check, or null
  std::shared_ptr<tls::ServerContext> tls;
  std::string quic_secret;
  std::optional<AccessLogFile> access_log;                 ///< config.access_log_path, when set
  std::function<void(const TunnelRecord&)> on_tunnel_end;  ///< Server::on_tunnel_end
  std::shared_ptr<SharedLimits> limits;                    ///< shared by every worker's engine
  /// On this loop: user checks and tunnel records from the other workers.
  std::unique_ptr<io::LoopMailbox> mailbox;
  /// The fallback folder's web site (static_site.hpp), from the first config that names a
  /// folder on. A reload that removes the folder keeps it: visitors relayed to it before
  /// finish, and no new tunnel goes there; a later folder reuses it.
  std::unique_ptr<web::StaticSite> site;
  std::unique_ptr<ServerEngine> engine;  ///< worker 0's, on this loop
  // Declared after the engine: destroyed first, as they hand streams to it.
  std::vector<Listener> listeners;
  std::vector<std::unique_ptr<Worker>> workers;  ///< workers 1 and up; stopped first
#ifdef MTOP_HAVE_QUIC
  RetiredQuic retired;  ///< worker 0's
  /// The HTTP/3 site (the fallback backend, or the folder's loopback site) for QUIC
  /// connections that are not climbers: stored on this loop, read on every worker's.
  std::atomic<std::shared_ptr<const std::optional<quic::h3::SiteOptions>>> h3_site;
  /// Stores the site of `config` into h3_site.
  void publish_h3_site();
#endif
  std::unique_ptr<CertWatch> cert_watch;
  std::string cert_problem;  ///< the last unusable-files message logged by the watch
  bool started = false;

  std::function<Result<ServerConfig>()> config_source;  ///< set_config_source
  std::optional<Endpoint> admin_endpoint;               ///< config.admin.listen, parsed
  std::string admin_token;
  std::string metrics_token;
  // Declared last: destroyed first (its thread calls into the server through the loop).
  std::unique_ptr<AdminService> admin;

  ~Impl();
  Slot main_slot() {
#ifdef MTOP_HAVE_QUIC
    return {loop, engine.get(), 0, &retired};
#else
    return {loop, engine.get(), 0};
#endif
  }
  /// Runs `fn` on each of workers 1 and up, on its thread, one after the other; returns when
  /// all have run it.
  void on_workers(const std::function<void(Worker&)>& fn);
  Result<void> start_workers(const ServerConfig& c, Logger log);
  /// A worker's view of `check` (not null), for its engine.
  std::shared_ptr<UserCheck> worker_check(Worker& w, std::shared_ptr<UserCheck> shared) const;
  void deliver_record(const TunnelRecord& r);
  /// The options the engine runs with: `o`, with the static site's loopback address as the
  /// fallback backend when `o` names a folder.
  ServerOptions engine_options(const ServerOptions& o) const;
  /// Serves `folder` (when set): the running site from now on, or `fresh_site`, a new one.
  void use_site(std::optional<web::SiteFolder> folder, std::unique_ptr<web::StaticSite> fresh_site);
  void watch_tunnel_ends();
  void stop_accepting();
  /// One loop's part of Server::drain: `done` once its engine's tunnels and its QUIC
  /// listeners' HTTP/3 connections are over (each within `timeout_ms`).
  void drain_loop(ServerEngine& eng, std::vector<Listener>& ls, std::uint64_t timeout_ms,
                  std::function<void()> done);
  /// Binds TLS on `e`, and QUIC on the same port when c.quic (with `secret`), for `slot`'s
  /// worker.
  Result<Listener> listen_on(const Endpoint& e, const ServerConfig& c,
                             const std::shared_ptr<tls::ServerContext>& ctx,
                             const std::string& secret, Slot slot);
  /// listen_on() for every worker: worker 0 first (it gets the OS's port for port 0), then
  /// the others on the same port, in order (the QUIC steering numbers them so).
  Result<std::vector<Listener>> listen_everywhere(const Endpoint& e, const ServerConfig& c,
                                                  const std::shared_ptr<tls::ServerContext>& ctx,
                                                  const std::string& secret);
  /// The QUIC TLS contexts for `c` of workers 1 and up (by worker, then listener), made
  /// before anything changes; then use_worker_tls() switches them all.
#ifdef MTOP_HAVE_QUIC
  using WorkerQuicTls = std::vector<std::vector<std::shared_ptr<const quic::ServerTlsContext>>>;
#else
  using WorkerQuicTls = std::vector<int>;
#endif
  Result<WorkerQuicTls> prepare_worker_tls(const ServerConfig& c);
  void use_worker_tls(WorkerQuicTls& quic_tls, std::uint64_t handshake_timeout_ms);
#ifdef MTOP_HAVE_QUIC
  Result<std::unique_ptr<quic::QuicServer>> listen_quic(const Endpoint& e, std::uint16_t port,
                                                        const ServerConfig& c,
                                                        const std::string& secret, Slot slot);
  /// listen_quic() for every worker on `port`, in worker order (the steering numbers them so).
  Result<std::vector<std::unique_ptr<quic::QuicServer>>> listen_quic_everywhere(
      const Endpoint& e, std::uint16_t port, const ServerConfig& c, const std::string& secret);
  /// Stops the listener's QUIC socket; it stays open until its last connection is gone.
  void retire_quic(Listener& l, Slot slot);
  void reap_retired(Slot slot);
  /// Adds one worker's QUIC counts: its listeners, its removed sockets and those closed since.
  static void add_quic_of(QuicMetrics& into, const std::vector<Listener>& ls, const RetiredQuic& r);
#endif
  /// Stops the listener (TLS and QUIC); live tunnels through it go on.
  void retire(Listener& l, Slot slot);
  /// The commit of a reload's listener change on one worker, on its thread: kept listeners
  /// take their new endpoint (and gain or lose QUIC), the worker's share of `fresh` and
  /// `added_quic` is moved in, removed ones retire. Worker 0 also switches the TLS of what it
  /// keeps (`quic_tls`; the others did in use_worker_tls()), reports and logs.
#ifdef MTOP_HAVE_QUIC
  using QuicGroups = std::vector<std::vector<std::unique_ptr<quic::QuicServer>>>;
  using KeptQuicTls = std::vector<std::shared_ptr<const quic::ServerTlsContext>>;
#else
  using QuicGroups = std::vector<int>;
  using KeptQuicTls = std::vector<int>;
#endif
  void commit_listeners(std::vector<Listener>& current, const ListenerChange& change,
                        std::vector<std::vector<Listener>>& fresh, QuicGroups& added_quic,
                        const KeptQuicTls& quic_tls, std::uint64_t handshake_timeout_ms, Slot slot,
                        ReloadReport& report);
  /// Starts, restarts or stops the certificate watch to match `config`.
  void watch_certificates();
  void certificate_files_changed();
  Result<ReloadReport> reload(ServerConfig next);
  /// What POST /api/reload does: config_source's config applied as reload(next); without a
  /// source, the users file read again.
  Result<ReloadReport> reload_from_source();
  Result<void> read_admin_config(const AdminConfig& a);
  Result<void> start_admin(Server& server);
};

Server::Impl::~Impl() {
  cert_watch.reset();
  // The other workers first: their objects die on their threads, which are then joined; what
  // they posted here meanwhile (usage for the store) is run before the store is flushed.
  on_workers([](Worker& w) {
    w.listeners.clear();
#ifdef MTOP_HAVE_QUIC
    w.retired = {};
#endif
    w.engine.reset();
    w.mailbox.reset();
  });
  workers.clear();
  if (mailbox) mailbox->run_queued();
  listeners.clear();
#ifdef MTOP_HAVE_QUIC
  retired = {};
#endif
  engine.reset();
  if (accounts) accounts->account_store().flush();  // usage counted so far
}

ServerOptions Server::Impl::engine_options(const ServerOptions& o) const {
  ServerOptions out = o;
  if (!o.fallback_folder.empty() && site) {
    out.fallback = HostPort{"127.0.0.1", site->port()}.to_string();
  }
  return out;
}

/// The static site `folder` needs, started when none runs yet (a reload's prepare step: the
/// running server sees nothing of it). Errors: listen_failed.
Result<std::unique_ptr<web::StaticSite>> start_site_if_needed(
    const std::optional<web::SiteFolder>& folder, const web::StaticSite* running) {
  if (!folder || running) return std::unique_ptr<web::StaticSite>();
  return web::StaticSite::start(*folder, web::StaticSite::Options{});
}

void Server::Impl::use_site(std::optional<web::SiteFolder> folder,
                            std::unique_ptr<web::StaticSite> fresh_site) {
  if (!folder) return;
  const bool changed = fresh_site || site->folder() != folder->configured();
  if (fresh_site) {
    site = std::move(fresh_site);  // it serves `folder` already
  } else {
    site->set_folder(std::move(*folder));  // even under the same name: its real path may move
  }
  if (!changed) return;
  log.info("fallback folder " + site->folder() +
           " served on 127.0.0.1:" + std::to_string(site->port()) + " (HTTP/1.1, loopback only)");
}

void Server::Impl::on_workers(const std::function<void(Worker&)>& fn) {
  for (auto& w : workers) {
    if (w->thread) w->thread->call([&fn, &w] { fn(*w); });
  }
}

std::shared_ptr<UserCheck> Server::Impl::worker_check(Worker& w,
                                                      std::shared_ptr<UserCheck> shared) const {
  return make_remote_user_check(std::move(shared), mailbox->sender(), w.mailbox->sender());
}

Result<void> Server::Impl::start_workers(const ServerConfig& c, Logger worker_log) {
  for (unsigned i = 1; i < worker_total; ++i) {
    auto thread = EventThread::start();
    if (!thread) return thread.failure();
    auto w = std::make_unique<Worker>();
    w->index = i;
    w->thread = std::move(*thread);
    Result<void> made;
    w->thread->call([&] {
      auto box = io::LoopMailbox::open(w->thread->loop());
      if (!box) {
        made = box.failure();
        return;
      }
      w->mailbox = std::move(*box);
      auto eng = ServerEngine::create(w->thread->loop(), engine_options(c.engine),
                                      worker_check(*w, check), worker_log, limits);
      if (!eng) {
        made = eng.failure();
        return;
      }
      w->engine = std::move(*eng);
      w->engine->set_worker(i, worker_total);
      w->engine->count_user_bytes(c.admin.per_user_metrics);
    });
    workers.push_back(std::move(w));  // ~Impl frees it on its thread, made or not
    if (!made) return made;
  }
  return {};
}

void Server::Impl::stop_accepting() {
  auto stop = [](std::vector<Listener>& ls) {
    for (auto& l : ls) {
      if (l.tls) l.tls->stop();
#ifdef MTOP_HAVE_QUIC
      if (l.quic) l.quic->stop();
#endif
    }
  };
  stop(listeners);
  on_workers([&stop](Worker& w) { stop(w.listeners); });
}

Result<std::vector<Server::Impl::Listener>> Server::Impl::listen_everywhere(
    const Endpoint& e, const ServerConfig& c, const std::shared_ptr<tls::ServerContext>& ctx,
    const std::string& secret) {
  std::vector<Listener> out;
  auto first = listen_on(e, c, ctx, secret, main_slot());
  if (!first) return first.failure();
  Endpoint bound = e;
  bound.port = first->port;  // the others share the port the first one got
  out.push_back(std::move(*first));
  for (auto& w : workers) {
    Result<Listener> l = Failure{Errc::system_error, "worker thread stopped"};
    w->thread->call([&] { l = listen_on(bound, c, ctx, secret, w->slot()); });
    if (!l) {
      release_on_workers(out, workers);
      return l.failure();
    }
    l->endpoint = e;
    out.push_back(std::move(*l));
  }
  return out;
}

Result<Server::Impl::Listener> Server::Impl::listen_on(
    const Endpoint& e, const ServerConfig& c, const std::shared_ptr<tls::ServerContext>& ctx,
    [[maybe_unused]] const std::string& secret, Slot slot) {
  Listener out;
  out.endpoint = e;
  tls::TlsListenerOptions tls_options;
  tls_options.handshake_timeout_ms = c.engine.handshake_timeout_ms;
  tls_options.reuse_port = worker_total > 1;
  ServerEngine* eng = slot.engine;
  // Deny/allow_sources before any TLS or QUIC work on a connection.
  tls_options.admit = [eng](const sockaddr* peer) { return eng->admit_connection(peer); };
  // Every stream of this address counts under its bound name (the OS's port for port 0).
  auto name = std::make_shared<std::string>(e.text);
  auto listener = tls::TlsListener::create(
      slot.loop, ctx, e.host, e.port, tls_options,
      [eng, name](io::StreamPtr stream) { eng->serve(std::move(stream), "tls", *name); });
  if (!listener) return Failure{Errc::listen_failed, std::string(listener.message())};
  (*listener)->set_failure_hook([l = log](std::string_view peer, std::string_view reason) {
    l.debug("TLS handshake from " + std::string(peer) + " failed: " + std::string(reason));
  });
  out.port = (*listener)->port();
  *name = HostPort{e.host, out.port}.to_string();
  out.tls = std::move(*listener);
#ifdef MTOP_HAVE_QUIC
  if (c.quic) {
    // The same port number on UDP: the normal set-up.
    auto quic_server = listen_quic(e, out.port, c, secret, slot);
    if (!quic_server) return quic_server.failure();
    out.quic = std::move(*quic_server);
  }
#endif
  return out;
}

#ifdef MTOP_HAVE_QUIC
void Server::Impl::publish_h3_site() {
  const ServerOptions o = engine_options(config.engine);
  std::optional<quic::h3::SiteOptions> backend_site;
  if (auto backend = parse_host_port(o.fallback); !o.fallback.empty() && backend) {
    backend_site = quic::h3::SiteOptions{.backend_host = backend->host,
                                         .backend_port = backend->port,
                                         .connect_timeout_ms = o.connect_timeout_ms,
                                         .backend_timeout_ms = o.idle_timeout_ms};
  }
  h3_site.store(
      std::make_shared<const std::optional<quic::h3::SiteOptions>>(std::move(backend_site)));
}

Result<std::unique_ptr<quic::QuicServer>> Server::Impl::listen_quic(const Endpoint& e,
                                                                    std::uint16_t port,
                                                                    const ServerConfig& c,
                                                                    const std::string& secret,
                                                                    Slot slot) {
  if (worker_total > 1 && port != 0) {
    // A removed listener's sockets stay in the port's SO_REUSEPORT group until their
    // connections end; new ones would join behind them and the steering (which numbers the
    // group's sockets by worker) would send their clients to the old sockets. (One worker
    // binds without SO_REUSEPORT: there the bind itself fails.)
    for (const auto& old : slot.retired->sockets) {
      if (old->port() == port) {
        return Failure{Errc::listen_failed,
                       "QUIC on " + e.text + ": port " + std::to_string(port) +
                           " is still held by the connections of a removed listener (" +
                           std::to_string(old->connection_count()) +
                           "); reload again once they have ended"};
      }
    }
  }
  quic::QuicServerOptions q;
  q.host = e.host;
  q.port = port;
  q.tls = tls_config(c);
  q.limits.max_streams = c.quic_streams_per_connection;
  q.secret = secret;  // the same on every worker: any of them can check a Retry token
  q.worker = slot.index;
  q.workers = worker_total;
  ServerEngine* eng = slot.engine;
  q.admit = [eng](const sockaddr* peer) { return eng->admit_connection(peer); };
  // docs/PROTOCOL.md section 10: "h3" for climbers and browsers alike, "mtop/1" for old
  // climbers while quic_mtop_alpn is on; the HTTP/3 site is the fallback backend's.
  q.alpn = {std::string(quic::kAlpnH3)};
  if (c.quic_mtop_alpn) q.alpn.emplace_back(quic::kAlpn);
  const std::string name = HostPort{e.host, port}.to_string();
  q.on_h3_tunnel = [eng, name](io::StreamPtr stream, std::shared_ptr<io::StreamFallback> gate) {
    eng->serve(std::move(stream), "quic", name, std::move(gate));
  };
  // The site of now, read on this socket's worker thread: a reload's new backend serves
  // connections from then on.
  q.h3_site = [this]() -> std::optional<quic::h3::SiteOptions> {
    auto now = h3_site.load();
    return now ? *now : std::nullopt;
  };
  auto quic_server = quic::QuicServer::create(
      slot.loop, std::move(q),
      [eng, name](io::StreamPtr stream) { eng->serve(std::move(stream), "quic", name); });
  if (!quic_server) {
    return Failure{Errc::listen_failed,
                   "QUIC on " + e.text + ": " + std::string(quic_server.message())};
  }
  return std::move(*quic_server);
}

Result<std::vector<std::unique_ptr<quic::QuicServer>>> Server::Impl::listen_quic_everywhere(
    const Endpoint& e, std::uint16_t port, const ServerConfig& c, const std::string& secret) {
  std::vector<std::unique_ptr<quic::QuicServer>> out;
  auto first = listen_quic(e, port, c, secret, main_slot());
  if (!first) return first.failure();
  out.push_back(std::move(*first));
  for (auto& w : workers) {
    Result<std::unique_ptr<quic::QuicServer>> q =
        Failure{Errc::system_error, "worker thread stopped"};
    w->thread->call([&] { q = listen_quic(e, port, c, secret, w->slot()); });
    if (!q) {
      release_on_workers(out, workers);
      return q.failure();
    }
    out.push_back(std::move(*q));
  }
  return out;
}

void Server::Impl::add_quic_of(QuicMetrics& into, const std::vector<Listener>& ls,
                               const RetiredQuic& r) {
  into.connections_total += r.reaped.connections_total;
  into.streams_total += r.reaped.streams_total;
  for (const auto& l : ls) {
    if (l.quic) add_quic(into, *l.quic);
  }
  for (const auto& q : r.sockets) add_quic(into, *q);
}

void Server::Impl::retire_quic(Listener& l, Slot slot) {
  if (!l.quic) return;
  // The UDP socket carries the live connections: it stays until the last one is gone.
  l.quic->stop();
  l.quic->close_idle(quic::kNoError, "listener removed");
  if (slot.index == 0) {
    log.info("no longer accepting on " + HostPort{l.endpoint.host, l.port}.to_string() +
             " (QUIC over UDP); connection(s) with live tunnels finish first");
  }
  RetiredQuic& r = *slot.retired;
  r.sockets.push_back(std::move(l.quic));
  if (!r.timer) r.timer = std::make_unique<io::Timer>(slot.loop);
  if (!r.timer->active()) {
    r.timer->start(kRetiredQuicCheckMs, [this, slot] { reap_retired(slot); });
  }
}

void Server::Impl::reap_retired(Slot slot) {
  RetiredQuic& r = *slot.retired;
  for (auto it = r.sockets.begin(); it != r.sockets.end();) {
    (*it)->close_idle(quic::kNoError, "listener removed");
    if ((*it)->connection_count() == 0) {
      log.debug("QUIC socket on port " + std::to_string((*it)->port()) + " closed (worker " +
                std::to_string(slot.index) + ")");
      r.reaped.connections_total += (*it)->stats().accepted_connections;
      r.reaped.streams_total += (*it)->stats().streams;
      it = r.sockets.erase(it);
    } else {
      ++it;
    }
  }
  if (!r.sockets.empty()) {
    r.timer->start(kRetiredQuicCheckMs, [this, slot] { reap_retired(slot); });
  }
}
#endif

void Server::Impl::retire(Listener& l, [[maybe_unused]] Slot slot) {
  // Established TLS streams belong to the engine: closing the listening socket leaves them.
  l.tls.reset();
  if (slot.index == 0) {
    log.info("no longer listening on " + HostPort{l.endpoint.host, l.port}.to_string() +
             " (TLS over TCP); its live tunnels go on");
  }
#ifdef MTOP_HAVE_QUIC
  retire_quic(l, slot);
#endif
}

void Server::Impl::commit_listeners(std::vector<Listener>& current, const ListenerChange& change,
                                    std::vector<std::vector<Listener>>& fresh,
                                    [[maybe_unused]] QuicGroups& added_quic,
                                    [[maybe_unused]] const KeptQuicTls& quic_tls,
                                    std::uint64_t handshake_timeout_ms, Slot slot,
                                    ReloadReport& report) {
  const bool first = slot.index == 0;  // reports and logs for all workers
  std::vector<Listener> next_listeners;
  for (std::size_t i = 0; i < change.endpoints->size(); ++i) {
    if (change.kept[i]) {
      const std::size_t j = *change.kept[i];
      Listener& l = current[j];
      l.endpoint = (*change.endpoints)[i];
      if (first) l.tls->reconfigure(tls, handshake_timeout_ms);
#ifdef MTOP_HAVE_QUIC
      if (first && l.quic && change.quic) l.quic->use_tls(quic_tls[j]);
      if (l.quic && !change.quic) {
        if (first) {
          report.changed.push_back("listen -" + HostPort{l.endpoint.host, l.port}.to_string() +
                                   " (QUIC)");
        }
        retire_quic(l, slot);
      }
      if (!added_quic[j].empty()) {
        l.quic = std::move(added_quic[j][slot.index]);
        if (first) {
          report.changed.push_back("listen +" + HostPort{l.endpoint.host, l.port}.to_string() +
                                   " (QUIC)");
          log.info("listening on " + HostPort{l.endpoint.host, l.port}.to_string() +
                   " (QUIC over UDP)");
        }
      }
#endif
      next_listeners.push_back(std::move(l));
    } else {
      Listener& l = fresh[i][slot.index];
      if (first) {
        report.changed.push_back("listen +" + HostPort{l.endpoint.host, l.port}.to_string());
        log.info("listening on " + HostPort{l.endpoint.host, l.port}.to_string() +
                 (change.quic ? " (TLS over TCP and QUIC over UDP)" : " (TLS over TCP)"));
      }
      next_listeners.push_back(std::move(l));
    }
  }
  for (std::size_t j = 0; j < current.size(); ++j) {
    if (change.staying[j]) continue;
    if (first) {
      report.changed.push_back("listen -" +
                               HostPort{current[j].endpoint.host, current[j].port}.to_string());
    }
    retire(current[j], slot);
  }
  current = std::move(next_listeners);
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
  o.users = [this]() -> std::optional<UsersSource> {
    if (!accounts) return std::nullopt;
    return config.users;
  };
  o.config_json = [this] { return config_view(config).dump(2) + "\n"; };
  o.reload = [this] { return reload_from_source(); };
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
void Server::Impl::deliver_record(const TunnelRecord& r) {
  if (access_log) access_log->write(r);
  if (on_tunnel_end) on_tunnel_end(r);
}

void Server::Impl::watch_tunnel_ends() {
  const bool wanted = access_log || on_tunnel_end;
  engine->on_tunnel_end(wanted ? [this](const TunnelRecord& r) { deliver_record(r); }
                               : std::function<void(const TunnelRecord&)>());
  // The other workers' records are written here, on this loop, in the order they arrive.
  on_workers([this, wanted](Worker& w) {
    if (!wanted) {
      w.engine->on_tunnel_end(nullptr);
      return;
    }
    w.engine->on_tunnel_end([this, main = mailbox->sender()](const TunnelRecord& r) {
      main.post([this, r] { deliver_record(r); });
    });
  });
}

Result<Server::Impl::WorkerQuicTls> Server::Impl::prepare_worker_tls(
    [[maybe_unused]] const ServerConfig& c) {
  WorkerQuicTls out(workers.size());
#ifdef MTOP_HAVE_QUIC
  Result<void> made;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    workers[i]->thread->call([&, i] {
      for (auto& l : workers[i]->listeners) {
        if (!l.quic) continue;
        auto q = l.quic->make_tls(tls_config(c));
        if (!q) {
          made = Failure{Errc::tls_setup_failed, "TLS (QUIC): " + std::string(q.message())};
          return;
        }
        out[i].push_back(std::move(*q));
      }
    });
    if (!made) return made.failure();
  }
#endif
  return out;
}

void Server::Impl::use_worker_tls([[maybe_unused]] WorkerQuicTls& quic_tls,
                                  std::uint64_t handshake_timeout_ms) {
  for (std::size_t i = 0; i < workers.size(); ++i) {
    workers[i]->thread->call([&, i] {
      std::size_t next_quic = 0;
      for (auto& l : workers[i]->listeners) {
        if (l.tls) l.tls->reconfigure(tls, handshake_timeout_ms);
#ifdef MTOP_HAVE_QUIC
        if (l.quic) l.quic->use_tls(quic_tls[i][next_quic++]);
#endif
      }
    });
  }
}

void Server::Impl::watch_certificates() {
  if (config.cert_watch_ms == 0) {
    cert_watch.reset();
    return;
  }
  if (cert_watch && cert_watch->interval_ms() == config.cert_watch_ms) {
    std::vector<std::string> want{config.cert_file, config.key_file};
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    if (want == cert_watch->paths()) return;
  }
  cert_watch.reset();
  auto w = CertWatch::start(loop, {config.cert_file, config.key_file}, config.cert_watch_ms,
                            [this] { certificate_files_changed(); });
  if (!w) {
    log.warn("certificate files not watched (" + std::string(w.message()) +
             "): a renewed certificate needs a reload");
    return;
  }
  cert_watch = std::move(*w);
}

void Server::Impl::certificate_files_changed() {
  // Both files must parse and the key must match the certificate; a pair caught half-written
  // fails here and is tried again on the next change. Each distinct problem is logged once.
  auto fresh = load_tls(config);
#ifdef MTOP_HAVE_QUIC
  std::vector<std::shared_ptr<const quic::ServerTlsContext>> quic_tls;
  for (auto& l : listeners) {
    if (!fresh) break;
    if (!l.quic) continue;
    auto q = l.quic->make_tls(tls_config(config));
    if (!q) {
      fresh = q.failure();
      break;
    }
    quic_tls.push_back(std::move(*q));
  }
#endif
  WorkerQuicTls worker_tls;
  if (fresh) {
    auto w = prepare_worker_tls(config);
    if (w) {
      worker_tls = std::move(*w);
    } else {
      fresh = w.failure();
    }
  }
  if (!fresh) {
    const std::string problem(fresh.message());
    if (problem != cert_problem) {
      cert_problem = problem;
      log.warn("certificate files changed but cannot be used (" + problem +
               "); the current certificate stays; trying again at the next change");
    }
    return;
  }
  cert_problem.clear();
  if ((*fresh)->certificate_fingerprint() == tls->certificate_fingerprint()) {
    log.debug("certificate files changed; the certificate is the same");
  }
  tls = std::move(*fresh);
  std::size_t next_quic = 0;
  for (auto& l : listeners) {
    if (l.tls) l.tls->reconfigure(tls, config.engine.handshake_timeout_ms);
#ifdef MTOP_HAVE_QUIC
    if (l.quic) l.quic->use_tls(quic_tls[next_quic++]);
#endif
  }
  (void)next_quic;
  use_worker_tls(worker_tls, config.engine.handshake_timeout_ms);
  log.info("certificate reloaded from disk: " + tls->certificate_summary());
}

Result<std::unique_ptr<Server>> Server::create(uv_loop_t* loop, ServerConfig config,
                                               ServerHooks hooks) {
  if (!loop) return Result<std::unique_ptr<Server>>(Errc::invalid_argument, "no loop");
  auto impl = std::make_unique<Impl>();
  impl->loop = loop;
  impl->log = std::move(hooks.log);
  const Logger& log = impl->log;

  auto endpoints = check_config(config);
  if (!endpoints) return endpoints.failure();
  impl->endpoints = std::move(*endpoints);
  auto tls = load_tls(config);
  if (!tls) return tls.failure();
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
    impl->custom_check = true;
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
  log_allowed_targets(log, config.engine);
  if (!config.access_log_path.empty()) {
    auto file = AccessLogFile::open(config.access_log_path, config.access_log_format);
    if (!file) return file.failure();
    impl->access_log.emplace(std::move(*file));
  }
  if (auto r = impl->read_admin_config(config.admin); !r) return r.failure();
  auto folder = open_fallback_folder(config.engine);
  if (!folder) return folder.failure();
  auto site = start_site_if_needed(*folder, nullptr);
  if (!site) return site.failure();
  impl->use_site(std::move(*folder), std::move(*site));
  impl->worker_total = worker_count(config.workers);
  impl->limits = std::make_shared<SharedLimits>(config.engine);
  auto mailbox = io::LoopMailbox::open(loop);
  if (!mailbox) return mailbox.failure();
  impl->mailbox = std::move(*mailbox);
  auto engine = ServerEngine::create(loop, impl->engine_options(config.engine), impl->check, log,
                                     impl->limits);
  if (!engine) return engine.failure();
  impl->engine = std::move(*engine);
  impl->engine->set_worker(0, impl->worker_total);
  impl->engine->count_user_bytes(config.admin.per_user_metrics);
  if (auto r = impl->start_workers(config, log); !r) {
    return Result<std::unique_ptr<Server>>(r.error(), "workers: " + std::string(r.message()));
  }
  impl->watch_tunnel_ends();
  impl->config = std::move(config);
#ifdef MTOP_HAVE_QUIC
  impl->publish_h3_site();
#endif
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<void> Server::start() {
  if (impl_->started) return Result<void>(Errc::invalid_state, "start() was called already");
  impl_->started = true;
  auto unbind = [this] {  // on failure nothing stays bound
    impl_->admin.reset();
    impl_->listeners.clear();
  };
  auto unbind_workers = [this] { impl_->on_workers([](Impl::Worker& w) { w.listeners.clear(); }); };
  for (const auto& e : impl_->endpoints) {
    auto ls = impl_->listen_everywhere(e, impl_->config, impl_->tls, impl_->quic_secret);
    if (!ls) {
      unbind_workers();
      unbind();
      return ls.failure();
    }
    impl_->listeners.push_back(std::move(ls->front()));
    for (std::size_t i = 1; i < ls->size(); ++i) {
      impl_->workers[i - 1]->thread->call(
          [&w = *impl_->workers[i - 1], &l = (*ls)[i]] { w.listeners.push_back(std::move(l)); });
    }
  }
  for (const auto& info : listening()) {
    impl_->log.info("listening on " + HostPort{info.host, info.port}.to_string() +
                    (info.quic ? " (QUIC over UDP)" : " (TLS over TCP)"));
  }
  if (auto r = impl_->start_admin(*this); !r) {
    unbind_workers();
    unbind();
    return r;
  }
  if (impl_->worker_total > 1) {
    impl_->log.info(std::to_string(impl_->worker_total) +
                    " workers, each with its own loop and listeners (SO_REUSEPORT)");
  }
  const ServerOptions& o = impl_->config.engine;
  std::string mode = o.reply_status ? "reply with a status on failure"
                                    : "stealth (close without a status on failure)";
  if (!o.fallback.empty() || !o.fallback_folder.empty()) {
    const std::string site =
        o.fallback.empty() ? "the static site of " + o.fallback_folder : o.fallback;
    mode = "fallback: TLS connections that are not authenticated climbers go to " + site +
           (impl_->config.quic ? " (QUIC: an HTTP/3 site in front of it)" : "") + "; otherwise " +
           mode;
  }
  impl_->log.info("mode: " + mode);
  if (!o.fixed_target.empty()) {
    impl_->log.info("every authorised tunnel goes to " + o.fixed_target + " (fixed target)");
  }
  impl_->log.info("certificate: " + impl_->tls->certificate_summary());
  impl_->watch_certificates();
  return {};
}

std::vector<ListenInfo> Server::listening() const {
  std::vector<ListenInfo> out;
  for (const auto& l : impl_->listeners) {
    out.push_back(ListenInfo{l.endpoint.host, l.port, false});
#ifdef MTOP_HAVE_QUIC
    if (l.quic) out.push_back(ListenInfo{l.endpoint.host, l.port, true});
#endif
  }
  return out;
}

void Server::drain(std::function<void()> done) {
  impl_->stop_accepting();
  impl_->cert_watch.reset();
  // `done` once every worker has drained; the count runs on this loop.
  auto left = std::make_shared<std::size_t>(impl_->workers.size() + 1);
  auto finished = [left, done = std::move(done)] {
    if (--*left == 0 && done) done();
  };
  const std::uint64_t timeout_ms = impl_->config.engine.drain_timeout_ms;
  impl_->drain_loop(*impl_->engine, impl_->listeners, timeout_ms, finished);
  impl_->on_workers(
      [this, timeout_ms, &finished, main = impl_->mailbox->sender()](Impl::Worker& w) {
        impl_->drain_loop(*w.engine, w.listeners, timeout_ms,
                          [main, finished] { main.post(finished); });
      });
}

void Server::Impl::drain_loop(ServerEngine& eng, std::vector<Listener>& ls,
                              std::uint64_t timeout_ms, std::function<void()> done) {
  // Its tunnels, and its QUIC listeners' HTTP/3 connections (GOAWAY was sent when they
  // stopped accepting; their requests finish within the same time-out).
  auto left = std::make_shared<std::size_t>(1);
  auto part = [left, done = std::move(done)] {
    if (--*left == 0 && done) done();
  };
#ifdef MTOP_HAVE_QUIC
  for (auto& l : ls) {
    if (!l.quic) continue;
    ++*left;
    l.quic->when_http3_done(timeout_ms, part);
  }
#else
  (void)ls;
  (void)timeout_ms;
#endif
  eng.drain(part);
}

void Server::stop() {
  impl_->stop_accepting();
  impl_->cert_watch.reset();
  impl_->engine->stop();
  impl_->on_workers([](Impl::Worker& w) { w.engine->stop(); });
}

Result<void> Server::reload() {
  if (!impl_->accounts) return {};  // a custom check reloads by itself
  return impl_->accounts->reload();
}

Result<ReloadReport> Server::reload(ServerConfig next) {
  return impl_->reload(std::move(next));
}

void Server::set_config_source(std::function<Result<ServerConfig>()> source) {
  impl_->config_source = std::move(source);
}

Result<ReloadReport> Server::Impl::reload_from_source() {
  if (!config_source) {
    if (accounts) {
      if (auto r = accounts->reload(); !r) return r.failure();
    }
    ReloadReport report;
    if (accounts) report.changed.emplace_back("users (read again)");
    return report;
  }
  auto next = config_source();
  if (!next) return next.failure();
  return reload(std::move(*next));
}

Result<ReloadReport> Server::Impl::reload(ServerConfig next) {
  if (engine->draining()) return Failure{Errc::invalid_state, "the server is draining"};
  ReloadReport report;
  if (worker_count(next.workers) != worker_total) {
    report.warnings.push_back("workers: applies at the next start; " +
                              std::to_string(worker_total) + " running");
    next.workers = config.workers;
  }
  // --- prepare: everything that can fail, nothing that the running server sees ------------
  auto next_endpoints = check_config(next);
  if (!next_endpoints) return next_endpoints.failure();
  auto next_tls = load_tls(next);
  if (!next_tls) return next_tls.failure();
  const ServerConfig& cur = config;
  if ((*next_tls)->certificate_fingerprint() != tls->certificate_fingerprint() ||
      next.cert_file != cur.cert_file || next.key_file != cur.key_file) {
    report.changed.emplace_back("certificate");
  }
  if (next.tls_groups != cur.tls_groups) report.changed.emplace_back("tls_groups");

  // Which listeners stay (the same address; QUIC is added or removed on them as `quic` says)
  // and which are new: the same for every worker.
  ListenerChange change;
  change.endpoints = &*next_endpoints;
  change.quic = next.quic;
  change.kept.resize(next_endpoints->size());
  change.staying.assign(listeners.size(), false);
  auto& kept = change.kept;
  auto& staying = change.staying;
  for (std::size_t i = 0; i < next_endpoints->size(); ++i) {
    for (std::size_t j = 0; j < listeners.size(); ++j) {
      if (!staying[j] && listeners[j].endpoint.same_address((*next_endpoints)[i])) {
        kept[i] = j;
        staying[j] = true;
        break;
      }
    }
  }
  // What is bound below, one per worker (index = worker); whatever a failed reload bound is
  // freed on its worker's thread (after the commit these hold only moved-from husks).
  std::vector<std::vector<Listener>> fresh(next_endpoints->size());
  QuicGroups added_quic(listeners.size());
  ScopeExit release_bound([this, &fresh, &added_quic] {
    for (auto& group : fresh) release_on_workers(group, workers);
#ifdef MTOP_HAVE_QUIC
    for (auto& group : added_quic) release_on_workers(group, workers);
#endif
  });
  KeptQuicTls quic_tls(listeners.size());
#ifdef MTOP_HAVE_QUIC
  for (std::size_t j = 0; j < listeners.size(); ++j) {
    if (!staying[j] || !listeners[j].quic) continue;
    auto q = listeners[j].quic->make_tls(tls_config(next));
    if (!q) return Failure{Errc::tls_setup_failed, "TLS (QUIC): " + std::string(q.message())};
    quic_tls[j] = std::move(*q);
  }
  // The secret stays what it was (a new key file changes it at the next restart): live
  // connections' stateless-reset tokens and tickets were made with it.
  std::string next_secret = quic_secret;
  if (next.quic && next_secret.empty()) {
    auto secret = quic_secret_from_key_file(next.key_file);
    if (!secret) return Failure{secret.error(), "QUIC: " + std::string(secret.message())};
    next_secret = std::move(*secret);
  }
  // QUIC switched on: the kept addresses get their UDP sockets now, one per worker.
  for (std::size_t j = 0; j < listeners.size() && started && next.quic; ++j) {
    if (!staying[j] || listeners[j].quic) continue;
    auto q = listen_quic_everywhere(listeners[j].endpoint, listeners[j].port, next, next_secret);
    if (!q) return q.failure();
    added_quic[j] = std::move(*q);
  }
  if (next.quic_streams_per_connection != cur.quic_streams_per_connection) {
    bool quic_kept = false;
    for (std::size_t j = 0; j < listeners.size(); ++j) quic_kept |= staying[j] && listeners[j].quic;
    if (quic_kept) {
      report.warnings.emplace_back(
          "quic_streams_per_connection applies to QUIC listeners bound from now on; the "
          "running ones keep " +
          std::to_string(cur.quic_streams_per_connection));
    }
  }
#else
  if (next.quic && !cur.quic) log.warn("built without QUIC support: serving TLS over TCP only");
#endif

  auto worker_tls = prepare_worker_tls(next);
  if (!worker_tls) return worker_tls.failure();

  std::shared_ptr<UserCheck> next_check;
  if (!custom_check && !same_user_check(cur, next)) {
    auto opened = open_user_check(loop, next.users, next.engine, log);
    if (!opened) return Failure{opened.error(), "users: " + std::string(opened.message())};
    next_check = std::move(*opened);
    report.changed.emplace_back("users source");
  } else if (custom_check && !(next.users == cur.users)) {
    report.warnings.emplace_back("users: ignored, the program decides users (its user check)");
  }

  std::optional<AccessLogFile> next_access_log;
  const bool access_log_changed = next.access_log_path != cur.access_log_path ||
                                  next.access_log_format != cur.access_log_format;
  if (access_log_changed && !next.access_log_path.empty()) {
    auto file = AccessLogFile::open(next.access_log_path, next.access_log_format);
    if (!file) return file.failure();
    next_access_log.emplace(std::move(*file));
  }

  auto next_folder = open_fallback_folder(next.engine);
  if (!next_folder) return next_folder.failure();
  auto started_site = start_site_if_needed(*next_folder, site.get());
  if (!started_site) return started_site.failure();

  // New addresses are bound now, on every worker (undone by release_bound if a later step
  // fails).
  for (std::size_t i = 0; i < next_endpoints->size() && started; ++i) {
    if (kept[i]) continue;
#ifdef MTOP_HAVE_QUIC
    auto l = listen_everywhere((*next_endpoints)[i], next, *next_tls, next_secret);
#else
    auto l = listen_everywhere((*next_endpoints)[i], next, *next_tls, quic_secret);
#endif
    if (!l) return l.failure();
    fresh[i] = std::move(*l);
  }

  // The users file is read last: it is the one step that changes state as it succeeds.
  if (!next_check && !custom_check && accounts) {
    if (auto r = accounts->reload(); !r) {
      return Failure{r.error(), "users: " + std::string(r.message())};
    }
  }

  // --- commit: nothing below fails -------------------------------------------------------
#ifdef MTOP_HAVE_QUIC
  quic_secret = std::move(next_secret);
#endif
  tls = std::move(*next_tls);
  use_worker_tls(*worker_tls, next.engine.handshake_timeout_ms);
  if (started) {
    const std::uint64_t timeout = next.engine.handshake_timeout_ms;
    commit_listeners(listeners, change, fresh, added_quic, quic_tls, timeout, main_slot(), report);
    on_workers([&](Worker& w) {
      commit_listeners(w.listeners, change, fresh, added_quic, quic_tls, timeout, w.slot(), report);
    });
  }
  endpoints = std::move(*next_endpoints);

  use_site(std::move(*next_folder), std::move(*started_site));
  if (!(next.engine == cur.engine)) {
    report.changed.emplace_back(next.engine.allow_targets == cur.engine.allow_targets
                                    ? "engine options"
                                    : "engine options (allow_targets)");
    log_allowed_targets(log, next.engine);
    // Cannot fail: check_config() ran the same admission checks above.
    if (auto r = engine->set_options(engine_options(next.engine)); !r) {
      log.error(std::string(r.message()));
    }
    on_workers([this, &next](Worker& w) {
      if (auto r = w.engine->set_options(engine_options(next.engine)); !r) {
        log.error(std::string(r.message()));
      }
    });
  }
  if (next_check) {
    if (accounts) accounts->account_store().flush();
    check = std::move(next_check);
    accounts = dynamic_cast<AccountSource*>(check.get());
    engine->set_check(check);
    on_workers([this](Worker& w) { w.engine->set_check(worker_check(w, check)); });
    if (accounts) {
      log.info("users from " + std::string(accounts->account_store().kind()) + " store");
    }
  }
  if (access_log_changed) {
    access_log = std::move(next_access_log);
    watch_tunnel_ends();
    report.changed.emplace_back("access_log");
  }
  if (next.log_level != cur.log_level) {
    log.set_level(next.log_level);
    report.changed.push_back("log_level " + std::string(log_level_name(next.log_level)));
  }
  const bool rewatch = next.cert_watch_ms != cur.cert_watch_ms || next.cert_file != cur.cert_file ||
                       next.key_file != cur.key_file;
  if (next.cert_watch_ms != cur.cert_watch_ms) report.changed.emplace_back("cert_watch");
  config = std::move(next);
#ifdef MTOP_HAVE_QUIC
  publish_h3_site();
#endif
  cert_problem.clear();
  if (rewatch && started) watch_certificates();
  if (!report.changed.empty() && report.changed.front() == "certificate") {
    log.info("certificate: " + tls->certificate_summary());
  }
  return report;
}

const ServerConfig& Server::config() const noexcept {
  return impl_->config;
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
  std::size_t n = impl_->engine->revoke_user(user);
  impl_->on_workers([&n, user](Impl::Worker& w) { n += w.engine->revoke_user(user); });
  return n;
}

bool Server::close_tunnel(std::uint64_t id) {
  // Tunnel numbers name their worker (ServerEngine::set_worker).
  const std::uint64_t owner = id == 0 ? 0 : (id - 1) % impl_->worker_total;
  if (owner == 0) return impl_->engine->close_tunnel(id);
  bool closed = false;
  impl_->workers[owner - 1]->thread->call(
      [&closed, &w = *impl_->workers[owner - 1], id] { closed = w.engine->close_tunnel(id); });
  return closed;
}

std::vector<LiveTunnel> Server::tunnels() const {
  std::vector<LiveTunnel> out = impl_->engine->live_tunnels();
  if (impl_->workers.empty()) return out;
  impl_->on_workers([&out](Impl::Worker& w) {
    auto more = w.engine->live_tunnels();
    out.insert(out.end(), std::make_move_iterator(more.begin()),
               std::make_move_iterator(more.end()));
  });
  // Oldest first across the workers (numbers interleave).
  std::stable_sort(out.begin(), out.end(), [](const LiveTunnel& a, const LiveTunnel& b) {
    return a.age_ms != b.age_ms ? a.age_ms > b.age_ms : a.id < b.id;
  });
  return out;
}

std::string Server::metrics_text() const {
  MetricsSnapshot m;
  m.stats = stats();
  m.engine = impl_->engine->metrics();
  const ServerStats first = impl_->engine->stats();
  m.workers.push_back({first.total, first.live});
  if (impl_->accounts) {
    m.has_store = true;
    m.store = impl_->accounts->counters();
  }
#ifdef MTOP_HAVE_QUIC
  if (impl_->config.quic) {
    m.has_quic = true;
    Impl::add_quic_of(m.quic, impl_->listeners, impl_->retired);
  }
#endif
  impl_->on_workers([&m](Impl::Worker& w) {
    const ServerStats s = w.engine->stats();
    m.workers.push_back({s.total, s.live});
    m.engine.merge(w.engine->metrics());
#ifdef MTOP_HAVE_QUIC
    Impl::add_quic_of(m.quic, w.listeners, w.retired);
#endif
  });
  return format_metrics(m);
}

std::uint16_t Server::admin_port() const noexcept {
  return impl_->admin ? impl_->admin->port() : 0;
}

ServerStats Server::stats() const {
  ServerStats s = impl_->engine->stats();
  impl_->on_workers([&s](Impl::Worker& w) { add_worker_stats(s, w.engine->stats()); });
  return s;
}

bool Server::draining() const noexcept {
  return impl_->engine->draining();
}

std::string reload_summary(const ReloadReport& report) {
  std::string out;
  for (const auto& c : report.changed) out += (out.empty() ? "" : ", ") + c;
  if (out.empty()) out = "nothing changed";
  for (const auto& w : report.warnings) out += "; not applied: " + w;
  return out;
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
