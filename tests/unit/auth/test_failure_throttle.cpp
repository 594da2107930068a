#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>

#include "auth/failure_throttle.hpp"

using namespace mtop::auth;

namespace {

IpAddress ip(const char* text) {
  auto a = IpAddress::parse(text);
  REQUIRE(a);
  return *a;
}

FailureThrottle::Options opts(std::uint32_t max_failures, std::uint64_t window,
                              std::uint64_t lockout, std::size_t max_sources = 100) {
  FailureThrottle::Options o;
  o.max_failures = max_failures;
  o.window_ms = window;
  o.lockout_ms = lockout;
  o.max_sources = max_sources;
  return o;
}

}  // namespace

TEST_CASE("throttle: N failures in the window lock the source out", "[auth][throttle]") {
  FailureThrottle t(opts(3, 1000, 5000));
  const auto a = ip("203.0.113.7");
  CHECK(t.allowed(a, 0));
  t.record_failure(a, 0);
  t.record_failure(a, 100);
  CHECK(t.allowed(a, 200));
  t.record_failure(a, 200);  // third failure: locked until 5200
  CHECK_FALSE(t.allowed(a, 201));
  CHECK_FALSE(t.allowed(a, 5199));
  // Other sources are not affected.
  CHECK(t.allowed(ip("203.0.113.8"), 300));
  // Failures while locked do not extend the lock-out.
  t.record_failure(a, 5000);
  CHECK(t.allowed(a, 5200));
  // Afterwards the count starts from zero.
  t.record_failure(a, 5300);
  t.record_failure(a, 5301);
  CHECK(t.allowed(a, 5302));
}

TEST_CASE("throttle: failures spread over more than the window do not lock", "[auth][throttle]") {
  FailureThrottle t(opts(3, 1000, 5000));
  const auto a = ip("198.51.100.1");
  t.record_failure(a, 0);
  t.record_failure(a, 900);
  t.record_failure(a, 1000);  // the first window ended at 1000: a new one starts with this
  CHECK(t.allowed(a, 1001));
  t.record_failure(a, 1500);
  CHECK(t.allowed(a, 1501));
  t.record_failure(a, 1999);
  CHECK_FALSE(t.allowed(a, 2000));
}

TEST_CASE("throttle: success clears the count", "[auth][throttle]") {
  FailureThrottle t(opts(2, 1000, 5000));
  const auto a = ip("198.51.100.1");
  t.record_failure(a, 0);
  t.record_success(a);
  CHECK(t.tracked() == 0);
  t.record_failure(a, 1);
  CHECK(t.allowed(a, 2));
}

TEST_CASE("throttle: IPv6 sources are grouped by /64", "[auth][throttle]") {
  FailureThrottle t(opts(2, 1000, 5000));
  t.record_failure(ip("2001:db8:1:2::1"), 0);
  t.record_failure(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), 1);
  CHECK_FALSE(t.allowed(ip("2001:db8:1:2:abcd::9"), 2));
  CHECK(t.allowed(ip("2001:db8:1:3::1"), 2));  // the next /64
  CHECK(t.tracked() == 1);
  CHECK(FailureThrottle::key_of(ip("2001:db8:1:2::1")) ==
        FailureThrottle::key_of(ip("2001:db8:1:2:9::")));
}

TEST_CASE("throttle: IPv4-mapped peers count as their IPv4 address", "[auth][throttle]") {
  FailureThrottle t(opts(2, 1000, 5000));
  t.record_failure(ip("::ffff:192.0.2.1"), 0);
  t.record_failure(ip("192.0.2.1"), 1);
  CHECK_FALSE(t.allowed(ip("192.0.2.1"), 2));
  CHECK_FALSE(t.allowed(ip("::ffff:192.0.2.1"), 2));
  // IPv4 sources are not grouped: the neighbour is fine.
  CHECK(t.allowed(ip("192.0.2.2"), 2));
}

TEST_CASE("throttle: sockaddr entry points", "[auth][throttle]") {
  FailureThrottle t(opts(1, 1000, 5000));
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  REQUIRE(inet_pton(AF_INET6, "2001:db8::5", &sa.sin6_addr) == 1);
  const auto* p = reinterpret_cast<const sockaddr*>(&sa);
  CHECK(t.allowed(p, 0));
  t.record_failure(p, 0);
  CHECK_FALSE(t.allowed(p, 1));
  sockaddr unknown{};
  unknown.sa_family = AF_UNIX;
  t.record_failure(&unknown, 0);
  CHECK(t.allowed(&unknown, 1));
  CHECK(t.tracked() == 1);
}

TEST_CASE("throttle: tracked sources are capped, oldest forgotten", "[auth][throttle]") {
  FailureThrottle t(opts(2, 100'000, 100'000, 3));
  t.record_failure(ip("10.0.0.1"), 0);
  t.record_failure(ip("10.0.0.1"), 1);  // locked
  t.record_failure(ip("10.0.0.2"), 2);
  t.record_failure(ip("10.0.0.3"), 3);
  CHECK(t.tracked() == 3);
  CHECK_FALSE(t.allowed(ip("10.0.0.1"), 4));
  t.record_failure(ip("10.0.0.4"), 5);  // evicts 10.0.0.1, the least recently active
  CHECK(t.tracked() == 3);
  CHECK(t.allowed(ip("10.0.0.1"), 6));
  for (int i = 0; i < 1000; ++i) {
    t.record_failure(ip(("10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256)).c_str()),
                     10 + static_cast<std::uint64_t>(i));
  }
  CHECK(t.tracked() == 3);
}
