#include "api/config_view.hpp"

#include "mtop/tls_groups.hpp"

namespace mtop {

namespace {

constexpr std::string_view kRedacted = "***";

/// Replaces the value after each `key=` (conninfo: up to a space, or a quoted value; URI query:
/// up to '&').
std::string redact_key_values(std::string s, std::string_view key, bool uri_query) {
  std::size_t from = 0;
  for (;;) {
    const std::size_t at = s.find(key, from);
    if (at == std::string::npos) return s;
    const bool starts_word =
        at == 0 || s[at - 1] == ' ' || s[at - 1] == '?' || s[at - 1] == '&' || s[at - 1] == '\t';
    std::size_t v = at + key.size();
    while (!uri_query && v < s.size() && s[v] == ' ') ++v;
    if (!starts_word || v >= s.size() || s[v] != '=') {
      from = at + key.size();
      continue;
    }
    ++v;
    while (!uri_query && v < s.size() && s[v] == ' ') ++v;
    std::size_t end = v;
    if (!uri_query && end < s.size() && s[end] == '\'') {
      ++end;
      while (end < s.size() && s[end] != '\'') end += s[end] == '\\' ? 2 : 1;
      end = std::min(end + 1, s.size());
    } else {
      while (end < s.size() && s[end] != (uri_query ? '&' : ' ')) ++end;
    }
    s.replace(v, end - v, kRedacted);
    from = v + kRedacted.size();
  }
}

}  // namespace

std::string redact_dsn(std::string_view dsn) {
  std::string s(dsn);
  if (const std::size_t scheme = s.find("://"); scheme != std::string::npos) {
    const std::size_t auth_begin = scheme + 3;
    std::size_t auth_end = s.find_first_of("/?#", auth_begin);
    if (auth_end == std::string::npos) auth_end = s.size();
    const std::size_t at = s.rfind('@', auth_end);
    if (at != std::string::npos && at >= auth_begin) {
      const std::size_t colon = s.find(':', auth_begin);
      if (colon != std::string::npos && colon < at) {
        s.replace(colon + 1, at - colon - 1, kRedacted);
      }
    }
    return redact_key_values(std::move(s), "password", true);
  }
  return redact_key_values(std::move(s), "password", false);
}

nlohmann::json config_view(const ServerConfig& c) {
  using nlohmann::json;
  json groups = json::array();
  for (const TlsGroup g : c.tls_groups) groups.push_back(std::string(tls_group_name(g)));
  json users = {{"type", c.users.type},
                {"cache_ttl_ms", c.users.cache_ttl_ms},
                {"grace_ms", c.users.grace_ms},
                {"flush_ms", c.users.flush_ms}};
  if (!c.users.path.empty()) users["path"] = c.users.path;
  if (!c.users.dsn.empty()) users["dsn"] = redact_dsn(c.users.dsn);
  const ServerOptions& e = c.engine;
  json view = {
      {"listen", c.listen},
      {"quic", c.quic},
      {"workers", c.workers},
      {"cert", c.cert_file},
      {"key", c.key_file},
      {"tls_groups", groups},
      {"users", users},
      {"reply_status", e.reply_status},
      {"allow_targets", e.allow_targets},
      {"log_level", std::string(log_level_name(c.log_level))},
      {"timeouts_ms",
       {{"handshake", e.handshake_timeout_ms},
        {"connect", e.connect_timeout_ms},
        {"idle", e.idle_timeout_ms},
        {"drain", e.drain_timeout_ms},
        {"recheck", e.recheck_interval_ms}}},
      {"limits",
       {{"max_tunnels", e.max_tunnels},
        {"early_data", e.early_data_limit},
        {"max_pending", e.max_pending},
        {"quic_streams_per_connection", c.quic_streams_per_connection}}},
      {"auth",
       {{"cache_ttl_ms", e.credential_cache_ttl_ms},
        {"cache_size", e.credential_cache_size},
        {"max_failures", e.max_failures},
        {"failure_window_ms", e.failure_window_ms},
        {"lockout_ms", e.lockout_ms}}},
      {"admin",
       {{"listen", c.admin.listen},
        {"token_file", c.admin.token_file},
        {"metrics_token_file", c.admin.metrics_token_file},
        {"per_user_metrics", c.admin.per_user_metrics}}},
  };
  if (!c.access_log_path.empty()) {
    view["access_log"] = {
        {"path", c.access_log_path},
        {"format", c.access_log_format == AccessLogFormat::json ? "json" : "logfmt"}};
  }
  return view;
}

}  // namespace mtop
