// Small POSIX helpers for the load generator: an owning file descriptor, an epoll set, a
// signalfd, and TCP listen/connect on numeric IPv4/IPv6 addresses. Linux only (epoll,
// signalfd, accept4), which is all a benchmark on this machine needs.
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>

namespace mtop::bench {

using Clock = std::chrono::steady_clock;

/// Owns one file descriptor; closes it on destruction or reset.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept;
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

/// An epoll set. Every method reports failure as -errno so callers can print strerror.
class Epoll {
 public:
  /// Throws std::runtime_error if epoll_create1 fails (nothing can run without it).
  Epoll();

  int add(int fd, std::uint32_t events, std::uint64_t key);
  int modify(int fd, std::uint32_t events, std::uint64_t key);
  int remove(int fd);
  /// Waits up to `timeout_ms`; returns the number of events written to `out`, or -errno
  /// (EINTR is reported as 0 events).
  int wait(std::span<epoll_event> out, int timeout_ms);

 private:
  Fd fd_;
};

/// A numeric "host:port" or "[v6]:port" endpoint.
struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
};

/// Parses "host:port" / "[v6]:port" / "port" (host defaults to 127.0.0.1). False if malformed.
bool parse_endpoint(const std::string& text, Endpoint& out);

/// A listening TCP socket (non-blocking, SO_REUSEADDR, backlog 4096). On failure returns an
/// invalid Fd and sets `err` to the errno. `bound_port` receives the port actually bound
/// (useful with port 0).
Fd listen_tcp(const Endpoint& where, std::uint16_t& bound_port, int& err);

/// Starts a TCP connect. `blocking` false: returns at once with the socket in progress
/// (EINPROGRESS is not an error). On failure returns an invalid Fd and sets `err`.
/// TCP_NODELAY is set: every benchmark here sends small messages and waits for the answer.
Fd connect_tcp(const Endpoint& to, bool blocking, int& err);

/// The pending error of a socket whose non-blocking connect finished (0 = connected).
int socket_error(int fd);

/// Send and receive time-outs on a blocking socket, so no call can hang forever.
void set_io_timeout(int fd, std::chrono::milliseconds timeout);

/// Writes all of `data` on a blocking socket; false with `err` on failure.
bool write_all(int fd, std::span<const std::uint8_t> data, int& err);
/// Reads exactly `out.size()` bytes from a blocking socket; false with `err` on failure
/// (err = 0 means the peer closed first).
bool read_exact(int fd, std::span<std::uint8_t> out, int& err);

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
std::uint64_t raise_fd_limit();

/// Blocks `signals` for this process and returns a non-blocking signalfd for them, so signals
/// arrive as epoll events instead of interrupting the loop.
Fd signal_fd(std::initializer_list<int> signals);

/// Microseconds between two time points, as a double.
inline double micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

}  // namespace mtop::bench
