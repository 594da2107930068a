// mtop-server as a SIP003 plugin of ss-server (docs/SHADOWSOCKS.md): the config it runs with.
#pragma once

#include <array>
#include <string_view>

#include "../common/sip003.hpp"
#include "mtop/result.hpp"
#include "mtop/server.hpp"

namespace mtop::server {

/// The options the server plugin knows, for messages.
inline constexpr std::array<std::string_view, 7> kPluginOptions{
    "config", "cert", "key", "users", "fallback", "quic", "log_level"};

/// A server that listens on SS_REMOTE and sends every authorised tunnel to SS_LOCAL (ss-server),
/// whatever target the climber asked for. From `config` (a server.json whose listen is
/// replaced) and/or `cert`, `key`, `users` (a users file), which are then required; optional
/// `fallback` (the web backend, "host:port"), `quic` (default on; quic=0 when ss-server's UDP
/// relay has the port), `log_level`. Errors: config_invalid naming the option at fault.
Result<ServerConfig> plugin_config(const app::PluginEnv& env);

}  // namespace mtop::server
