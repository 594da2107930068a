#include <catch2/catch.hpp>

#include <vector>

#include "uv/tcp_listener.hpp"
#include "uv_test_support.hpp"

using mtop::as_bytes;
using mtop::io::ConnectResult;
using mtop::io::StreamPtr;
using mtop::io::TcpListener;
using mtop::test::Recorder;
using mtop::test::TestLoop;

TEST_CASE("listener: port 0 gets a port from the OS, and each connection is a stream",
          "[tcp_listener]") {
  TestLoop loop;
  {
    std::vector<StreamPtr> accepted;
    auto l = TcpListener::listen(loop.get(), "127.0.0.1", 0,
                                 [&](StreamPtr s) { accepted.push_back(std::move(s)); });
    REQUIRE(l);
    REQUIRE((*l)->port() != 0);
    CHECK((*l)->local_name() == "127.0.0.1:" + std::to_string((*l)->port()));

    std::vector<ConnectResult> results;
    std::vector<std::unique_ptr<mtop::io::ConnectAttempt>> attempts;
    for (int i = 0; i < 3; ++i) {
      attempts.push_back(mtop::io::connect_tcp(loop.get(), "127.0.0.1", (*l)->port(), {},
                                               [&](ConnectResult r) { results.push_back(std::move(r)); }));
    }
    REQUIRE(loop.run_until([&] { return accepted.size() == 3 && results.size() == 3; }));
    for (auto& r : results) CHECK(r.tcp);

    // An accepted stream works: bytes from the client arrive.
    auto client = mtop::io::TcpStream::adopt(std::move(results[0].tcp));
    Recorder rec[3];
    for (int i = 0; i < 3; ++i) {
      accepted[i]->set_handler(&rec[i]);
      accepted[i]->start_read();
    }
    client->write(as_bytes("hi"));
    REQUIRE(loop.run_until([&] { return rec[0].data + rec[1].data + rec[2].data == "hi"; }));
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("listener: IPv6 is V6ONLY, so 0.0.0.0 and :: share a port", "[tcp_listener]") {
  TestLoop loop;
  {
    auto v4 = TcpListener::listen(loop.get(), "0.0.0.0", 0, [](StreamPtr) {});
    REQUIRE(v4);
    auto v6 = TcpListener::listen(loop.get(), "::", (*v4)->port(), [](StreamPtr) {});
    REQUIRE(v6);
    CHECK((*v6)->port() == (*v4)->port());
    CHECK((*v6)->local_name() == "[::]:" + std::to_string((*v4)->port()));
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("listener: errors are reported, not thrown", "[tcp_listener]") {
  TestLoop loop;
  {
    auto bad = TcpListener::listen(loop.get(), "example.com", 0, [](StreamPtr) {});
    CHECK_FALSE(bad);
    CHECK(bad.error() == mtop::Errc::invalid_argument);
    CHECK(bad.message() == "not an IP address: example.com");

    auto first = TcpListener::listen(loop.get(), "127.0.0.1", 0, [](StreamPtr) {});
    REQUIRE(first);
    auto again = TcpListener::listen(loop.get(), "127.0.0.1", (*first)->port(),
                                     [](StreamPtr) {});
    CHECK_FALSE(again);
    CHECK(again.error() == mtop::Errc::listen_failed);
    CHECK(again.message() == "listen 127.0.0.1:" + std::to_string((*first)->port()) +
                                 ": address already in use");
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("listener: the raw variant hands over the handle; stop() stops accepting",
          "[tcp_listener]") {
  TestLoop loop;
  {
    int handed = 0;
    std::unique_ptr<TcpListener> listener;
    auto l = TcpListener::listen_raw(loop.get(), "::1", 0,
                                     [&](mtop::io::UvHandle<uv_tcp_t> h) {
                                       CHECK(h);
                                       ++handed;
                                       listener->stop();  // from inside the callback
                                     });
    REQUIRE(l);
    listener = std::move(*l);
    const auto port = listener->port();
    ConnectResult r1, r2;
    bool d1 = false, d2 = false;
    auto a1 = mtop::io::connect_tcp(loop.get(), "::1", port, {}, [&](ConnectResult r) {
      r1 = std::move(r);
      d1 = true;
    });
    REQUIRE(loop.run_until([&] { return d1 && handed == 1; }));
    CHECK(r1.tcp);
    auto a2 = mtop::io::connect_tcp(loop.get(), "::1", port, {}, [&](ConnectResult r) {
      r2 = std::move(r);
      d2 = true;
    });
    REQUIRE(loop.run_until([&] { return d2; }));
    CHECK(r2.uv_status == UV_ECONNREFUSED);
    CHECK(handed == 1);
    listener->stop();  // idempotent
  }
  CHECK(loop.close() == 0);
}
