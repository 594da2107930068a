// `mtop-server --config FILE`: the long-running server.
#pragma once

#include <string>

#include "mtop/server.hpp"

namespace mtop::server {

/// How the server was started: SIGHUP reads `config_path` again, and a --log-level flag
/// (`log_level_flag`, empty if none) keeps overriding the file's log_level.
struct StartedFrom {
  std::string config_path;  ///< empty: none (a SIP003 plugin), SIGHUP re-reads users only
  std::string log_level_flag;
};

/// Serves until SIGINT/SIGTERM, then drains; SIGHUP re-reads the config file and applies it
/// (Server::reload). Returns the process exit code.
int run_server(const ServerConfig& config, const StartedFrom& from);

}  // namespace mtop::server
