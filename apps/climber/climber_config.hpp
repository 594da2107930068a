// climber's configuration: a JSON file and/or command-line flags (flags win), documented in
// docs/CONFIG.md and in `climber --help`.
#pragma once

#include <string>

#include "engine/climber_options.hpp"
#include "engine/server_uri.hpp"
#include "mtop/log.hpp"

namespace mtop::climber {

struct ClimberConfig {
  ServerEndpoint server;
  ClimberOptions engine;
  LogLevel log_level = LogLevel::info;
};

/// Reads a config file into `out` (fields it does not name keep their values). Relative paths
/// are taken relative to the file's folder. Unknown keys are errors. The server may be given
/// as an mtop:// URI string or as an object; "password_file" reads the password from a file
/// so it need not sit in the config. Errors never contain the password.
bool load_climber_config(const std::string& path, ClimberConfig& out, std::string& error);
bool parse_climber_config(const std::string& json_text, const std::string& base_dir,
                          ClimberConfig& out, std::string& error);

/// Reads the first line of a file (a password file), without its line end.
bool read_secret_file(const std::string& path, std::string& out, std::string& error);

}  // namespace mtop::climber
