// Nothing listening on the server's UDP port: the kernel's ICMP "port unreachable" reaches
// the client's connected socket as ECONNREFUSED, and the handshake attempt fails at once with
// that reason instead of waiting for the handshake time-out (what lets `auto` fall back fast
// and a quic-only climber say why). Once a server listens, the next open gets through.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "must.hpp"
#include "quic/udp_socket.hpp"
#include "quic_test_support.hpp"

using namespace qt;
using namespace mtop::quic;

namespace {

/// A loopback UDP port that was free a moment ago and has nobody bound to it now.
std::uint16_t closed_udp_port() {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Checked: a failed bind would hand back port 0 and the test would aim at nothing.
  const int bound = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  const int named = bound == 0 ? getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) : -1;
  close(fd);
  REQUIRE(bound == 0);
  REQUIRE(named == 0);
  REQUIRE(a.sin_port != 0);
  return ntohs(a.sin_port);
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

}  // namespace

TEST_CASE("udp socket: a connected socket reports an unreachable peer", "[quic][udp]") {
  Loop loop;
  sockaddr_in any = loopback(0);
  sockaddr_in peer = loopback(closed_udp_port());
  std::string error;
  int reported = 0;
  auto sock = must(UdpSocket::open(
      loop.get(), reinterpret_cast<const sockaddr*>(&any), reinterpret_cast<const sockaddr*>(&peer),
      [](const sockaddr*, ByteView) {}, [] {}));
  REQUIRE(sock);
  sock->set_unreachable_handler([&](int e) { reported = e; });
  const Bytes ping(100, 0x42);
  // The first send provokes the ICMP error; it surfaces on the next receive or send.
  REQUIRE(loop.run_until(
      [&] {
        if (reported == 0) sock->send(nullptr, ping.data(), ping.size(), ping.size());
        return reported != 0;
      },
      5'000));
  CHECK(reported == UV_ECONNREFUSED);
  sock.reset();
}

TEST_CASE("udp socket: an unconnected (server) socket never reports", "[quic][udp]") {
  Loop loop;
  sockaddr_in any = loopback(0);
  sockaddr_in to = loopback(closed_udp_port());
  int reported = 0;
  auto sock = must(UdpSocket::open(
      loop.get(), reinterpret_cast<const sockaddr*>(&any), nullptr,
      [](const sockaddr*, ByteView) {}, [] {}));
  REQUIRE(sock);
  sock->set_unreachable_handler([&](int e) { reported = e; });
  const Bytes ping(100, 0x42);
  for (int i = 0; i < 5; ++i) {
    sock->send(reinterpret_cast<const sockaddr*>(&to), ping.data(), ping.size(), ping.size());
    loop.run_for(20);
  }
  CHECK(reported == 0);
  sock.reset();
}

TEST_CASE("client: no UDP listener fails the open with the ICMP reason, then recovers", "[quic]") {
  Loop loop;
  Certs certs;
  REQUIRE(certs.ok);
  const std::uint16_t port = closed_udp_port();
  auto co = client_options(certs, port);
  co.limits.handshake_timeout_ms = 120'000;  // far beyond the wait below: only ICMP can end it
  co.backoff_initial_ms = 50;
  std::string error;
  auto client = must(QuicClient::create(loop.get(), co));
  REQUIRE(client);
  StreamPtr s = open_stream(loop, *client, error, 15'000);
  CHECK_FALSE(s);
  INFO(error);
  CHECK(error.find("quic: cannot connect to 127.0.0.1:") == 0);
  CHECK(error.find("server unreachable over UDP") != std::string::npos);
  CHECK(error.find("refused") != std::string::npos);
  CHECK(client->handshakes() == 0);

  EchoServer echo;
  auto server = must(QuicServer::create(loop.get(), server_options(certs, port), echo.acceptor()));
  REQUIRE(server);
  s = open_stream(loop, *client, error, 15'000);
  CHECK(s);
  CHECK(error.empty());
  CHECK(client->handshakes() == 1);
  s.reset();
  client.reset();
  server.reset();
}
