// Blocking, one-at-a-time latency modes: ping-pong on one connection, and the time from
// connect() to the first echoed message on a fresh connection. Blocking sockets with send and
// receive time-outs keep each step bounded and the measurement free of event-loop overhead.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "modes.hpp"
#include "stats.hpp"

namespace mtop::bench {
namespace {

std::vector<std::uint8_t> pattern(std::size_t size) {
  std::vector<std::uint8_t> out(size);
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>('A' + i % 26);
  return out;
}

// One message out and its echo back; false with `cause` (FailureTally codes) on failure.
bool round_trip(int fd, const std::vector<std::uint8_t>& ping, std::vector<std::uint8_t>& pong, int& cause) {
  if (!write_all(fd, ping, cause)) return false;
  if (!read_exact(fd, pong, cause)) {
    if (cause == EAGAIN) cause = FailureTally::kTimeout;  // SO_RCVTIMEO expired
    return false;
  }
  if (pong != ping) {
    cause = FailureTally::kMismatch;
    return false;
  }
  return true;
}

void print_latencies(const char* mode, std::vector<double>& us, const FailureTally& failures,
                     const char* extra) {
  std::sort(us.begin(), us.end());
  std::printf(
      "%s count=%zu p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f failures=%zu errors=%s%s\n",
      mode, us.size(), percentile(us, 50), percentile(us, 90), percentile(us, 99),
      us.empty() ? 0.0 : us.back(), failures.total(), failures.summary().c_str(), extra);
}

}  // namespace

int run_pingpong(const PingPongOptions& opt) {
  int err = 0;
  Fd fd = connect_tcp(opt.target, true, err);
  if (!fd.valid()) {
    std::fprintf(stderr, "pingpong: connect: %s\n", std::strerror(err));
    return 1;
  }
  set_io_timeout(fd.get(), opt.io_timeout);
  const auto ping = pattern(opt.size);
  std::vector<std::uint8_t> pong(opt.size);
  FailureTally failures;
  std::vector<double> us;
  // Warm-up: the first round trip also sets up the tunnel behind the proxy.
  for (std::size_t i = 0; i < opt.warmup; ++i) {
    if (!round_trip(fd.get(), ping, pong, err)) {
      failures.add(err);
      print_latencies("pingpong", us, failures, "");
      return 1;
    }
  }
  us.reserve(opt.rounds);
  for (std::size_t i = 0; i < opt.rounds; ++i) {
    const auto t0 = Clock::now();
    if (!round_trip(fd.get(), ping, pong, err)) {
      failures.add(err);
      break;  // the connection is gone or out of step; later rounds would measure nothing
    }
    us.push_back(micros(Clock::now() - t0));
  }
  print_latencies("pingpong", us, failures, "");
  return failures.total() == 0 ? 0 : 1;
}

int run_connlat(const ConnLatOptions& opt) {
  const auto ping = pattern(opt.size);
  std::vector<std::uint8_t> pong(opt.size);
  FailureTally failures;
  std::vector<double> us;
  std::vector<double> warm;
  us.reserve(opt.count);
  for (std::size_t i = 0; i < opt.warmup + opt.count; ++i) {
    const auto t0 = Clock::now();
    int err = 0;
    Fd fd = connect_tcp(opt.target, true, err);
    if (fd.valid()) set_io_timeout(fd.get(), opt.io_timeout);
    if (!fd.valid() || !round_trip(fd.get(), ping, pong, err)) {
      failures.add(err);
    } else {
      const double t = micros(Clock::now() - t0);
      (i < opt.warmup ? warm : us).push_back(t);
    }
    fd.reset();
    if (opt.pause.count() > 0) std::this_thread::sleep_for(opt.pause);
  }
  char extra[64];
  std::snprintf(extra, sizeof extra, " first_us=%.1f", warm.empty() ? 0.0 : warm.front());
  print_latencies("connlat", us, failures, extra);
  return us.empty() ? 1 : 0;
}

}  // namespace mtop::bench
