// mtop-server's configuration file (JSON), documented in docs/CONFIG.md.
#pragma once

#include <string>
#include <vector>

#include "engine/server_options.hpp"
#include "mtop/log.hpp"

namespace mtop::server {

struct UsersSource {
  std::string type = "file";  ///< file | sqlite | postgres | mysql
  std::string path;           ///< file, sqlite: a path
  std::string dsn;            ///< postgres: conninfo or URI; mysql: mysql://user:pass@host:port/db
  /// Database stores: how stale a lookup may be. With the default re-check (2.5 s) a change
  /// in the database reaches new and live tunnels within cache_ttl + recheck = 5 s.
  std::uint64_t cache_ttl_ms = 2'500;
  std::uint64_t grace_ms = 300'000;     ///< database down: recently verified users keep working
  std::uint64_t flush_ms = 2'000;       ///< database stores: usage written back this often
};

struct ServerConfig {
  std::vector<std::string> listen;  ///< "host:port" / "[v6]:port"; TCP (TLS) and, with quic, UDP
  bool quic = true;
  /// QUIC: concurrent tunnels (streams) one climber connection may carry; a climber opens
  /// more connections beyond it (QuicClientOptions::max_connections).
  std::uint64_t quic_streams_per_connection = 256;
  std::string cert_file;
  std::string key_file;
  UsersSource users;
  ServerOptions engine;
  LogLevel log_level = LogLevel::info;
};

/// Reads and validates a config file. Relative paths inside it are taken relative to the
/// file's folder. Unknown keys are errors (a typo must not silently fall back to a default).
/// On failure returns false with a one-line `error` naming the key at fault.
bool load_server_config(const std::string& path, ServerConfig& out, std::string& error);

/// The same, from JSON text (`base_dir` resolves relative paths).
bool parse_server_config(const std::string& json_text, const std::string& base_dir,
                         ServerConfig& out, std::string& error);

}  // namespace mtop::server
