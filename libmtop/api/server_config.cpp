// parse_server_config / load_server_config (mtop/server.hpp): mtop-server's JSON config file,
// documented in docs/CONFIG.md. Unknown keys are errors: a typo must not silently fall back to
// a default. Error messages name the key at fault and never quote the file's content.
#include "auth/ip_prefix.hpp"
#include "auth/publish_grants.hpp"
#include "engine/admission.hpp"
#include "engine/json_config.hpp"
#include "mtop/host_port.hpp"
#include "mtop/protocol.hpp"
#include "mtop/server.hpp"

namespace mtop {

namespace {

using config::ConfigError;
using config::get_bool;
using config::get_count;
using config::get_number;
using config::get_seconds;
using config::get_string;
using config::get_strings;
using config::get_tls_groups;
using config::json;
using config::only_keys;

std::string resolve(const std::string& base_dir, const std::string& p) {
  return config::resolve_path(base_dir, p);
}

/// "admin": the admin listener (docs/ADMIN_API.md). A bare port number means 127.0.0.1.
void parse_admin(const json& a, const std::string& base_dir, AdminConfig& admin) {
  const std::string where = "config.admin";
  if (!a.is_object()) {
    throw ConfigError{
        where + R"(: an object like {"listen": "127.0.0.1:9443", "token_file": "admin.token"})"};
  }
  only_keys(a, where, {"listen", "token_file", "metrics_token_file", "per_user_metrics"});
  if (!a.contains("listen")) throw ConfigError{where + ".listen: missing"};
  if (a.at("listen").is_number_unsigned()) {
    admin.listen = "127.0.0.1:" + std::to_string(get_count(a, "listen", where, 0, 65'535));
  } else {
    admin.listen = get_string(a, "listen", where);
    if (auto address = parse_host_port(admin.listen, kListenAddress); !address) {
      throw ConfigError{where + ".listen: \"" + admin.listen +
                        "\": " + std::string(address.message())};
    }
  }
  if (!a.contains("token_file")) {
    throw ConfigError{where + ".token_file: missing (the admin API always needs a token)"};
  }
  admin.token_file = resolve(base_dir, get_string(a, "token_file", where));
  if (a.contains("metrics_token_file")) {
    admin.metrics_token_file = resolve(base_dir, get_string(a, "metrics_token_file", where));
  }
  if (a.contains("per_user_metrics")) {
    admin.per_user_metrics = get_bool(a, "per_user_metrics", where);
  }
}

/// "fallback": {"backend": "host:port", "alpn": ["http/1.1"]} or {"folder": "/var/www/site"}.
/// The ALPN list is what the TLS port offers; by default what every web backend speaks. The
/// folder is served over HTTP/1.1 only (libmicrohttpd), so nothing else may be offered for it.
void parse_fallback(const json& f, const std::string& base_dir, ServerConfig& cfg) {
  if (!f.is_object()) {
    throw ConfigError{
        "config.fallback: an object like {\"backend\": \"127.0.0.1:8080\"} or "
        "{\"folder\": \"/var/www/site\"}"};
  }
  only_keys(f, "config.fallback", {"backend", "folder", "alpn"});
  if (f.contains("backend") == f.contains("folder")) {
    throw ConfigError{
        "config.fallback: exactly one of \"backend\" (a web server's host:port) "
        "and \"folder\" (static files served by mtop-server)"};
  }
  if (f.contains("folder")) {
    const std::string folder = get_string(f, "folder", "config.fallback");
    if (folder.empty()) throw ConfigError{"config.fallback.folder: empty"};
    cfg.engine.fallback_folder = resolve(base_dir, folder);
  } else {
    cfg.engine.fallback = get_string(f, "backend", "config.fallback");
    if (auto hp = parse_host_port(cfg.engine.fallback); !hp) {
      throw ConfigError{"config.fallback.backend: " + std::string(hp.message())};
    }
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
      if (!cfg.engine.fallback_folder.empty() && cfg.tls_alpn.back() != "http/1.1") {
        throw ConfigError{
            "config.fallback.alpn: the folder is served over HTTP/1.1 only, so "
            "only \"http/1.1\" may be offered"};
      }
    }
  }
}

/// A list of CIDRs under `where`, each checked as the server will read it.
std::vector<std::string> get_cidrs(const json& obj, const char* key, const std::string& where) {
  std::vector<std::string> out = get_strings(obj, key, where);
  for (const auto& c : out) {
    if (auto p = auth::IpPrefix::parse(c); !p) {
      std::string message = where + "." + key + ": \"";
      message.append(c).append("\": ").append(p.message());
      throw ConfigError{std::move(message)};
    }
  }
  return out;
}

/// "reverse": the server side of reverse tunnels (docs/CONFIG.md, "reverse").
void parse_reverse(const json& r, ReverseOptions& out) {
  const std::string where = "config.reverse";
  if (!r.is_object()) throw ConfigError{where + R"(: an object like {"grace": 30, "pool": 2})"};
  only_keys(r, where, {"keepalive", "grace", "pool", "max_visitors", "visitors"});
  if (r.contains("keepalive")) {
    out.keepalive_s =
        static_cast<std::uint16_t>(get_count(r, "keepalive", where, 1, kMaxKeepaliveSeconds));
  }
  if (r.contains("grace")) {
    // 0: a port is closed as soon as its climber goes.
    out.grace_ms = r.at("grace").is_number() && r.at("grace").get<double>() == 0
                       ? 0
                       : get_seconds(r, "grace", where);
  }
  if (r.contains("pool")) out.pool = get_count(r, "pool", where, 0, 64);
  if (r.contains("max_visitors")) {
    out.max_visitors = get_count(r, "max_visitors", where, 1, 1'000'000);
  }
  if (!r.contains("visitors")) return;
  const json& list = r.at("visitors");
  if (!list.is_array()) throw ConfigError{where + ".visitors: a list of rules"};
  out.visitors.clear();
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& v = list[i];
    const std::string at = where + ".visitors[" + std::to_string(i) + "]";
    if (!v.is_object()) {
      throw ConfigError{at + R"(: an object like {"ports": "8000-8099", "allow": ["10.0.0.0/8"]})"};
    }
    only_keys(v, at, {"ports", "allow", "deny", "max_visitors"});
    ReverseVisitorRule rule;
    if (v.contains("ports")) {
      const json& p = v.at("ports");
      if (p.is_number_unsigned()) {
        rule.first_port = rule.last_port =
            static_cast<std::uint16_t>(get_count(v, "ports", at, 1, 65535));
      } else {
        // The grant syntax without an address: "8000" or "8000-8099".
        const std::string text = p.is_string() ? p.get<std::string>() : std::string();
        auto g = auth::PublishGrants::parse(text);
        if (text.empty() || text.find(':') != std::string::npos || !g || g->grants().size() != 1) {
          throw ConfigError{at + ".ports: a port or a range like \"8000-8099\""};
        }
        rule.first_port = g->grants()[0].first_port;
        rule.last_port = g->grants()[0].last_port;
      }
    }
    if (v.contains("allow")) rule.allow = get_cidrs(v, "allow", at);
    if (v.contains("deny")) rule.deny = get_cidrs(v, "deny", at);
    if (v.contains("max_visitors"))
      rule.max_visitors = get_count(v, "max_visitors", at, 1, 1'000'000);
    out.visitors.push_back(std::move(rule));
  }
}

void parse(const json& root, const std::string& base_dir, ServerConfig& cfg) {
  only_keys(root, "config",
            {"listen",
             "quic",
             "quic_mtop_alpn",
             "cert",
             "key",
             "tls_groups",
             "users",
             "reply_status",
             "reverse",
             "allow_targets",
             "allow_sources",
             "deny_sources",
             "deny_target_ports",
             "timeouts",
             "limits",
             "auth",
             "log_level",
             "access_log",
             "admin",
             "cert_watch",
             "fallback",
             "workers"});
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
  // Absent or 0: one per core (docs/CONFIG.md, "Workers"), counted when the server starts.
  cfg.workers = root.contains("workers")
                    ? static_cast<unsigned>(get_count(root, "workers", "config", 0, kMaxWorkers))
                    : 0;
  if (root.contains("quic_mtop_alpn")) {
    cfg.quic_mtop_alpn = get_bool(root, "quic_mtop_alpn", "config");
  }
  if (root.contains("cert_watch")) {
    // Seconds between checks of the certificate and key files, or false (not watched).
    if (root.at("cert_watch").is_boolean()) {
      cfg.cert_watch_ms = get_bool(root, "cert_watch", "config") ? ServerConfig{}.cert_watch_ms : 0;
    } else {
      cfg.cert_watch_ms = get_seconds(root, "cert_watch", "config");
    }
  }
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
  if (root.contains("admin")) parse_admin(root.at("admin"), base_dir, cfg.admin);
  if (root.contains("fallback")) parse_fallback(root.at("fallback"), base_dir, cfg);
  if (root.contains("reverse")) parse_reverse(root.at("reverse"), cfg.engine.reverse);
  if (root.contains("allow_targets")) {
    const json& a = root.at("allow_targets");
    if (!a.is_array()) throw ConfigError{"config.allow_targets: a list of CIDRs"};
    for (const auto& c : a) {
      if (!c.is_string()) throw ConfigError{"config.allow_targets: a list of CIDRs"};
      cfg.engine.allow_targets.push_back(c.get<std::string>());
    }
  }
  if (root.contains("allow_sources"))
    cfg.engine.allow_sources = get_strings(root, "allow_sources", "config");
  if (root.contains("deny_sources"))
    cfg.engine.deny_sources = get_strings(root, "deny_sources", "config");
  if (root.contains("deny_target_ports")) {
    const json& p = root.at("deny_target_ports");
    if (!p.is_array()) throw ConfigError{"config.deny_target_ports: a list of ports (1-65535)"};
    cfg.engine.deny_target_ports.clear();
    for (const auto& port : p) {
      if (!port.is_number_unsigned() || port.get<std::uint64_t>() == 0 ||
          port.get<std::uint64_t>() > 65535) {
        throw ConfigError{"config.deny_target_ports: a list of ports (1-65535)"};
      }
      cfg.engine.deny_target_ports.push_back(static_cast<std::uint16_t>(port.get<std::uint64_t>()));
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
              {"max_tunnels", "early_data", "max_pending", "quic_streams_per_connection",
               "max_tunnels_per_source", "max_tunnels_per_subnet", "subnet_prefix_v4",
               "subnet_prefix_v6", "source_rate", "source_burst"});
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
    if (l.contains("max_tunnels_per_source"))
      e.max_tunnels_per_source =
          get_count(l, "max_tunnels_per_source", "config.limits", 0, 1'000'000);
    if (l.contains("max_tunnels_per_subnet"))
      e.max_tunnels_per_subnet =
          get_count(l, "max_tunnels_per_subnet", "config.limits", 0, 1'000'000);
    if (l.contains("subnet_prefix_v4"))
      e.subnet_prefix_v4 =
          static_cast<unsigned>(get_count(l, "subnet_prefix_v4", "config.limits", 0, 32));
    if (l.contains("subnet_prefix_v6"))
      e.subnet_prefix_v6 =
          static_cast<unsigned>(get_count(l, "subnet_prefix_v6", "config.limits", 0, 128));
    if (l.contains("source_rate")) {
      e.source_rate = get_number(l, "source_rate", "config.limits", 0, 1'000'000);
      if (e.source_rate > 0 && e.source_rate < 0.001)
        throw ConfigError{"config.limits.source_rate: 0 (off) or at least 0.001"};
    }
    if (l.contains("source_burst"))
      e.source_burst =
          static_cast<std::uint32_t>(get_count(l, "source_burst", "config.limits", 1, 1'000'000));
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
  // The source CIDRs, by the code the server runs; the message names the key.
  if (auto r = AdmissionPolicy().configure(cfg.engine); !r) {
    throw ConfigError{"config." + std::string(r.message())};
  }
}

}  // namespace

Result<ServerConfig> parse_server_config(std::string_view json_text, const std::string& base_dir) {
  ServerConfig cfg;
  auto r =
      config::parse_json_config(json_text, [&](const json& root) { parse(root, base_dir, cfg); });
  if (!r) return r.failure();
  return cfg;
}

Result<ServerConfig> load_server_config(const std::string& path) {
  return config::load_config_file<ServerConfig>(path, parse_server_config);
}

}  // namespace mtop
