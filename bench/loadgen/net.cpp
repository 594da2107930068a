#include "net.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace mtop::bench {

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) reset(other.release());
  return *this;
}

int Fd::release() noexcept {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void Fd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Epoll::Epoll() : fd_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (!fd_.valid()) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
}

namespace {

int ctl(int epfd, int op, int fd, std::uint32_t events, std::uint64_t key) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = key;
  return ::epoll_ctl(epfd, op, fd, &ev) == 0 ? 0 : -errno;
}

// Fills a sockaddr from a numeric host; false if the host is not an IPv4/IPv6 literal.
bool to_sockaddr(const Endpoint& ep, sockaddr_storage& ss, socklen_t& len) {
  std::memset(&ss, 0, sizeof ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  if (::inet_pton(AF_INET, ep.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(ep.port);
    len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET6, ep.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(ep.port);
    len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

}  // namespace

int Epoll::add(int fd, std::uint32_t events, std::uint64_t key) {
  return ctl(fd_.get(), EPOLL_CTL_ADD, fd, events, key);
}

int Epoll::modify(int fd, std::uint32_t events, std::uint64_t key) {
  return ctl(fd_.get(), EPOLL_CTL_MOD, fd, events, key);
}

int Epoll::remove(int fd) {
  return ::epoll_ctl(fd_.get(), EPOLL_CTL_DEL, fd, nullptr) == 0 ? 0 : -errno;
}

int Epoll::wait(std::span<epoll_event> out, int timeout_ms) {
  const int n = ::epoll_wait(fd_.get(), out.data(), static_cast<int>(out.size()), timeout_ms);
  if (n >= 0) return n;
  return errno == EINTR ? 0 : -errno;
}

bool parse_endpoint(const std::string& text, Endpoint& out) {
  std::string host = "127.0.0.1";
  std::string port_text = text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  unsigned port = 0;
  const auto* end = port_text.data() + port_text.size();
  const auto [ptr, ec] = std::from_chars(port_text.data(), end, port);
  if (ec != std::errc{} || ptr != end || port > 65535 || host.empty()) return false;
  Endpoint ep{host, static_cast<std::uint16_t>(port)};
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!to_sockaddr(ep, ss, len)) return false;
  out = ep;
  return true;
}

Fd listen_tcp(const Endpoint& where, std::uint16_t& bound_port, int& err) {
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!to_sockaddr(where, ss, len)) {
    err = EINVAL;
    return {};
  }
  Fd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    err = errno;
    return {};
  }
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd.get(), 4096) != 0) {
    err = errno;
    return {};
  }
  socklen_t blen = sizeof ss;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &blen);
  bound_port = ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                                       : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  err = 0;
  return fd;
}

Fd connect_tcp(const Endpoint& to, bool blocking, int& err) {
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!to_sockaddr(to, ss, len)) {
    err = EINVAL;
    return {};
  }
  const int flags = SOCK_STREAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK);
  Fd fd(::socket(ss.ss_family, flags, 0));
  if (!fd.valid()) {
    err = errno;
    return {};
  }
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    err = errno;
    return {};
  }
  err = 0;
  return fd;
}

int socket_error(int fd) {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &len) != 0) return errno;
  return value;
}

void set_io_timeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool write_all(int fd, std::span<const std::uint8_t> data, int& err) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool read_exact(int fd, std::span<std::uint8_t> out, int& err) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::recv(fd, out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      return false;
    }
    if (n == 0) {
      err = 0;
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::uint64_t raise_fd_limit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur;
}

Fd signal_fd(std::initializer_list<int> signals) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  return Fd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
}

}  // namespace mtop::bench
