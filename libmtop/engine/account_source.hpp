// AccountSource: what the built-in store check (StoreUserCheck) offers the engine beyond a
// yes or no. A UserCheck that is also an AccountSource answers with the user's account record,
// and the engine then keeps the account features going while the user has tunnels: usage
// written back to the store, the quota checked on every chunk, and a periodic re-check that
// closes the tunnels of a user disabled, deleted, expired or over quota. A custom UserCheck
// is not one: its grant's max_tunnels and rate_limit are all the engine applies.
#pragma once

#include <cstdint>
#include <string>

#include "auth/user_store.hpp"
#include "mtop/result.hpp"

namespace mtop {

class AccountSource {
 public:
  /// What the password checks cost so far (ServerStats::password_checks, cache_hits).
  struct Counters {
    std::uint64_t password_checks = 0;  ///< verify_password runs (off the loop), dummy included
    std::uint64_t cache_hits = 0;       ///< passwords accepted from the credential cache
    // Store lookups for authentication, by result (the metrics' user-store counters).
    std::uint64_t lookups_found = 0;
    std::uint64_t lookups_not_found = 0;
    std::uint64_t lookups_unavailable = 0;
    std::uint64_t outages = 0;  ///< answering -> unavailable transitions
    bool store_down = false;    ///< the last lookup was unavailable
  };

  virtual ~AccountSource() = default;
  /// Where accounts are looked up again and usage is written (loop thread only).
  virtual auth::UserStore& account_store() = 0;
  virtual Counters counters() const = 0;
  /// Re-reads what can change without a restart (the users file); config_invalid with the
  /// file's problem (the old users stay). Database stores follow their database by themselves.
  virtual Result<void> reload() = 0;
};

/// Why the account may not tunnel now ("user disabled", "user expired", "quota exceeded"), or
/// "" if it may. `unsaved_bytes`: traffic since `r` was read; `now_unix`: seconds.
std::string account_problem(const auth::UserRecord& r, std::uint64_t unsaved_bytes,
                            std::int64_t now_unix);

/// The wall clock in Unix seconds (account expiry is a calendar time).
std::int64_t unix_now();

}  // namespace mtop
