// A climber's control tunnel end to end in memory: ClientHandshake (REVERSE) and
// ServerHandshake (reverse offered) wired together, then a ControlChannel on each side made
// from the grant, driven on a virtual clock with bytes delivered in random chunks. Asserted:
// the grant and the pool's OPEN requests arrive exactly, a connected pair keeps itself alive
// for an hour of silence, and when the climber's bytes stop the server gives up at 3 x K to
// the millisecond while the climber, still hearing PINGs, waits until 3 K after the last.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "mtop/client_handshake.hpp"
#include "mtop/control_channel.hpp"
#include "mtop/server_handshake.hpp"
#include "must.hpp"

using mtop::Bytes;
using mtop::ByteView;
using mtop::ControlChannel;
using mtop::ControlEvent;
namespace event = mtop::event;

namespace {

constexpr std::uint16_t kKeepalive = 15;
const mtop::ReverseGrant kGrant{40001, 0xa1b2c3d4, kKeepalive};

mtop::AttachToken token(std::uint8_t fill) {
  mtop::AttachToken t;
  t.fill(fill);
  return t;
}

// Moves `from`'s pending output into `wire` in random pieces (a socket taking what it can).
template <class Machine>
void send_some(Machine& from, Bytes& wire, std::mt19937& rng) {
  const std::size_t n =
      std::uniform_int_distribution<std::size_t>(0, from.pending_output().size())(rng);
  wire.insert(wire.end(), from.pending_output().begin(),
              from.pending_output().begin() + static_cast<std::ptrdiff_t>(n));
  from.consume_output(n);
}

// Feeds a random prefix of `wire` to a control channel at `now`; keeps what it did not take.
void deliver_some(Bytes& wire, ControlChannel& to, std::uint64_t now, std::mt19937& rng) {
  const std::size_t n = std::uniform_int_distribution<std::size_t>(0, wire.size())(rng);
  auto r = to.feed(ByteView(wire).first(n), now);
  REQUIRE(r);
  wire.erase(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(*r));
}

struct Pair {
  ControlChannel server;
  ControlChannel climber;
  std::vector<mtop::AttachToken> opens;  // what the climber was asked for
};

// The handshake: request, grant, and the server's first OPEN frames in the same bytes.
Pair connect(std::mt19937& rng) {
  mtop::ClientHandshake client = must(mtop::ClientHandshake::create(
      {mtop::Method::reverse, "publisher", "pw", mtop::Address::from_ipv4({0, 0, 0, 0}, 0)}));
  mtop::ServerHandshake::Options options;
  options.reverse = true;
  mtop::ServerHandshake server(options);

  Bytes c2s;
  while (!client.pending_output().empty()) send_some(client, c2s, rng);
  REQUIRE(must(server.feed(c2s)) == c2s.size());
  auto request = server.next_event();
  REQUIRE(std::holds_alternative<event::AuthRequest>(request));
  CHECK(std::get<event::AuthRequest>(request).request.method == mtop::Method::reverse);
  CHECK(std::get<event::AuthRequest>(request).request.target.port == 0);
  REQUIRE(server.accept_reverse(kGrant));

  ControlChannel server_channel =
      must(ControlChannel::create(ControlChannel::Role::server, kKeepalive, 0));
  REQUIRE(server_channel.send_open(token(1)));
  REQUIRE(server_channel.send_open(token(2)));

  // Response and frames leave in random pieces; the client takes them in whatever chunks.
  Bytes s2c(server.pending_output().begin(), server.pending_output().end());
  server.consume_output(s2c.size());
  while (!server_channel.pending_output().empty()) send_some(server_channel, s2c, rng);
  std::vector<mtop::ClientEvent> events;
  for (std::size_t at = 0; at < s2c.size();) {
    const std::size_t n = std::uniform_int_distribution<std::size_t>(1, 7)(rng);
    const std::size_t take = std::min(n, s2c.size() - at);
    REQUIRE(must(client.feed(ByteView(s2c).subspan(at, take))) == take);
    at += take;
    for (auto e = client.next_event(); !std::holds_alternative<event::NeedData>(e);
         e = client.next_event())
      events.push_back(std::move(e));
  }
  REQUIRE(!events.empty());
  REQUIRE(events[0] == mtop::ClientEvent{event::Established{kGrant}});

  Pair pair{std::move(server_channel),
            must(ControlChannel::create(ControlChannel::Role::climber, kGrant.keepalive_s, 0)),
            {}};
  for (std::size_t i = 1; i < events.size(); ++i) {
    const auto& frames = std::get<event::Payload>(events[i]).data;
    REQUIRE(must(pair.climber.feed(frames, 0)) == frames.size());
  }
  for (auto e = pair.climber.next_event(); std::holds_alternative<event::OpenRequest>(e);
       e = pair.climber.next_event())
    pair.opens.push_back(std::get<event::OpenRequest>(e).token);
  return pair;
}

}  // namespace

