// UdpSocket: batches of equal-size packets leave as separate datagrams of the right sizes
// (GSO or its fallback) and arrive through recvmmsg intact.
#include <catch2/catch.hpp>

#include <netinet/in.h>

#include "quic/udp_socket.hpp"
#include "quic_test_support.hpp"

using namespace qt;
using mtop::quic::UdpSocket;

TEST_CASE("a batch of packets arrives as separate datagrams", "[quic][udp]") {
  Loop loop;
  sockaddr_in any{};
  uv_ip4_addr("127.0.0.1", 0, &any);
  std::vector<Bytes> got;
  std::string error;
  auto rx = UdpSocket::open(
      loop.get(), reinterpret_cast<sockaddr*>(&any), nullptr,
      [&](const sockaddr*, ByteView d) { got.emplace_back(d.begin(), d.end()); }, nullptr, error);
  REQUIRE(rx);
  const sockaddr* to = reinterpret_cast<const sockaddr*>(&rx->local_address());
  auto tx = UdpSocket::open(loop.get(), reinterpret_cast<sockaddr*>(&any), to, nullptr, nullptr,
                            error);
  REQUIRE(tx);

  // 20 packets of 1200 bytes and a short last one, in one call.
  constexpr std::size_t kSeg = 1200;
  Bytes batch = random_bytes(20 * kSeg + 345, 1);
  tx->send(nullptr, batch.data(), batch.size(), kSeg);
  // And a single packet.
  Bytes single = random_bytes(99, 2);
  tx->send(nullptr, single.data(), single.size(), single.size());
  REQUIRE(loop.run_until([&] { return got.size() == 22; }, 5000));
  for (std::size_t i = 0; i < 20; ++i) {
    INFO(i);
    CHECK(got[i] == Bytes(batch.begin() + i * kSeg, batch.begin() + (i + 1) * kSeg));
  }
  CHECK(got[20] == Bytes(batch.begin() + 20 * kSeg, batch.end()));
  CHECK(got[21] == single);
  CHECK_FALSE(tx->blocked());
}

TEST_CASE("opening a UDP socket reports bad addresses", "[quic][udp]") {
  Loop loop;
  std::string error;
  sockaddr_in bad{};
  uv_ip4_addr("192.0.2.1", 0, &bad);  // TEST-NET-1: not an address of this host
  CHECK_FALSE(UdpSocket::open(loop.get(), reinterpret_cast<sockaddr*>(&bad), nullptr, nullptr,
                              nullptr, error));
  CHECK(error.find("udp bind") == 0);
  sockaddr unknown{};
  unknown.sa_family = AF_UNIX;
  error.clear();
  CHECK_FALSE(UdpSocket::open(loop.get(), &unknown, nullptr, nullptr, nullptr, error));
  CHECK(error == "udp: unsupported address family");
}
