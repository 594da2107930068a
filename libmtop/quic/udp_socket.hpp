// UdpSocket: the one UDP socket of a QUIC endpoint, driven by a uv_poll_t on a socket of our
// own (libuv's uv_udp_t hides the control messages GRO needs).
//
// Receive: recvmmsg into 16 slots of 64 KiB with UDP_GRO on, so the kernel hands over a train
// of equal-size datagrams (what a GSO sender produced) as one message plus its segment size,
// which we split again; where the kernel has no UDP_GRO every datagram is its own message.
// On loopback a GSO batch then crosses the stack unsegmented: one skb and one copy per batch.
// Send: batches of equal-size QUIC packets leave with one sendmsg and UDP_SEGMENT (GSO),
// falling back to one sendmsg per packet where the kernel refuses GSO.
//
// When the kernel's send buffer is full the rest of the batch is queued (copied) and the socket
// is polled for writability; until the queue is empty blocked() is true, and the owner must
// stop producing packets (that is what bounds the memory), then on_writable() fires.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mtop/bytes.hpp"
#include "mtop/result.hpp"
#include "uv/handle.hpp"

namespace mtop::quic {

/// "1.2.3.4:5" / "[::1]:5" for logs.
std::string address_to_string(const sockaddr* sa);
/// Byte length of an AF_INET / AF_INET6 address (0 for anything else).
socklen_t address_length(const sockaddr* sa) noexcept;

class UdpSocket {
 public:
  /// One received datagram; `data` is valid only during the call.
  using ReceiveFn = std::function<void(const sockaddr* from, ByteView data)>;
  using WritableFn = std::function<void()>;

  /// Opens a socket bound to `bind_addr` (port 0 = any) and, if `peer` is not null,
  /// connected to it. `on_receive` runs for each datagram, `on_writable` when a blocked
  /// socket can take packets again. Errors: invalid_argument (address family), listen_failed
  /// (bind: in use, not local), system_error (socket, connect, the event loop).
  /// `group`: joins the SO_REUSEPORT group of the address (a multi-worker server's sockets
  /// on one port); its datagrams are steered by the group's program (reuseport_steering.hpp)
  /// once a member attached one.
  static Result<std::unique_ptr<UdpSocket>> open(uv_loop_t* loop, const sockaddr* bind_addr,
                                                 const sockaddr* peer, ReceiveFn on_receive,
                                                 WritableFn on_writable, bool group = false);
  ~UdpSocket();
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  /// Sends `len` bytes as datagrams of `segment` bytes (the last may be shorter) to `to`
  /// (null on a connected socket). Never fails the caller: errors other than a full buffer
  /// drop the packets (QUIC recovers losses), a full buffer queues them (see blocked()).
  void send(const sockaddr* to, const std::uint8_t* data, std::size_t len, std::size_t segment);

  /// Connected sockets only: `fn` runs when the kernel reports the peer unreachable (an ICMP
  /// port/host unreachable surfacing as ECONNREFUSED/EHOSTUNREACH/ENETUNREACH on a receive or
  /// a send). It may run from inside send(), so it must only take note and act later.
  void set_unreachable_handler(std::function<void(int uv_error)> fn) {
    on_unreachable_ = std::move(fn);
  }

  /// The socket, for socket options (reuseport_steering.hpp).
  int fd() const noexcept { return fd_; }
  /// True while packets queued by a full send buffer are still waiting.
  bool blocked() const noexcept { return !queue_.empty(); }
  /// Address the socket is bound to (after connect: the local address actually used).
  const sockaddr_storage& local_address() const noexcept { return local_; }
  bool gso() const noexcept { return gso_; }
  /// True if the kernel accepted UDP_GRO (receive coalescing) on this socket.
  bool gro() const noexcept { return gro_; }
  /// Receive calls (recvmmsg) made and datagrams delivered so far (for tests and diagnostics).
  std::uint64_t receive_calls() const noexcept { return rx_calls_; }
  std::uint64_t datagrams_received() const noexcept { return rx_datagrams_; }
  /// Largest number of packets send() accepts at once (the kernel's UDP_MAX_SEGMENTS).
  static constexpr std::size_t kMaxBatch = 64;
  /// Most packets kept waiting for a full send buffer to drain.
  static constexpr std::size_t kMaxQueued = 4096;

 private:
  /// Packets that met a full send buffer, in order: [off, data.size()) still to go.
  struct Pending {
    sockaddr_storage to{};
    Bytes data;
    std::size_t segment = 0;
    std::size_t off = 0;
  };

  UdpSocket() = default;
  static void on_poll(uv_poll_t* h, int status, int events);
  void on_readable();
  void on_can_write();
  void watch(bool writable);
  /// Sends [data, data + len) from `off` on: GSO batches, else packet by packet. Returns 0
  /// when all left, or EAGAIN with `off` at the first packet the kernel did not take.
  int transmit(const sockaddr* to, const std::uint8_t* data, std::size_t len, std::size_t segment,
               std::size_t& off);
  bool send_gso(const sockaddr* to, const std::uint8_t* data, std::size_t len, std::size_t segment,
                int& err);
  int send_one(const sockaddr* to, const std::uint8_t* data, std::size_t len);
  /// A sendmsg header for one buffer to `to` (unnamed when the socket is connected).
  msghdr message_to(const sockaddr* to, iovec& iov) const;
  void note_error(int uv_error);

  io::UvHandle<uv_poll_t> poll_;
  int fd_ = -1;
  bool connected_ = false;
  bool gso_ = true;
  bool gro_ = false;
  bool watching_writable_ = false;
  std::deque<Pending> queue_;
  std::size_t queued_packets_ = 0;
  sockaddr_storage local_{};
  Bytes rx_buffer_;
  std::vector<mmsghdr> msgs_;
  std::vector<iovec> iovs_;
  std::vector<sockaddr_storage> names_;
  Bytes controls_;
  std::uint64_t rx_calls_ = 0;
  std::uint64_t rx_datagrams_ = 0;
  ReceiveFn on_receive_;
  WritableFn on_writable_;
  std::function<void(int)> on_unreachable_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // callbacks may destroy us
};

}  // namespace mtop::quic
