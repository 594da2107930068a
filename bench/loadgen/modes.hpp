// The load generator's modes. Each returns a process exit status (0 = the run measured what it
// should, 1 = it ran into failures it cannot report as a number) and prints one result line of
// `key=value` pairs on stdout, so bench/run.sh can read it without guessing at formats.
#pragma once

#include <chrono>
#include <cstddef>

#include "net.hpp"

namespace mtop::bench {

struct EchoOptions {
  Endpoint listen{"127.0.0.1", 0};  ///< port 0: the kernel picks; the chosen port is printed
};

struct RateOptions {
  Endpoint target;
  double seconds = 10;
  std::size_t concurrency = 32;
  std::size_t size = 64;
  std::chrono::milliseconds op_timeout{10'000};  ///< one connect+echo longer than this fails
};

struct PingPongOptions {
  Endpoint target;
  std::size_t rounds = 10'000;
  std::size_t warmup = 200;
  std::size_t size = 64;
  std::chrono::milliseconds io_timeout{10'000};
};

struct ConnLatOptions {
  Endpoint target;
  std::size_t count = 500;
  std::size_t warmup = 5;  ///< first tunnels (they may open the transport) are left out
  std::size_t size = 64;
  std::chrono::milliseconds io_timeout{10'000};
  /// Wait after each connection closes: spaced arrivals, not back to back (a reverse tunnel's
  /// pool of ready data connections refills in between).
  std::chrono::milliseconds pause{0};
};

struct IdleOptions {
  Endpoint target;
  std::size_t count = 5'000;
  std::size_t concurrency = 64;  ///< connections being set up at once
  std::chrono::milliseconds op_timeout{20'000};
  std::chrono::seconds hold{600};  ///< upper bound on holding; a signal or stdin ends it sooner
  bool watch_stdin = false;        ///< a line or EOF on stdin also ends holding
};

/// Echo server: every byte read is written back; runs until SIGINT/SIGTERM.
int run_echo(const EchoOptions& opt);
/// Tunnels per second: connect, write `size` bytes, read the echo, close; `concurrency` at once.
int run_rate(const RateOptions& opt);
/// One connection, `rounds` timed round trips of `size` bytes; prints p50/p99/max µs.
int run_pingpong(const PingPongOptions& opt);
/// Sequential connect+echo+close, timed each; prints p50/p99/max µs (time to a usable tunnel).
int run_connlat(const ConnLatOptions& opt);
/// Opens `count` echoed connections, prints "ready", holds them until SIGUSR1/SIGINT/SIGTERM
/// (or stdin), closes them.
int run_idle(const IdleOptions& opt);

}  // namespace mtop::bench
