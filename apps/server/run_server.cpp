#include "run_server.hpp"

#include <algorithm>
#include <csignal>
#include <memory>
#include <string>

#include "../common/process_loop.hpp"
#include "mtop/fd_limit.hpp"
#include "mtop/log.hpp"

namespace mtop::server {

int run_server(const ServerConfig& config, const StartedFrom& from) {
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
  // SIGHUP: the config file again, applied without dropping a tunnel (Server::reload), and
  // the access log opened again by name (logrotate moves it aside, then sends SIGHUP).
  // The config file read again serves the admin API's reload too. Without a config file (a
  // SIP003 plugin) SIGHUP re-reads the users file only.
  auto next_config = [&from]() -> Result<ServerConfig> {
    auto next = load_server_config(from.config_path);
    if (next && !from.log_level_flag.empty()) {
      (void)parse_log_level(from.log_level_flag, next->log_level);  // checked at start-up
    }
    return next;
  };
  if (!from.config_path.empty()) server->set_config_source(next_config);
  hooks.hup = [&] {
    if (auto r = server->reopen_access_log(); !r) log.error(std::string(r.message()));
    if (from.config_path.empty()) {
      if (auto r = server->reload(); !r) log.error("SIGHUP: " + std::string(r.message()));
      return;
    }
    auto next = next_config();
    if (!next) {
      log.error("SIGHUP: config refused, the running one stays: " + std::string(next.message()));
      return;
    }
    const LogLevel level = next->log_level;
    auto report = server->reload(std::move(*next));
    if (!report) {
      log.error("SIGHUP: config refused, the running one stays: " + std::string(report.message()));
      return;
    }
    // Written at the new level (info at least), so that the line saying "log_level warn" is
    // itself in the log.
    log.log(std::clamp(level, LogLevel::info, LogLevel::error),
            "SIGHUP: config reloaded: " + reload_summary(*report));
  };
  const bool ran = process.run(std::move(hooks));
  server.reset();
  return ran ? 0 : 1;
}

}  // namespace mtop::server
