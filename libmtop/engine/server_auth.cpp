#include "engine/server_auth.hpp"

#include <optional>
#include <utility>

#include "auth/password_hash.hpp"
#include "mtop/codec.hpp"

namespace mtop {

/// One attempt. Owned by its Attempt handle; asynchronous steps hold only a weak_ptr, so a
/// dropped handle silently ends the attempt.
struct ServerAuthenticator::Attempt::State {
  ServerAuthenticator* owner = nullptr;
  Callback cb;
  std::string username;
  std::string password;
  auth::UserRecord user;
  bool known = false;  ///< the store has the user (false: verifying against the dummy)
  /// The cache's digest of (username, password, user.password_hash), computed once when the
  /// user is found and used to check the cache, share a verification and remember the result.
  std::optional<auth::CredentialCache::Digest> digest;

  ~State() { secure_wipe(password); }
};

ServerAuthenticator::Attempt::~Attempt() {
  state_->cb = nullptr;
  secure_wipe(state_->password);
}

/// A verify_password run in the thread pool. It owns copies of what it needs, so it can finish
/// after the attempt, or the whole engine, is gone; it is freed in the after-work callback.
struct ServerAuthenticator::VerifyWork {
  uv_work_t req{};
  std::string phc;
  std::string password;
  Result<bool> result{Errc::invalid_state};
  std::weak_ptr<Attempt::State> state;  ///< when not sharing: the one attempt waiting
  std::weak_ptr<Flights> flights;       ///< when sharing: where the waiters are
  auth::CredentialCache::Digest key{};

