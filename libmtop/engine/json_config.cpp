#include "engine/json_config.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mtop::config {

void only_keys(const json& obj, const std::string& where,
               std::initializer_list<std::string_view> allowed) {
  if (!obj.is_object()) throw ConfigError{where + ": must be an object"};
  for (const auto& item : obj.items()) {
    bool known = false;
    for (std::string_view a : allowed) known = known || item.key() == a;
    if (!known) throw ConfigError{where + ": unknown key \"" + item.key() + "\""};
  }
}

std::string get_string(const json& obj, const char* key, const std::string& where) {
  const json& v = obj.at(key);
  if (!v.is_string()) throw ConfigError{where + "." + key + ": must be a string"};
  return v.get<std::string>();
}

bool get_bool(const json& obj, const char* key, const std::string& where) {
  const json& v = obj.at(key);
  if (!v.is_boolean()) throw ConfigError{where + "." + key + ": must be true or false"};
  return v.get<bool>();
}

double get_number(const json& obj, const char* key, const std::string& where, double min,
                  double max) {
  const json& v = obj.at(key);
  if (!v.is_number() || v.get<double>() < min || v.get<double>() > max) {
    throw ConfigError{where + "." + key + ": must be a number from " + json(min).dump() + " to " +
                      json(max).dump()};
  }
  return v.get<double>();
}

std::vector<std::string> get_strings(const json& obj, const char* key, const std::string& where) {
  const json& v = obj.at(key);
  std::vector<std::string> out;
  if (v.is_array()) {
    for (const auto& e : v) {
      if (!e.is_string()) break;
      out.push_back(e.get<std::string>());
    }
    if (out.size() == v.size()) return out;
  }
  throw ConfigError{where + "." + key + ": a list of strings"};
}

std::uint64_t get_count(const json& obj, const char* key, const std::string& where,
                        std::uint64_t min, std::uint64_t max) {
  const json& v = obj.at(key);
  if (!v.is_number_unsigned() || v.get<std::uint64_t>() < min || v.get<std::uint64_t>() > max) {
    throw ConfigError{where + "." + key + ": must be a whole number from " + std::to_string(min) +
                      " to " + std::to_string(max)};
  }
  return v.get<std::uint64_t>();
}

std::uint64_t get_seconds(const json& obj, const char* key, const std::string& where) {
  const json& v = obj.at(key);
  if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 86400.0 * 365) {
    throw ConfigError{where + "." + key + ": must be a number of seconds above 0"};
  }
  return static_cast<std::uint64_t>(std::llround(v.get<double>() * 1000.0));
}

void read_seconds(const json& obj, const std::string& where, const SecondsFields& fields) {
  if (!obj.is_object()) throw ConfigError{where + ": must be an object"};
  for (const auto& item : obj.items()) {
    const auto field = std::find_if(fields.begin(), fields.end(),
                                    [&](const auto& f) { return item.key() == f.first; });
    if (field == fields.end()) throw ConfigError{where + ": unknown key \"" + item.key() + "\""};
    *field->second = get_seconds(obj, item.key().c_str(), where);
  }
}

std::vector<TlsGroup> get_tls_groups(const json& obj, const char* key, const std::string& where) {
  std::string names;
  for (const auto& [group, name] : kTlsGroupNames)
    names += (names.empty() ? "" : ", ") + std::string(name);
  const std::string what =
      where + "." + key + ": a non-empty list of distinct groups from " + names;
  const json& v = obj.at(key);
  if (!v.is_array() || v.empty()) throw ConfigError{what};
  std::vector<TlsGroup> out;
  for (const auto& item : v) {
    // Named by position, not quoted: error text never repeats the file's content.
    const std::string at = " (entry " + std::to_string(out.size() + 1) + ")";
    const auto g = item.is_string() ? parse_tls_group(item.get<std::string>()) : std::nullopt;
    if (!g) throw ConfigError{what + at};
    for (TlsGroup seen : out) {
      if (seen == *g) throw ConfigError{what + at};
    }
    out.push_back(*g);
  }
  return out;
}

std::string resolve_path(const std::string& base_dir, const std::string& path) {
  if (path.empty() || std::filesystem::path(path).is_absolute() || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

Result<void> parse_json_config(std::string_view text,
                               const std::function<void(const json&)>& parse) {
  try {
    parse(json::parse(text));
  } catch (const json::parse_error& e) {
    // Only the position: nlohmann's message quotes the text it choked on, which may be a secret.
    return Failure{Errc::config_invalid,
                   "config is not valid JSON (syntax error at byte " + std::to_string(e.byte) + ")"};
  } catch (const json::exception& e) {
    return Failure{Errc::config_invalid, std::string("config: ") + e.what()};
  } catch (const ConfigError& e) {
    return Failure{Errc::config_invalid, e.message};
  }
  return {};
}

Result<void> read_config_file(const std::string& path, std::string& text, std::string& dir) {
  std::ifstream in(path);
  if (!in) return Failure{Errc::config_invalid, "cannot read config file " + path};
  std::stringstream content;
  content << in.rdbuf();
  text = content.str();
  dir = std::filesystem::absolute(path).parent_path().string();
  return {};
}

}  // namespace mtop::config
