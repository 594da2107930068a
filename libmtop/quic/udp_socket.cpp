#include "quic/udp_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // linux/udp.h; glibc's netinet/udp.h has it since 2.32
#endif
#ifndef UDP_GRO
#define UDP_GRO 104  // linux/udp.h (Linux 5.0)
#endif

namespace mtop::quic {
namespace {

// recvmmsg: one 64 KiB slot per message (a GRO train is at most 64 KiB), 16 per system call.
constexpr std::size_t kSlot = 64 * 1024;
constexpr std::size_t kSlots = 16;
constexpr std::size_t kControl = CMSG_SPACE(sizeof(int));  // the UDP_GRO segment size
// recvmmsg calls per readable event before other handles get their turn.
constexpr int kReadRounds = 8;
// Large socket buffers so a burst of a fast sender is not dropped by the kernel (the kernel
// caps these at net.core.{r,w}mem_max; failing to raise them is harmless).
constexpr int kSocketBuffer = 4 * 1024 * 1024;

}  // namespace

std::string address_to_string(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (!sa) return "?";
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "?";
}

socklen_t address_length(const sockaddr* sa) noexcept {
  if (!sa) return 0;
  if (sa->sa_family == AF_INET) return sizeof(sockaddr_in);
  if (sa->sa_family == AF_INET6) return sizeof(sockaddr_in6);
  return 0;
}

Result<std::unique_ptr<UdpSocket>> UdpSocket::open(uv_loop_t* loop, const sockaddr* bind_addr,
                                                   const sockaddr* peer, ReceiveFn on_receive,
                                                   WritableFn on_writable, bool group) {
  if (address_length(bind_addr) == 0 || (peer && peer->sa_family != bind_addr->sa_family)) {
    return Failure{Errc::invalid_argument, "udp: unsupported address family"};
  }
  std::unique_ptr<UdpSocket> s(new UdpSocket());
  s->fd_ = ::socket(bind_addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd_ < 0) return Failure{Errc::system_error, std::string("udp: ") + std::strerror(errno)};
  const int reuse = 1;
  if (group && setsockopt(s->fd_, SOL_SOCKET, SO_REUSEPORT, &reuse, sizeof reuse) != 0) {
    return Failure{Errc::system_error, std::string("udp SO_REUSEPORT: ") + std::strerror(errno)};
  }
  if (::bind(s->fd_, bind_addr, address_length(bind_addr)) != 0) {
    return Failure{Errc::listen_failed, std::string("udp bind ") + address_to_string(bind_addr) +
                                            ": " + std::strerror(errno)};
  }
  if (peer) {
    if (::connect(s->fd_, peer, address_length(peer)) != 0) {
      return Failure{Errc::system_error, std::string("udp connect ") + address_to_string(peer) +
                                             ": " + std::strerror(errno)};
    }
    s->connected_ = true;
  }
  setsockopt(s->fd_, SOL_SOCKET, SO_RCVBUF, &kSocketBuffer, sizeof kSocketBuffer);
  setsockopt(s->fd_, SOL_SOCKET, SO_SNDBUF, &kSocketBuffer, sizeof kSocketBuffer);
  const int on = 1;
  s->gro_ = setsockopt(s->fd_, SOL_UDP, UDP_GRO, &on, sizeof on) == 0;
  socklen_t namelen = sizeof s->local_;
  if (::getsockname(s->fd_, reinterpret_cast<sockaddr*>(&s->local_), &namelen) != 0) {
    return Failure{Errc::system_error, std::string("udp getsockname: ") + std::strerror(errno)};
  }
  s->rx_buffer_.resize(kSlots * kSlot);
  s->msgs_.resize(kSlots);
  s->iovs_.resize(kSlots);
  s->names_.resize(kSlots);
  s->controls_.resize(kSlots * kControl);
  s->on_receive_ = std::move(on_receive);
  s->on_writable_ = std::move(on_writable);
  s->poll_ = io::UvHandle<uv_poll_t>::make();
  if (int rv = uv_poll_init_socket(loop, s->poll_.get(), s->fd_); rv != 0) {
    s->poll_.release_uninitialised();
    return Failure{Errc::system_error, std::string("udp poll: ") + uv_strerror(rv)};
  }
  s->poll_->data = s.get();
  s->watch(false);
  return s;
}

UdpSocket::~UdpSocket() {
  *alive_ = false;
  // uv_close stops the poll (the descriptor leaves epoll) at once; the memory goes later.
  poll_.reset();
  if (fd_ >= 0) ::close(fd_);
}

void UdpSocket::watch(bool writable) {
  watching_writable_ = writable;
  (void)uv_poll_start(poll_.get(), UV_READABLE | (writable ? UV_WRITABLE : 0), on_poll);
}

void UdpSocket::on_poll(uv_poll_t* h, int status, int events) {
  auto* self = static_cast<UdpSocket*>(h->data);
  if (!self) return;
  auto alive = self->alive_;
  if (status < 0) {
    // EPOLLERR: an ICMP error is pending on the socket (the peer's port was closed). libuv
    // has stopped the handle; a receive returns the error (note_error sorts it), and then
    // we watch again, or the socket would go deaf for good.
    self->on_readable();
    if (!*alive) return;
    self->watch(self->watching_writable_);
    return;
  }
  if (events & UV_WRITABLE) {
    self->on_can_write();
    if (!*alive) return;
  }
  if (events & UV_READABLE) self->on_readable();
}

void UdpSocket::on_readable() {
  auto alive = alive_;
  for (int round = 0; round < kReadRounds; ++round) {
    for (std::size_t i = 0; i < kSlots; ++i) {
      iovs_[i] = iovec{rx_buffer_.data() + i * kSlot, kSlot};
      msghdr& h = msgs_[i].msg_hdr;
      h = msghdr{};
      h.msg_name = &names_[i];
      h.msg_namelen = sizeof names_[i];
      h.msg_iov = &iovs_[i];
      h.msg_iovlen = 1;
      h.msg_control = controls_.data() + i * kControl;
      h.msg_controllen = kControl;
      msgs_[i].msg_len = 0;
    }
    const int n = ::recvmmsg(fd_, msgs_.data(), static_cast<unsigned>(kSlots), 0, nullptr);
    ++rx_calls_;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      note_error(-errno);  // an ICMP error surfacing on a connected socket
      continue;
    }
    for (int i = 0; i < n; ++i) {
      const msghdr& h = msgs_[static_cast<std::size_t>(i)].msg_hdr;
      // A datagram larger than a slot was cut: it cannot be a valid QUIC packet.
      if (h.msg_flags & MSG_TRUNC) continue;
      const std::size_t len = msgs_[static_cast<std::size_t>(i)].msg_len;
      std::size_t segment = len;
      for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
          int gso_size = 0;
          std::memcpy(&gso_size, CMSG_DATA(c), sizeof gso_size);
          if (gso_size > 0) segment = static_cast<std::size_t>(gso_size);
        }
      }
      const auto* base = rx_buffer_.data() + static_cast<std::size_t>(i) * kSlot;
      const auto* from = reinterpret_cast<const sockaddr*>(h.msg_name);
      // A coalesced train: every datagram but the last is `segment` bytes long.
      for (std::size_t off = 0; off < len; off += segment) {
        ++rx_datagrams_;
        on_receive_(from, ByteView(base + off, std::min(segment, len - off)));
        if (!*alive) return;
      }
    }
    if (static_cast<std::size_t>(n) < kSlots) return;  // drained
  }
}

