// CachingUserStore: a cache with single-flight lookups and outage handling in front of any
// auth::UserStore (normally a database store).
//
// Theory of operation (all on the loop thread; time is uv_now() of the loop):
// - A found user is answered from memory for ttl_ms after it was fetched, a missing one for
//   negative_ttl_ms. After that the next lookup asks the backend again, so a change made in the
//   database (new password hash, disabled, quota) is seen within ttl_ms without a restart.
// - Single flight: while a user's query is out, later lookups of that user join it; a thousand
//   concurrent lookups of one user make one backend query.
// - Outage: the first `unavailable` answer from the backend marks the store down and reports
//   it once through the status callback. While down, lookups do not reach the backend: a user
//   fetched within the last grace_ms is answered from the (stale) cache, anyone else gets
//   unavailable (fail closed). A probe timer asks the backend again after retry_min_ms,
//   doubling up to retry_max_ms; the first real answer marks the store available again (and
//   reports that once) -- recovery needs no new store object.
// - Change notices from the backend (PostgreSQL LISTEN/NOTIFY, see DatabaseUserStore) mark
//   the user's entry stale at once, so changes arrive without waiting for the TTL.
// - Memory is bounded: at most max_entries cached users and max_inflight distinct queries.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "auth/user_store.hpp"
#include "mtop/result.hpp"
#include "store/loop_post.hpp"
#include "uv/handle.hpp"

namespace mtop::store {

struct CacheOptions {
  std::uint64_t ttl_ms = 5000;           ///< how long a found user is trusted
  std::uint64_t negative_ttl_ms = 1000;  ///< how long "no such user" is trusted
  std::uint64_t grace_ms = 300000;       ///< during an outage, users fetched this recently work
  std::uint64_t retry_min_ms = 250;      ///< first probe after an outage starts
  std::uint64_t retry_max_ms = 30000;    ///< probe interval cap (doubling back-off)
  std::size_t max_entries = 100000;      ///< cached users (found and not found)
  std::size_t max_inflight = 1024;       ///< distinct users queried at once; beyond: unavailable
};

class CachingUserStore final : public auth::UserStore {
 public:
  /// available = true after a recovery, false when an outage starts; reason = the backend's
  /// last error when it is a DatabaseUserStore, else a generic text. Never once per lookup.
  using StatusCallback = std::function<void(bool available, const std::string& reason)>;

  /// Wraps `backend` (owned). Errors: invalid_argument (null loop/backend, ttl 0,
  /// retry_min > retry_max, max_entries or max_inflight 0), invalid_state (libuv).
  static Result<std::unique_ptr<CachingUserStore>> create(uv_loop_t* loop,
                                                          std::unique_ptr<auth::UserStore> backend,
                                                          CacheOptions options = {});
  /// Destroys the backend first (which writes its pending usage); callbacks not yet delivered
  /// are dropped, never called.
  ~CachingUserStore() override;

  void set_status_callback(StatusCallback cb) { status_cb_ = std::move(cb); }

  void lookup(std::string_view username, LookupCallback cb) override;
  /// Passes the bytes on, and adds them to the cached user's used_bytes: the backend answers
  /// with this process's unwritten usage included, so the cache stays as current as a fresh
  /// lookup would be (a quota re-check answered from the cache sees our own traffic).
  void add_usage(std::string_view username, std::uint64_t bytes) override;
  void flush() override { backend_->flush(); }
  std::string_view kind() const override { return backend_->kind(); }

  /// False from the start of an outage until the backend answers again.
  bool available() const noexcept { return available_; }
  /// Marks a user changed (empty name: every user): the next lookup asks the backend again,
  /// while an outage may still use the old entry within grace. A query already out for the
  /// user when this is called may carry old data, so its answer is not trusted past that
  /// lookup either. Called for PostgreSQL change notices; also useful after an admin change
  /// made by this process.
  void invalidate(std::string_view username);
  auth::UserStore& backend() noexcept { return *backend_; }
  std::size_t cached() const noexcept { return cache_.size(); }

 private:
  struct Entry {
    bool found = false;
    bool stale = false;  // invalidated: refetch, but still good for grace
    auth::UserRecord user;
    std::uint64_t fetched_at = 0;  // uv_now
  };

  CachingUserStore(uv_loop_t* loop, std::unique_ptr<auth::UserStore> backend, CacheOptions o);
  void fetch(const std::string& name);
  void on_answer(const std::string& name, const auth::LookupResult& result);
  auth::LookupResult outage_answer(std::string_view name, std::uint64_t now) const;
  void remember(const std::string& name, const auth::LookupResult& result, std::uint64_t now,
                bool stale);
  void arm_probe();
  void report(bool available);
  static void on_probe(uv_timer_t* t);

  uv_loop_t* loop_;
  CacheOptions options_;
  std::map<std::string, Entry, std::less<>> cache_;
  struct Flight {
    std::vector<LookupCallback> waiters;
    bool dirty = false;  // invalidated while the query was out
  };
  std::map<std::string, Flight, std::less<>> inflight_;
  bool available_ = true;
  std::uint64_t backoff_ms_;
  std::string probe_name_;  // the user whose lookup showed the outage
  StatusCallback status_cb_;
  io::UvHandle<uv_timer_t> probe_timer_;
  LoopPost post_;
  std::unique_ptr<auth::UserStore> backend_;
};

}  // namespace mtop::store
