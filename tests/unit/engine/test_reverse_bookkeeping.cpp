// The server's reverse-tunnel bookkeeping without a loop: AttachTokens (one-time, expiring,
// bound to their control tunnel) and PortRegistry (held, grace for the same user, released).
#include <catch2/catch.hpp>

#include "engine/attach_tokens.hpp"
#include "engine/port_registry.hpp"

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
