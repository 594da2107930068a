// Both programs as shadowsocks SIP003 plugins (docs/SHADOWSOCKS.md). shadowsocks starts its
// plugin as a child with four variables and an optional option string:
//   SS_REMOTE_HOST/SS_REMOTE_PORT  the plugin server's public address
//   SS_LOCAL_HOST/SS_LOCAL_PORT    ss-local's side (the client plugin listens there) or
//                                  ss-server's (the server plugin connects there)
//   SS_PLUGIN_OPTIONS              "key=value;flag" (mtop/plugin_options.hpp)
// The climber then forwards SS_LOCAL to the mtop-server at SS_REMOTE; mtop-server listens on
// SS_REMOTE and sends every authorised tunnel to SS_LOCAL. Bad options end the program with
// exit code 2 and a message naming the option; the plugin exits when shadowsocks does.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mtop/host_port.hpp"
#include "mtop/log.hpp"
#include "mtop/plugin_options.hpp"
#include "mtop/result.hpp"

namespace mtop::app {

/// The exit code for bad plugin variables or options (as for bad flags).
inline constexpr int kPluginUsageExit = 2;

/// A bad variable or option: config_invalid with `message`.
Failure plugin_error(std::string message);

struct PluginEnv {
  HostPort remote;                    ///< SS_REMOTE_HOST:SS_REMOTE_PORT
  HostPort local;                     ///< SS_LOCAL_HOST:SS_LOCAL_PORT
  std::vector<PluginOption> options;  ///< SS_PLUGIN_OPTIONS, parsed
};

/// True when shadowsocks started us: SS_REMOTE_HOST or SS_LOCAL_HOST is set.
bool started_as_plugin();

/// Reads the variables. Errors: config_invalid naming the variable ("SS_LOCAL_PORT: port must
/// be 1-65535", "SS_REMOTE_HOST: missing", "SS_PLUGIN_OPTIONS: option 2: empty name ...").
Result<PluginEnv> read_plugin_env();

/// The options by name, each given at most once.
class PluginOptionSet {
 public:
  explicit PluginOptionSet(std::vector<PluginOption> options) : options_(std::move(options)) {}
  /// Errors: config_invalid naming the first option not in `known` (checked first, so that a
  /// mistyped name is reported as such, not as the option it failed to give).
  Result<void> only(std::span<const std::string_view> known) const;
  /// The value of `key`, or nullopt when absent. Errors: config_invalid when it is given twice
  /// or as a bare flag ("plugin option user: needs a value (user=...)").
  Result<std::optional<std::string>> value(std::string_view key);
  /// A flag: absent = `otherwise`; bare "key", key=1/true/yes = true; key=0/false/no = false.
  /// Errors: config_invalid for another value or a second one.
  Result<bool> flag(std::string_view key, bool otherwise);
  /// "log_level" into `out` when given. Errors: config_invalid as value(), or a bad level.
  Result<void> log_level(LogLevel& out);

 private:
  Result<const PluginOption*> find(std::string_view key) const;
  std::vector<PluginOption> options_;
};

/// Asks the kernel to send us SIGTERM when our parent (shadowsocks) dies, which the process
/// loop treats as a stop. False when the parent is gone already (we were re-parented).
bool exit_with_parent();

}  // namespace mtop::app
