// `mtop-server --config FILE`: the long-running server.
#pragma once

#include "mtop/server.hpp"

namespace mtop::server {

/// Serves until SIGINT/SIGTERM, then drains. Returns the process exit code.
int run_server(const ServerConfig& config);

}  // namespace mtop::server
