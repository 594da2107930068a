// StoreUserCheck: the built-in UserCheck over an auth::UserStore (users file, SQLite,
// PostgreSQL, MySQL) — what mtop::open_user_check() returns and what a Server uses when the
// program brings no check of its own.
//
// Theory of operation: each check() is one ServerAuthenticator attempt (store lookup, the
// password verified off the loop in constant time behind the credential cache, unknown users
// against a dummy hash), then the account: disabled, expired or over quota is refused as
// account_refused, never revealed without the right password. An allowed user's grant carries
// the record's max_tunnels and rate_limit, and the answer carries the record itself; the engine
// sees through AccountSource that this check keeps accounts, and writes usage back, checks the
// quota on the traffic and re-checks live users in this check's store.
//
// Bound to one loop; check() and everything else on its thread. Destroying the check drops
// the attempts in flight: their replies answer deny into whatever is still waiting.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "auth/user_store.hpp"
#include "engine/account_source.hpp"
#include "engine/server_auth.hpp"
#include "mtop/log.hpp"
#include "mtop/server.hpp"
#include "mtop/user_check.hpp"

namespace mtop {

class StoreUserCheck final : public UserCheck, public AccountSource {
 public:
  /// Owns `store`. Uses options' credential cache settings.
  StoreUserCheck(uv_loop_t* loop, std::unique_ptr<auth::UserStore> store,
                 const ServerOptions& options, Logger log);
  ~StoreUserCheck() override;
  StoreUserCheck(const StoreUserCheck&) = delete;
  StoreUserCheck& operator=(const StoreUserCheck&) = delete;

  void check(const UserCheckRequest& request, UserCheckReply reply) override;

  auth::UserStore& account_store() override { return *store_; }
  Counters counters() const override { return counters_; }
  Result<void> reload() override;

  /// The hash unknown users are verified against (follows the cost of the store's hashes).
  const std::string& dummy_hash() const noexcept { return auth_.dummy_hash(); }

 private:
  std::unique_ptr<auth::UserStore> store_;
  Logger log_;
  Counters counters_;
  ServerAuthenticator auth_;
  std::map<std::uint64_t, std::unique_ptr<ServerAuthenticator::Attempt>> attempts_;
  std::uint64_t next_attempt_ = 1;
};

}  // namespace mtop
