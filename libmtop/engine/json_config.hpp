// Helpers shared by the JSON config loaders of mtop-server and climber: strict key sets,
// typed getters whose errors name the key at fault, seconds in the file / milliseconds inside,
// paths relative to the config file, and error text that never quotes the file's content
// (it may hold a password).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mtop/result.hpp"
#include "mtop/tls_groups.hpp"

namespace mtop::config {

using nlohmann::json;

/// Thrown by the getters and by the loaders' own checks; turned into an error string by
/// parse_json_config().
struct ConfigError {
  std::string message;
};

/// `obj` must be an object whose keys are all in `allowed` (a typo must not fall back to a
/// default silently).
void only_keys(const json& obj, const std::string& where,
               std::initializer_list<std::string_view> allowed);

std::string get_string(const json& obj, const char* key, const std::string& where);
bool get_bool(const json& obj, const char* key, const std::string& where);
/// A whole number in [min, max].
std::uint64_t get_count(const json& obj, const char* key, const std::string& where,
                        std::uint64_t min, std::uint64_t max);
/// A number (fractions allowed) in [min, max].
double get_number(const json& obj, const char* key, const std::string& where, double min,
                  double max);
/// A list of strings (possibly empty).
std::vector<std::string> get_strings(const json& obj, const char* key, const std::string& where);
/// Seconds above 0 (fractions allowed, at most a year) in the file, milliseconds returned.
std::uint64_t get_seconds(const json& obj, const char* key, const std::string& where);

/// Keys of a section of durations and where each goes (milliseconds).
using SecondsFields = std::vector<std::pair<std::string_view, std::uint64_t*>>;

/// A section of durations: `obj` may hold only the keys named in `fields`, each in seconds
/// (get_seconds); each key present is stored, in milliseconds, where its pointer says.
void read_seconds(const json& obj, const std::string& where, const SecondsFields& fields);

/// "timeouts" of either program: handshake, connect, idle and drain, which both have, and
/// the program's `more`.
template <class Options>
void read_timeouts(const json& obj, Options& o, SecondsFields more = {}) {
  more.insert(more.end(), {{"handshake", &o.handshake_timeout_ms},
                           {"connect", &o.connect_timeout_ms},
                           {"idle", &o.idle_timeout_ms},
                           {"drain", &o.drain_timeout_ms}});
  read_seconds(obj, "config.timeouts", more);
}
/// A non-empty list of TLS key-exchange group names ("X25519", "P-256", ...), no repeats.
std::vector<TlsGroup> get_tls_groups(const json& obj, const char* key, const std::string& where);

/// Reads a whole config file into `text`; `dir` is its folder (absolute). Errors:
/// config_invalid ("cannot read config file x.json").
Result<void> read_config_file(const std::string& path, std::string& text, std::string& dir);

/// `path` relative to `base_dir` unless it is absolute (or either is empty).
std::string resolve_path(const std::string& base_dir, const std::string& path);

/// Parses `text` and hands the root to `parse`. Errors: config_invalid with one line for any
/// failure (syntax, type, ConfigError); syntax errors give only the byte offset (the text
/// may hold secrets).
Result<void> parse_json_config(std::string_view text,
                               const std::function<void(const json&)>& parse);

/// Reads the config file `path` and parses it with `parse(text, dir)`, `dir` being the file's
/// folder (absolute) for resolve_path(). Errors: config_invalid ("cannot read config file
/// x.json", or parse's message after "x.json: ").
template <class T>
Result<T> load_config_file(
    const std::string& path,
    const std::function<Result<T>(std::string_view, const std::string&)>& parse) {
  std::string text, dir;
  if (auto r = read_config_file(path, text, dir); !r) return r.failure();
  auto cfg = parse(text, dir);
  if (!cfg) return Failure{Errc::config_invalid, path + ": " + std::string(cfg.message())};
  return cfg;
}

}  // namespace mtop::config
