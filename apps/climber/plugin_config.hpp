// The climber as a SIP003 plugin of ss-local (docs/SHADOWSOCKS.md): the config it runs with.
#pragma once

#include <array>
#include <string_view>

#include "../common/sip003.hpp"
#include "mtop/climber.hpp"
#include "mtop/result.hpp"

namespace mtop::climber {

/// The options the climber plugin knows, for messages and --help.
inline constexpr std::array<std::string_view, 10> kPluginOptions{
    "user", "password", "password_file", "ca",     "sni",
    "pin",  "insecure", "transport",     "target", "log_level"};

/// A climber that listens on SS_LOCAL and forwards every connection to the mtop-server at
/// SS_REMOTE, as `user` with `password` / `password_file` (or $MTOP_PASSWORD). The tunnels ask
/// for `target` ("host:port"; default: SS_REMOTE itself, which an mtop-server plugin ignores
/// since it has a fixed target). Errors: config_invalid naming the option at fault.
Result<ClimberConfig> plugin_config(const app::PluginEnv& env);

}  // namespace mtop::climber
