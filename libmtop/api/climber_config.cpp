// The climber's JSON config (docs/CONFIG.md) into mtop::ClimberConfig, with the strict helpers
// both programs share (engine/json_config.hpp): unknown keys are errors, every message names
// the key at fault and never quotes a value (a password may sit in the file).
#include <fstream>
#include <string>
#include <utility>

#include "engine/json_config.hpp"
#include "mtop/climber.hpp"

namespace mtop {

namespace {

using config::ConfigError;
using config::json;
using config::only_keys;

std::string str(const json& obj, const char* key, const std::string& where) {
  return config::get_string(obj, key, where);
}
std::string resolve(const std::string& base_dir, const std::string& p) {
  return config::resolve_path(base_dir, p);
}

void parse_server(const json& s, const std::string& base_dir, ServerEndpoint& ep) {
  if (s.is_string()) {
    auto parsed = parse_server_uri(s.get<std::string>());
    if (!parsed) throw ConfigError{"config.server: " + std::string(parsed.message())};
    ep = std::move(*parsed);
    if (!ep.ca_file.empty()) ep.ca_file = resolve(base_dir, ep.ca_file);
    return;
  }
  const std::string w = "config.server";
  only_keys(s, w,
            {"host", "port", "username", "password", "password_file", "transport", "sni", "ca",
             "pin", "insecure", "tls_groups"});
  if (!s.contains("host")) throw ConfigError{w + ".host: missing"};
  ep.host = str(s, "host", w);
  if (s.contains("port")) {
    const json& p = s.at("port");
    if (!p.is_number_unsigned() || p.get<unsigned>() == 0 || p.get<unsigned>() > 65535) {
      throw ConfigError{w + ".port: 1-65535"};
    }
    ep.port = static_cast<std::uint16_t>(p.get<unsigned>());
  }
  if (s.contains("username")) ep.username = str(s, "username", w);
  if (s.contains("password")) ep.password = str(s, "password", w);
  if (s.contains("password_file")) {
    auto secret = read_secret_file(resolve(base_dir, str(s, "password_file", w)));
    if (!secret) throw ConfigError{w + ".password_file: " + std::string(secret.message())};
    ep.password = std::move(*secret);
  }
  if (s.contains("transport") && !parse_transport(str(s, "transport", w), ep.transport)) {
    throw ConfigError{w + ".transport: tls, quic or auto"};
  }
  if (s.contains("sni")) ep.sni = str(s, "sni", w);
  if (s.contains("ca")) ep.ca_file = resolve(base_dir, str(s, "ca", w));
  if (s.contains("pin")) ep.pin = str(s, "pin", w);
  if (s.contains("insecure")) {
    if (!s.at("insecure").is_boolean()) throw ConfigError{w + ".insecure: true or false"};
    ep.insecure = s.at("insecure").get<bool>();
  }
  if (s.contains("tls_groups")) ep.tls_groups = config::get_tls_groups(s, "tls_groups", w);
}

/// "reverse": a list of {"bind", "port", "target", "proxy_protocol"} objects, or -R strings.
void parse_reverse(const json& list, std::vector<ReverseRule>& out) {
  const std::string where = "config.reverse";
  if (!list.is_array()) {
    throw ConfigError{where + R"(: a list like [{"port": 8080, "target": "127.0.0.1:80"}])"};
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& r = list[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (r.is_string()) {
      auto rule = parse_reverse_rule(r.get<std::string>());
      if (!rule) throw ConfigError{at + ": " + std::string(rule.message())};
      out.push_back(std::move(*rule));
      continue;
    }
    if (!r.is_object()) throw ConfigError{at + ": an object or a \"[bind:]port:host:hostport\""};
    only_keys(r, at, {"bind", "port", "target", "proxy_protocol"});
    if (!r.contains("port") || !r.contains("target")) {
      throw ConfigError{at + ": needs \"port\" and \"target\""};
    }
    const std::uint64_t port = config::get_count(r, "port", at, 0, 65535);
    std::string bind = r.contains("bind") ? str(r, "bind", at) : ReverseRule{}.bind_host;
    if (bind.find(':') != std::string::npos) bind.insert(0, "[").append("]");
    const std::string spec = bind + ":" + std::to_string(port) + ":" + str(r, "target", at);
    auto rule = parse_reverse_rule(spec);
    if (!rule) throw ConfigError{at + ": " + std::string(rule.message())};
    if (r.contains("proxy_protocol"))
      rule->proxy_protocol = config::get_bool(r, "proxy_protocol", at);
    out.push_back(std::move(*rule));
  }
}

void parse(const json& root, const std::string& base_dir, ClimberConfig& cfg) {
  only_keys(root, "config",
            {"server", "socks", "http", "forward", "reverse", "local_auth", "timeouts", "limits",
             "log_level", "quic_alpn"});
  if (root.contains("server")) parse_server(root.at("server"), base_dir, cfg.server);
  if (root.contains("quic_alpn")) {
    cfg.quic_alpn = str(root, "quic_alpn", "config");
    if (cfg.quic_alpn != "h3" && cfg.quic_alpn != "mtop/1") {
      throw ConfigError{"config.quic_alpn: \"h3\" or \"mtop/1\" (a server from before h3)"};
    }
  }
  auto& e = cfg.engine;
  if (root.contains("socks")) e.socks_listen = str(root, "socks", "config");
  if (root.contains("http")) e.http_listen = str(root, "http", "config");
  if (root.contains("forward")) {
    const json& f = root.at("forward");
    if (!f.is_array()) throw ConfigError{"config.forward: a list of \"[bind:]port:host:hostport\""};
    for (const auto& rule : f) {
      if (!rule.is_string()) throw ConfigError{"config.forward: a list of strings"};
      auto r = parse_forward_rule(rule.get<std::string>());
      if (!r) throw ConfigError{"config." + std::string(r.message())};
      e.forwards.push_back(std::move(*r));
    }
  }
  if (root.contains("reverse")) parse_reverse(root.at("reverse"), e.reverses);
  if (root.contains("local_auth")) {
    const json& a = root.at("local_auth");
    only_keys(a, "config.local_auth", {"username", "password"});
    if (!a.contains("username") || !a.contains("password")) {
      throw ConfigError{"config.local_auth: needs username and password"};
    }
    e.local_username = str(a, "username", "config.local_auth");
    e.local_password = str(a, "password", "config.local_auth");
    if (e.local_username.empty() || e.local_username.size() > 255 || e.local_password.empty() ||
        e.local_password.size() > 255) {
      throw ConfigError{"config.local_auth: username and password must be 1-255 bytes"};
    }
  }
  if (root.contains("timeouts")) config::read_timeouts(root.at("timeouts"), e);
  if (root.contains("limits")) {
    const json& l = root.at("limits");
    only_keys(l, "config.limits",
              {"max_connections", "early_data", "max_pending", "quic_connections"});
    auto count = [&](const char* key, std::uint64_t lo, std::uint64_t hi) {
      return config::get_count(l, key, "config.limits", lo, hi);
    };
    if (l.contains("max_connections")) e.max_connections = count("max_connections", 1, 1'000'000);
    if (l.contains("early_data")) e.early_data_limit = count("early_data", 0, 1 << 20);
    if (l.contains("max_pending")) e.max_pending = count("max_pending", 16384, 64 << 20);
    if (l.contains("quic_connections")) {
      cfg.quic_connections = count("quic_connections", 1, 1'000'000);
    }
  }
  if (root.contains("log_level") &&
      !parse_log_level(str(root, "log_level", "config"), cfg.log_level)) {
    throw ConfigError{"config.log_level: one of debug, info, warn, error, off"};
  }
}

}  // namespace

Result<std::string> read_secret_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Failure{Errc::config_invalid, "cannot read " + path};
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return Failure{Errc::config_invalid, path + " is empty"};
  return line;
}

Result<ClimberConfig> parse_climber_config(std::string_view json_text,
                                           const std::string& base_dir) {
  ClimberConfig cfg;
  auto r = config::parse_json_config(json_text,
                                     [&](const json& root) { parse(root, base_dir, cfg); });
  if (!r) return r.failure();
  return cfg;
}

Result<ClimberConfig> load_climber_config(const std::string& path) {
  return config::load_config_file<ClimberConfig>(path, parse_climber_config);
}

}  // namespace mtop
