#include "quic/udp_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // linux/udp.h; glibc's netinet/udp.h has it since 2.32
#endif

namespace mtop::quic {
namespace {

// libuv hands recvmmsg one 64 KiB slot per datagram; 16 slots per system call.
constexpr std::size_t kSlot = 64 * 1024;
constexpr std::size_t kRxBuffer = 16 * kSlot;
// Large socket buffers so a burst of a fast sender is not dropped by the kernel (the kernel
// caps these at net.core.{r,w}mem_max; failing to raise them is harmless).
constexpr int kSocketBuffer = 4 * 1024 * 1024;

struct SendReq {
  uv_udp_send_t req;
  Bytes data;
};

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

std::unique_ptr<UdpSocket> UdpSocket::open(uv_loop_t* loop, const sockaddr* bind_addr,
                                           const sockaddr* peer, ReceiveFn on_receive,
                                           WritableFn on_writable, std::string& error) {
  if (address_length(bind_addr) == 0 || (peer && peer->sa_family != bind_addr->sa_family)) {
    error = "udp: unsupported address family";
    return nullptr;
  }
  std::unique_ptr<UdpSocket> s(new UdpSocket());
  s->udp_ = io::UvHandle<uv_udp_t>::make();
  if (int rv = uv_udp_init_ex(loop, s->udp_.get(), bind_addr->sa_family | UV_UDP_RECVMMSG);
      rv != 0) {
    s->udp_.release_uninitialised();
    error = std::string("udp: ") + uv_strerror(rv);
    return nullptr;
  }
  s->udp_->data = s.get();
  if (int rv = uv_udp_bind(s->udp_.get(), bind_addr, 0); rv != 0) {
    error = std::string("udp bind ") + address_to_string(bind_addr) + ": " + uv_strerror(rv);
    return nullptr;
  }
  if (peer) {
    if (int rv = uv_udp_connect(s->udp_.get(), peer); rv != 0) {
      error = std::string("udp connect ") + address_to_string(peer) + ": " + uv_strerror(rv);
      return nullptr;
    }
    s->connected_ = true;
  }
  uv_os_fd_t fd;
  if (int rv = uv_fileno(s->udp_.handle(), &fd); rv != 0) {
    error = std::string("udp: ") + uv_strerror(rv);
    return nullptr;
  }
  s->fd_ = fd;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &kSocketBuffer, sizeof kSocketBuffer);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &kSocketBuffer, sizeof kSocketBuffer);
  int namelen = sizeof s->local_;
  if (int rv = uv_udp_getsockname(s->udp_.get(), reinterpret_cast<sockaddr*>(&s->local_),
                                  &namelen);
      rv != 0) {
    error = std::string("udp getsockname: ") + uv_strerror(rv);
    return nullptr;
  }
  s->rx_buffer_.resize(kRxBuffer);
  s->on_receive_ = std::move(on_receive);
  s->on_writable_ = std::move(on_writable);
  if (int rv = uv_udp_recv_start(s->udp_.get(), on_alloc, on_recv); rv != 0) {
    error = std::string("udp recv: ") + uv_strerror(rv);
    return nullptr;
  }
  return s;
}

UdpSocket::~UdpSocket() {
  // Queued sends complete with UV_ECANCELED once the handle closes; their callback sees
  // data == nullptr (UvHandle::reset clears it) and only frees the request.
  udp_.reset();
}

void UdpSocket::on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
  auto* self = static_cast<UdpSocket*>(h->data);
  if (!self) {
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  *buf = uv_buf_init(reinterpret_cast<char*>(self->rx_buffer_.data()),
                     static_cast<unsigned>(self->rx_buffer_.size()));
}

