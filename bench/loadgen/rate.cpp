// Tunnels per second. `concurrency` slots each run connect -> write N bytes -> read the N-byte
// echo -> close, and start over until the time is up. Tunnels still in flight at the end are
// neither counted nor failed. Every step is bounded by the per-operation time-out.
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "modes.hpp"
#include "stats.hpp"

namespace mtop::bench {
namespace {

enum class Phase { idle, connecting, writing, reading };

struct Slot {
  Fd fd;
  Phase phase = Phase::idle;
  std::size_t done = 0;  // bytes written (writing) or read (reading)
  Clock::time_point started;
  std::vector<std::uint8_t> echo;  // this slot's echo so far
};

class RateRun {
 public:
  explicit RateRun(const RateOptions& opt) : opt_(opt), slots_(opt.concurrency) {
    for (Slot& s : slots_) s.echo.resize(opt.size);
    payload_.resize(opt.size);
    for (std::size_t i = 0; i < payload_.size(); ++i) payload_[i] = static_cast<std::uint8_t>('a' + i % 26);
  }

  int run() {
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(opt_.seconds));
    for (std::size_t i = 0; i < slots_.size(); ++i) begin(i);
    std::array<epoll_event, 256> events{};
    for (auto now = Clock::now(); now < end; now = Clock::now()) {
      const int n = epoll_.wait(events, 50);
      if (n < 0) {
        std::fprintf(stderr, "rate: epoll_wait: %s\n", std::strerror(-n));
        return 1;
      }
      for (int i = 0; i < n; ++i) step(static_cast<std::size_t>(events[static_cast<std::size_t>(i)].data.u64));
      expire(Clock::now());
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("rate ok=%zu failures=%zu seconds=%.2f per_second=%.1f concurrency=%zu size=%zu errors=%s\n",
                ok_, failures_.total(), elapsed, static_cast<double>(ok_) / elapsed,
                opt_.concurrency, opt_.size, failures_.summary().c_str());
    return ok_ > 0 ? 0 : 1;
  }

 private:
  void begin(std::size_t i) {
    Slot& s = slots_[i];
    int err = 0;
    s.fd = connect_tcp(opt_.target, false, err);
    s.started = Clock::now();
    s.done = 0;
    if (!s.fd.valid()) return fail(i, err);
    s.phase = Phase::connecting;
    if (const int rc = epoll_.add(s.fd.get(), EPOLLOUT, i); rc != 0) {
      failures_.add(-rc);
      s.fd.reset();
      s.phase = Phase::idle;  // retried by expire(), never recursively from here
    }
  }

  void fail(std::size_t i, int cause) {
    failures_.add(cause);
    finish(i);
  }

  // Closes the slot's socket and starts its next tunnel. A slot that failed at socket() (out
  // of descriptors or ports) is left idle until expire() retries it, so it cannot spin.
  void finish(std::size_t i) {
    Slot& s = slots_[i];
    const bool had_socket = s.fd.valid();
    s.fd.reset();
    s.phase = Phase::idle;
    if (had_socket) begin(i);
  }

  void step(std::size_t i) {
    Slot& s = slots_[i];
    if (s.phase == Phase::connecting) {
      if (const int err = socket_error(s.fd.get()); err != 0) return fail(i, err);
      s.phase = Phase::writing;
    }
    if (s.phase == Phase::writing) {
      const ssize_t n = ::send(s.fd.get(), payload_.data() + s.done, payload_.size() - s.done, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno != EAGAIN) fail(i, errno);
        return;
      }
      s.done += static_cast<std::size_t>(n);
      if (s.done < payload_.size()) return;
      s.phase = Phase::reading;
      s.done = 0;
      epoll_.modify(s.fd.get(), EPOLLIN, i);
      return;
    }
    if (s.phase == Phase::reading) {
      const ssize_t n = ::recv(s.fd.get(), s.echo.data() + s.done, s.echo.size() - s.done, 0);
      if (n == 0) return fail(i, FailureTally::kClosed);
      if (n < 0) {
        if (errno != EAGAIN) fail(i, errno);
        return;
      }
      s.done += static_cast<std::size_t>(n);
      if (s.done < s.echo.size()) return;
      if (std::memcmp(s.echo.data(), payload_.data(), payload_.size()) != 0) {
        return fail(i, FailureTally::kMismatch);
      }
      ++ok_;
      finish(i);
    }
  }

  void expire(Clock::time_point now) {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      Slot& s = slots_[i];
      if (s.phase == Phase::idle) {
        if (now - s.started > std::chrono::milliseconds(10)) begin(i);
      } else if (now - s.started > opt_.op_timeout) {
        fail(i, FailureTally::kTimeout);
      }
    }
  }

  RateOptions opt_;
  Epoll epoll_;
  std::vector<Slot> slots_;
  std::vector<std::uint8_t> payload_;
  std::size_t ok_ = 0;
  FailureTally failures_;
};

}  // namespace

int run_rate(const RateOptions& opt) {
  raise_fd_limit();
  RateRun run(opt);
  return run.run();
}

}  // namespace mtop::bench
