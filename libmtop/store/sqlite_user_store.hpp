// SqliteUserStore: users in a SQLite file, looked up off the loop (see database_user_store.hpp).
// For the admin operations open a SqliteConnection (a UserAdmin) directly.
#pragma once

#include <memory>

#include "store/database_user_store.hpp"
#include "store/sqlite_connection.hpp"

namespace mtop::store {

class SqliteUserStore final : public DatabaseUserStore {
 public:
  /// Starts the workers; connections are opened on first use, so a database that is down
  /// now is not an error here (lookups answer unavailable until it is back).
  /// Errors: invalid_argument (options), invalid_state (libuv).
  static Result<std::unique_ptr<SqliteUserStore>> open(uv_loop_t* loop, SqliteConfig config,
                                                     DatabaseStoreOptions options = {});

 private:
  using DatabaseUserStore::DatabaseUserStore;
};

}  // namespace mtop::store
