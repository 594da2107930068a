// One entry point for the server and the command line: a database named by a URI becomes a
// UserAdmin (synchronous, for `mtop-server user ...` / `db init`) or a UserStore (asynchronous,
// for the running server). Which backends exist depends on the build (MTOP_HAVE_SQLITE, ...).
//
//   sqlite:/var/lib/mtop/users.db        (also sqlite:///var/lib/mtop/users.db)
//   postgresql://user:pw@host:5432/db    (also postgres://...; or postgres:host=... dbname=...)
//   mysql://user:pw@host:3306/db         (also mariadb://...)
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <string_view>

#include "store/database_user_store.hpp"
#include "store/user_admin.hpp"

namespace mtop::store {

enum class Backend { sqlite, postgres, mysql };

struct DatabaseTarget {
  Backend backend = Backend::sqlite;
  std::string location;  ///< SQLite path, PostgreSQL conninfo/URI, or the MySQL URI
};

/// Splits a database URI. Errors: invalid_argument (unknown scheme, empty location, or a
/// backend this build does not include), with the reason as the message.
Result<DatabaseTarget> parse_database_uri(std::string_view uri);

/// Connects for admin work. Errors: those of parse_database_uri, store_unavailable.
Result<std::unique_ptr<UserAdmin>> open_user_admin(std::string_view uri);

/// Starts an asynchronous store (it connects on first use). `listen` turns on PostgreSQL
/// change notifications and is ignored by the other backends.
Result<std::unique_ptr<DatabaseUserStore>> open_user_store(uv_loop_t* loop, std::string_view uri,
                                                           DatabaseStoreOptions options = {},
                                                           bool listen = false);

}  // namespace mtop::store
