// DatabaseUserStore: the asynchronous auth::UserStore over any SqlConnection, shared by the
// SQLite, PostgreSQL and MySQL stores.
//
// Theory of operation. Database calls block, so they never run on the libuv loop. Each store
// owns a small pool of worker threads (default 2), each with its own connection, fed from one
// job queue; answers come back to the loop through a uv_async_t (LoopPost). We chose this over
// the libraries' non-blocking APIs with uv_poll because it is the same design for all three:
// SQLite has no non-blocking API at all, MariaDB's is a coroutine-style interface of its own,
// and libpq's needs hand-driven connect/flush/consume state machines -- three different state
// machines to get wrong, against one small pool. A worker connects lazily, keeps its
// connection, and opens a new one when the old one is found broken; it never retries a
// statement on its own (the caching layer decides when to try again, with back-off).
//
// Usage write-back: add_usage() only adds to a per-user count in memory (loop thread); a found
// user's used_bytes includes what this process counted and has not written yet. A timer
// (flush_interval_ms) sends the counts as one transaction of `used_bytes = used_bytes + ?`
// increments, so several servers sharing a database add up into one figure. A failed flush
// puts its counts back and the next tick tries again: nothing is lost while the process lives.
// One flush is in flight at a time. The destructor hands what is pending to the workers and
// waits for them to write it (bounded by the connection's time-outs).
//
// Old schemas: lookups on a database of schema version 1 (no publish column) still work, with
// no publish grants for anyone (SqlConnection); the schema callback says so once, and once
// more when a later lookup finds the column (after `mtop-server db migrate`).
#pragma once

#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "auth/user_store.hpp"
#include "mtop/result.hpp"
#include "store/loop_post.hpp"
#include "store/sql_connection.hpp"
#include "uv/handle.hpp"

namespace mtop::store {

struct DatabaseStoreOptions {
  unsigned workers = 2;                    ///< threads (= connections), 1..8
  std::uint64_t flush_interval_ms = 3000;  ///< usage write-back period
  std::size_t max_queued_lookups = 4096;   ///< beyond this, lookups answer unavailable at once
};

class DatabaseUserStore : public auth::UserStore {
 public:
  /// Opens one connection; runs on a worker thread. Failures carry the reason in words.
  using Connect = std::function<Result<std::unique_ptr<SqlConnection>>()>;
  using FlushDone = std::function<void(Result<void>)>;

  DatabaseUserStore(const DatabaseUserStore&) = delete;
  DatabaseUserStore& operator=(const DatabaseUserStore&) = delete;
  /// Writes pending usage (waits for the workers), then stops them. Lookup callbacks not yet
  /// delivered are dropped: never called.
  ~DatabaseUserStore() override;

  /// found / not_found from the database; unavailable when it cannot be reached (or the queue
  /// is full); last_error() then says why.
  void lookup(std::string_view username, LookupCallback cb) override;
  void add_usage(std::string_view username, std::uint64_t bytes) override;
  /// Starts writing pending usage now.
  void flush() override;
  /// The same, and `done` runs on the loop (never inside this call) once everything pending
  /// at this call is written (ok) or the attempt failed (store_unavailable / store_query_failed;
  /// the counts stay pending for the next try).
  void flush(FlushDone done);
  std::string_view kind() const override { return kind_; }

  /// A user changed in the database (empty name: any user may have changed). Runs on the loop.
  /// Only stores that hear about changes call it (PostgreSQL with `listen`); the
  /// CachingUserStore subscribes to drop changed users from its cache.
  using ChangeCallback = std::function<void(const std::string& username)>;
  void set_change_callback(ChangeCallback cb) { change_cb_ = std::move(cb); }
  /// Change notices received so far.
  std::uint64_t changes() const noexcept { return changes_; }

  /// A lookup found the users table without the publish column (false: schema version 1,
  /// nobody may publish) or, after that, with it (true). Runs on the loop, once per change;
  /// a database that has the column from the start never calls it.
  using SchemaCallback = std::function<void(bool publish_column)>;
  void set_schema_callback(SchemaCallback cb) { schema_cb_ = std::move(cb); }

  /// Why the last failed lookup or flush failed.
  const std::string& last_error() const noexcept { return last_error_; }
  /// Lookups sent to the database so far (metrics and tests).
  std::uint64_t queries() const noexcept { return queries_; }
  /// Bytes counted for a user and not yet written.
  std::uint64_t pending_usage(std::string_view username) const;
  /// The same plus the bytes of the write in flight: what a found user's used_bytes gets on
  /// top of the row (a lookup that reads the row just after that write commits counts that
  /// batch twice until the next lookup -- never less than the truth).
  std::uint64_t unwritten_usage(std::string_view username) const;

 protected:
  DatabaseUserStore(uv_loop_t* loop, std::string kind, Connect connect,
                    DatabaseStoreOptions options);
  /// Starts the loop handles and the workers. Errors: invalid_argument (options),
  /// invalid_state (a libuv handle could not be made).
  Result<void> start();
  /// Reports a change notice; callable from any thread while the store exists.
  void changed(std::string username);

 private:
  using Slot = std::unique_ptr<SqlConnection>;
  struct Job {
    std::function<void(Slot&)> run;
    bool lookup = false;  // dropped at shutdown; usage writes are not
  };

  void enqueue(Job job);
  void worker_main();
  /// The worker's connection, (re)opened when missing or broken. Errors: the connect's.
  Result<SqlConnection*> connection(Slot& slot);
  void start_flush();
  void finish_flush(const UsageBatch& batch, Result<void> result, std::string error);
  static void on_flush_timer(uv_timer_t* t);
  /// On a worker: reports the connection's publish_column() when it changed.
  void note_schema(const SqlConnection& c);

  uv_loop_t* loop_;
  std::string kind_;
  Connect connect_;
  DatabaseStoreOptions options_;

  // Loop thread only.
  std::map<std::string, std::uint64_t, std::less<>> pending_;
  std::map<std::string, std::uint64_t, std::less<>> flying_;  // the batch being written
  bool flushing_ = false;
  std::vector<FlushDone> flush_waiting_;  // for the next flight
  std::vector<FlushDone> flush_flying_;   // for the flight in progress
  std::string last_error_;
  std::uint64_t queries_ = 0;
  std::uint64_t changes_ = 0;
  ChangeCallback change_cb_;
  SchemaCallback schema_cb_;
  io::UvHandle<uv_timer_t> flush_timer_;

  // Shared with the workers.
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::size_t queued_lookups_ = 0;
  bool stopping_ = false;
  std::atomic<bool> publish_column_{true};  // last reported (workers)

  LoopPost post_;  // outlives the workers: declared before them
  std::vector<std::thread> workers_;
};

}  // namespace mtop::store
