#include "store/sql_connection.hpp"

#include <ctime>
#include <limits>

namespace mtop::store {
namespace {

constexpr std::uint64_t kMaxStored = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

SqlParam opt_param(std::optional<std::uint64_t> v) {
  if (!v) return std::monostate{};
  return static_cast<std::int64_t>(*v);
}

bool fits(std::optional<std::uint64_t> v) { return !v || *v <= kMaxStored; }

}  // namespace

bool valid_username(std::string_view name) noexcept {
  return !name.empty() && name.size() <= kMaxUsernameBytes &&
         name.find('\0') == std::string_view::npos;
}

Errc SqlConnection::fail(Errc code, std::string message) {
  error_ = std::move(message);
  return code;
}

Result<void> SqlConnection::init_schema() {
  error_.clear();
  return run_schema();
}

Result<void> SqlConnection::add(const auth::UserRecord& u) {
  error_.clear();
  if (!valid_username(u.username))
    return fail(Errc::invalid_argument, "user name must be 1 to 255 bytes without NUL");
  if (u.password_hash.empty() || u.password_hash.size() > kMaxPasswordHashBytes)
    return fail(Errc::invalid_argument, "password hash must be 1 to 1024 bytes");
  if (!fits(u.quota_bytes) || !fits(u.rate_limit) || u.used_bytes > kMaxStored)
    return fail(Errc::invalid_argument, "byte counts must be below 2^63");
  std::vector<SqlParam> p;
  p.emplace_back(u.username);
  p.emplace_back(u.password_hash);
  p.emplace_back(std::int64_t{u.enabled ? 1 : 0});
  p.emplace_back(u.expires_at ? SqlParam(*u.expires_at) : SqlParam(std::monostate{}));
  p.emplace_back(u.max_tunnels ? SqlParam(std::int64_t{*u.max_tunnels})
                               : SqlParam(std::monostate{}));
  p.emplace_back(opt_param(u.quota_bytes));
  p.emplace_back(static_cast<std::int64_t>(u.used_bytes));
  p.emplace_back(opt_param(u.rate_limit));
  auto r = execute(
      "INSERT INTO mtop_users (username, password_hash, enabled, expires_at, max_tunnels, "
      "quota_bytes, used_bytes, rate_limit) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      p);
  if (!r) {
    if (r.error() == Errc::store_duplicate_user)
      error_ = "user '" + u.username + "' exists already";
    return r.error();
  }
  return {};
}

Result<void> SqlConnection::del(std::string_view username) {
  error_.clear();
  if (!valid_username(username))
    return fail(Errc::store_no_such_user, "no user '" + std::string(username) + "'");
  auto n = execute("DELETE FROM mtop_users WHERE username = ?", {SqlParam(std::string(username))});
  if (!n) return n.error();
  if (*n == 0) return fail(Errc::store_no_such_user, "no user '" + std::string(username) + "'");
  return {};
}

Result<std::vector<auth::UserRecord>> SqlConnection::list() {
  error_.clear();
  std::string sql = "SELECT ";
  sql += kUserColumns;
  sql += " FROM mtop_users ORDER BY username";
  return query_users(sql, {});
}

Result<std::optional<auth::UserRecord>> SqlConnection::find_user(std::string_view username) {
  error_.clear();
  if (!valid_username(username)) return std::optional<auth::UserRecord>{};
  std::string sql = "SELECT ";
  sql += kUserColumns;
  sql += " FROM mtop_users WHERE username = ?";
  auto rows = query_users(sql, {SqlParam(std::string(username))});
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<auth::UserRecord>{};
  return std::optional<auth::UserRecord>(std::move(rows->front()));
}

Result<auth::UserRecord> SqlConnection::get(std::string_view username) {
  auto r = find_user(username);
  if (!r) return r.error();
  if (!*r) return fail(Errc::store_no_such_user, "no user '" + std::string(username) + "'");
  return std::move(**r);
}

Result<void> SqlConnection::update_one(std::string_view sql, std::vector<SqlParam> params,
                                       std::string_view username) {
  error_.clear();
  if (!valid_username(username))
    return fail(Errc::store_no_such_user, "no user '" + std::string(username) + "'");
  params.emplace_back(static_cast<std::int64_t>(std::time(nullptr)));
  params.emplace_back(std::string(username));
  auto n = execute(sql, params);
  if (!n) return n.error();
  if (*n == 0) return fail(Errc::store_no_such_user, "no user '" + std::string(username) + "'");
  return {};
}

// Every UPDATE below ends in "updated_at = ? WHERE username = ?": update_one() binds those two.
Result<void> SqlConnection::set_password_hash(std::string_view username, std::string_view phc) {
  if (phc.empty() || phc.size() > kMaxPasswordHashBytes)
    return fail(Errc::invalid_argument, "password hash must be 1 to 1024 bytes");
  return update_one("UPDATE mtop_users SET password_hash = ?, updated_at = ? WHERE username = ?",
                    {SqlParam(std::string(phc))}, username);
}

Result<void> SqlConnection::set_enabled(std::string_view username, bool enabled) {
  return update_one(
      "UPDATE mtop_users SET enabled = ?, updated_at = ? WHERE username = ?",
      {SqlParam(std::int64_t{enabled ? 1 : 0})}, username);
}

Result<void> SqlConnection::set_quota(std::string_view username,
                                      std::optional<std::uint64_t> bytes, bool reset_used) {
  if (!fits(bytes)) return fail(Errc::invalid_argument, "quota must be below 2^63 bytes");
  if (reset_used)
    return update_one("UPDATE mtop_users SET quota_bytes = ?, used_bytes = 0, updated_at = ?"
                      " WHERE username = ?",
                      {opt_param(bytes)}, username);
  return update_one(
      "UPDATE mtop_users SET quota_bytes = ?, updated_at = ? WHERE username = ?",
      {opt_param(bytes)}, username);
}

Result<void> SqlConnection::set_rate_limit(std::string_view username,
                                           std::optional<std::uint64_t> bytes_per_second) {
  if (!fits(bytes_per_second))
    return fail(Errc::invalid_argument, "rate limit must be below 2^63 bytes/s");
  return update_one(
      "UPDATE mtop_users SET rate_limit = ?, updated_at = ? WHERE username = ?",
      {opt_param(bytes_per_second)}, username);
}

Result<void> SqlConnection::set_max_tunnels(std::string_view username,
                                            std::optional<std::uint32_t> max_tunnels) {
  return update_one(
      "UPDATE mtop_users SET max_tunnels = ?, updated_at = ? WHERE username = ?",
      {max_tunnels ? SqlParam(std::int64_t{*max_tunnels}) : SqlParam(std::monostate{})},
      username);
}

Result<void> SqlConnection::set_expiry(std::string_view username,
                                       std::optional<std::int64_t> expires_at) {
  return update_one(
      "UPDATE mtop_users SET expires_at = ?, updated_at = ? WHERE username = ?",
      {expires_at ? SqlParam(*expires_at) : SqlParam(std::monostate{})}, username);
}

Result<void> SqlConnection::add_usage(const UsageBatch& batch) {
  error_.clear();
  if (batch.empty()) return {};
  auto begun = execute("BEGIN", {});
  if (!begun) return begun.error();
  auto r = transaction(batch);
  if (!r) {
    std::string why = error_;
    (void)execute("ROLLBACK", {});  // a lost connection rolls back by itself
    error_ = std::move(why);
    return r;
  }
  return {};
}

Result<void> SqlConnection::transaction(const UsageBatch& batch) {
  for (const auto& [name, bytes] : batch) {
    if (!valid_username(name) || bytes == 0) continue;
    auto n = execute("UPDATE mtop_users SET used_bytes = used_bytes + ? WHERE username = ?",
                     {SqlParam(static_cast<std::int64_t>(bytes > kMaxStored ? kMaxStored : bytes)),
                      SqlParam(name)});
    if (!n) return n.error();
  }
  auto c = execute("COMMIT", {});
  if (!c) return c.error();
  return {};
}

}  // namespace mtop::store
