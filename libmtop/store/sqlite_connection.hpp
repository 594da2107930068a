// SQLite session: one sqlite3* opened on a file path, with prepared statements only.
// The class is private to sqlite_connection.cpp; the rest of the store sees a SqlConnection.
#pragma once

#include <memory>
#include <string>

#include "store/sql_connection.hpp"

namespace mtop::store {

struct SqliteConfig {
  std::string path;                 ///< database file; created by init_schema() when missing
  unsigned busy_timeout_ms = 2000;  ///< wait this long for another writer's lock, then fail
};

/// Opens the file (creating it) in WAL mode so readers never wait for the writer: a
/// SqlConnection (a UserAdmin) with prepared statements only. Errors: store_unavailable with
/// the reason.
Result<std::unique_ptr<SqlConnection>> open_sqlite(const SqliteConfig& config);

}  // namespace mtop::store
