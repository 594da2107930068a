// SQLite session: one sqlite3* opened on a file path, with prepared statements only.
#pragma once

#include <memory>
#include <string>

#include "store/sql_connection.hpp"

struct sqlite3;

namespace mtop::store {

struct SqliteConfig {
  std::string path;              ///< database file; created by init_schema() when missing
  unsigned busy_timeout_ms = 2000;  ///< wait this long for another writer's lock, then fail
};

class SqliteConnection final : public SqlConnection {
 public:
  /// Opens the file (creating it) in WAL mode so readers never wait for the writer.
  /// Errors: store_unavailable with the reason in `error`.
  static Result<std::unique_ptr<SqliteConnection>> open(const SqliteConfig& config,
                                                        std::string& error);
  ~SqliteConnection() override;
  bool usable() const override { return true; }  // a file handle does not "disconnect"

 protected:
  Result<std::uint64_t> execute(std::string_view sql, const std::vector<SqlParam>& params) override;
  Result<std::vector<auth::UserRecord>> query_users(std::string_view sql,
                                                    const std::vector<SqlParam>& params) override;
  Result<void> run_schema() override;

 private:
  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  Errc db_fail(int rc, std::string_view what);
  sqlite3* db_;
};

}  // namespace mtop::store
