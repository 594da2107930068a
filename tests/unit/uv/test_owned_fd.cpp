// Sockets moved between loops (uv/owned_fd.hpp): a listening socket keeps its port and the
// connections queued on it; an accepted connection keeps the bytes its peer sent before the
// move. What a multi-worker server does with a reverse tunnel's public port and its visitors.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "uv/owned_fd.hpp"
#include "uv/tcp_listener.hpp"
#include "uv_test_support.hpp"

using mtop::io::OwnedFd;
using mtop::io::StreamPtr;
using mtop::io::TcpListener;
using mtop::io::TcpStream;
using mtop::io::UvHandle;
using mtop::test::Recorder;
using mtop::test::TestLoop;

namespace {

/// A blocking client socket connected to 127.0.0.1:`port` (the kernel completes the handshake
/// into the listener's backlog, accepted or not).
OwnedFd connect_to(std::uint16_t port) {
  OwnedFd fd(::socket(AF_INET, SOCK_STREAM, 0));
  REQUIRE(fd);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

}  // namespace

TEST_CASE("owned fd: a listening socket moves to another loop, still bound, its queue kept",
          "[owned_fd]") {
  TestLoop a;
  TestLoop b;
  {
    std::vector<UvHandle<uv_tcp_t>> on_a;
    std::vector<UvHandle<uv_tcp_t>> on_b;
    auto first = TcpListener::listen_raw(
        a.get(), "127.0.0.1", 0, [&](UvHandle<uv_tcp_t> t) { on_a.push_back(std::move(t)); });
    REQUIRE(first);
    const std::uint16_t port = (*first)->port();
    OwnedFd queued = connect_to(port);  // waits in the backlog: loop a never runs

    OwnedFd copy = OwnedFd::duplicate((*first)->fd());
    REQUIRE(copy);
    (*first)->stop();  // loop a's descriptor closes; the socket lives on in `copy`
    CHECK((*first)->fd() == -1);
    auto moved = TcpListener::adopt(b.get(), std::move(copy),
                                    [&](UvHandle<uv_tcp_t> t) { on_b.push_back(std::move(t)); });
    REQUIRE(moved);
    CHECK((*moved)->port() == port);
    CHECK((*moved)->local_name() == "127.0.0.1:" + std::to_string(port));
    // Never unbound: nobody else gets the port.
    auto thief = TcpListener::listen(b.get(), "127.0.0.1", port, [](StreamPtr) {});
    CHECK_FALSE(thief);

    OwnedFd later = connect_to(port);
    REQUIRE(b.run_until([&] { return on_b.size() == 2; }));
    a.spin();
    CHECK(on_a.empty());
  }
  CHECK(a.close() == 0);
  CHECK(b.close() == 0);
}

TEST_CASE("owned fd: an accepted connection moves with the bytes not yet read", "[owned_fd]") {
  TestLoop a;
  TestLoop b;
  {
    std::vector<StreamPtr> accepted;
    auto l = TcpListener::listen(a.get(), "127.0.0.1", 0,
                                 [&](StreamPtr s) { accepted.push_back(std::move(s)); });
    REQUIRE(l);
    OwnedFd client = connect_to((*l)->port());
    REQUIRE(::write(client.get(), "early", 5) == 5);
    REQUIRE(a.run_until([&] { return accepted.size() == 1; }));

    OwnedFd fd = TcpStream::hand_over(std::move(accepted[0]));
    REQUIRE(fd);
    a.spin();  // loop a closes its handle; the connection stays up
    auto tcp = mtop::io::open_tcp(b.get(), std::move(fd));
    REQUIRE(tcp);
    StreamPtr there = TcpStream::adopt(std::move(*tcp));
    Recorder rec;
    there->set_handler(&rec);
    there->start_read();
    REQUIRE(b.run_until([&] { return rec.data == "early"; }));
    there->write(mtop::as_bytes("answer"));
    REQUIRE(b.run_until([&] { return there->write_queue_size() == 0; }));
    char buf[16] = {};
    CHECK(::read(client.get(), buf, sizeof buf) == 6);
    CHECK(std::string(buf, 6) == "answer");

    CHECK_FALSE(TcpStream::hand_over(nullptr));  // nothing to hand over
    CHECK_FALSE(mtop::io::open_tcp(b.get(), OwnedFd{}));
  }
  CHECK(a.close() == 0);
  CHECK(b.close() == 0);
}
