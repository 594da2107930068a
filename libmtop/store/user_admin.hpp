// UserAdmin: the administrative operations on a database user store, for the command line
// (`mtop-server user add ...`, `mtop-server db init`). Every call is synchronous and blocks the
// calling thread: never use it on a libuv loop (the server uses the asynchronous stores).
//
// Errors: each call returns a Result; last_error() then says what went wrong in words, with the
// database's own message where there is one:
//   store_unavailable     connecting failed or the connection was lost
//   store_duplicate_user  add() of a name that exists
//   store_no_such_user    del() / set_*() of a name that does not exist
//   store_query_failed    the database refused the statement (e.g. no schema yet, or a schema
//                         too old for the call: the words then say to run `db migrate`)
//   invalid_argument      a value out of range (empty or too long name, number > 2^63-1,
//                         publish grants that do not parse)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/user_store.hpp"
#include "mtop/result.hpp"

namespace mtop::store {

/// Longest user name the schema holds (bytes).
inline constexpr std::size_t kMaxUsernameBytes = 255;
/// Longest password hash we store (bytes); PHC strings are far shorter.
inline constexpr std::size_t kMaxPasswordHashBytes = 1024;

class UserAdmin {
 public:
  virtual ~UserAdmin() = default;

  /// Creates the schema (kUserSchemaVersion) if it does not exist; running it again changes
  /// nothing. A database with an older schema is refused (store_query_failed, the words say to
  /// run `mtop-server db migrate`), as is one newer than this program.
  virtual Result<void> init_schema() = 0;
  /// Upgrades an older schema to kUserSchemaVersion, keeping every user and its usage: in one
  /// transaction where the database has transactional DDL (SQLite, PostgreSQL), and step by
  /// checked step in MySQL, so that a run cut short is finished by the next. Returns the
  /// version found (== kUserSchemaVersion: nothing was done). A users file has no schema: it
  /// returns kUserSchemaVersion. Errors: store_query_failed for a database without the users
  /// table (run init_schema) or with a newer schema than this program's.
  virtual Result<int> migrate_schema() = 0;
  /// Adds a user; `user.used_bytes` is stored as given. store_duplicate_user if it exists.
  virtual Result<void> add(const auth::UserRecord& user) = 0;
  /// Deletes a user; store_no_such_user if there is none.
  virtual Result<void> del(std::string_view username) = 0;
  /// Every user, sorted by name.
  virtual Result<std::vector<auth::UserRecord>> list() = 0;
  /// One user; store_no_such_user if there is none.
  virtual Result<auth::UserRecord> get(std::string_view username) = 0;

  virtual Result<void> set_password_hash(std::string_view username, std::string_view phc) = 0;
  virtual Result<void> set_enabled(std::string_view username, bool enabled) = 0;
  /// Sets quota_bytes (nullopt = no quota); with reset_used, used_bytes goes back to 0.
  virtual Result<void> set_quota(std::string_view username, std::optional<std::uint64_t> bytes,
                                 bool reset_used) = 0;
  virtual Result<void> set_rate_limit(std::string_view username,
                                      std::optional<std::uint64_t> bytes_per_second) = 0;
  virtual Result<void> set_max_tunnels(std::string_view username,
                                       std::optional<std::uint32_t> max_tunnels) = 0;
  /// Unix seconds; nullopt = never expires.
  virtual Result<void> set_expiry(std::string_view username,
                                  std::optional<std::int64_t> expires_at) = 0;
  /// Sets the publish grants (docs/USERS.md; "" = none), stored as given once they parse.
  /// invalid_argument with the parser's words if they do not.
  virtual Result<void> set_publish(std::string_view username, std::string_view grants) = 0;

  /// Words for the last failed call (empty after a success).
  virtual const std::string& last_error() const = 0;
};

}  // namespace mtop::store