void UdpSocket::note_error(int uv_error) {
  // Only a connected socket's errors belong to one peer; on a server's shared socket an ICMP
  // error says nothing we could act on.
  if (!connected_ || !on_unreachable_) return;
  if (uv_error == UV_ECONNREFUSED || uv_error == UV_EHOSTUNREACH || uv_error == UV_ENETUNREACH) {
    on_unreachable_(uv_error);
  }
}

msghdr UdpSocket::message_to(const sockaddr* to, iovec& iov) const {
  msghdr msg{};
  if (!connected_) {  // a connected socket sends to its peer
    msg.msg_name = const_cast<sockaddr*>(to);
    msg.msg_namelen = address_length(to);
  }
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  return msg;
}

int UdpSocket::send_one(const sockaddr* to, const std::uint8_t* data, std::size_t len) {
  iovec iov{const_cast<std::uint8_t*>(data), len};
  msghdr msg = message_to(to, iov);
  ssize_t n;
  do {
    n = sendmsg(fd_, &msg, 0);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? errno : 0;
}

bool UdpSocket::send_gso(const sockaddr* to, const std::uint8_t* data, std::size_t len,
                         std::size_t segment, int& err) {
  iovec iov{const_cast<std::uint8_t*>(data), len};
  msghdr msg = message_to(to, iov);
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(std::uint16_t))] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_UDP;
  cm->cmsg_type = UDP_SEGMENT;
  cm->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
  auto seg = static_cast<std::uint16_t>(segment);
  std::memcpy(CMSG_DATA(cm), &seg, sizeof seg);
  ssize_t n;
  do {
    n = sendmsg(fd_, &msg, 0);
  } while (n < 0 && errno == EINTR);
  err = n < 0 ? errno : 0;
  return n >= 0;
}