  ~VerifyWork() { secure_wipe(password); }
};

namespace {

/// A well-formed hash of the same cost as `params`, with fixed salt and hash bytes: verifying
/// any password against it costs a real verification and never succeeds in practice.
std::string dummy_like(auth::PhcHash h) {
  h.salt.assign(h.salt.size(), 0x5a);
  h.hash.assign(h.hash.size(), 0xa5);
  return auth::format_phc(h);
}

auth::PhcHash default_cost() {
  const auth::HashParams p;  // what hash_password makes by default
  auth::PhcHash h;
  h.scheme = p.scheme;
  h.scrypt_log2_n = p.scrypt_log2_n;
  h.scrypt_r = p.scrypt_r;
  h.scrypt_p = p.scrypt_p;
  h.pbkdf2_iterations = p.pbkdf2_iterations;
  h.salt.resize(p.salt_len);
  h.hash.resize(p.hash_len);
  return h;
}

}  // namespace

ServerAuthenticator::ServerAuthenticator(uv_loop_t* loop, auth::UserStore& store,
                                         const ServerOptions& options,
                                         AccountSource::Counters& counters, const Logger& log)
    : loop_(loop),
      store_(store),
      stats_(counters),
      log_(log),
      dummy_hash_(dummy_like(default_cost())),
      poster_(loop) {
  auto cache = auth::CredentialCache::create(auth::CredentialCache::Options{
      .max_entries = options.credential_cache_size == 0 ? 1 : options.credential_cache_size,
      .ttl_ms = options.credential_cache_ttl_ms});
  if (cache && options.credential_cache_size > 0 && options.credential_cache_ttl_ms > 0) {
    cache_ = std::move(*cache);
  } else if (!cache) {
    log_.warn("credential cache unavailable (OpenSSL): every tunnel verifies its password");
  }
}

ServerAuthenticator::~ServerAuthenticator() = default;

std::unique_ptr<ServerAuthenticator::Attempt> ServerAuthenticator::authenticate(
    std::string username, std::string password, Callback cb) {
  auto st = std::make_shared<Attempt::State>();
  st->owner = this;
  st->cb = std::move(cb);
  st->username = std::move(username);
  st->password = std::move(password);
  secure_wipe(password);  // moved-from strings may keep their bytes (small-string buffer)
  std::unique_ptr<Attempt> handle(new Attempt(st));
  std::weak_ptr<Attempt::State> weak = st;
  store_.lookup(st->username, [weak](auth::LookupResult r) {
    if (auto s = weak.lock(); s && s->cb) s->owner->on_lookup(s, std::move(r));
  });
  return handle;
}

void ServerAuthenticator::on_lookup(const std::shared_ptr<Attempt::State>& st,
                                    auth::LookupResult r) {
  switch (r.status) {
    case auth::LookupStatus::unavailable:
      ++stats_.lookups_unavailable;
      if (!stats_.store_down) ++stats_.outages;
      stats_.store_down = true;
      finish(st, {false, TunnelFailure::store_unavailable, "user store unavailable", {}});
      return;
    case auth::LookupStatus::not_found:
      ++stats_.lookups_not_found;
      stats_.store_down = false;
      st->known = false;
      verify_off_loop(st, dummy_hash_);
      return;
    case auth::LookupStatus::found:
      ++stats_.lookups_found;
      stats_.store_down = false;
      break;
  }
  st->known = true;
  st->user = std::move(r.user);
  follow_cost_of(st->user.password_hash);
  auth::CredentialCache::Digest d{};
  if (cache_ && cache_->digest(st->username, st->password, st->user.password_hash, d)) {
    st->digest = d;  // no digest (OpenSSL failed): no cache, verify the slow way
  }
  if (st->digest && cache_->check(*st->digest, uv_now(loop_))) {
    ++stats_.cache_hits;
    on_verified(st, true);
    return;
  }
  verify_off_loop(st, st->user.password_hash);
}

void ServerAuthenticator::follow_cost_of(const std::string& phc) {
  auto parsed = auth::parse_phc(phc);
  if (parsed) dummy_hash_ = dummy_like(std::move(*parsed));
}

void ServerAuthenticator::verify_off_loop(const std::shared_ptr<Attempt::State>& st,
                                          std::string phc) {
  // Join a verification of the very same credentials that is already running.
  // A found user's digest is over this very phc (their stored hash); an unknown user's is
  // computed here, over the dummy hash.
  auth::CredentialCache::Digest key{};
  bool shared = false;
  if (st->digest) {
    key = *st->digest;
    shared = true;
  } else {
    shared = cache_ && cache_->digest(st->username, st->password, phc, key);
  }
  if (shared) {
    if (auto it = flights_->find(key); it != flights_->end()) {
      it->second.push_back(st);
      return;
    }
  }
  auto* w = new VerifyWork;
  w->req.data = w;
  w->phc = std::move(phc);
  w->password = st->password;
  if (shared) {
    (*flights_)[key].push_back(st);
    w->flights = flights_;
    w->key = key;
  } else {
    w->state = st;
  }
  ++stats_.password_checks;
  const int rc = uv_queue_work(
      loop_, &w->req,
      [](uv_work_t* req) {
        auto* work = static_cast<VerifyWork*>(req->data);
        work->result = auth::verify_password(work->phc, work->password);
      },
      [](uv_work_t* req, int status) {
        std::unique_ptr<VerifyWork> work(static_cast<VerifyWork*>(req->data));
        const Result<bool> result = status == 0 ? work->result : Result<bool>(Errc::invalid_state);
        std::vector<std::weak_ptr<Attempt::State>> waiters;
        if (auto flights = work->flights.lock()) {
          if (auto it = flights->find(work->key); it != flights->end()) {
            waiters = std::move(it->second);
            flights->erase(it);
          }
        } else {
          waiters.push_back(work->state);
        }
        for (auto& weak : waiters) {
          auto state = weak.lock();
          if (state && state->cb) state->owner->on_verified(state, result);
        }
      });
  if (rc != 0) {
    if (shared) flights_->erase(key);
    delete w;
    std::weak_ptr<Attempt::State> weak = st;
    poster_.post([this, weak] {
      if (auto s = weak.lock(); s && s->cb) on_verified(s, Errc::invalid_state);
    });
  }
}

void ServerAuthenticator::on_verified(const std::shared_ptr<Attempt::State>& st,
                                      Result<bool> r) {
  const std::uint64_t now = uv_now(loop_);
  if (!st->known) {
    finish(st, {false, TunnelFailure::auth_failed, "unknown user", {}});
    return;
  }
  if (!r) {
    // A broken stored hash is the operator's problem, not a guess: no failure is counted.
    finish(st, {false, TunnelFailure::store_error,
                r.error() == Errc::invalid_argument ? "malformed password hash in the store"
                                                    : "password verification failed (OpenSSL)",
                {}});
    return;
  }
  if (!*r) {
    finish(st, {false, TunnelFailure::auth_failed, "wrong password", {}});
    return;
  }
  if (cache_ && st->digest) cache_->remember(*st->digest, now);
  AuthOutcome ok{true, TunnelFailure::auth_failed, "", std::move(st->user)};
  secure_wipe(ok.user.password_hash);
  finish(st, std::move(ok));
}

void ServerAuthenticator::finish(const std::shared_ptr<Attempt::State>& st, AuthOutcome outcome) {
  secure_wipe(st->password);
  auto cb = std::move(st->cb);
  st->cb = nullptr;
  if (cb) cb(std::move(outcome));  // may drop the attempt (st stays alive through our ref)
}

}  // namespace mtop
