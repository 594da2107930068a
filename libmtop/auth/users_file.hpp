// The users file (docs/USERS.md): parsing and validation, no I/O.
//
//   {"users": [{"username": "alice", "password": "$scrypt$...", "enabled": true,
//               "expires_at": 1900000000, "max_tunnels": 10, "quota_bytes": 1000000000,
//               "rate_limit": 1000000, "publish": "8000-8099"}]}
//
// Only username and password are required. Validation is strict so that a typo fails at
// load time instead of silently granting more than intended: unknown fields, duplicate
// usernames, wrong types, out-of-range numbers and malformed password hashes are errors.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "auth/user_store.hpp"
#include "mtop/result.hpp"

namespace mtop::auth {

/// Largest users file we read (bytes); a bigger one is refused rather than loaded.
inline constexpr std::size_t kMaxUsersFileSize = 64u << 20;

/// Parses the text of a users file: the users in file order. Errors: invalid_argument saying
/// where and what, e.g. "line 3, column 14: syntax error ..." or
/// "users[2] (\"bob\"): field \"max_tunnels\": expected an integer 0-4294967295".
Result<std::vector<UserRecord>> parse_users_file(std::string_view text);

}  // namespace mtop::auth
