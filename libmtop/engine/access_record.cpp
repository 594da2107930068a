// format_access_record (mtop/server.hpp): the access log's line for one tunnel. In the engine
// layer, beside tunnel_failure_name, because the engine fills the records.
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

#include "mtop/server.hpp"

namespace mtop {

namespace {

// RFC 3339 in UTC with milliseconds: 2026-12-07T06:30:00.123Z
std::string rfc3339(std::int64_t unix_ms) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  const auto ms = static_cast<int>(unix_ms % 1000);
  return std::string(buf, n) + "." + std::to_string(1000 + ms).substr(1) + "Z";
}

// logfmt: a bare value unless it is empty or holds a space, '=', '"' or a control byte; then
// quoted, with '"' and '\' escaped and control bytes as \n, \t or \xHH.
void append_logfmt(std::string& out, std::string_view key, std::string_view value) {
  if (!out.empty()) out += ' ';
  out += key;
  out += '=';
  bool quote = value.empty();
  for (const char c : value) {
    if (c == ' ' || c == '=' || c == '"' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      quote = true;
    }
  }
  if (!quote) {
    out += value;
    return;
  }
  out += '"';
  for (const char c : value) {
    const auto b = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (b < 0x20 || b == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

std::string format_access_record(const TunnelRecord& r, AccessLogFormat format) {
  const std::string time = rfc3339(r.end_unix_ms);
  if (format == AccessLogFormat::json) {
    // Keys in a fixed order, so that lines diff and grep alike. Invalid UTF-8 (a user name is
    // bytes from the client) is replaced, never an exception.
    nlohmann::ordered_json j;
    j["time"] = time;
    j["transport"] = r.transport;
    j["source"] = r.source;
    j["user"] = r.user;
    j["target"] = r.target;
    j["accepted"] = r.accepted;
    j["failure"] = r.failure;
    j["reason"] = r.reason;
    j["up"] = r.up;
    j["down"] = r.down;
    j["duration_ms"] = r.duration_ms;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  std::string out;
  append_logfmt(out, "time", time);
  append_logfmt(out, "transport", r.transport);
  append_logfmt(out, "source", r.source);
  append_logfmt(out, "user", r.user);
  append_logfmt(out, "target", r.target);
  append_logfmt(out, "accepted", r.accepted ? "true" : "false");
  append_logfmt(out, "failure", r.failure);
  append_logfmt(out, "reason", r.reason);
  append_logfmt(out, "up", std::to_string(r.up));
  append_logfmt(out, "down", std::to_string(r.down));
  append_logfmt(out, "duration_ms", std::to_string(r.duration_ms));
  return out;
}

}  // namespace mtop
