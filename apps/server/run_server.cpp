#include "run_server.hpp"

#include <uv.h>

#include <csignal>
#include <memory>
#include <string>

#include "mtop/fd_limit.hpp"
#include "mtop/log.hpp"
#include "service_notify.hpp"

namespace mtop::server {

namespace {

// The process around one mtop::Server: its loop and the signals that steer it.
struct Process {
  uv_loop_t loop{};
  Logger log;
  bool reload_file = false;  ///< SIGHUP re-reads the users file (other stores follow by themselves)
  std::unique_ptr<Server> server;
  uv_signal_t sigint{}, sigterm{}, sighup{};
  int signals = 0;  ///< how many of the handles above were initialised
  bool draining = false;
};

void on_stop_signal(uv_signal_t* handle, int signum) {
  auto* p = static_cast<Process*>(handle->data);
  if (p->draining) {
    p->log.warn("second signal: closing every tunnel now");
    p->server->stop();
    uv_stop(&p->loop);
    return;
  }
  p->draining = true;
  app::notify_stopping("draining live tunnels");
  p->log.info(std::string("received ") + (signum == SIGINT ? "SIGINT" : "SIGTERM") +
              ": not accepting new tunnels; draining live ones (send again to stop at once)");
  p->server->drain([p] {
    p->log.info("drained; exiting");
    uv_stop(&p->loop);
  });
}

void on_hup(uv_signal_t* handle, int) {
  auto* p = static_cast<Process*>(handle->data);
  app::notify_reloading();
  // logrotate moves the access log aside and sends SIGHUP: new lines go to a new file.
  if (auto r = p->server->reopen_access_log(); !r) p->log.error(std::string(r.message()));
  if (!p->reload_file) {
    p->log.info("SIGHUP: nothing to reload (database stores follow changes by themselves)");
  } else if (auto r = p->server->reload(); r) {
    p->log.info("SIGHUP: users file reloaded");
  } else {
    p->log.error("SIGHUP: users file not reloaded, keeping the old users: " +
                 std::string(r.message()));
  }
  app::notify_ready("serving");
}

bool watch_signal(Process& p, uv_signal_t& h, int signum, uv_signal_cb cb) {
  if (uv_signal_init(&p.loop, &h) != 0) return false;
  ++p.signals;
  h.data = &p;
  return uv_signal_start(&h, cb, signum) == 0;
}

}  // namespace

int run_server(const ServerConfig& config) {
  // Writes to a peer that went away must return EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  auto p = std::make_unique<Process>();
  p->log = Logger(config.log_level, stderr_sink());
  p->reload_file = config.users.type == "file";
  // A tunnel holds two descriptors here (client side, target): the usual soft limit of 1024
  // would cap the server at a few hundred tunnels long before limits.max_tunnels.
  const std::uint64_t fds = io::raise_fd_limit();
  if (fds < 2 * static_cast<std::uint64_t>(config.engine.max_tunnels) + 64) {
    p->log.warn("open file limit " + std::to_string(fds) + " is below the " +
                std::to_string(2 * config.engine.max_tunnels + 64) + " that limits.max_tunnels " +
                std::to_string(config.engine.max_tunnels) +
                " can need (raise the hard limit, e.g. LimitNOFILE=)");
  }
  if (uv_loop_init(&p->loop) != 0) {
    p->log.error("cannot start the event loop");
    return 1;
  }
  int exit_code = 0;
  auto server = Server::create(&p->loop, config, ServerHooks{nullptr, p->log});
  if (!server) {
    p->log.error(std::string(server.message()));
    exit_code = 1;
  } else {
    p->server = std::move(*server);
    if (auto started = p->server->start(); !started) {
      p->log.error(std::string(started.message()));
      exit_code = 1;
    } else if (!watch_signal(*p, p->sigint, SIGINT, on_stop_signal) ||
               !watch_signal(*p, p->sigterm, SIGTERM, on_stop_signal) ||
               !watch_signal(*p, p->sighup, SIGHUP, on_hup)) {
      p->log.error("cannot watch signals");
      exit_code = 1;
    } else {
      app::notify_ready("serving");
      uv_run(&p->loop, UV_RUN_DEFAULT);
    }
  }
  // Tear down on the loop so every handle's close callback runs before the loop is closed.
  p->server.reset();
  uv_signal_t* handles[] = {&p->sigint, &p->sigterm, &p->sighup};
  for (int i = 0; i < p->signals; ++i)
    uv_close(reinterpret_cast<uv_handle_t*>(handles[i]), nullptr);
  for (int i = 0; i < 100 && uv_loop_alive(&p->loop); ++i) uv_run(&p->loop, UV_RUN_NOWAIT);
  uv_walk(
      &p->loop,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(&p->loop, UV_RUN_DEFAULT);
  uv_loop_close(&p->loop);
  return exit_code;
}

}  // namespace mtop::server
