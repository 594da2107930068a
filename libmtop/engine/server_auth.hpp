// ServerAuthenticator: is this username/password good? The slow and the security-sensitive
// part of the built-in store check (StoreUserCheck), apart from the tunnel I/O.
//
// Theory of operation, for one attempt (the engine's failure throttle has let it through):
//   1. UserStore::lookup (asynchronous). "unavailable" is refused without counting a failure.
//   2. The password: a CredentialCache hit accepts at once; otherwise verify_password runs in
//      libuv's thread pool (uv_queue_work): scrypt takes tens of ms and must never stall the
//      loop. Identical attempts (same user, password and stored hash, told apart by the
//      cache's keyed digest) share one verification in flight: a browser opening fifty tunnels
//      at once on a cold cache pays for one hash, not fifty queued behind four threads. An unknown
//      user is verified against a dummy hash with the cost parameters of the last real hash seen,
//      so it costs what a wrong password costs and timing does not tell which users exist.
//      verify_password compares in constant time.
//   3. A right password is remembered in the cache. (Wrong password / unknown user are
//      auth_failed, which the engine counts against the source.)
// The account's state (enabled, expiry, quota, tunnel limit) is checked after the password by
// the caller, so it is never revealed to someone without it.
//
// Attempts are cancelled by dropping their handle; the callback then never runs (work already
// in the thread pool finishes and is freed on the loop). The callback never runs inside
// authenticate(). Passwords are wiped as soon as they are no longer needed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/credential_cache.hpp"
#include "auth/user_store.hpp"
#include "engine/account_source.hpp"
#include "mtop/log.hpp"
#include "mtop/server.hpp"
#include "uv/poster.hpp"

namespace mtop {

struct AuthOutcome {
  bool ok = false;
  TunnelFailure failure = TunnelFailure::auth_failed;  ///< when !ok
  std::string reason;     ///< log-safe, never a password or hash
  auth::UserRecord user;  ///< when ok; password_hash cleared
};

class ServerAuthenticator {
 public:
  using Callback = std::function<void(AuthOutcome)>;

  /// Cancels the attempt when dropped.
  class Attempt {
   public:
    ~Attempt();
    Attempt(const Attempt&) = delete;
    Attempt& operator=(const Attempt&) = delete;

   private:
    friend class ServerAuthenticator;
    struct State;
    explicit Attempt(std::shared_ptr<State> s) : state_(std::move(s)) {}
    std::shared_ptr<State> state_;
  };

  /// `store`, `counters` and `log` must outlive the authenticator.
  ServerAuthenticator(uv_loop_t* loop, auth::UserStore& store, const ServerOptions& options,
                      AccountSource::Counters& counters, const Logger& log);
  ~ServerAuthenticator();
  ServerAuthenticator(const ServerAuthenticator&) = delete;
  ServerAuthenticator& operator=(const ServerAuthenticator&) = delete;

  /// Checks `password` for `username`. The password is moved in and wiped when done. `cb`
  /// runs once on the loop, later (it may drop the attempt).
  std::unique_ptr<Attempt> authenticate(std::string username, std::string password, Callback cb);

  /// The PHC string unknown users are verified against (tests check its cost follows the
  /// store's hashes).
  const std::string& dummy_hash() const noexcept { return dummy_hash_; }

 private:
  struct VerifyWork;
  /// Attempts waiting on one verification in flight, by credential digest. Shared with the
  /// work items so that a verification finishing after the authenticator is gone finds none.
  using Flights = std::map<auth::CredentialCache::Digest,
                           std::vector<std::weak_ptr<Attempt::State>>>;
  void on_lookup(const std::shared_ptr<Attempt::State>& st, auth::LookupResult r);
  void verify_off_loop(const std::shared_ptr<Attempt::State>& st, std::string phc);
  void on_verified(const std::shared_ptr<Attempt::State>& st, Result<bool> r);
  void finish(const std::shared_ptr<Attempt::State>& st, AuthOutcome outcome);
  void follow_cost_of(const std::string& phc);

  uv_loop_t* loop_;
  auth::UserStore& store_;
  AccountSource::Counters& stats_;
  const Logger& log_;
  std::unique_ptr<auth::CredentialCache> cache_;  ///< null if OpenSSL could not make one
  std::string dummy_hash_;
  io::Poster poster_;
  std::shared_ptr<Flights> flights_ = std::make_shared<Flights>();
};

}  // namespace mtop
