#include "sip003.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>

namespace mtop::app {

Failure plugin_error(std::string message) {
  return Failure{Errc::config_invalid, std::move(message)};
}

namespace {

Result<HostPort> address_from(const char* host_var, const char* port_var) {
  const char* host = std::getenv(host_var);
  const char* port = std::getenv(port_var);
  if (!host || !*host) return plugin_error(std::string(host_var) + ": missing");
  if (!port || !*port) return plugin_error(std::string(port_var) + ": missing");
  auto p = parse_port(port);
  if (!p) return plugin_error(std::string(port_var) + ": " + std::string(p.message()));
  // The host comes bare (an IPv6 literal without brackets): check it as "host:port" would be.
  HostPort hp{host, *p};
  if (auto checked = parse_host_port(hp.to_string()); !checked) {
    return plugin_error(std::string(host_var) + ": " + std::string(checked.message()));
  }
  return hp;
}

}  // namespace

bool started_as_plugin() {
  return std::getenv("SS_REMOTE_HOST") != nullptr || std::getenv("SS_LOCAL_HOST") != nullptr;
}

Result<PluginEnv> read_plugin_env() {
  PluginEnv env;
  auto remote = address_from("SS_REMOTE_HOST", "SS_REMOTE_PORT");
  if (!remote) return remote.failure();
  auto local = address_from("SS_LOCAL_HOST", "SS_LOCAL_PORT");
  if (!local) return local.failure();
  env.remote = std::move(*remote);
  env.local = std::move(*local);
  if (const char* text = std::getenv("SS_PLUGIN_OPTIONS")) {
    auto options = parse_plugin_options(text);
    if (!options) return plugin_error("SS_PLUGIN_OPTIONS: " + std::string(options.message()));
    env.options = std::move(*options);
  }
  return env;
}

Result<void> PluginOptionSet::only(std::span<const std::string_view> known) const {
  for (const auto& o : options_) {
    if (std::find(known.begin(), known.end(), o.key) != known.end()) continue;
    std::string list;
    for (const auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    // The key only: a mistyped "pasword=..." must not print the password.
    return plugin_error("plugin option " + o.key + ": unknown (known: " + list + ")");
  }
  return {};
}

Result<const PluginOption*> PluginOptionSet::find(std::string_view key) const {
  const PluginOption* found = nullptr;
  for (const auto& o : options_) {
    if (o.key != key) continue;
    if (found) return plugin_error("plugin option " + std::string(key) + ": given twice");
    found = &o;
  }
  return found;
}

Result<std::optional<std::string>> PluginOptionSet::value(std::string_view key) {
  auto o = find(key);
  if (!o) return o.failure();
  if (!*o) return std::optional<std::string>();
  if (!(*o)->value) {
    return plugin_error("plugin option " + std::string(key) + ": needs a value (" +
                        std::string(key) + "=...)");
  }
  return (*o)->value;
}

Result<bool> PluginOptionSet::flag(std::string_view key, bool otherwise) {
  auto o = find(key);
  if (!o) return o.failure();
  if (!*o) return otherwise;
  if (!(*o)->value) return true;
  const std::string& v = *(*o)->value;
  if (v == "1" || v == "true" || v == "yes") return true;
  if (v == "0" || v == "false" || v == "no") return false;
  return plugin_error("plugin option " + std::string(key) + ": 1/true/yes or 0/false/no");
}

Result<void> PluginOptionSet::log_level(LogLevel& out) {
  auto level = value("log_level");
  if (!level) return level.failure();
  if (*level && !parse_log_level(**level, out)) {
    return plugin_error("plugin option log_level: one of debug, info, warn, error, off");
  }
  return {};
}

bool exit_with_parent() {
  const pid_t parent = getppid();
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) return true;  // best effort: not Linux-like
  // The parent may have died before the prctl: then we were handed to init (or a subreaper).
  return getppid() == parent && parent != 1;
}

}  // namespace mtop::app
