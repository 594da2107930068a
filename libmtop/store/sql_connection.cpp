#include "store/sql_connection.hpp"

#include <ctime>
#include <limits>

#include "auth/publish_grants.hpp"

namespace mtop::store {
namespace {

constexpr std::uint64_t kMaxStored = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

SqlParam opt_param(std::optional<std::uint64_t> v) {
  if (!v) return std::monostate{};
  return static_cast<std::int64_t>(*v);
}

bool fits(std::optional<std::uint64_t> v) { return !v || *v <= kMaxStored; }

std::string too_old(int version) {
  return "the users database has schema version " + std::to_string(version) +
         "; this program needs " + std::to_string(kUserSchemaVersion) +
         ": back it up, then run `mtop-server db migrate`";
}

std::string too_new(int version) {
  return "the users database has schema version " + std::to_string(version) +
         ", newer than this program's " + std::to_string(kUserSchemaVersion) +
         ": use a newer mtop-server";
}

}  // namespace

bool valid_username(std::string_view name) noexcept {
  return !name.empty() && name.size() <= kMaxUsernameBytes &&
         name.find('\0') == std::string_view::npos;
}

Errc SqlConnection::fail(Errc code, std::string message) {
  error_ = std::move(message);
  return code;
}

Result<std::int64_t> SqlConnection::count_columns(std::string_view table, std::string_view column) {
  auto n = query_int(
      dialect().count_columns,
      {SqlParam(std::string(table)), SqlParam(std::string(column)), SqlParam(std::string(column))});
  if (!n) return n.error();
  return n->value_or(0);
}

Result<int> SqlConnection::schema_version() {
  error_.clear();
  auto users = count_columns("mtop_users", "");
  if (!users) return users.error();
  if (*users == 0) return 0;
  auto versioned = count_columns("mtop_schema", "");
  if (!versioned) return versioned.error();
  if (*versioned > 0) {
    auto v = query_int("SELECT max(version) FROM mtop_schema", {});
    if (!v) return v.error();
    if (*v) return static_cast<int>(**v);
  }
  // No version recorded: a schema from before versions, or (MySQL, whose DDL is not
  // transactional) a migration cut short after its column was added.
  auto publish = count_columns("mtop_users", "publish");
  if (!publish) return publish.error();
  return *publish > 0 ? 2 : 1;
}

Result<bool> SqlConnection::has_publish() {
  const auto now = std::chrono::steady_clock::now();
  if (publish_ == true || (publish_ && now - publish_checked_ < kRecheckPublish)) return *publish_;
  auto all = count_columns("mtop_users", "");
  if (!all) return all.error();
  if (*all == 0) {
    // No table at all: not an old schema. Read as if current; the statement says what is
    // missing.
    publish_.reset();
    return true;
  }
  auto n = count_columns("mtop_users", "publish");
  if (!n) return n.error();
  publish_ = *n > 0;
  publish_checked_ = now;
  return *publish_;
}

Result<std::string> SqlConnection::select_users(std::string_view rest) {
  auto publish = has_publish();
  if (!publish) return publish.error();
  std::string sql = "SELECT ";
  sql += kUserColumns;
  sql += *publish ? ", publish" : ", '' AS publish";
  sql += " FROM mtop_users ";
  sql += rest;
  return sql;
}

Result<void> SqlConnection::commit_or_rollback(bool commit) {
  Result<std::uint64_t> committed = Errc::store_query_failed;
  if (commit) {
    committed = execute("COMMIT", {});
    if (committed) return {};
  }
  std::string why = error_;
  (void)execute("ROLLBACK", {});  // a lost connection rolls back by itself
  error_ = std::move(why);
  if (commit) return committed.error();
  return {};
}

Result<void> SqlConnection::init_schema() {
  error_.clear();
  if (auto r = begin_schema_change(); !r) return r;
  auto r = init_locked();
  auto ended = end_schema_change(bool(r));
  if (!r) return r;
  return ended;
}

Result<void> SqlConnection::init_locked() {
  auto v = schema_version();
  if (!v) return v.error();
  if (*v != 0 && *v < kUserSchemaVersion) return fail(Errc::store_query_failed, too_old(*v));
  if (*v > kUserSchemaVersion) return fail(Errc::store_query_failed, too_new(*v));
  return run_script(dialect().schema);
}

Result<int> SqlConnection::migrate_schema() {
  error_.clear();
  if (auto r = begin_schema_change(); !r) return r.error();
  auto r = migrate_locked();
  auto ended = end_schema_change(bool(r));
  if (!r) return r;
  if (!ended) return ended.error();
  publish_.reset();  // read the new shape at once
  return r;
}

Result<int> SqlConnection::migrate_locked() {
  auto v = schema_version();
  if (!v) return v.error();
  if (*v == 0)
    return fail(Errc::store_query_failed,
                "no mtop_users table in this database: create it with `mtop-server db init`");
  if (*v > kUserSchemaVersion) return fail(Errc::store_query_failed, too_new(*v));
  if (*v == kUserSchemaVersion) return *v;
  // Each step checks before it acts: MySQL commits DDL as it goes, so a run cut short is
  // finished by the next one instead of failing on what the first one did.
  auto publish = count_columns("mtop_users", "publish");
  if (!publish) return publish.error();
  if (*publish == 0) {
    if (auto r = run_script(dialect().to_v2); !r) return r.error();
  }
  // The current schema script adds what is new elsewhere (mtop_schema, PostgreSQL's trigger).
  if (auto r = run_script(dialect().schema); !r) return r.error();
  auto set =
      execute("UPDATE mtop_schema SET version = ?", {SqlParam(std::int64_t{kUserSchemaVersion})});
  if (!set) return set.error();
  return *v;
}

Result<void> SqlConnection::add(const auth::UserRecord& u) {
  error_.clear();
  if (!valid_username(u.username))
    return fail(Errc::invalid_argument, "user name must be 1 to 255 bytes without NUL");
  if (u.password_hash.empty() || u.password_hash.size() > kMaxPasswordHashBytes)
    return fail(Errc::invalid_argument, "password hash must be 1 to 1024 bytes");
  if (!fits(u.quota_bytes) || !fits(u.rate_limit) || u.used_bytes > kMaxStored)
    return fail(Errc::invalid_argument, "byte counts must be below 2^63");
  if (auto g = auth::PublishGrants::parse(u.publish); !g)
    return fail(Errc::invalid_argument, std::string(g.message()));
  auto publish = has_publish();
  if (!publish) return publish.error();
  if (!*publish && !u.publish.empty()) return fail(Errc::store_query_failed, too_old(1));
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
  std::string sql = "INSERT INTO mtop_users (";
  sql += kUserColumns;
  if (*publish) {
    // A version 1 table has no publish column; an empty one is what it means anyway.
    p.emplace_back(u.publish);
    sql += ", publish) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
  } else {
    sql += ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
  }
  auto r = execute(sql, p);
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
  auto sql = select_users("ORDER BY username");
  if (!sql) return sql.error();
  return query_users(*sql, {});
}

Result<std::optional<auth::UserRecord>> SqlConnection::find_user(std::string_view username) {
  error_.clear();
  if (!valid_username(username)) return std::optional<auth::UserRecord>{};
  auto sql = select_users("WHERE username = ?");
  if (!sql) return sql.error();
  auto rows = query_users(*sql, {SqlParam(std::string(username))});
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

Result<void> SqlConnection::set_publish(std::string_view username, std::string_view grants) {
  error_.clear();
  if (auto g = auth::PublishGrants::parse(grants); !g)
    return fail(Errc::invalid_argument, std::string(g.message()));
  auto publish = has_publish();
  if (!publish) return publish.error();
  if (!*publish) return fail(Errc::store_query_failed, too_old(1));
  return update_one("UPDATE mtop_users SET publish = ?, updated_at = ? WHERE username = ?",
                    {SqlParam(std::string(grants))}, username);
}

Result<void> SqlConnection::add_usage(const UsageBatch& batch) {
  error_.clear();
  if (batch.empty()) return {};
  auto begun = execute("BEGIN", {});
  if (!begun) return begun.error();
  auto r = transaction(batch);
  auto ended = commit_or_rollback(bool(r));
  if (!r) return r;
  return ended;
}

Result<void> SqlConnection::transaction(const UsageBatch& batch) {
  for (const auto& [name, bytes] : batch) {
    if (!valid_username(name) || bytes == 0) continue;
    auto n = execute("UPDATE mtop_users SET used_bytes = used_bytes + ? WHERE username = ?",
                     {SqlParam(static_cast<std::int64_t>(bytes > kMaxStored ? kMaxStored : bytes)),
                      SqlParam(name)});
    if (!n) return n.error();
  }
  return {};
}

}  // namespace mtop::store
