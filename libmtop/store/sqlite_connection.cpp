#include "store/sqlite_connection.hpp"

#include <sqlite3.h>

#include "store/schema_sql.hpp"

namespace mtop::store {
namespace {

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

struct DbDeleter {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};

int bind_all(sqlite3_stmt* st, const std::vector<SqlParam>& params) {
  int i = 1;
  for (const auto& p : params) {
    int rc = SQLITE_OK;
    if (std::holds_alternative<std::monostate>(p)) {
      rc = sqlite3_bind_null(st, i);
    } else if (const auto* n = std::get_if<std::int64_t>(&p)) {
      rc = sqlite3_bind_int64(st, i, *n);
    } else {
      const auto& s = std::get<std::string>(p);
      rc = sqlite3_bind_text(st, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
    if (rc != SQLITE_OK) return rc;
    ++i;
  }
  return SQLITE_OK;
}

std::string column_text(sqlite3_stmt* st, int col) {
  const auto* p = sqlite3_column_text(st, col);
  return p ? std::string(reinterpret_cast<const char*>(p),
                         static_cast<std::size_t>(sqlite3_column_bytes(st, col)))
           : std::string();
}

bool is_null(sqlite3_stmt* st, int col) {
  return sqlite3_column_type(st, col) == SQLITE_NULL;
}

}  // namespace

namespace {

class SqliteConnection final : public SqlConnection {
 public:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  ~SqliteConnection() override { sqlite3_close_v2(db_); }
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;
  bool usable() const override { return true; }  // a file handle does not "disconnect"

 protected:
  Result<std::uint64_t> execute(std::string_view sql,
                                const std::vector<SqlParam>& params) override {
    auto st = prepare(sql, params);
    if (!st) return st.error();
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(st->get())) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) return db_fail(rc, "SQLite statement failed");
    return static_cast<std::uint64_t>(sqlite3_changes(db_));
  }
  Result<std::vector<auth::UserRecord>> query_users(std::string_view sql,
                                                    const std::vector<SqlParam>& params) override {
    auto st = prepare(sql, params);
    if (!st) return st.error();
    int rc = SQLITE_OK;
    std::vector<auth::UserRecord> out;
    while ((rc = sqlite3_step(st->get())) == SQLITE_ROW) {
      auth::UserRecord u;
      u.username = column_text(st->get(), 0);
      u.password_hash = column_text(st->get(), 1);
      u.enabled = sqlite3_column_int64(st->get(), 2) != 0;
      if (!is_null(st->get(), 3)) u.expires_at = sqlite3_column_int64(st->get(), 3);
      if (!is_null(st->get(), 4)) u.max_tunnels = to_u32(sqlite3_column_int64(st->get(), 4));
      if (!is_null(st->get(), 5)) u.quota_bytes = to_u64(sqlite3_column_int64(st->get(), 5));
      u.used_bytes = to_u64(sqlite3_column_int64(st->get(), 6));
      if (!is_null(st->get(), 7)) u.rate_limit = to_u64(sqlite3_column_int64(st->get(), 7));
      u.publish = column_text(st->get(), 8);
      out.push_back(std::move(u));
    }
    if (rc != SQLITE_DONE) return db_fail(rc, "SQLite query failed");
    return out;
  }
  Result<std::optional<std::int64_t>> query_int(std::string_view sql,
                                                const std::vector<SqlParam>& params) override {
    auto st = prepare(sql, params);
    if (!st) return st.error();
    const int rc = sqlite3_step(st->get());
    if (rc == SQLITE_DONE) return std::optional<std::int64_t>{};
    if (rc != SQLITE_ROW) return db_fail(rc, "SQLite query failed");
    if (is_null(st->get(), 0)) return std::optional<std::int64_t>{};
    return std::optional<std::int64_t>(sqlite3_column_int64(st->get(), 0));
  }
  const Dialect& dialect() const override {
    static constexpr Dialect kDialect{
        kSqliteSchema, kSqliteToV2,
        "SELECT count(*) FROM pragma_table_info(?) WHERE (? = '' OR name = ?)"};
    return kDialect;
  }
  // IMMEDIATE: the write lock from the start, so two migrations cannot both read version 1.
  Result<void> begin_schema_change() override {
    auto r = execute("BEGIN IMMEDIATE", {});
    if (!r) return r.error();
    return {};
  }
  Result<void> end_schema_change(bool commit) override { return commit_or_rollback(commit); }
  Result<void> run_script(std::string_view script) override {
    char* msg = nullptr;
    int rc = sqlite3_exec(db_, std::string(script).c_str(), nullptr, nullptr, &msg);
    if (rc != SQLITE_OK) {
      std::string why = std::string("SQLite schema failed: ") + (msg ? msg : sqlite3_errstr(rc));
      sqlite3_free(msg);
      return fail((rc & 0xff) == SQLITE_BUSY ? Errc::store_unavailable : Errc::store_query_failed,
                  std::move(why));
    }
    return {};
  }

 private:
  /// `sql` prepared with `params` bound; on failure the error is recorded (db_fail).
  Result<Stmt> prepare(std::string_view sql, const std::vector<SqlParam>& params) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
    Stmt st(raw);
    if (rc != SQLITE_OK) return db_fail(rc, "SQLite prepare failed");
    if ((rc = bind_all(st.get(), params)) != SQLITE_OK) return db_fail(rc, "SQLite bind failed");
    return st;
  }
  Errc db_fail(int rc, std::string_view what) {
    std::string msg = std::string(what) + ": " + sqlite3_errmsg(db_);
    int primary = rc & 0xff;
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
      return fail(Errc::store_duplicate_user, std::move(msg));
    // A lock held too long by someone else, or a file we cannot read: the store is unavailable
    // now and may work again later (the caller retries with back-off).
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_IOERR ||
        primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY || primary == SQLITE_FULL)
      return fail(Errc::store_unavailable, std::move(msg));
    return fail(Errc::store_query_failed, std::move(msg));
  }
  sqlite3* db_;
};

}  // namespace

Result<std::unique_ptr<SqlConnection>> open_sqlite(const SqliteConfig& config) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(config.path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<sqlite3, DbDeleter> db(raw);
  if (rc != SQLITE_OK) {
    return Failure{Errc::store_unavailable, "cannot open SQLite database '" + config.path + "': " +
                                                (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc))};
  }
  sqlite3_busy_timeout(db.get(), static_cast<int>(config.busy_timeout_ms));
  sqlite3_extended_result_codes(db.get(), 1);
  // WAL: lookups (readers) are never blocked by a usage write-back or an admin change.
  char* msg = nullptr;
  rc = sqlite3_exec(db.get(), "PRAGMA journal_mode=WAL", nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    std::string why =
        "cannot use SQLite database '" + config.path + "': " + (msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return Failure{Errc::store_unavailable, std::move(why)};
  }
  return std::unique_ptr<SqlConnection>(std::make_unique<SqliteConnection>(db.release()));
}

}  // namespace mtop::store
