// UdpSocket: batches of equal-size packets leave as separate datagrams of the right sizes
// (GSO or its fallback) and arrive through recvmmsg intact (split again where GRO joined them).
#include <catch2/catch.hpp>

#include <netinet/in.h>

#include "must.hpp"
#include "quic/udp_socket.hpp"
#include "quic_test_support.hpp"

using namespace qt;
using mtop::quic::UdpSocket;

TEST_CASE("a batch of packets arrives as separate datagrams", "[quic][udp]") {
  Loop loop;
  sockaddr_in any{};
  uv_ip4_addr("127.0.0.1", 0, &any);
  std::vector<Bytes> got;
  auto rx = must(UdpSocket::open(
      loop.get(), reinterpret_cast<sockaddr*>(&any), nullptr,
      [&](const sockaddr*, ByteView d) { got.emplace_back(d.begin(), d.end()); }, nullptr));
  REQUIRE(rx);
  const sockaddr* to = reinterpret_cast<const sockaddr*>(&rx->local_address());
  auto tx =
      must(UdpSocket::open(loop.get(), reinterpret_cast<sockaddr*>(&any), to, nullptr, nullptr));
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
  CHECK(rx->datagrams_received() == 22);
  // With UDP_GRO the GSO batch crosses loopback as one message and is split again here:
  // fewer receive calls than datagrams.
  if (rx->gro() && tx->gso()) CHECK(rx->receive_calls() < 22);
}

TEST_CASE("opening a UDP socket reports bad addresses", "[quic][udp]") {
  Loop loop;
  sockaddr_in bad{};
  uv_ip4_addr("192.0.2.1", 0, &bad);  // TEST-NET-1: not an address of this host
  auto r =
      UdpSocket::open(loop.get(), reinterpret_cast<sockaddr*>(&bad), nullptr, nullptr, nullptr);
  REQUIRE_FALSE(r);
  CHECK(r.error() == mtop::Errc::listen_failed);
  CHECK(r.message().find("udp bind") == 0);
  sockaddr unknown{};
  unknown.sa_family = AF_UNIX;
  r = UdpSocket::open(loop.get(), &unknown, nullptr, nullptr, nullptr);
  REQUIRE_FALSE(r);
  CHECK(r.error() == mtop::Errc::invalid_argument);
  const std::string error(r.message());
  CHECK(error == "udp: unsupported address family");
}

TEST_CASE("a connected socket hears its peer again after an ICMP port unreachable", "[quic][udp]") {
  // libuv stops a poll handle on EPOLLERR; a socket that did not watch again would go deaf
  // after the first ICMP error (a server restarting on the same port is that case).
  Loop loop;
  sockaddr_in any{};
  uv_ip4_addr("127.0.0.1", 0, &any);
  auto peer = must(UdpSocket::open(
      loop.get(), reinterpret_cast<sockaddr*>(&any), nullptr, [](const sockaddr*, ByteView) {},
      nullptr));
  REQUIRE(peer);
  sockaddr_storage peer_addr = peer->local_address();
  peer.reset();  // nothing listens there now
  loop.run_for(10);
  std::vector<Bytes> got;
  int unreachable = 0;
  auto tx = must(UdpSocket::open(
      loop.get(), reinterpret_cast<sockaddr*>(&any), reinterpret_cast<sockaddr*>(&peer_addr),
      [&](const sockaddr*, ByteView d) { got.emplace_back(d.begin(), d.end()); }, nullptr));
  REQUIRE(tx);
  tx->set_unreachable_handler([&](int) { ++unreachable; });
  const Bytes ping = random_bytes(50, 3);
  REQUIRE(loop.run_until(
      [&] {
        tx->send(nullptr, ping.data(), ping.size(), ping.size());
        return unreachable > 0;
      },
      5000));
  // The peer comes back on the same port and speaks first.
  auto back = must(UdpSocket::open(
      loop.get(), reinterpret_cast<sockaddr*>(&peer_addr), nullptr,
      [](const sockaddr*, ByteView) {}, nullptr));
  REQUIRE(back);
  const Bytes hello = random_bytes(60, 4);
  const sockaddr* to = reinterpret_cast<const sockaddr*>(&tx->local_address());
  back->send(to, hello.data(), hello.size(), hello.size());
  REQUIRE(loop.run_until([&] { return !got.empty(); }, 5000));
  CHECK(got[0] == hello);
}
