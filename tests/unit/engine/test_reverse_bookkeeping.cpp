// The server's reverse-tunnel bookkeeping without a loop: AttachTokens (one-time, expiring,
// bound to their control tunnel) and PortRegistry (held, grace for the same user, released);
// ReverseShare, what the workers of a server share (tokens redeemed once from any thread).
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "engine/attach_tokens.hpp"
#include "engine/port_registry.hpp"
#include "engine/reverse_share.hpp"

using namespace mtop;

namespace {

AttachToken token(std::uint8_t seed) {
  AttachToken t{};
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<std::uint8_t>(seed + i);
  return t;
}

PublicBind bind(const char* ip, std::uint16_t port) {
  auto a = auth::IpAddress::parse(ip);
  REQUIRE(a);
  return PublicBind{*a, port};
}

}  // namespace

TEST_CASE("attach tokens: good once, for their tunnel", "[engine][reverse]") {
  AttachTokens tokens(1'000);
  REQUIRE(tokens.issue(token(1), 7, 100));
  REQUIRE(tokens.issue(token(2), 7, 100));
  REQUIRE(tokens.issue(token(3), 9, 100));
  CHECK_FALSE(tokens.issue(token(1), 9, 100));  // outstanding already: draw again
  CHECK(tokens.outstanding(7) == 2);
  CHECK(tokens.redeem(token(1), 500) == 7u);
  CHECK_FALSE(tokens.redeem(token(1), 500));  // spent
  CHECK(tokens.outstanding(7) == 1);
  CHECK_FALSE(tokens.redeem(token(4), 500));  // never issued
  tokens.forget_tunnel(7);                    // its control tunnel ended
  CHECK_FALSE(tokens.redeem(token(2), 500));
  CHECK(tokens.redeem(token(3), 500) == 9u);
  CHECK(tokens.size() == 0);
}

TEST_CASE("attach tokens: expire after their lifetime", "[engine][reverse]") {
  AttachTokens tokens(1'000);
  REQUIRE(tokens.issue(token(1), 1, 0));
  REQUIRE(tokens.issue(token(2), 2, 500));
  CHECK_FALSE(tokens.redeem(token(1), 1'000));  // expired: spent and refused
  CHECK(tokens.expire(1'400).empty());
  CHECK(tokens.expire(1'500) == std::vector<std::uint32_t>{2});
  CHECK(tokens.size() == 0);
  REQUIRE(tokens.issue(token(5), 3, 2'000));
  CHECK(tokens.redeem(token(5), 2'999) == 3u);
}

TEST_CASE("attach tokens: another worker's clock a little behind is not expiry",
          "[engine][reverse]") {
  AttachTokens tokens(1'000);
  REQUIRE(tokens.issue(token(1), 1, 5'000));
  REQUIRE(tokens.issue(token(2), 1, 5'000));
  CHECK(tokens.expire(4'990).empty());          // read its clock before the issuer did
  CHECK(tokens.redeem(token(1), 4'990) == 1u);  // still good
  CHECK_FALSE(tokens.redeem(token(2), 6'000));  // a lifetime later: expired
}

TEST_CASE("attach tokens: redeemed from two threads at once, each is taken once",
          "[engine][reverse]") {
  ReverseShare share;
  AttachTokens& tokens = share.tokens();
  constexpr int kTokens = 2'000;
  for (int i = 0; i < kTokens; ++i) {
    AttachToken t{};
    t[0] = static_cast<std::uint8_t>(i);
    t[1] = static_cast<std::uint8_t>(i >> 8);
    REQUIRE(tokens.issue(t, 1, 0));
  }
  std::atomic<int> taken{0};
  auto redeem_all = [&] {
    for (int i = 0; i < kTokens; ++i) {
      AttachToken t{};
      t[0] = static_cast<std::uint8_t>(i);
      t[1] = static_cast<std::uint8_t>(i >> 8);
      if (tokens.redeem(t, 1)) ++taken;
    }
  };
  std::thread a(redeem_all);
  std::thread b(redeem_all);
  a.join();
  b.join();
  CHECK(taken == kTokens);
  CHECK(tokens.size() == 0);
}

TEST_CASE("reverse share: control tunnels by id, the route of a bind, posts to no hub",
          "[engine][reverse]") {
  ReverseShare share;
  const PublicBind b = bind("127.0.0.1", 8080);
  const std::uint32_t one = share.add_control({1, "alice", b.to_string()});
  const std::uint32_t two = share.add_control({0, "bob", "127.0.0.1:8081"});
  CHECK(one != 0);
  CHECK(two != one);
  REQUIRE(share.control(one));
  CHECK(share.control(one)->worker == 1);
  CHECK(share.control(one)->user == "alice");
  CHECK_FALSE(share.route(b));  // not held yet
  share.with_ports([&](ReverseShare::Ports& ports) {
    ports.hold(b, "alice", one, ReverseShare::PortHome{1, 3});
  });
  REQUIRE(share.route(b));
  CHECK(share.route(b)->tunnel == one);
  CHECK(share.route(b)->worker == 1);
  share.with_ports([&](ReverseShare::Ports& ports) { ports.release(b, 100); });
  CHECK_FALSE(share.route(b));  // in grace: nobody to carry visitors
  share.remove_control(one);
  CHECK_FALSE(share.control(one));
  // No hub joined as worker 3: the message is dropped, not run.
  bool ran = false;
  CHECK_FALSE(share.post(3, [&ran](ReverseHub&) { ran = true; }));
  CHECK_FALSE(ran);
}

TEST_CASE("port registry: held, in grace for its user, released", "[engine][reverse]") {
  using Verdict = PortRegistry<int>::Verdict;
  PortRegistry<int> ports;
  const PublicBind b = bind("127.0.0.1", 8080);
  CHECK(ports.check(b, "alice") == Verdict::free);
  ports.hold(b, "alice", 1, 42);
  CHECK(ports.check(b, "alice") == Verdict::in_use);  // a second control tunnel: refused
  CHECK(ports.check(b, "bob") == Verdict::in_use);
  CHECK(ports.check(bind("127.0.0.1", 8081), "bob") == Verdict::free);
  CHECK(ports.check(bind("::1", 8080), "bob") == Verdict::free);  // another address
  CHECK(ports.held() == 1);

  ports.release(b, 5'000);  // the climber went: grace until 5 s
  CHECK(ports.held() == 0);
  CHECK(ports.check(b, "bob") == Verdict::in_use);
  CHECK(ports.check(b, "alice") == Verdict::reclaim);
  auto& e = ports.hold(b, "alice", 2, 0);
  CHECK(e.payload == 42);  // the listener is kept through the grace
  CHECK(e.tunnel == 2u);
  CHECK(ports.expire(10'000).empty());  // held again: no grace runs

  ports.release(b, 5'000);
  CHECK(ports.expire(4'999).empty());
  CHECK(ports.expire(5'000) == std::vector<PublicBind>{b});
  CHECK(ports.check(b, "bob") == Verdict::free);
  CHECK(ports.empty());
}

TEST_CASE("port registry: erase drops a bind without grace", "[engine][reverse]") {
  PortRegistry<int> ports;
  const PublicBind b = bind("0.0.0.0", 2222);
  ports.hold(b, "alice", 1, 1);
  ports.erase(b);
  CHECK(ports.check(b, "bob") == PortRegistry<int>::Verdict::free);
  CHECK(b.to_string() == "0.0.0.0:2222");
  CHECK(bind("::1", 80).to_string() == "[::1]:80");
}
