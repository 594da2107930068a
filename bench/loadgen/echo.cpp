// The echo target. One thread, level-triggered epoll. A connection whose peer does not read
// keeps at most one read buffer pending: reading from it stops until that buffer is written,
// so memory per connection stays bounded whatever the peer does.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "modes.hpp"

namespace mtop::bench {
namespace {

constexpr std::uint64_t kListenKey = ~std::uint64_t{0};
constexpr std::uint64_t kSignalKey = kListenKey - 1;
constexpr std::size_t kBufferSize = 16 * 1024;

struct EchoConn {
  Fd fd;
  std::vector<std::uint8_t> pending;  // read but not yet written back
  std::size_t pending_off = 0;
  bool eof = false;
};

class EchoServer {
 public:
  EchoServer(Fd listener, Fd signals) : listener_(std::move(listener)), signals_(std::move(signals)) {}

  int run() {
    if (epoll_.add(listener_.get(), EPOLLIN, kListenKey) != 0 ||
        epoll_.add(signals_.get(), EPOLLIN, kSignalKey) != 0) {
      std::perror("echo: epoll_ctl");
      return 1;
    }
    std::array<epoll_event, 256> events{};
    while (!stop_) {
      // A paused listener (fd limit reached) is retried on this time-out.
      const int n = epoll_.wait(events, accept_paused_ ? 100 : -1);
      if (n < 0) {
        std::fprintf(stderr, "echo: epoll_wait: %s\n", std::strerror(-n));
        return 1;
      }
      if (accept_paused_) resume_accept();
      for (int i = 0; i < n; ++i) handle(events[static_cast<std::size_t>(i)]);
    }
    std::printf("echo accepted=%zu open=%zu\n", accepted_, conns_.size());
    return 0;
  }

 private:
  void handle(const epoll_event& ev) {
    if (ev.data.u64 == kListenKey) return accept_all();
    if (ev.data.u64 == kSignalKey) {
      stop_ = true;
      return;
    }
    const int fd = static_cast<int>(ev.data.u64);
    auto it = conns_.find(fd);
    if (it == conns_.end()) return;
    EchoConn& c = it->second;
    if (!c.pending.empty() && (ev.events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) flush(c);
    else if (ev.events & (EPOLLIN | EPOLLERR | EPOLLHUP)) read_some(c);
    if (c.fd.valid() && c.eof && c.pending.empty()) c.fd.reset();
    if (!c.fd.valid()) close_conn(it);
  }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) {
          // Out of descriptors: stop accepting for a moment instead of spinning on the
          // always-readable listener.
          epoll_.remove(listener_.get());
          accept_paused_ = true;
        }
        return;  // EAGAIN, or a per-connection error (ECONNABORTED...) already gone
      }
      if (epoll_.add(fd, EPOLLIN, static_cast<std::uint64_t>(fd)) != 0) {
        ::close(fd);
        continue;
      }
      conns_[fd].fd.reset(fd);
      ++accepted_;
    }
  }

  void resume_accept() {
    if (epoll_.add(listener_.get(), EPOLLIN, kListenKey) == 0) accept_paused_ = false;
  }

  void read_some(EchoConn& c) {
    const ssize_t n = ::recv(c.fd.get(), buffer_.data(), buffer_.size(), 0);
    if (n == 0) {
      c.eof = true;
      return;
    }
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) c.fd.reset();
      return;
    }
    const auto len = static_cast<std::size_t>(n);
    const ssize_t w = ::send(c.fd.get(), buffer_.data(), len, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) {
      c.fd.reset();
      return;
    }
    const std::size_t sent = w < 0 ? 0 : static_cast<std::size_t>(w);
    if (sent == len) return;
    // The peer is slow to read: keep the rest and wait for writability only.
    c.pending.assign(buffer_.begin() + static_cast<std::ptrdiff_t>(sent), buffer_.begin() + n);
    c.pending_off = 0;
    epoll_.modify(c.fd.get(), EPOLLOUT, static_cast<std::uint64_t>(c.fd.get()));
  }

  void flush(EchoConn& c) {
    const ssize_t w = ::send(c.fd.get(), c.pending.data() + c.pending_off,
                             c.pending.size() - c.pending_off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno != EAGAIN && errno != EINTR) c.fd.reset();
      return;
    }
    c.pending_off += static_cast<std::size_t>(w);
    if (c.pending_off < c.pending.size()) return;
    c.pending.clear();
    c.pending_off = 0;
    if (!c.eof) epoll_.modify(c.fd.get(), EPOLLIN, static_cast<std::uint64_t>(c.fd.get()));
  }

  void close_conn(std::unordered_map<int, EchoConn>::iterator it) {
    conns_.erase(it);  // the Fd closes the socket, which also leaves the epoll set
    if (accept_paused_) resume_accept();
  }

  Epoll epoll_;
  Fd listener_;
  Fd signals_;
  std::unordered_map<int, EchoConn> conns_;
  std::array<std::uint8_t, kBufferSize> buffer_{};
  std::size_t accepted_ = 0;
  bool accept_paused_ = false;
  bool stop_ = false;
};

}  // namespace

int run_echo(const EchoOptions& opt) {
  raise_fd_limit();
  Fd signals = signal_fd({SIGINT, SIGTERM});
  if (!signals.valid()) {
    std::perror("echo: signalfd");
    return 1;
  }
  std::uint16_t port = 0;
  int err = 0;
  Fd listener = listen_tcp(opt.listen, port, err);
  if (!listener.valid()) {
    std::fprintf(stderr, "echo: listen on %s:%u: %s\n", opt.listen.host.c_str(), opt.listen.port,
                 std::strerror(err));
    return 1;
  }
  std::printf("echo listening=%s:%u\n", opt.listen.host.c_str(), port);
  std::fflush(stdout);
  EchoServer server(std::move(listener), std::move(signals));
  return server.run();
}

}  // namespace mtop::bench
