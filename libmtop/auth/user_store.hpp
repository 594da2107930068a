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

#include "mtop/admin.hpp"

namespace mtop::auth {

/// One user, the same model in every store: the public record of mtop/admin.hpp.
using UserRecord = ::mtop::UserRecord;

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
