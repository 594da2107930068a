#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "open_timers.hpp"
#include "uv/poster.hpp"
#include "uv/sockaddr.hpp"
#include "uv/timer.hpp"
#include "uv/uv_error.hpp"
#include "uv_test_support.hpp"

using mtop::test::TestLoop;

TEST_CASE("sockaddr strings and IP literals", "[sockaddr]") {
  sockaddr_storage ss;
  REQUIRE(mtop::io::ip_literal_to_sockaddr("192.0.2.7", 80, &ss));
  CHECK(ss.ss_family == AF_INET);
  CHECK(mtop::io::sockaddr_to_string(reinterpret_cast<sockaddr*>(&ss)) == "192.0.2.7:80");
  CHECK(mtop::io::sockaddr_port(reinterpret_cast<sockaddr*>(&ss)) == 80);
  REQUIRE(mtop::io::ip_literal_to_sockaddr("2001:db8::1", 443, &ss));
  CHECK(ss.ss_family == AF_INET6);
  CHECK(mtop::io::sockaddr_to_string(reinterpret_cast<sockaddr*>(&ss)) == "[2001:db8::1]:443");
  CHECK_FALSE(mtop::io::ip_literal_to_sockaddr("localhost", 80, &ss));
  CHECK_FALSE(mtop::io::ip_literal_to_sockaddr("", 80, &ss));
  CHECK_FALSE(mtop::io::ip_literal_to_sockaddr("1.2.3", 80, &ss));
  CHECK_FALSE(mtop::io::ip_literal_to_sockaddr("1.2.3.4.5", 80, &ss));
  CHECK(mtop::io::sockaddr_to_string(nullptr) == "?");
}

TEST_CASE("uv_reason: fixed phrases for common failures", "[uv_error]") {
  CHECK(mtop::io::uv_reason(UV_ECONNRESET) == "connection reset");
  CHECK(mtop::io::uv_reason(UV_ECONNREFUSED) == "connection refused");
  CHECK(mtop::io::uv_reason(UV_ETIMEDOUT) == "timed out");
  CHECK_FALSE(mtop::io::uv_reason(UV_EAI_NONAME).empty());
}

TEST_CASE("Poster: runs later, in order, and cancel drops what is pending", "[poster]") {
  TestLoop loop;
  {
    std::vector<int> ran;
    mtop::io::Poster poster(loop.get());
    poster.post([&] { ran.push_back(1); });
    poster.post([&] {
      ran.push_back(2);
      poster.post([&] { ran.push_back(4); });  // posted while running: the next turn
    });
    poster.post([&] { ran.push_back(3); });
    CHECK(ran.empty());
    REQUIRE(loop.run_until([&] { return ran.size() == 4; }));
    CHECK(ran == std::vector<int>{1, 2, 3, 4});

    poster.post([&] { ran.push_back(5); });
    poster.cancel();
    poster.post([&] { ran.push_back(6); });
    REQUIRE(loop.run_until([&] { return ran.size() == 5; }));
    loop.spin(5);
    CHECK(ran == std::vector<int>{1, 2, 3, 4, 6});

    // A posted function may destroy the poster; what follows it is dropped.
    auto owned = std::make_unique<mtop::io::Poster>(loop.get());
    owned->post([&] { owned.reset(); });
    owned->post([&] { ran.push_back(7); });
    REQUIRE(loop.run_until([&] { return owned == nullptr; }));
    loop.spin(5);
    CHECK(ran.size() == 5);

    // Dropping a poster with pending work: nothing runs.
    {
      mtop::io::Poster dropped(loop.get());
      dropped.post([&] { ran.push_back(8); });
    }
    loop.spin(5);
    CHECK(ran.size() == 5);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("Timer: fires once, stop() and destruction prevent it, it may destroy itself",
          "[timer]") {
  TestLoop loop;
  {
    int fired = 0;
    mtop::io::Timer t(loop.get());
    CHECK_FALSE(t.active());
    t.start(1, [&] { ++fired; });
    CHECK(t.active());
    REQUIRE(loop.run_until([&] { return fired == 1; }));
    CHECK_FALSE(t.active());
    loop.spin(5);
    CHECK(fired == 1);

    t.start(1, [&] { fired += 10; });
    t.stop();
    {
      mtop::io::Timer gone(loop.get());
      gone.start(0, [&] { fired += 100; });
    }
    auto self = std::make_unique<mtop::io::Timer>(loop.get());
    self->start(0, [&] { self.reset(); });
    REQUIRE(loop.run_until([&] { return self == nullptr; }));
    loop.spin(5);
    CHECK(fired == 1);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("Timer: release() stops it and frees its handle; start() makes a new one", "[timer]") {
  TestLoop loop;
  auto timers = [&] { return open_timers(loop.get()); };
  {
    int fired = 0;
    mtop::io::Timer t(loop.get());
    t.release();  // nothing to release yet
    t.start(1, [&] { ++fired; });
    CHECK(timers() == 1);
    t.release();
    CHECK_FALSE(t.active());
    CHECK(timers() == 0);
    loop.spin(5);
    CHECK(fired == 0);

    t.start(1, [&] { fired += 10; });
    CHECK(t.active());
    REQUIRE(loop.run_until([&] { return fired == 10; }));
    t.start(0, [&] {
      t.release();
      fired += 100;
    });  // from inside its own callback
    REQUIRE(loop.run_until([&] { return fired == 110; }));
    CHECK(timers() == 0);
  }
  CHECK(loop.close() == 0);
}
