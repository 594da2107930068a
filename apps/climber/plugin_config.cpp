#include "plugin_config.hpp"

#include <cstdlib>
#include <string>

#include "mtop/host_port.hpp"

namespace mtop::climber {

Result<ClimberConfig> plugin_config(const app::PluginEnv& env) {
  ClimberConfig cfg;
  app::PluginOptionSet opts(env.options);
  if (auto r = opts.only(kPluginOptions); !r) return r.failure();
  cfg.server.host = env.remote.host;
  cfg.server.port = env.remote.port;
  auto text = [&](const char* key, std::string& out) -> Result<void> {
    auto v = opts.value(key);
    if (!v) return v.failure();
    if (*v) out = **v;
    return {};
  };
  for (auto [key, out] : {std::pair{"user", &cfg.server.username},
                          {"ca", &cfg.server.ca_file},
                          {"sni", &cfg.server.sni},
                          {"pin", &cfg.server.pin}}) {
    if (auto r = text(key, *out); !r) return r.failure();
  }
  if (cfg.server.username.empty())
    return app::plugin_error("plugin option user: missing (user=NAME)");
  auto password = opts.value("password");
  auto password_file = opts.value("password_file");
  if (!password) return password.failure();
  if (!password_file) return password_file.failure();
  if (*password && *password_file) {
    return app::plugin_error("plugin options password and password_file: give one of them");
  }
  if (*password_file) {
    auto secret = read_secret_file(**password_file);
    if (!secret)
      return app::plugin_error("plugin option password_file: " + std::string(secret.message()));
    cfg.server.password = std::move(*secret);
  } else if (*password) {
    cfg.server.password = **password;
  } else if (const char* env_password = std::getenv("MTOP_PASSWORD"); env_password) {
    cfg.server.password = env_password;
  }
  if (cfg.server.password.empty()) {
    return app::plugin_error(
        "plugin option password_file (or password, or $MTOP_PASSWORD): missing");
  }
  auto insecure = opts.flag("insecure", false);
  if (!insecure) return insecure.failure();
  cfg.server.insecure = *insecure;
  auto transport = opts.value("transport");
  if (!transport) return transport.failure();
  if (*transport && !parse_transport(**transport, cfg.server.transport)) {
    return app::plugin_error("plugin option transport: tls, quic or auto");
  }
  HostPort target = env.remote;
  auto target_text = opts.value("target");
  if (!target_text) return target_text.failure();
  if (*target_text) {
    auto parsed = parse_host_port(**target_text);
    if (!parsed) return app::plugin_error("plugin option target: " + std::string(parsed.message()));
    target = std::move(*parsed);
  }
  if (auto r = opts.log_level(cfg.log_level); !r) return r.failure();
  ForwardRule rule;
  rule.bind_host = env.local.host;
  rule.bind_port = env.local.port;
  rule.target_host = target.host;
  rule.target_port = target.port;
  cfg.engine.forwards = {rule};
  return cfg;
}

}  // namespace mtop::climber
