#include "auth/users_file.hpp"

#include <nlohmann/json.hpp>

#include <limits>
#include <set>

#include "auth/password_hash.hpp"
#include "auth/publish_grants.hpp"

namespace mtop::auth {

namespace {

using nlohmann::json;

// Line and column (1-based) of byte offset `pos` in `text`.
std::string position(std::string_view text, std::size_t pos) {
  pos = std::min(pos, text.size());
  std::size_t line = 1, col = 1;
  for (std::size_t i = 0; i < pos; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

// A string as a JSON literal: quoted, control characters escaped, safe for one log line.
std::string json_quoted(const std::string& s) { return json(s).dump(); }

// nlohmann's message without its prefix and without "last read: ...", which could echo
// parts of the file (hashes) into logs.
std::string parse_reason(const json::parse_error& e) {
  std::string_view what = e.what();
  const auto start = what.find("syntax error");
  if (start == std::string_view::npos) return "invalid JSON";
  what = what.substr(start);
  return std::string(what.substr(0, what.find("; last read")));
}

// An unsigned JSON integer no larger than `max`. Floats, negatives and strings are refused.
bool get_uint(const json& v, std::uint64_t max, std::uint64_t& out) {
  if (!v.is_number_unsigned()) return false;
  out = v.get<std::uint64_t>();
  return out <= max;
}

// Validates one element of "users"; returns "" or the error without its "users[i]" prefix.
std::string parse_user(const json& u, UserRecord& rec) {
  if (!u.is_object()) return "expected an object";
  // The username first (objects iterate in key order), so later errors can name the user.
  if (const auto name = u.find("username"); name != u.end()) {
    if (!name->is_string()) return "field \"username\": expected a string";
    rec.username = name->get<std::string>();
    // The MTop wire format carries a username in 1-255 bytes.
    if (rec.username.empty() || rec.username.size() > 255) {
      rec.username.clear();
      return "field \"username\": must be 1-255 bytes";
    }
  } else {
    return "missing field \"username\"";
  }
  for (const auto& [key, value] : u.items()) {
    const std::string field = "field " + json_quoted(key) + ": ";
    if (key == "username") {
      continue;
    } else if (key == "password") {
      if (!value.is_string()) return field + "expected a PHC hash string";
      rec.password_hash = value.get<std::string>();
      if (auto phc = parse_phc(rec.password_hash); !phc) return field + std::string(phc.message());
    } else if (key == "enabled") {
      if (!value.is_boolean()) return field + "expected true or false";
      rec.enabled = value.get<bool>();
    } else if (key == "expires_at") {
      if (!value.is_number_integer()) return field + "expected Unix seconds (an integer)";
      rec.expires_at = value.get<std::int64_t>();
    } else if (key == "max_tunnels") {
      std::uint64_t n = 0;
      if (!get_uint(value, std::numeric_limits<std::uint32_t>::max(), n)) {
        return field + "expected an integer 0-4294967295";
      }
      rec.max_tunnels = static_cast<std::uint32_t>(n);
    } else if (key == "quota_bytes" || key == "rate_limit") {
      std::uint64_t n = 0;
      if (!get_uint(value, std::numeric_limits<std::uint64_t>::max(), n)) {
        return field + "expected a non-negative integer";
      }
      (key == "quota_bytes" ? rec.quota_bytes : rec.rate_limit) = n;
    } else if (key == "publish") {
      // Reverse-tunnel binds (publish_grants.hpp); kept as text, as every store keeps it.
      if (!value.is_string()) return field + "expected a text like \"8000-8099\"";
      if (auto g = PublishGrants::parse(value.get<std::string>()); !g) {
        return field + std::string(g.message());
      }
      rec.publish = value.get<std::string>();
    } else {
      return "unknown field " + json_quoted(key);
    }
  }
  if (rec.password_hash.empty()) return "missing field \"password\"";
  return {};
}

}  // namespace

Result<std::vector<UserRecord>> parse_users_file(std::string_view text) {
  auto fail = [](std::string why) { return Failure{Errc::invalid_argument, std::move(why)}; };
  if (text.size() > kMaxUsersFileSize) {
    return fail("file larger than " + std::to_string(kMaxUsersFileSize) + " bytes");
  }
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    // e.byte is 1-based and points just past the offending character.
    return fail(position(text, e.byte > 0 ? e.byte - 1 : 0) + ": " + parse_reason(e));
  }
  if (!doc.is_object()) return fail("top level: expected an object {\"users\": [...]}");
  for (const auto& [key, value] : doc.items()) {
    if (key != "users") return fail("top level: unknown field " + json_quoted(key));
  }
  const auto users = doc.find("users");
  if (users == doc.end() || !users->is_array()) {
    return fail("top level: \"users\" must be an array");
  }
  std::vector<UserRecord> out;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < users->size(); ++i) {
    UserRecord rec;
    std::string err = parse_user((*users)[i], rec);
    std::string where = "users[" + std::to_string(i) + "]";
    if (!rec.username.empty()) where += " (" + json_quoted(rec.username) + ")";
    if (err.empty() && !seen.insert(rec.username).second) err = "duplicate username";
    if (!err.empty()) return fail(where + ": " + err);
    out.push_back(std::move(rec));
  }
  return out;
}

}  // namespace mtop::auth