TEST_CASE("reverse pair: grant and pool OPENs arrive, keep-alive holds an idle pair",
          "[pair][reverse]") {
  for (std::uint32_t seed : {1u, 2u, 3u, 42u}) {
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    Pair p = connect(rng);
    CHECK(p.opens == std::vector<mtop::AttachToken>{token(1), token(2)});

    // An hour with nothing but keep-alives, 100 ms per step, bytes delivered in pieces.
    Bytes s2c, c2s;
    std::size_t pings_seen = 0;
    for (std::uint64_t now = 100; now <= 3'600'000; now += 100) {
      p.server.handle_timeout(now);
      p.climber.handle_timeout(now);
      pings_seen += p.server.pending_output().size() + p.climber.pending_output().size();
      send_some(p.server, s2c, rng);
      send_some(p.climber, c2s, rng);
      deliver_some(s2c, p.climber, now, rng);
      deliver_some(c2s, p.server, now, rng);
      REQUIRE(p.server.state() == ControlChannel::State::open);
      REQUIRE(p.climber.state() == ControlChannel::State::open);
    }
    CHECK(pings_seen > 0);
    CHECK(std::holds_alternative<event::NeedData>(p.climber.next_event()));
  }
}

TEST_CASE("reverse pair: a climber gone silent is given up by the server at 3 K",
          "[pair][reverse]") {
  std::mt19937 rng(7);
  Pair p = connect(rng);
  // The climber last spoke at t=0 (its handshake); from now on its bytes are lost.
  Bytes s2c;
  std::uint64_t now = 0;
  while (p.server.state() == ControlChannel::State::open) {
    now = p.server.next_timeout();
    p.server.handle_timeout(now);
    while (!p.server.pending_output().empty()) send_some(p.server, s2c, rng);
    REQUIRE(must(p.climber.feed(s2c, now)) == s2c.size());
    s2c.clear();
    p.climber.handle_timeout(now);
    p.climber.consume_output(p.climber.pending_output().size());  // dropped on the way
  }
  CHECK(now == 3u * kKeepalive * 1000);
  CHECK(p.server.next_event() == ControlEvent{event::Error{mtop::Errc::keepalive_timeout}});
  // The climber heard the server's PINGs at K and 2 K: it pinged at 3 K (lost), pings again
  // at 4 K, and gives up at 5 K, 3 K after the last byte it heard.
  CHECK(p.climber.state() == ControlChannel::State::open);
  CHECK(p.climber.next_timeout() == 4u * kKeepalive * 1000);
  p.climber.consume_output(p.climber.pending_output().size());
  p.climber.handle_timeout(4u * kKeepalive * 1000);
  CHECK(p.climber.pending_output().size() == 2 + mtop::kPingBodySize);
  CHECK(p.climber.next_timeout() == 5u * kKeepalive * 1000);
  p.climber.handle_timeout(5u * kKeepalive * 1000);
  CHECK(p.climber.next_event() == ControlEvent{event::Error{mtop::Errc::keepalive_timeout}});
}
