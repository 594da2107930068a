#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "uv/connector.hpp"
#include "uv/sockaddr.hpp"
#include "uv/tcp_listener.hpp"
#include "uv_test_support.hpp"

using mtop::io::ConnectOptions;
using mtop::io::ConnectResult;
using mtop::io::connect_tcp;
using mtop::io::StreamPtr;
using mtop::io::TcpListener;
using mtop::test::TestLoop;

namespace {

// A port on `host` where nothing listens: bound by a listener that is then closed.
std::uint16_t closed_port(TestLoop& loop, const std::string& host) {
  auto l = TcpListener::listen(loop.get(), host, 0, [](StreamPtr) {});
  REQUIRE(l);
  const auto port = (*l)->port();
  (*l).reset();
  loop.spin();
  return port;
}

sockaddr_storage addr(const std::string& host, std::uint16_t port) {
  sockaddr_storage ss;
  REQUIRE(mtop::io::ip_literal_to_sockaddr(host, port, &ss));
  return ss;
}

struct Outcome {
  bool called = false;
  int calls = 0;
  ConnectResult res;
  mtop::io::ConnectCallback cb() {
    return [this](ConnectResult r) {
      ++calls;
      called = true;
      res = std::move(r);
    };
  }
};

}  // namespace

TEST_CASE("connector: connects to IPv4 and IPv6 literals", "[connector]") {
  const std::string host = GENERATE(std::string("127.0.0.1"), std::string("::1"));
  TestLoop loop;
  {
    StreamPtr accepted;
    auto l = TcpListener::listen(loop.get(), host, 0, [&](StreamPtr s) { accepted = std::move(s); });
    REQUIRE(l);
    Outcome o;
    auto attempt = connect_tcp(loop.get(), host, (*l)->port(), {}, o.cb());
    CHECK_FALSE(o.called);  // never inside connect_tcp
    REQUIRE(loop.run_until([&] { return o.called && accepted; }));
    CHECK(o.calls == 1);
    CHECK(o.res.tcp);
    CHECK(o.res.error.empty());
    CHECK(o.res.uv_status == 0);
    CHECK_FALSE(o.res.denied);
    CHECK(o.res.peer == (*l)->local_name());
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("connector: a port with no listener is refused", "[connector]") {
  TestLoop loop;
  {
    const auto port = closed_port(loop, "127.0.0.1");
    Outcome o;
    auto attempt = connect_tcp(loop.get(), "127.0.0.1", port, {}, o.cb());
    REQUIRE(loop.run_until([&] { return o.called; }));
    CHECK_FALSE(o.res.tcp);
    CHECK(o.res.uv_status == UV_ECONNREFUSED);
    CHECK(o.res.error == "connection refused");
    CHECK(o.res.peer == "127.0.0.1:" + std::to_string(port));
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("connector: a name that does not resolve is a dns error", "[connector]") {
  TestLoop loop;
  {
    Outcome o;
    auto attempt = connect_tcp(loop.get(), "nonexistent.invalid", 80, {}, o.cb());
    REQUIRE(loop.run_until([&] { return o.called; }));
    CHECK_FALSE(o.res.tcp);
    CHECK(o.res.error.rfind("dns: ", 0) == 0);
    CHECK(o.res.error.size() > 5);
    // A getaddrinfo failure: one of libuv's UV_EAI_* codes.
    CHECK(o.res.uv_status <= UV_EAI_ADDRFAMILY);
    CHECK(o.res.uv_status >= UV_EAI_SOCKTYPE);
    CHECK_FALSE(o.res.denied);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("connector: addresses are tried in order until one connects", "[connector]") {
  TestLoop loop;
  {
    StreamPtr accepted;
    auto l = TcpListener::listen(loop.get(), "127.0.0.1", 0,
                                 [&](StreamPtr s) { accepted = std::move(s); });
    REQUIRE(l);
    const auto dead6 = closed_port(loop, "::1");
    const auto dead4 = closed_port(loop, "127.0.0.1");
    std::vector<std::string> seen;
    ConnectOptions opts;
    opts.refuse = [&](const sockaddr* a) {
      seen.push_back(mtop::io::sockaddr_to_string(a));
      return std::string();
    };
    Outcome o;
    auto attempt = mtop::io::connect_tcp_addresses(
        loop.get(), {addr("::1", dead6), addr("127.0.0.1", dead4), addr("127.0.0.1", (*l)->port())},
        opts, o.cb());
    REQUIRE(loop.run_until([&] { return o.called && accepted; }));
    CHECK(o.res.tcp);
    CHECK(o.res.peer == (*l)->local_name());
    REQUIRE(seen.size() == 3);
    CHECK(seen[0] == "[::1]:" + std::to_string(dead6));
    CHECK(seen[1] == "127.0.0.1:" + std::to_string(dead4));
    CHECK(seen[2] == (*l)->local_name());
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("connector: 'localhost' reaches a listener on only one of its addresses",
          "[connector]") {
  // localhost may resolve to ::1 and 127.0.0.1 (in either order) or to 127.0.0.1 only; with
  // a listener on 127.0.0.1 alone, any ::1 tried first is refused and the next one is used.
  TestLoop loop;
  {
    StreamPtr accepted;
    auto l = TcpListener::listen(loop.get(), "127.0.0.1", 0,
                                 [&](StreamPtr s) { accepted = std::move(s); });
    REQUIRE(l);
    std::vector<std::string> seen;
    ConnectOptions opts;
    opts.refuse = [&](const sockaddr* a) {
      seen.push_back(mtop::io::sockaddr_to_string(a));
      return std::string();
    };
    Outcome o;
    auto attempt = connect_tcp(loop.get(), "localhost", (*l)->port(), opts, o.cb());
    REQUIRE(loop.run_until([&] { return o.called; }));
    REQUIRE(o.res.tcp);
    CHECK(o.res.peer == (*l)->local_name());
    REQUIRE_FALSE(seen.empty());
    CHECK(seen.back() == (*l)->local_name());  // stopped at the first that worked
  }
  CHECK(loop.close() == 0);
}

namespace {

// A listener with backlog 1 whose accept queue is full (never accepted): further SYNs are
// dropped, so a connect to it neither succeeds nor fails until its own time-out.
struct BlackHole {
  std::unique_ptr<TcpListener> listener;
  std::vector<std::unique_ptr<mtop::io::ConnectAttempt>> fillers;
  std::vector<ConnectResult> filled;

  explicit BlackHole(TestLoop& loop) {
    // A plain socket, not a libuv listener: libuv would accept(2) one connection into its
    // own slot and so free a place in the kernel's queue.
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_storage ss;
    mtop::io::ip_literal_to_sockaddr("127.0.0.1", 0, &ss);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in)) == 0);
    REQUIRE(::listen(fd, 1) == 0);
    socklen_t len = sizeof ss;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0);
    port = mtop::io::sockaddr_port(reinterpret_cast<sockaddr*>(&ss));
    // Fill the accept queue (backlog 1 holds two): those connects complete, the rest hang.
    for (int i = 0; i < 4; ++i) {
      fillers.push_back(connect_tcp(loop.get(), "127.0.0.1", port, {},
                                    [this](ConnectResult r) { filled.push_back(std::move(r)); }));
    }
    REQUIRE(loop.run_until([&] { return filled.size() >= 2; }));
    for (const auto& r : filled) REQUIRE(r.tcp);
  }
  ~BlackHole() {
    fillers.clear();
    filled.clear();
    ::close(fd);
  }
  int fd = -1;
  std::uint16_t port = 0;
};

}  // namespace

TEST_CASE("connector: one overall time-out", "[connector]") {
  TestLoop loop;
  {
    BlackHole hole(loop);
    ConnectOptions opts;
    opts.timeout_ms = 200;
    Outcome o;
    auto attempt = connect_tcp(loop.get(), "127.0.0.1", hole.port, opts, o.cb());
    REQUIRE(loop.run_until([&] { return o.called; }));
    CHECK_FALSE(o.res.tcp);
    CHECK(o.res.uv_status == UV_ETIMEDOUT);
    CHECK(o.res.error == "timed out");
    loop.spin(10);
    CHECK(o.calls == 1);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("connector: the policy hook sees every address and can deny them all",
          "[connector]") {
  TestLoop loop;
  {
    StreamPtr accepted;
    auto l = TcpListener::listen(loop.get(), "127.0.0.1", 0,
                                 [&](StreamPtr s) { accepted = std::move(s); });
    REQUIRE(l);
    int asked = 0;
    ConnectOptions opts;
    opts.refuse = [&](const sockaddr* a) {
      ++asked;
      return std::string(mtop::io::sockaddr_to_string(a).rfind("127.0.0.1:", 0) == 0 ? "loopback"
                                                                                     : "");
    };
    Outcome o;
    auto attempt = connect_tcp(loop.get(), "127.0.0.1", (*l)->port(), opts, o.cb());
    CHECK_FALSE(o.called);
    REQUIRE(loop.run_until([&] { return o.called; }));
    CHECK(asked == 1);
    CHECK(o.res.denied);
    CHECK_FALSE(o.res.tcp);
    CHECK(o.res.error == "denied by policy: loopback");
    loop.spin(10);
    CHECK_FALSE(accepted);  // never connected

    // A mix: the denied address is skipped, the allowed one is used, denied stays false.
    Outcome o2;
    const auto dead6 = closed_port(loop, "::1");
    (void)dead6;
    auto attempt2 = mtop::io::connect_tcp_addresses(
        loop.get(), {addr("127.0.0.1", (*l)->port()), addr("::1", dead6)}, opts, o2.cb());
    REQUIRE(loop.run_until([&] { return o2.called; }));
    CHECK_FALSE(o2.res.denied);
    CHECK(o2.res.uv_status == UV_ECONNREFUSED);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("connector: dropping the attempt cancels it and the callback never runs",
          "[connector]") {
  TestLoop loop;
  {
    BlackHole hole(loop);
    Outcome dns, dial, literal;
    // Cancelled during DNS, during a connect that hangs, and before a literal even started.
    auto a1 = connect_tcp(loop.get(), "localhost", 9, {}, dns.cb());
    a1.reset();  // the lookup is queued or running in the thread pool
    auto a2 = connect_tcp(loop.get(), "127.0.0.1", hole.port, {}, dial.cb());
    auto a3 = connect_tcp(loop.get(), "127.0.0.1", hole.port, {}, literal.cb());
    a3.reset();
    loop.spin(3);  // a2's connect is now in flight (its SYN is dropped)
    a2.reset();
    loop.spin(20);
    CHECK_FALSE(dns.called);
    CHECK_FALSE(dial.called);
    CHECK_FALSE(literal.called);
  }
  CHECK(loop.close() == 0);  // the requests freed themselves
}

TEST_CASE("connector: bad input fails cleanly", "[connector]") {
  TestLoop loop;
  {
    Outcome empty_host, no_addrs;
    auto a1 = connect_tcp(loop.get(), "", 80, {}, empty_host.cb());
    auto a2 = mtop::io::connect_tcp_addresses(loop.get(), {}, {}, no_addrs.cb());
    CHECK_FALSE(empty_host.called);
    REQUIRE(loop.run_until([&] { return empty_host.called && no_addrs.called; }));
    CHECK(empty_host.res.error.rfind("dns: ", 0) == 0);
    CHECK(no_addrs.res.uv_status == UV_EINVAL);
  }
  CHECK(loop.close() == 0);
}
