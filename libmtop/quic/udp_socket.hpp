// UdpSocket: the one UDP socket of a QUIC endpoint. Receives with recvmmsg (libuv's
// UV_UDP_RECVMMSG, a 1 MiB buffer = 16 datagram slots of 64 KiB) and sends batches of
// equal-size QUIC packets with one sendmsg and UDP_SEGMENT (GSO), falling back to one
// sendmsg per packet where the kernel refuses GSO.
//
// When the kernel's send buffer is full the batch is handed to uv_udp_send, which waits for
// the socket to become writable; until those sends finish blocked() is true, and the owner
// must stop producing packets (that is what bounds the memory), then on_writable() fires.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "mtop/bytes.hpp"
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
  /// socket can take packets again. Null with `error` set on failure.
  static std::unique_ptr<UdpSocket> open(uv_loop_t* loop, const sockaddr* bind_addr,
                                         const sockaddr* peer, ReceiveFn on_receive,
                                         WritableFn on_writable, std::string& error);
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
  void set_unreachable_handler(std::function<void(int uv_error)> fn) { on_unreachable_ = std::move(fn); }

  /// True while packets queued by a full send buffer are still waiting.
  bool blocked() const noexcept { return queued_ > 0; }
  /// Address the socket is bound to (after connect: the local address actually used).
  const sockaddr_storage& local_address() const noexcept { return local_; }
  bool gso() const noexcept { return gso_; }
  /// Largest number of packets send() accepts at once.
  static constexpr std::size_t kMaxBatch = 32;
  /// Most packets kept waiting for a full send buffer to drain.
  static constexpr std::size_t kMaxQueued = 4096;

 private:
  UdpSocket() = default;
  static void on_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf);
  static void on_recv(uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr,
                      unsigned flags);
  bool send_gso(const sockaddr* to, const std::uint8_t* data, std::size_t len,
                std::size_t segment, int& err);
  int send_one(const sockaddr* to, const std::uint8_t* data, std::size_t len);
  void queue(const sockaddr* to, const std::uint8_t* data, std::size_t len);
  void note_error(int uv_error);

  io::UvHandle<uv_udp_t> udp_;
  int fd_ = -1;
  bool connected_ = false;
  bool gso_ = true;
  std::size_t queued_ = 0;
  sockaddr_storage local_{};
  Bytes rx_buffer_;
  ReceiveFn on_receive_;
  WritableFn on_writable_;
  std::function<void(int)> on_unreachable_;
  std::shared_ptr<bool> alive_;  // lets queued-send callbacks notice that we are gone
};

}  // namespace mtop::quic
