#include "store/database_user_store.hpp"

#include <limits>

namespace mtop::store {

namespace {

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  return b > max - a ? max : a + b;
}

}  // namespace

DatabaseUserStore::DatabaseUserStore(uv_loop_t* loop, std::string kind, Connect connect,
                                     DatabaseStoreOptions options)
    : loop_(loop), kind_(std::move(kind)), connect_(std::move(connect)), options_(options) {}

Result<void> DatabaseUserStore::start() {
  if (!loop_ || !connect_ || options_.workers == 0 || options_.workers > 8 ||
      options_.flush_interval_ms == 0 || options_.max_queued_lookups == 0)
    return Errc::invalid_argument;
  if (auto r = post_.start(loop_); !r) return r;
  auto timer = io::UvHandle<uv_timer_t>::make();
  if (uv_timer_init(loop_, timer.get()) != 0) {
    timer.release_uninitialised();
    return Errc::invalid_state;
  }
  timer->data = this;
  uv_timer_start(timer.get(), &DatabaseUserStore::on_flush_timer, options_.flush_interval_ms,
                 options_.flush_interval_ms);
  uv_unref(timer.handle());  // the write-back alone does not keep a loop running
  flush_timer_ = std::move(timer);
  for (unsigned i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { worker_main(); });
  return {};
}

DatabaseUserStore::~DatabaseUserStore() {
  flush_timer_.reset();
  if (!pending_.empty()) {
    UsageBatch batch(pending_.begin(), pending_.end());
    enqueue(Job{[this, batch = std::move(batch)](Slot& slot) {
                  // Last chance: no one is left to hear about a failure.
                  if (auto c = connection(slot)) (void)(*c)->add_usage(batch);
                },
                false});
  }
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void DatabaseUserStore::enqueue(Job job) {
  {
    std::lock_guard lock(mu_);
    if (job.lookup) ++queued_lookups_;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void DatabaseUserStore::worker_main() {
  Slot slot;
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping and nothing left
      job = std::move(jobs_.front());
      jobs_.pop_front();
      if (job.lookup) {
        --queued_lookups_;
        if (stopping_) continue;  // its answer could not be delivered anyway
      }
    }
    job.run(slot);
  }
}

Result<SqlConnection*> DatabaseUserStore::connection(Slot& slot) {
  if (slot && slot->usable()) return slot.get();
  slot.reset();
  auto opened = connect_();
  if (!opened) return opened.failure();
  slot = std::move(*opened);
  return slot.get();
}

void DatabaseUserStore::lookup(std::string_view username, LookupCallback cb) {
  bool full;
  {
    std::lock_guard lock(mu_);
    full = queued_lookups_ >= options_.max_queued_lookups;
  }
  post_.hold();
  if (full) {
    post_.post([this, cb = std::move(cb)] {
      post_.release();
      last_error_ = "too many lookups waiting for the database";
      cb(auth::LookupResult{auth::LookupStatus::unavailable, {}});
    });
    return;
  }
  ++queries_;
  enqueue(Job{[this, name = std::string(username), cb = std::move(cb)](Slot& slot) mutable {
                auth::LookupResult result;
                std::string error;
                if (auto c = connection(slot); !c) {
                  result.status = auth::LookupStatus::unavailable;
                  error = c.message();
                } else if (auto r = (*c)->find_user(name); !r) {
                  result.status = auth::LookupStatus::unavailable;
                  error = (*c)->last_error();
                } else if (*r) {
                  result.status = auth::LookupStatus::found;
                  result.user = std::move(**r);
                }
                if (slot) note_schema(*slot);
                post_.post([this, cb = std::move(cb), result = std::move(result),
                            error = std::move(error)]() mutable {
                  post_.release();
                  if (result.status == auth::LookupStatus::unavailable) last_error_ = error;
                  if (result.status == auth::LookupStatus::found) {
                    // The row holds what was written; this process also moved what it has
                    // not written yet. Without it a quota would only see our own traffic
                    // once it is flushed, and the engine would forget it at each re-check.
                    result.user.used_bytes = saturating_add(result.user.used_bytes,
                                                            unwritten_usage(result.user.username));
                  }
                  cb(std::move(result));  // may destroy this store: nothing after it
                });
              },
              true});
}

void DatabaseUserStore::note_schema(const SqlConnection& c) {
  const auto publish = c.publish_column();
  if (!publish || publish_column_.exchange(*publish) == *publish) return;
  post_.post([this, column = *publish] {
    if (schema_cb_) schema_cb_(column);
  });
}

void DatabaseUserStore::changed(std::string username) {
  post_.post([this, name = std::move(username)] {
    ++changes_;
    if (change_cb_) change_cb_(name);
  });
}

void DatabaseUserStore::add_usage(std::string_view username, std::uint64_t bytes) {
  if (bytes == 0 || !valid_username(username)) return;
  auto it = pending_.find(username);
  if (it == pending_.end()) it = pending_.emplace(std::string(username), 0).first;
  it->second = saturating_add(it->second, bytes);
}

std::uint64_t DatabaseUserStore::pending_usage(std::string_view username) const {
  auto it = pending_.find(username);
  return it == pending_.end() ? 0 : it->second;
}

std::uint64_t DatabaseUserStore::unwritten_usage(std::string_view username) const {
  auto it = flying_.find(username);
  return saturating_add(pending_usage(username), it == flying_.end() ? 0 : it->second);
}

void DatabaseUserStore::flush() {
  if (!flushing_ && !pending_.empty()) start_flush();
}

void DatabaseUserStore::flush(FlushDone done) {
  flush_waiting_.push_back(std::move(done));
  if (!flushing_) start_flush();
}

void DatabaseUserStore::on_flush_timer(uv_timer_t* t) {
  auto* self = static_cast<DatabaseUserStore*>(t->data);
  if (self && !self->flushing_ && !self->pending_.empty()) self->start_flush();
}

void DatabaseUserStore::start_flush() {
  flush_flying_ = std::move(flush_waiting_);
  flush_waiting_.clear();
  flushing_ = true;
  post_.hold();
  UsageBatch batch(pending_.begin(), pending_.end());
  flying_ = std::move(pending_);
  pending_.clear();
  if (batch.empty()) {
    // Nothing to write: still answer on a later turn, as promised.
    post_.post([this] { finish_flush({}, Result<void>{}, {}); });
    return;
  }
  enqueue(Job{[this, batch = std::move(batch)](Slot& slot) mutable {
                std::string error;
                Result<void> r = Errc::store_unavailable;
                if (auto c = connection(slot); !c) {
                  error = c.message();
                } else if (r = (*c)->add_usage(batch); !r) {
                  error = (*c)->last_error();
                }
                post_.post([this, batch = std::move(batch), r, error = std::move(error)]() mutable {
                  finish_flush(batch, r, std::move(error));
                });
              },
              false});
}

void DatabaseUserStore::finish_flush(const UsageBatch& batch, Result<void> result,
                                     std::string error) {
  post_.release();
  flushing_ = false;
  flying_.clear();
  if (!result) {
    last_error_ = std::move(error);
    for (auto& [name, bytes] : batch) add_usage(name, bytes);  // kept for the next try
  }
  auto done = std::move(flush_flying_);
  flush_flying_.clear();
  if (!flush_waiting_.empty()) start_flush();
  // Callbacks last: one of them may destroy this store.
  auto alive = post_.alive();
  for (auto& d : done) {
    d(result);
    if (!*alive) return;
  }
}

}  // namespace mtop::store
