#include "run_server.hpp"

#include <uv.h>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "auth/users_file_store.hpp"
#include "engine/server_engine.hpp"
#include "store_factory.hpp"
#include "tls/context.hpp"
#include "tls/listener.hpp"
#include "uv/fd_limit.hpp"
#include "uv/handle.hpp"
#include "engine/server_uri.hpp"
#ifdef MTOP_HAVE_QUIC
#include "quic/server.hpp"
#include "quic_secret.hpp"
#endif

namespace mtop::server {

namespace {

// Everything one running server owns, torn down in reverse order on the loop.
struct Server {
  uv_loop_t loop{};
  Logger log;
  std::unique_ptr<auth::UserStore> store;
  std::unique_ptr<ServerEngine> engine;
  std::vector<std::unique_ptr<io::StreamAcceptor>> acceptors;
  io::UvHandle<uv_signal_t> sigint, sigterm, sighup;
  io::UvHandle<uv_timer_t> stats_timer;
  bool draining = false;
  int exit_code = 0;

  void stop_accepting() {
    for (auto& a : acceptors) a->stop();
  }
};

void on_stop_signal(uv_signal_t* handle, int signum) {
  auto* s = static_cast<Server*>(handle->data);
  if (s->draining) {
    s->log.warn("second signal: closing every tunnel now");
    uv_stop(&s->loop);
    return;
  }
  s->draining = true;
  s->log.info(std::string("received ") + (signum == SIGINT ? "SIGINT" : "SIGTERM") +
              ": not accepting new tunnels; draining live ones (send again to stop at once)");
  s->stop_accepting();
  s->engine->drain([s] {
    s->log.info("drained; exiting");
    uv_stop(&s->loop);
  });
}

void on_hup(uv_signal_t* handle, int) {
  auto* s = static_cast<Server*>(handle->data);
  if (auto* file = dynamic_cast<auth::UsersFileStore*>(s->store.get())) {
    std::string error;
    if (file->reload(error)) {
      s->log.info("SIGHUP: users file reloaded");
    } else {
      s->log.error("SIGHUP: users file not reloaded, keeping the old users: " + error);
    }
  } else {
    s->log.info("SIGHUP: nothing to reload (database stores follow changes by themselves)");
  }
}

bool watch_signal(Server& s, io::UvHandle<uv_signal_t>& h, int signum, uv_signal_cb cb) {
  h = io::UvHandle<uv_signal_t>::make();
  if (uv_signal_init(&s.loop, h.get()) != 0) {
    h.release_uninitialised();
    return false;
  }
  h->data = &s;
  return uv_signal_start(h.get(), cb, signum) == 0;
}

bool start_listeners(Server& s, const ServerConfig& config) {
  std::string error;
  auto tls_ctx = tls::ServerContext::create(
      tls::TlsServerConfig{config.cert_file, config.key_file}, &error);
  if (!tls_ctx) {
    s.log.error("TLS: " + error);
    return false;
  }
  tls::TlsListenerOptions tls_options;
  tls_options.handshake_timeout_ms = config.engine.handshake_timeout_ms;
  ServerEngine* engine = s.engine.get();
  for (const auto& listen : config.listen) {
    std::string host;
    std::uint16_t port = 0;
    parse_host_port(listen, host, port);  // validated when the config was loaded
    auto listener = tls::TlsListener::create(
        &s.loop, tls_ctx, host, port, tls_options,
        [engine](io::StreamPtr stream) { engine->serve(std::move(stream)); }, &error);
    if (!listener) {
      s.log.error(error);
      return false;
    }
    Logger* log = &s.log;
    listener->set_failure_hook([log](std::string_view peer, std::string_view reason) {
      log->debug("TLS handshake from " + std::string(peer) + " failed: " + std::string(reason));
    });
    const std::uint16_t bound = listener->port();
    s.log.info("listening on " + listener->local_name() + " (TLS over TCP)");
    s.acceptors.push_back(std::move(listener));
#ifdef MTOP_HAVE_QUIC
    if (config.quic) {
      quic::QuicServerOptions q;
      q.host = host;
      q.port = bound;  // the same port number on UDP: the normal set-up
      q.tls.cert_file = config.cert_file;
      q.tls.key_file = config.key_file;
      q.limits.max_streams = config.quic_streams_per_connection;
      // Stable across restarts, so climbers recognise our stateless resets (quic_secret.hpp).
      q.secret = quic_secret_from_key_file(config.key_file, error);
      if (q.secret.empty()) {
        s.log.error(std::string("QUIC on ").append(listen).append(": ").append(error));
        return false;
      }
      auto quic_server = quic::QuicServer::create(
          &s.loop, std::move(q), [engine](io::StreamPtr stream) { engine->serve(std::move(stream)); },
          error);
      if (!quic_server) {
        s.log.error(std::string("QUIC on ").append(listen).append(": ").append(error));
        return false;
      }
      s.log.info("listening on " + listen.substr(0, listen.rfind(':')) + ":" +
                 std::to_string(bound) + " (QUIC over UDP)");
      s.acceptors.push_back(std::move(quic_server));
    }
#else
    (void)bound;
    if (config.quic) s.log.warn("built without QUIC support: serving TLS over TCP only");
#endif
  }
  return true;
}

}  // namespace

int run_server(const ServerConfig& config) {
  // Writes to a peer that went away must return EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  auto s = std::make_unique<Server>();
  s->log = Logger(config.log_level, stderr_sink());
  // A tunnel holds two descriptors here (client side, target): the usual soft limit of 1024
  // would cap the server at a few hundred tunnels long before limits.max_tunnels.
  const std::uint64_t fds = io::raise_fd_limit();
  if (fds < 2 * static_cast<std::uint64_t>(config.engine.max_tunnels) + 64) {
    s->log.warn("open file limit " + std::to_string(fds) + " is below the " +
                std::to_string(2 * config.engine.max_tunnels + 64) + " that limits.max_tunnels " +
                std::to_string(config.engine.max_tunnels) +
                " can need (raise the hard limit, e.g. LimitNOFILE=)");
  }
  if (uv_loop_init(&s->loop) != 0) {
    s->log.error("cannot start the event loop");
    return 1;
  }
  std::string error;
  s->store = open_user_store(&s->loop, config.users, s->log, error);
  if (!s->store) {
    s->log.error("users: " + error);
    s->exit_code = 1;
  } else {
    s->log.info("users from " + std::string(s->store->kind()) + " store");
    s->engine = std::make_unique<ServerEngine>(&s->loop, config.engine, *s->store, s->log);
    if (!config.engine.allow_targets.empty()) {
      std::string allowed;
      for (const auto& c : config.engine.allow_targets) allowed += (allowed.empty() ? "" : ", ") + c;
      s->log.warn("targets in " + allowed + " are allowed despite the private-address policy");
    }
    if (!start_listeners(*s, config) || !watch_signal(*s, s->sigint, SIGINT, on_stop_signal) ||
        !watch_signal(*s, s->sigterm, SIGTERM, on_stop_signal) ||
        !watch_signal(*s, s->sighup, SIGHUP, on_hup)) {
      s->exit_code = 1;
    } else {
      s->log.info(std::string("mode: ") +
                  (config.engine.reply_status ? "reply with a status on failure"
                                              : "stealth (close without a status on failure)"));
      uv_run(&s->loop, UV_RUN_DEFAULT);
    }
  }
  // Tear down on the loop so every handle's close callback runs before the loop is closed.
  s->acceptors.clear();
  s->engine.reset();
  if (s->store) s->store->flush();
  s->store.reset();
  s->sigint.reset();
  s->sigterm.reset();
  s->sighup.reset();
  for (int i = 0; i < 100 && uv_loop_alive(&s->loop); ++i) uv_run(&s->loop, UV_RUN_NOWAIT);
  uv_walk(&s->loop, [](uv_handle_t* h, void*) { if (!uv_is_closing(h)) uv_close(h, nullptr); },
          nullptr);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  uv_loop_close(&s->loop);
  return s->exit_code;
}

}  // namespace mtop::server
