#include "store/caching_user_store.hpp"

#include "store/database_user_store.hpp"

namespace mtop::store {

using auth::LookupResult;
using auth::LookupStatus;

CachingUserStore::CachingUserStore(uv_loop_t* loop, std::unique_ptr<auth::UserStore> backend,
                                   CacheOptions o)
    : loop_(loop), options_(o), backoff_ms_(o.retry_min_ms), backend_(std::move(backend)) {}

Result<std::unique_ptr<CachingUserStore>> CachingUserStore::create(
    uv_loop_t* loop, std::unique_ptr<auth::UserStore> backend, CacheOptions options) {
  if (!loop || !backend || options.ttl_ms == 0 || options.retry_min_ms == 0 ||
      options.retry_min_ms > options.retry_max_ms || options.max_entries == 0 ||
      options.max_inflight == 0)
    return Errc::invalid_argument;
  std::unique_ptr<CachingUserStore> self(
      new CachingUserStore(loop, std::move(backend), options));
  if (auto r = self->post_.start(loop); !r) return r.error();
  auto timer = io::UvHandle<uv_timer_t>::make();
  if (uv_timer_init(loop, timer.get()) != 0) {
    timer.release_uninitialised();
    return Errc::invalid_state;
  }
  timer->data = self.get();
  uv_unref(timer.handle());
  self->probe_timer_ = std::move(timer);
  if (auto* db = dynamic_cast<DatabaseUserStore*>(self->backend_.get())) {
    auto* raw = self.get();
    db->set_change_callback([raw](const std::string& name) { raw->invalidate(name); });
  }
  return self;
}

CachingUserStore::~CachingUserStore() {
  // The backend's pending answers hold `this`: drop them before anything else goes.
  backend_.reset();
}

void CachingUserStore::lookup(std::string_view username, LookupCallback cb) {
  const std::uint64_t now = uv_now(loop_);
  if (auto it = cache_.find(username); it != cache_.end()) {
    const Entry& e = it->second;
    const std::uint64_t age = now - e.fetched_at;
    if (!e.stale && (e.found ? age < options_.ttl_ms : age < options_.negative_ttl_ms)) {
      LookupResult r{e.found ? LookupStatus::found : LookupStatus::not_found,
                     e.found ? e.user : auth::UserRecord{}};
      post_.post([cb = std::move(cb), r = std::move(r)]() mutable { cb(std::move(r)); });
      return;
    }
  }
  if (!available_) {
    post_.post([cb = std::move(cb), r = outage_answer(username, now)]() mutable {
      cb(std::move(r));
    });
    return;
  }
  if (auto it = inflight_.find(username); it != inflight_.end()) {
    it->second.waiters.push_back(std::move(cb));  // single flight: join the query already out
    return;
  }
  if (inflight_.size() >= options_.max_inflight) {
    post_.post([cb = std::move(cb)] { cb(LookupResult{LookupStatus::unavailable, {}}); });
    return;
  }
  std::string name(username);
  inflight_[name].waiters.push_back(std::move(cb));
  fetch(name);
}

void CachingUserStore::add_usage(std::string_view username, std::uint64_t bytes) {
  backend_->add_usage(username, bytes);
  if (auto it = cache_.find(username); it != cache_.end() && it->second.found) {
    std::uint64_t& used = it->second.user.used_bytes;
    used = bytes > UINT64_MAX - used ? UINT64_MAX : used + bytes;
  }
}

void CachingUserStore::fetch(const std::string& name) {
  backend_->lookup(name, [this, name](const LookupResult& r) { on_answer(name, r); });
}

void CachingUserStore::on_answer(const std::string& name, const LookupResult& result) {
  std::vector<LookupCallback> waiters;
  bool dirty = false;
  if (auto it = inflight_.find(name); it != inflight_.end()) {
    waiters = std::move(it->second.waiters);
    dirty = it->second.dirty;
    inflight_.erase(it);
  }
  const std::uint64_t now = uv_now(loop_);
  auto alive = post_.alive();
  if (result.status != LookupStatus::unavailable) {
    remember(name, result, now, dirty);
    if (!available_) {
      available_ = true;
      backoff_ms_ = options_.retry_min_ms;
      uv_timer_stop(probe_timer_.get());
      report(true);
    }
  } else if (available_) {
    available_ = false;
    probe_name_ = name;
    arm_probe();
    report(false);
  } else if (!uv_is_active(probe_timer_.handle())) {
    arm_probe();  // a probe failed: try again later
  }
  if (!*alive) return;  // the status callback destroyed this store
  for (auto& cb : waiters) {
    cb(result.status == LookupStatus::unavailable ? outage_answer(name, now) : result);
    if (!*alive) return;  // a callback destroyed this store
  }
}

LookupResult CachingUserStore::outage_answer(std::string_view name, std::uint64_t now) const {
  if (auto it = cache_.find(name); it != cache_.end()) {
    const Entry& e = it->second;
    const std::uint64_t age = now - e.fetched_at;
    if (e.found && age < options_.grace_ms) return {LookupStatus::found, e.user};
    if (!e.found && age < options_.negative_ttl_ms) return {LookupStatus::not_found, {}};
  }
  return {LookupStatus::unavailable, {}};
}

void CachingUserStore::remember(const std::string& name, const LookupResult& result,
                                std::uint64_t now, bool stale) {
  Entry e;
  e.stale = stale;
  e.found = result.status == LookupStatus::found;
  if (e.found) e.user = result.user;
  e.fetched_at = now;
  cache_.insert_or_assign(name, std::move(e));
  if (cache_.size() <= options_.max_entries) return;
  // Over the bound: drop what no rule can use any more, then "not found" entries, then
  // anything, down to 90% so that this sweep does not run on every insert.
  const std::size_t target = options_.max_entries - options_.max_entries / 10;
  auto sweep = [&](auto&& drop) {
    for (auto it = cache_.begin(); it != cache_.end() && cache_.size() > target;)
      it = drop(it->second) && it->first != name ? cache_.erase(it) : std::next(it);
  };
  sweep([&](const Entry& x) {
    const std::uint64_t age = now - x.fetched_at;
    return x.found ? age >= options_.grace_ms : age >= options_.negative_ttl_ms;
  });
  sweep([](const Entry& x) { return !x.found; });
  sweep([](const Entry&) { return true; });
}

void CachingUserStore::invalidate(std::string_view username) {
  if (username.empty()) {
    for (auto& [name, e] : cache_) e.stale = true;
    for (auto& [name, f] : inflight_) f.dirty = true;
    return;
  }
  if (auto it = cache_.find(username); it != cache_.end()) it->second.stale = true;
  if (auto it = inflight_.find(username); it != inflight_.end()) it->second.dirty = true;
}

void CachingUserStore::arm_probe() {
  uv_timer_start(probe_timer_.get(), &CachingUserStore::on_probe, backoff_ms_, 0);
  backoff_ms_ = std::min(backoff_ms_ * 2, options_.retry_max_ms);
}

void CachingUserStore::on_probe(uv_timer_t* t) {
  auto* self = static_cast<CachingUserStore*>(t->data);
  if (!self || self->available_) return;
  // Ask for the user whose lookup showed the outage; joins a query already out for it.
  if (self->inflight_.count(self->probe_name_)) return;
  self->inflight_[self->probe_name_];
  self->fetch(self->probe_name_);
}

void CachingUserStore::report(bool available) {
  if (!status_cb_) return;
  std::string reason;
  if (!available) {
    const auto* db = dynamic_cast<const DatabaseUserStore*>(backend_.get());
    reason = db && !db->last_error().empty() ? db->last_error()
                                             : std::string(backend_->kind()) + " store unavailable";
  }
  status_cb_(available, reason);
}

}  // namespace mtop::store
