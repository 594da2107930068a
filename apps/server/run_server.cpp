#include "run_server.hpp"

#include <csignal>
#include <memory>
#include <string>

#include "../common/process_loop.hpp"
#include "mtop/fd_limit.hpp"
#include "mtop/log.hpp"

namespace mtop::server {

int run_server(const ServerConfig& config) {
  // Writes to a peer that went away must return EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  Logger log(config.log_level, stderr_sink());
  // A tunnel holds two descriptors here (client side, target): the usual soft limit of 1024
  // would cap the server at a few hundred tunnels long before limits.max_tunnels.
  const std::uint64_t fds = io::raise_fd_limit();
  if (fds < 2 * static_cast<std::uint64_t>(config.engine.max_tunnels) + 64) {
    log.warn("open file limit " + std::to_string(fds) + " is below the " +
             std::to_string(2 * config.engine.max_tunnels + 64) + " that limits.max_tunnels " +
             std::to_string(config.engine.max_tunnels) +
             " can need (raise the hard limit, e.g. LimitNOFILE=)");
  }
  app::ProcessLoop process(log);
  if (!process.init()) return 1;
  auto created = Server::create(process.loop(), config, ServerHooks{nullptr, log});
  if (!created) {
    log.error(std::string(created.message()));
    return 1;
  }
  std::unique_ptr<Server> server = std::move(*created);  // closed before the loop
  if (auto started = server->start(); !started) {
    log.error(std::string(started.message()));
    return 1;
  }
  app::SignalHooks hooks;
  hooks.drain = [&](std::function<void()> done) { server->drain(std::move(done)); };
  hooks.stop_now = [&] { server->stop(); };
  // SIGHUP re-reads the users file; database stores follow changes by themselves.
  hooks.hup = [&, reload_file = config.users.type == "file"] {
    // logrotate moves the access log aside and sends SIGHUP: new lines go to a new file.
    if (auto r = server->reopen_access_log(); !r) log.error(std::string(r.message()));
    if (!reload_file) {
      log.info("SIGHUP: nothing to reload (database stores follow changes by themselves)");
    } else if (auto r = server->reload(); r) {
      log.info("SIGHUP: users file reloaded");
    } else {
      log.error("SIGHUP: users file not reloaded, keeping the old users: " +
                std::string(r.message()));
    }
  };
  const bool ran = process.run(std::move(hooks));
  server.reset();
  return ran ? 0 : 1;
}

}  // namespace mtop::server
