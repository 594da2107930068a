// SqlConnection: one session with a user database, used by one thread at a time. The SQL and
// the rules (validation, error words, transactions) live here once; each backend (SQLite,
// PostgreSQL, MySQL) supplies only a handful of primitives that run one parameterised
// statement. Statement text is always a constant of ours; user text only ever travels as a
// bound parameter.
#pragma once

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
  const std::string& last_error() const override { return error_; }

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
  /// Runs a SELECT whose columns are kUserColumns in that order.
  virtual Result<std::vector<auth::UserRecord>> query_users(
      std::string_view sql, const std::vector<SqlParam>& params) = 0;
  /// Runs the backend's schema script (no parameters).
  virtual Result<void> run_schema() = 0;

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
};

/// Column list every query_users() SELECT uses, in this order.
inline constexpr std::string_view kUserColumns =
    "username, password_hash, enabled, expires_at, max_tunnels, quota_bytes, used_bytes, "
    "rate_limit";

/// True when `name` can be a user name in the schema (1..255 bytes, no NUL).
bool valid_username(std::string_view name) noexcept;

}  // namespace mtop::store
