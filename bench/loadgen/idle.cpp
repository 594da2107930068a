// Idle tunnels. Opens `count` connections, at most `concurrency` being set up at once; each
// sends one byte and waits for its echo, so the tunnel behind the proxy is really established
// end to end. Then prints "idle ready ..." and holds them until SIGUSR1/SIGINT/SIGTERM, a line
// or EOF on stdin (with --stdin), or the hold bound; then closes them all. Connections the
// proxy closes while held are counted as dropped.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "modes.hpp"
#include "stats.hpp"

namespace mtop::bench {
namespace {

constexpr std::uint64_t kSignalKey = ~std::uint64_t{0};
constexpr std::uint64_t kStdinKey = kSignalKey - 1;
constexpr std::uint8_t kByte = 'i';

enum class State { connecting, reading, established, closed };

struct IdleConn {
  Fd fd;
  State state = State::connecting;
  Clock::time_point started;
};

class IdleRun {
 public:
  explicit IdleRun(const IdleOptions& opt) : opt_(opt) { conns_.reserve(opt.count); }

  int run() {
    signals_ = signal_fd({SIGUSR1, SIGINT, SIGTERM});
    if (!signals_.valid() || epoll_.add(signals_.get(), EPOLLIN, kSignalKey) != 0) {
      std::perror("idle: signalfd");
      return 1;
    }
    if (opt_.watch_stdin && epoll_.add(STDIN_FILENO, EPOLLIN, kStdinKey) != 0) {
      std::perror("idle: watching stdin");
      return 1;
    }
    const auto t0 = Clock::now();
    if (!open_all()) {
      report_and_close("interrupted", t0);
      return 1;
    }
    const double setup_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("idle ready established=%zu failures=%zu setup_seconds=%.2f errors=%s\n",
                established_, failures_.total(), setup_s, failures_.summary().c_str());
    std::fflush(stdout);
    if (established_ == 0) return 1;  // nothing to hold; the caller must not wait for us
    hold();
    report_and_close("closed", t0);
    return established_ > 0 ? 0 : 1;
  }

 private:
  // Sets connections up until `count` were tried and none is in progress. False if told to stop.
  bool open_all() {
    std::array<epoll_event, 256> events{};
    while (conns_.size() < opt_.count || in_progress_ > 0) {
      while (conns_.size() < opt_.count && in_progress_ < opt_.concurrency) start();
      const int n = epoll_.wait(events, 50);
      if (n < 0) {
        std::fprintf(stderr, "idle: epoll_wait: %s\n", std::strerror(-n));
        return false;
      }
      for (int i = 0; i < n; ++i) {
        if (!handle(events[static_cast<std::size_t>(i)])) return false;
      }
      expire(Clock::now());
    }
    return true;
  }

  void hold() {
    const auto until = Clock::now() + opt_.hold;
    std::array<epoll_event, 256> events{};
    while (Clock::now() < until) {
      const int n = epoll_.wait(events, 1000);
      if (n < 0) return;
      for (int i = 0; i < n; ++i) {
        if (!handle(events[static_cast<std::size_t>(i)])) return;
      }
    }
  }

  void report_and_close(const char* what, Clock::time_point t0) {
    const std::size_t open = established_;
    conns_.clear();  // closes every socket
    std::printf("idle %s established=%zu dropped=%zu seconds=%.1f\n", what, open, dropped_,
                std::chrono::duration<double>(Clock::now() - t0).count());
    std::fflush(stdout);
  }

  void start() {
    const std::size_t i = conns_.size();
    IdleConn& c = conns_.emplace_back();
    c.started = Clock::now();
    int err = 0;
    c.fd = connect_tcp(opt_.target, false, err);
    if (!c.fd.valid()) return fail(c, err);
    if (const int rc = epoll_.add(c.fd.get(), EPOLLOUT, i); rc != 0) {
      c.fd.reset();  // not counted in progress yet
      return fail(c, -rc);
    }
    ++in_progress_;
  }

  void fail(IdleConn& c, int cause) {
    failures_.add(cause);
    if (c.state == State::connecting || c.state == State::reading) {
      if (c.fd.valid()) --in_progress_;
    }
    c.fd.reset();
    c.state = State::closed;
  }

  // False when told to stop (signal or stdin).
  bool handle(const epoll_event& ev) {
    if (ev.data.u64 == kSignalKey || ev.data.u64 == kStdinKey) return false;
    IdleConn& c = conns_[static_cast<std::size_t>(ev.data.u64)];
    if (!c.fd.valid()) return true;
    switch (c.state) {
      case State::connecting: {
        if (const int err = socket_error(c.fd.get()); err != 0) {
          fail(c, err);
          break;
        }
        const ssize_t n = ::send(c.fd.get(), &kByte, 1, MSG_NOSIGNAL);
        if (n == 1) {
          c.state = State::reading;
          epoll_.modify(c.fd.get(), EPOLLIN, ev.data.u64);
        } else if (n < 0 && errno != EAGAIN) {
          fail(c, errno);
        }
        break;
      }
      case State::reading: {
        std::uint8_t got = 0;
        const ssize_t n = ::recv(c.fd.get(), &got, 1, 0);
        if (n == 1 && got == kByte) {
          c.state = State::established;
          --in_progress_;
          ++established_;
          // From now on only a close by the proxy is of interest.
          epoll_.modify(c.fd.get(), EPOLLRDHUP, ev.data.u64);
        } else if (n == 1) {
          fail(c, FailureTally::kMismatch);
        } else if (n == 0) {
          fail(c, FailureTally::kClosed);
        } else if (errno != EAGAIN) {
          fail(c, errno);
        }
        break;
      }
      case State::established:
        c.fd.reset();
        c.state = State::closed;
        --established_;
        ++dropped_;
        break;
      case State::closed:
        break;
    }
    return true;
  }

  void expire(Clock::time_point now) {
    for (IdleConn& c : conns_) {
      if ((c.state == State::connecting || c.state == State::reading) && now - c.started > opt_.op_timeout) {
        fail(c, FailureTally::kTimeout);
      }
    }
  }

  IdleOptions opt_;
  Epoll epoll_;
  Fd signals_;
  std::vector<IdleConn> conns_;
  std::size_t in_progress_ = 0;
  std::size_t established_ = 0;
  std::size_t dropped_ = 0;
  FailureTally failures_;
};

}  // namespace

int run_idle(const IdleOptions& opt) {
  const std::uint64_t limit = raise_fd_limit();
  if (opt.count + 16 > limit) {
    std::fprintf(stderr, "idle: %zu connections need more descriptors than the limit (%llu)\n", opt.count,
                 static_cast<unsigned long long>(limit));
    return 2;
  }
  IdleRun run(opt);
  return run.run();
}

}  // namespace mtop::bench
