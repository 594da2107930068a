// parse_server_config / load_server_config (mtop/server.hpp): mtop-server's JSON config file,
// documented in docs/CONFIG.md. Unknown keys are errors: a typo must not silently fall back to
// a default. Error messages name the key at fault and never quote the file's content.
#include "engine/json_config.hpp"
#include "mtop/host_port.hpp"
#include "mtop/server.hpp"

namespace mtop {

namespace {

using config::ConfigError;
using config::get_bool;
using config::get_count;
using config::get_seconds;
using config::get_string;
using config::get_tls_groups;
using config::json;
using config::only_keys;

std::string resolve(const std::string& base_dir, const std::string& p) {
  return config::resolve_path(base_dir, p);
}

/// "fallback": {"backend": "host:port", "alpn": ["http/1.1"]}. The ALPN list is what the TLS
/// port offers; by default what every web backend speaks.
void parse_fallback(const json& f, ServerConfig& cfg) {
  if (!f.is_object()) {
    throw ConfigError{"config.fallback: an object like {\"backend\": \"127.0.0.1:8080\"}"};
  }
  only_keys(f, "config.fallback", {"backend", "alpn"});
  if (!f.contains("backend")) throw ConfigError{"config.fallback.backend: missing"};
  cfg.engine.fallback = get_string(f, "backend", "config.fallback");
  if (auto hp = parse_host_port(cfg.engine.fallback); !hp) {
    throw ConfigError{"config.fallback.backend: " + std::string(hp.message())};
  }
  cfg.tls_alpn = {"http/1.1"};
  if (f.contains("alpn")) {
    const json& a = f.at("alpn");
    if (!a.is_array()) throw ConfigError{"config.fallback.alpn: a list like [\"http/1.1\"]"};
    cfg.tls_alpn.clear();
    for (const auto& p : a) {
      if (!p.is_string() || p.get<std::string>().empty() || p.get<std::string>().size() > 255) {
        throw ConfigError{"config.fallback.alpn: protocol names of 1 to 255 bytes"};
      }
      cfg.tls_alpn.push_back(p.get<std::string>());
    }
  }
}

void parse(const json& root, const std::string& base_dir, ServerConfig& cfg) {
  only_keys(root, "config",
            {"listen", "quic", "cert", "key", "tls_groups", "users", "reply_status",
             "allow_targets", "timeouts", "limits", "auth", "log_level", "access_log", "fallback"});
  if (!root.contains("listen")) throw ConfigError{"config.listen: missing"};
  const json& listen = root.at("listen");
  if (listen.is_string()) {
    cfg.listen = {listen.get<std::string>()};
  } else if (listen.is_array() && !listen.empty()) {
    cfg.listen.clear();
    for (const auto& l : listen) {
      if (!l.is_string()) throw ConfigError{"config.listen: must be strings like \"0.0.0.0:443\""};
      cfg.listen.push_back(l.get<std::string>());
    }
  } else {
    throw ConfigError{"config.listen: a \"host:port\" string or a non-empty list of them"};
  }
  for (const auto& l : cfg.listen) {
    if (auto address = parse_host_port(l, kListenAddress); !address) {
      throw ConfigError{"config.listen: \"" + l + "\": " + std::string(address.message())};
    }
  }
  if (!root.contains("cert") || !root.contains("key")) {
    throw ConfigError{"config: \"cert\" and \"key\" (PEM files) are required"};
  }
  cfg.cert_file = resolve(base_dir, get_string(root, "cert", "config"));
  cfg.key_file = resolve(base_dir, get_string(root, "key", "config"));
  if (root.contains("quic")) cfg.quic = get_bool(root, "quic", "config");
  if (root.contains("tls_groups")) cfg.tls_groups = get_tls_groups(root, "tls_groups", "config");
  if (root.contains("reply_status")) {
    cfg.engine.reply_status = get_bool(root, "reply_status", "config");
  }
  if (root.contains("log_level")) {
    const std::string level = get_string(root, "log_level", "config");
    if (!parse_log_level(level, cfg.log_level)) {
      throw ConfigError{"config.log_level: one of debug, info, warn, error, off"};
    }
  }
  if (root.contains("access_log")) {
    const json& a = root.at("access_log");
    if (!a.is_object()) {
      throw ConfigError{"config.access_log: an object like {\"path\": \"access.log\"}"};
    }
    only_keys(a, "config.access_log", {"path", "format"});
    if (!a.contains("path")) throw ConfigError{"config.access_log.path: missing"};
    cfg.access_log_path = resolve(base_dir, get_string(a, "path", "config.access_log"));
    if (a.contains("format")) {
      const std::string format = get_string(a, "format", "config.access_log");
      if (format == "json") {
        cfg.access_log_format = AccessLogFormat::json;
      } else if (format == "logfmt") {
        cfg.access_log_format = AccessLogFormat::logfmt;
      } else {
        throw ConfigError{"config.access_log.format: json or logfmt"};
      }
    }
  }
  if (root.contains("fallback")) parse_fallback(root.at("fallback"), cfg);
  if (root.contains("allow_targets")) {
    const json& a = root.at("allow_targets");
    if (!a.is_array()) throw ConfigError{"config.allow_targets: a list of CIDRs"};
    for (const auto& c : a) {
      if (!c.is_string()) throw ConfigError{"config.allow_targets: a list of CIDRs"};
      cfg.engine.allow_targets.push_back(c.get<std::string>());
    }
  }
  if (!root.contains("users")) throw ConfigError{"config.users: missing (where users come from)"};
  const json& users = root.at("users");
  only_keys(users, "config.users", {"type", "path", "dsn", "cache_ttl", "grace", "flush"});
  cfg.users.type = users.contains("type") ? get_string(users, "type", "config.users") : "file";
  if (cfg.users.type == "file" || cfg.users.type == "sqlite") {
    if (!users.contains("path")) throw ConfigError{"config.users.path: missing"};
    cfg.users.path = resolve(base_dir, get_string(users, "path", "config.users"));
  } else if (cfg.users.type == "postgres" || cfg.users.type == "mysql") {
    if (!users.contains("dsn")) throw ConfigError{"config.users.dsn: missing"};
    cfg.users.dsn = get_string(users, "dsn", "config.users");
  } else {
    throw ConfigError{"config.users.type: one of file, sqlite, postgres, mysql"};
  }
  if (users.contains("cache_ttl"))
    cfg.users.cache_ttl_ms = get_seconds(users, "cache_ttl", "config.users");
  if (users.contains("grace")) cfg.users.grace_ms = get_seconds(users, "grace", "config.users");
  if (users.contains("flush")) cfg.users.flush_ms = get_seconds(users, "flush", "config.users");
  // Half the engine's default: together with the default cache_ttl a store change reaches
  // live tunnels within 5 s.
  cfg.engine.recheck_interval_ms = 2'500;
  if (root.contains("timeouts")) {
    config::read_timeouts(root.at("timeouts"), cfg.engine,
                          {{"recheck", &cfg.engine.recheck_interval_ms}});
  }
  if (root.contains("limits")) {
    const json& l = root.at("limits");
    only_keys(l, "config.limits",
              {"max_tunnels", "early_data", "max_pending", "quic_streams_per_connection"});
    auto& e = cfg.engine;
    if (l.contains("max_tunnels"))
      e.max_tunnels = get_count(l, "max_tunnels", "config.limits", 1, 1'000'000);
    if (l.contains("early_data"))
      e.early_data_limit = get_count(l, "early_data", "config.limits", 0, 1 << 20);
    if (l.contains("max_pending"))
      e.max_pending = get_count(l, "max_pending", "config.limits", 16384, 64 << 20);
    if (l.contains("quic_streams_per_connection")) {
      cfg.quic_streams_per_connection =
          get_count(l, "quic_streams_per_connection", "config.limits", 1, 65'536);
    }
  }
  if (root.contains("auth")) {
    const json& a = root.at("auth");
    only_keys(a, "config.auth",
              {"cache_ttl", "cache_size", "max_failures", "failure_window", "lockout"});
    auto& e = cfg.engine;
    if (a.contains("cache_ttl"))
      e.credential_cache_ttl_ms = get_seconds(a, "cache_ttl", "config.auth");
    if (a.contains("cache_size"))
      e.credential_cache_size = get_count(a, "cache_size", "config.auth", 0, 10'000'000);
    if (a.contains("max_failures"))
      e.max_failures =
          static_cast<std::uint32_t>(get_count(a, "max_failures", "config.auth", 1, 1'000'000));
    if (a.contains("failure_window"))
      e.failure_window_ms = get_seconds(a, "failure_window", "config.auth");
    if (a.contains("lockout")) e.lockout_ms = get_seconds(a, "lockout", "config.auth");
  }
}

}  // namespace

Result<ServerConfig> parse_server_config(std::string_view json_text, const std::string& base_dir) {
  ServerConfig cfg;
  std::string error;
  if (!config::parse_json_config(
          std::string(json_text), [&](const json& root) { parse(root, base_dir, cfg); }, error)) {
    return Result<ServerConfig>(Errc::config_invalid, std::move(error));
  }
  return cfg;
}

Result<ServerConfig> load_server_config(const std::string& path) {
  std::string text, dir, error;
  if (!config::read_config_file(path, text, dir, error)) {
    return Result<ServerConfig>(Errc::config_invalid, std::move(error));
  }
  auto cfg = parse_server_config(text, dir);
  if (!cfg)
    return Result<ServerConfig>(Errc::config_invalid, path + ": " + std::string(cfg.message()));
  return cfg;
}

}  // namespace mtop
