// The fd bridge behind mtop_climber_open_tunnel() (bindings/c/fd_bridge.hpp), tested on its
// own: a TCP stream pair over loopback stands in for the tunnel, and the test plays the
// application on the socket the bridge hands out. Bytes both ways, half-close both ways,
// back-pressure with a large transfer, the fd closed by the application, the bridges ended by
// the library. Built with the C API's sources (the bridge is not exported from libmtop).
#include <catch2/catch.hpp>

#if MTOP_C_WITH_ENGINES

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "fd_bridge.hpp"
#include "uv/uv_test_support.hpp"

namespace {

using mtop::capi::FdBridges;
using namespace mtop::test;

/// Keeps the loop turning (1 ms) while the test reads or writes the application's fd in the
/// run_until() predicate, so a full socket buffer never leaves the loop asleep in its poll.
struct Spinner {
  explicit Spinner(uv_loop_t* loop) : timer(new uv_timer_t) {
    uv_timer_init(loop, timer);
    uv_timer_start(
        timer, [](uv_timer_t*) {}, 1, 1);
  }
  ~Spinner() {  // the handle's memory goes in its close callback (libuv's rule)
    uv_close(reinterpret_cast<uv_handle_t*>(timer),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  }
  Spinner(const Spinner&) = delete;
  Spinner& operator=(const Spinner&) = delete;
  uv_timer_t* timer;
};

/// Reads what is there without blocking; true once EOF was read.
bool drain_fd(int fd, std::string& into) {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    return n == 0;
  }
}

}  // namespace

TEST_CASE("fd bridge: bytes and half-close both ways", "[c][bridge]") {
  TestLoop loop;
  {
    auto pair = make_pair(loop);
    FdBridges bridges(loop.get(), 0, 0);
    const auto bridged = bridges.open(std::move(pair.client));
    INFO(bridged.message());
    REQUIRE(bridged);
    const int fd = *bridged;
    REQUIRE(fd >= 0);
    CHECK(bridges.size() == 1);
    Recorder far;
    pair.server->set_handler(&far);
    pair.server->start_read();

    // Application -> far side, then the application's half-close.
    REQUIRE(::write(fd, "hello", 5) == 5);
    REQUIRE(::shutdown(fd, SHUT_WR) == 0);
    REQUIRE(loop.run_until([&] { return far.eof; }));
    CHECK(far.data == "hello");

    // Far side -> application: a large transfer (back-pressure), then its EOF.
    const std::string big = pattern(4 * 1024 * 1024, 7);
    pair.server->write(
        mtop::ByteView(reinterpret_cast<const std::uint8_t*>(big.data()), big.size()));
    pair.server->shutdown();
    REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
    std::string got;
    {
      Spinner spin(loop.get());
      REQUIRE(loop.run_until([&] { return drain_fd(fd, got); }));
    }
    CHECK(got.size() == big.size());
    CHECK(got == big);
    // Both sides ended: the bridge removes itself.
    REQUIRE(loop.run_until([&] { return bridges.size() == 0; }));
    ::close(fd);
    pair.server.reset();
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("fd bridge: the application closing its fd ends the tunnel", "[c][bridge]") {
  TestLoop loop;
  {
    auto pair = make_pair(loop);
    FdBridges bridges(loop.get(), 0, 0);
    const auto bridged = bridges.open(std::move(pair.client));
    INFO(bridged.message());
    REQUIRE(bridged);
    const int fd = *bridged;
    REQUIRE(fd >= 0);
    Recorder far;
    pair.server->set_handler(&far);
    pair.server->start_read();
    REQUIRE(::write(fd, "x", 1) == 1);
    ::close(fd);
    REQUIRE(loop.run_until([&] { return far.eof || far.errors > 0; }));
    CHECK(far.data == "x");
    // The far side's own EOF completes the relay.
    pair.server->shutdown();
    REQUIRE(loop.run_until([&] { return bridges.size() == 0; }));
    pair.server.reset();
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("fd bridge: ending the bridges closes the application's side", "[c][bridge]") {
  TestLoop loop;
  {
    auto pair = make_pair(loop);
    auto bridges = std::make_unique<FdBridges>(loop.get(), 0, 0);
    const auto bridged = bridges->open(std::move(pair.client));
    INFO(bridged.message());
    REQUIRE(bridged);
    const int fd = *bridged;
    REQUIRE(fd >= 0);
    Recorder far;
    pair.server->set_handler(&far);
    pair.server->start_read();
    bridges.reset();  // what mtop_climber_free() does
    REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0);
    std::string got;
    {
      Spinner spin(loop.get());
      REQUIRE(loop.run_until([&] { return drain_fd(fd, got); }));
    }
    CHECK(got.empty());
    REQUIRE(loop.run_until([&] { return far.eof || far.errors > 0; }));
    ::close(fd);
    pair.server.reset();
  }
  CHECK(loop.close() == 0);
}

#endif  // MTOP_C_WITH_ENGINES
