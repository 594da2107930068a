// SqlConnection: one session with a user database, used by one thread at a time. The SQL and
// the rules (validation, error words, transactions) live here once; each backend (SQLite,
// PostgreSQL, MySQL) supplies only a handful of primitives that run one parameterised
// statement. Statement text is always a constant of ours; user text only ever travels as a
// bound parameter.
//
// Schema versions (docs/USERS.md "Schema versions"). init_schema() creates the current schema
// and migrate_schema() upgrades an older one; neither happens behind an operator's back. A
// server on a version 1 database keeps working: reads select '' for the missing publish
// column, so every user has no publish grants, and writes leave it out. publish_column()
// says which shape the last read found, for the store to log once.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "auth/user_store.hpp"
#include "mtop/result.hpp"
#include "store/user_admin.hpp"

namespace mtop::store {

/// A bound parameter: NULL, an integer or text.
using SqlParam = std::variant<std::monostate, std::int64_t, std::string>;

/// Per-user byte counts for one usage write-back.
using UsageBatch = std::vector<std::pair<std::string, std::uint64_t>>;

class SqlConnection : public UserAdmin {
 public:
  // UserAdmin, implemented once for every backend.
  Result<void> init_schema() override;
  Result<int> migrate_schema() override;
  Result<void> add(const auth::UserRecord& user) override;
  Result<void> del(std::string_view username) override;
  Result<std::vector<auth::UserRecord>> list() override;
  Result<auth::UserRecord> get(std::string_view username) override;
  Result<void> set_password_hash(std::string_view username, std::string_view phc) override;
  Result<void> set_enabled(std::string_view username, bool enabled) override;
  Result<void> set_quota(std::string_view username, std::optional<std::uint64_t> bytes,
                         bool reset_used) override;
  Result<void> set_rate_limit(std::string_view username,
                              std::optional<std::uint64_t> bytes_per_second) override;
  Result<void> set_max_tunnels(std::string_view username,
                               std::optional<std::uint32_t> max_tunnels) override;
  Result<void> set_expiry(std::string_view username,
                          std::optional<std::int64_t> expires_at) override;
  Result<void> set_publish(std::string_view username, std::string_view grants) override;
  const std::string& last_error() const override { return error_; }

  /// The schema version of the database: 0 when it has no mtop_users table, 1 for one from
  /// before versions were recorded, else mtop_schema's. Errors: store_unavailable,
  /// store_query_failed.
  Result<int> schema_version();

  /// Whether mtop_users had the publish column when last checked; nullopt before the first
  /// check or while the table is missing. A connection checks on first use and, while the
  /// column is missing, again at most every kRecheckPublish, so that a running server sees a
  /// migration without a restart.
  std::optional<bool> publish_column() const { return publish_; }
  static constexpr std::chrono::seconds kRecheckPublish{30};

  /// The user, or nullopt when there is none. A name that cannot exist (empty, too long)
  /// is simply not found. Errors: store_unavailable, store_query_failed.
  Result<std::optional<auth::UserRecord>> find_user(std::string_view username);

  /// Adds each count to used_bytes with `used_bytes = used_bytes + ?` (so several servers
  /// sharing the database add up), all in one transaction: either every count is written
  /// or none is. Users deleted meanwhile are skipped.
  Result<void> add_usage(const UsageBatch& batch);

  /// False once the session is known to be broken (server gone); the owner opens a new one.
  virtual bool usable() const = 0;

 protected:
  /// Runs one statement with `?` placeholders; returns the number of rows it changed.
  /// Must map a primary-key violation to store_duplicate_user and a lost connection to
  /// store_unavailable, and set error_ through fail().
  virtual Result<std::uint64_t> execute(std::string_view sql,
                                        const std::vector<SqlParam>& params) = 0;
  /// Runs a SELECT whose columns are kUserColumns, then publish (kUserColumnCount in all).
  virtual Result<std::vector<auth::UserRecord>> query_users(
      std::string_view sql, const std::vector<SqlParam>& params) = 0;
  /// Runs a SELECT of one integer column: the first row's value, nullopt for no row or NULL.
  virtual Result<std::optional<std::int64_t>> query_int(std::string_view sql,
                                                        const std::vector<SqlParam>& params) = 0;
  /// Runs a script of our own (sql/*.sql; no parameters).
  virtual Result<void> run_script(std::string_view script) = 0;

  /// The backend's SQL for what each database says its own way.
  struct Dialect {
    std::string_view schema;  ///< sql/<backend>.sql, the current schema; idempotent
    std::string_view to_v2;   ///< sql/migrate/<backend>-2.sql
    /// SELECT count(*) of the columns of table ?1 (in the session's schema / database) named
    /// ?2, or of all of them when ?2 = ''; the parameters are (table, column, column).
    std::string_view count_columns;
  };
  virtual const Dialect& dialect() const = 0;
  /// Starts a schema change that no other session makes at the same time: a transaction
  /// where DDL is transactional, and a lock of the database's own. end_schema_change() commits
  /// (or rolls back) and releases it; after a failure (commit = false) it keeps error_.
  virtual Result<void> begin_schema_change() = 0;
  virtual Result<void> end_schema_change(bool commit) = 0;
  /// COMMIT, or ROLLBACK keeping error_ (a failed COMMIT rolls back too and is the error).
  Result<void> commit_or_rollback(bool commit);

  /// Records the words for a failure and returns its code.
  Errc fail(Errc code, std::string message);

  /// Clamps a stored integer into the record's field types (the schema's CHECKs keep
  /// values in range; this guards against hand edits).
  static std::uint64_t to_u64(std::int64_t v) { return v < 0 ? 0 : static_cast<std::uint64_t>(v); }
  static std::uint32_t to_u32(std::int64_t v) {
    return v < 0 ? 0 : v > 0xffffffffLL ? 0xffffffffu : static_cast<std::uint32_t>(v);
  }

  std::string error_;

 private:
  Result<void> update_one(std::string_view sql, std::vector<SqlParam> params,
                          std::string_view username);
  Result<void> transaction(const UsageBatch& batch);
  /// Counts as Dialect::count_columns does.
  Result<std::int64_t> count_columns(std::string_view table, std::string_view column);
  /// Checks for the publish column when due (see publish_column()); the answer for a read.
  Result<bool> has_publish();
  /// init_schema() and migrate_schema() inside begin/end_schema_change().
  Result<void> init_locked();
  Result<int> migrate_locked();
  /// "SELECT <kUserColumns>, publish FROM mtop_users " + rest, with '' for publish on a
  /// version 1 database.
  Result<std::string> select_users(std::string_view rest);

  std::optional<bool> publish_;
  std::chrono::steady_clock::time_point publish_checked_{};
};

/// Column list every query_users() SELECT uses, in this order, then publish (read as '' from
/// a version 1 database, which has no such column): kUserColumnCount columns in all.
inline constexpr std::string_view kUserColumns =
    "username, password_hash, enabled, expires_at, max_tunnels, quota_bytes, used_bytes, "
    "rate_limit";
inline constexpr int kUserColumnCount = 9;

/// True when `name` can be a user name in the schema (1..255 bytes, no NUL).
bool valid_username(std::string_view name) noexcept;

}  // namespace mtop::store
