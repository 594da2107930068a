#include "plugin_config.hpp"

#include <string>

namespace mtop::server {

Result<ServerConfig> plugin_config(const app::PluginEnv& env) {
  app::PluginOptionSet opts(env.options);
  if (auto r = opts.only(kPluginOptions); !r) return r.failure();
  ServerConfig cfg;
  auto config_path = opts.value("config");
  if (!config_path) return config_path.failure();
  if (*config_path) {
    auto loaded = load_server_config(**config_path);
    if (!loaded) return app::plugin_error("plugin option config: " + std::string(loaded.message()));
    cfg = std::move(*loaded);
  }
  const bool from_file = config_path->has_value();
  for (auto [key, out] :
       {std::pair{"cert", &cfg.cert_file}, {"key", &cfg.key_file}, {"users", &cfg.users.path}}) {
    auto v = opts.value(key);
    if (!v) return v.failure();
    if (*v) {
      *out = **v;
    } else if (!from_file) {
      return app::plugin_error("plugin option " + std::string(key) +
                               ": missing (or give config=server.json)");
    }
  }
  if (!from_file) cfg.users.type = "file";
  auto fallback = opts.value("fallback");
  if (!fallback) return fallback.failure();
  if (*fallback) {
    // The option replaces the config file's fallback, backend or folder alike.
    const std::string& v = **fallback;
    if (!v.empty() && v.front() == '/') {
      // A folder of static files, as server.json's {"folder": ...}: served over HTTP/1.1 only.
      cfg.engine.fallback_folder = v;
      cfg.engine.fallback.clear();
      cfg.tls_alpn = {"http/1.1"};
    } else {
      if (auto hp = parse_host_port(v); !hp) {
        return app::plugin_error(
            "plugin option fallback: a web backend's host:port or a "
            "folder's absolute path (" +
            std::string(hp.message()) + ")");
      }
      cfg.engine.fallback = v;
      cfg.engine.fallback_folder.clear();
      if (cfg.tls_alpn.empty()) cfg.tls_alpn = {"http/1.1"};
    }
  }
  auto quic = opts.flag("quic", cfg.quic);
  if (!quic) return quic.failure();
  cfg.quic = *quic;
  if (auto r = opts.log_level(cfg.log_level); !r) return r.failure();
  cfg.listen = {env.remote.to_string()};
  cfg.engine.fixed_target = env.local.to_string();
  return cfg;
}

}  // namespace mtop::server