int UdpSocket::transmit(const sockaddr* to, const std::uint8_t* data, std::size_t len,
                        std::size_t segment, std::size_t& off) {
  if (len - off > segment && gso_) {
    int err = 0;
    if (send_gso(to, data + off, len - off, segment, err)) {
      off = len;
      return 0;
    }
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) return EAGAIN;
    if (err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP) {
      gso_ = false;  // this kernel or device cannot segment: one packet per sendmsg from now
    } else {
      note_error(-err);  // unreachable peer and the like: a loss QUIC will notice
      off = len;
      return 0;
    }
  }
  for (; off < len; off += segment) {
    const int err = send_one(to, data + off, std::min(segment, len - off));
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) return EAGAIN;
    if (err != 0) note_error(-err);
  }
  off = len;
  return 0;
}

void UdpSocket::send(const sockaddr* to, const std::uint8_t* data, std::size_t len,
                     std::size_t segment) {
  if (len == 0 || segment == 0) return;
  std::size_t off = 0;
  // Behind packets already waiting nothing may overtake them: queue this batch too.
  if (queue_.empty() && transmit(to, data, len, segment, off) == 0) return;
  // Writers stop while blocked(); what still arrives here (closing packets, Retry...) is
  // capped so a flood cannot grow the queue: beyond it, packets are lost like on the wire.
  const std::size_t packets = (len - off + segment - 1) / segment;
  if (queued_packets_ + packets > kMaxQueued) return;
  Pending p;
  if (to) std::memcpy(&p.to, to, address_length(to));
  p.data.assign(data + off, data + len);
  p.segment = segment;
  queue_.push_back(std::move(p));
  queued_packets_ += packets;
  if (!watching_writable_) watch(true);
}

void UdpSocket::on_can_write() {
  while (!queue_.empty()) {
    Pending& p = queue_.front();
    const std::size_t before = p.off;
    const int err = transmit(connected_ ? nullptr : reinterpret_cast<const sockaddr*>(&p.to),
                             p.data.data(), p.data.size(), p.segment, p.off);
    const std::size_t sent = (p.off - before + p.segment - 1) / p.segment;
    queued_packets_ -= std::min(queued_packets_, sent);
    if (err == EAGAIN) return;  // still full: wait for the next writable event
    queue_.pop_front();
  }
  queued_packets_ = 0;
  watch(false);
  if (on_writable_) on_writable_();
}

}  // namespace mtop::quic
