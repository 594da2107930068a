#include "store/postgres_listener.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>

namespace mtop::store {

Result<std::unique_ptr<PostgresListener>> PostgresListener::start(PostgresConfig config,
                                                                  OnChange cb) {
  std::unique_ptr<PostgresListener> self(new PostgresListener(std::move(config), std::move(cb)));
  if (pipe2(self->wake_, O_CLOEXEC | O_NONBLOCK) != 0) return Errc::invalid_state;
  self->thread_ = std::thread([p = self.get()] { p->run(); });
  return self;
}

PostgresListener::~PostgresListener() {
  stop_ = true;
  if (wake_[1] >= 0) {
    const char byte = 1;
    (void)!write(wake_[1], &byte, 1);
  }
  if (thread_.joinable()) thread_.join();
  for (int fd : wake_)
    if (fd >= 0) close(fd);
}

bool PostgresListener::wait(int fd, int timeout_ms) {
  pollfd fds[2] = {{wake_[0], POLLIN, 0}, {fd, POLLIN, 0}};
  int n = poll(fds, fd >= 0 ? 2 : 1, timeout_ms);
  (void)n;
  return !stop_;
}

void PostgresListener::run() {
  int backoff_ms = 250;
  while (!stop_) {
    // A failed connection is retried with back-off; lookups report the database's state.
    auto conn = connect_postgres(config_);
    if (conn) {
      PGresult* r = PQexec(conn->get(), "LISTEN mtop_users");
      const bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
      if (ok) {
        backoff_ms = 250;
        cb_("");  // notices sent while nobody listened are lost: say "anything changed"
        listen_on(conn->get());
      }
    }
    if (stop_ || !wait(-1, backoff_ms)) return;
    backoff_ms = std::min(backoff_ms * 2, 5000);
  }
}

void PostgresListener::listen_on(pg_conn* conn) {
  for (;;) {
    const int fd = PQsocket(conn);
    if (fd < 0 || !wait(fd, -1)) return;
    if (PQconsumeInput(conn) == 0) return;  // session lost: reconnect
    while (PGnotify* n = PQnotifies(conn)) {
      cb_(n->extra ? n->extra : "");
      PQfreemem(n);
    }
  }
}

}  // namespace mtop::store
