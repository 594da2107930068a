// PostgresListener: one extra PostgreSQL session on its own thread that LISTENs on the
// `mtop_users` channel (fed by the trigger in sql/postgres.sql) and reports each changed user
// name. When the session is lost it reconnects with back-off (250 ms doubling to 5 s); after
// every (re)connect it reports "" (anything may have changed while nobody listened).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "store/postgres_connection.hpp"

namespace mtop::store {

class PostgresListener {
 public:
  /// Called on the listener's thread.
  using OnChange = std::function<void(std::string username)>;

  /// Starts the thread. Errors: invalid_state (no wake-up pipe).
  static Result<std::unique_ptr<PostgresListener>> start(PostgresConfig config, OnChange cb);
  /// Wakes the thread and joins it (at once: it waits on a pipe, not on a timer).
  ~PostgresListener();
  PostgresListener(const PostgresListener&) = delete;
  PostgresListener& operator=(const PostgresListener&) = delete;

 private:
  PostgresListener(PostgresConfig config, OnChange cb) : config_(std::move(config)), cb_(std::move(cb)) {}
  void run();
  /// Waits for the socket (or only the wake pipe when fd < 0) up to timeout_ms (-1: forever).
  /// Returns false when told to stop.
  bool wait(int fd, int timeout_ms);
  void listen_on(pg_conn* conn);

  PostgresConfig config_;
  OnChange cb_;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace mtop::store