void UdpSocket::on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                        unsigned flags) {
  auto* self = static_cast<UdpSocket*>(h->data);
  if (self && nread < 0) {
    self->note_error(static_cast<int>(nread));
    return;
  }
  // The buffer is ours and reused, so the final "free the mmsg buffer" call is ignored.
  if (!self || (flags & UV_UDP_MMSG_FREE) || nread <= 0 || !addr) return;
  // A datagram larger than a slot was cut: it cannot be a valid QUIC packet.
  if (flags & UV_UDP_PARTIAL) return;
  self->on_receive_(addr, ByteView(reinterpret_cast<const std::uint8_t*>(buf->base),
                                   static_cast<std::size_t>(nread)));
}

void UdpSocket::note_error(int uv_error) {
  // Only a connected socket's errors belong to one peer; on a server's shared socket an ICMP
  // error says nothing we could act on.
  if (!connected_ || !on_unreachable_) return;
  if (uv_error == UV_ECONNREFUSED || uv_error == UV_EHOSTUNREACH || uv_error == UV_ENETUNREACH) {
    on_unreachable_(uv_error);
  }
}

int UdpSocket::send_one(const sockaddr* to, const std::uint8_t* data, std::size_t len) {
  msghdr msg{};
  iovec iov{const_cast<std::uint8_t*>(data), len};
  if (!connected_) {
    msg.msg_name = const_cast<sockaddr*>(to);
    msg.msg_namelen = address_length(to);
  }
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t n;
  do {
    n = sendmsg(fd_, &msg, 0);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? errno : 0;
}

bool UdpSocket::send_gso(const sockaddr* to, const std::uint8_t* data, std::size_t len,
                         std::size_t segment, int& err) {
  msghdr msg{};
  iovec iov{const_cast<std::uint8_t*>(data), len};
  if (!connected_) {
    msg.msg_name = const_cast<sockaddr*>(to);
    msg.msg_namelen = address_length(to);
  }
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
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

void UdpSocket::queue(const sockaddr* to, const std::uint8_t* data, std::size_t len) {
  // Writers stop while blocked(); what still arrives here (closing packets, Retry...) is
  // capped so a flood cannot grow the queue: beyond it, packets are lost like on the wire.
  if (queued_ >= kMaxQueued) return;
  auto* r = new SendReq;
  r->data.assign(data, data + len);
  r->req.data = r;
  uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(r->data.data()),
                           static_cast<unsigned>(r->data.size()));
  int rv = uv_udp_send(&r->req, udp_.get(), &b, 1, connected_ ? nullptr : to,
                       [](uv_udp_send_t* req, int) {
                         auto* sr = static_cast<SendReq*>(req->data);
                         auto* self = static_cast<UdpSocket*>(req->handle->data);
                         delete sr;
                         if (self && --self->queued_ == 0 && self->on_writable_) {
                           self->on_writable_();
                         }
                       });
  if (rv != 0) {
    delete r;  // dropped: QUIC's loss recovery resends what matters
    return;
  }
  ++queued_;
}

void UdpSocket::send(const sockaddr* to, const std::uint8_t* data, std::size_t len,
                     std::size_t segment) {
  if (len == 0 || segment == 0) return;
  if (queued_ > 0) {
    // Keep datagram order behind what is already waiting.
    for (std::size_t off = 0; off < len; off += segment) {
      queue(to, data + off, std::min(segment, len - off));
    }
    return;
  }
  if (len > segment && gso_) {
    int err = 0;
    if (send_gso(to, data, len, segment, err)) return;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
      for (std::size_t off = 0; off < len; off += segment) {
        queue(to, data + off, std::min(segment, len - off));
      }
      return;
    }
    if (err == EIO || err == EINVAL || err == ENOPROTOOPT || err == EOPNOTSUPP) {
      gso_ = false;  // this kernel or device cannot segment: one packet per sendmsg from now
    } else {
      note_error(-err);  // unreachable peer and the like: a loss QUIC will notice
      return;
    }
  }
  for (std::size_t off = 0; off < len; off += segment) {
    std::size_t n = std::min(segment, len - off);
    int err = send_one(to, data + off, n);
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
      for (; off < len; off += segment) queue(to, data + off, std::min(segment, len - off));
      return;
    }
    if (err != 0) note_error(-err);
  }
}

}  // namespace mtop::quic
