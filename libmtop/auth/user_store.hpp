// UserStore: where mtop-server looks users up. The users file (JSON), SQLite, PostgreSQL and
// MySQL stores all implement it, so the server engine never knows which one it talks to.
//
// Every call is made on the loop's thread and never blocks it; answers come back through the
// callback on the same thread, never inside the call itself.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace mtop::auth {

/// One user, the same model in every store (docs/USERS.md).
struct UserRecord {
  std::string username;
  std::string password_hash;                ///< PHC string ($scrypt$... or $pbkdf2-sha256$...)
  bool enabled = true;
  std::optional<std::int64_t> expires_at;   ///< Unix seconds; absent = never
  std::optional<std::uint32_t> max_tunnels; ///< concurrent tunnels per instance; absent = no limit
  std::optional<std::uint64_t> quota_bytes; ///< up + down; absent = no quota
  std::uint64_t used_bytes = 0;             ///< counted against quota_bytes
  std::optional<std::uint64_t> rate_limit;  ///< bytes/s in each direction; absent = no limit
};

enum class LookupStatus {
  found,        ///< `user` holds the record
  not_found,    ///< no such user (answers fail closed)
  unavailable,  ///< the store cannot answer now (database down): callers apply their grace rules
};

struct LookupResult {
  LookupStatus status = LookupStatus::not_found;
  UserRecord user;  ///< only when status == found
};

class UserStore {
 public:
  using LookupCallback = std::function<void(LookupResult)>;
  virtual ~UserStore() = default;
  /// Looks a user up. The callback runs exactly once on the loop, never inside lookup().
  virtual void lookup(std::string_view username, LookupCallback cb) = 0;
  /// Adds traffic to a user's used_bytes. Stores may batch the writes; usage is never lost
  /// while the process runs, and flush() writes what is pending.
  virtual void add_usage(std::string_view username, std::uint64_t bytes) = 0;
  virtual void flush() {}
  /// Short name for logs ("file", "sqlite", "postgres", "mysql").
  virtual std::string_view kind() const = 0;
};

}  // namespace mtop::auth
