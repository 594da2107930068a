// PostgresUserStore: users in a PostgreSQL server, looked up off the loop (see database_user_store.hpp).
// For the admin operations open a PostgresConnection (a UserAdmin) directly.
#pragma once

#include <memory>

#include "store/database_user_store.hpp"
#include "store/postgres_connection.hpp"
#include "store/postgres_listener.hpp"

namespace mtop::store {

class PostgresUserStore final : public DatabaseUserStore {
 public:
  /// Starts the workers (and the change listener when config.listen); connections are opened on first use, so a database that is down
  /// now is not an error here (lookups answer unavailable until it is back).
  /// Errors: invalid_argument (options), invalid_state (libuv).
  static Result<std::unique_ptr<PostgresUserStore>> open(uv_loop_t* loop, PostgresConfig config,
                                                     DatabaseStoreOptions options = {});

 private:
  using DatabaseUserStore::DatabaseUserStore;
  std::unique_ptr<PostgresListener> listener_;  // stopped before the base class goes
};

}  // namespace mtop::store
