// ControlChannel (docs/PROTOCOL.md 9.3, 9.4): frames fed whole / in small chunks / one byte at
// a time, PING answered by PONG, OPEN by role, unknown frames skipped, the keep-alive timeline
// on a virtual clock, back-pressure bounds, EOF and misuse.
#include <catch2/catch.hpp>

#include <vector>

#include "mtop/control_channel.hpp"
#include "must.hpp"

using mtop::Bytes;
using mtop::ByteView;
using mtop::ControlChannel;
using mtop::ControlEvent;
using mtop::Errc;
namespace event = mtop::event;
using Role = ControlChannel::Role;

namespace {

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

ControlChannel make(Role role, std::uint16_t keepalive_s = 15, std::uint64_t now = 1000) {
  return must(ControlChannel::create(role, keepalive_s, now));
}

Bytes frame(std::uint8_t type, Bytes body) {
  Bytes out{type, static_cast<std::uint8_t>(body.size())};
  return cat({out, body});
}

Bytes ping(std::uint8_t n) {
  return frame(0x01, {0, 0, 0, 0, 0, 0, 0, n});
}
Bytes pong(std::uint8_t n) {
  return frame(0x02, {0, 0, 0, 0, 0, 0, 0, n});
}

mtop::AttachToken token(std::uint8_t fill) {
  mtop::AttachToken t;
  t.fill(fill);
  return t;
}
Bytes open(std::uint8_t fill) {
  return frame(0x03, Bytes(16, fill));
}

// Feeds `in` in chunks of `chunk` bytes (0 = whole) at time `now`; all must be consumed.
void feed_all(ControlChannel& c, const Bytes& in, std::size_t chunk, std::uint64_t now = 1000) {
  if (chunk == 0) chunk = in.size();
  for (std::size_t at = 0; at < in.size(); at += chunk) {
    const std::size_t n = std::min(chunk, in.size() - at);
    auto r = c.feed(ByteView(in).subspan(at, n), now);
    REQUIRE(r);
    REQUIRE(*r == n);
  }
}

std::vector<ControlEvent> events(ControlChannel& c) {
  std::vector<ControlEvent> out;
  for (int guard = 0; guard < 200; ++guard) {
    ControlEvent e = c.next_event();
    if (std::holds_alternative<event::NeedData>(e)) return out;
    const bool terminal =
        std::holds_alternative<event::Error>(e) || std::holds_alternative<event::EndOfInput>(e);
    out.push_back(std::move(e));
    if (terminal) return out;
  }
  FAIL("next_event() did not settle");
  return out;
}

Bytes output(ControlChannel& c) {
  Bytes out(c.pending_output().begin(), c.pending_output().end());
  c.consume_output(out.size());
  return out;
}

const std::size_t kChunks[] = {0, 1, 3, 11};

}  // namespace

TEST_CASE("control: PINGs are answered in order, PONGs and unknown frames are silent",
          "[control]") {
  const Bytes in = cat({ping(1), pong(7), frame(0x7f, {1, 2, 3}), frame(0x00, {}), ping(2),
                        frame(0xff, Bytes(255, 0xab)), ping(3)});
  for (Role role : {Role::server, Role::climber}) {
    for (std::size_t chunk : kChunks) {
      INFO("chunk " << chunk);
      ControlChannel c = make(role);
      feed_all(c, in, chunk);
      CHECK(output(c) == cat({pong(1), pong(2), pong(3)}));
      CHECK(events(c).empty());
      CHECK(c.state() == ControlChannel::State::open);
    }
  }
}

TEST_CASE("control: OPEN reaches a climber as OpenRequest, in order, a server refuses it",
          "[control]") {
  for (std::size_t chunk : kChunks) {
    ControlChannel climber = make(Role::climber);
    feed_all(climber, cat({open(0x11), ping(1), open(0x22)}), chunk);
    CHECK(events(climber) == std::vector<ControlEvent>{event::OpenRequest{token(0x11)},
                                                       event::OpenRequest{token(0x22)}});
    CHECK(output(climber) == pong(1));

    ControlChannel server = make(Role::server);
    auto r = server.feed(cat({ping(1), open(0x11), ping(2)}), 1000);
    REQUIRE(r);
    CHECK(events(server) == std::vector<ControlEvent>{event::Error{Errc::bad_frame}});
    CHECK(server.next_event() == ControlEvent{event::Error{Errc::bad_frame}});  // repeats
    CHECK(server.feed(ping(3), 1000).error() == Errc::invalid_state);
  }
}

TEST_CASE("control: a known frame with a wrong length fails at its LEN byte", "[control]") {
  for (std::size_t chunk : kChunks) {
    ControlChannel c = make(Role::climber);
    const Bytes in = cat({ping(1), {0x01, 0x07}, Bytes(7, 0)});
    std::size_t at = 0;
    while (at < in.size() && c.state() == ControlChannel::State::open) {
      const std::size_t n = std::min(chunk == 0 ? in.size() : chunk, in.size() - at);
      auto r = c.feed(ByteView(in).subspan(at, n), 1000);
      REQUIRE(r);
      at += *r;
    }
    CHECK(at == ping(1).size() + 2);  // nothing after the offending byte was taken
    CHECK(events(c) == std::vector<ControlEvent>{event::Error{Errc::bad_frame}});
    CHECK(c.next_timeout() == UINT64_MAX);
  }
}

TEST_CASE("control: keep-alive: PING after K of silence, dead after 3 K", "[control]") {
  ControlChannel c = make(Role::server, 15, 1000);
  CHECK(c.next_timeout() == 16'000);
  c.handle_timeout(15'999);  // early: nothing
  CHECK(c.pending_output().empty());
  c.handle_timeout(16'000);
  CHECK(output(c) == ping(1));
  CHECK(c.next_timeout() == 31'000);
  c.handle_timeout(31'000);
  CHECK(output(c) == ping(2));
  CHECK(c.next_timeout() == 46'000);  // 3 K after the last byte heard
  c.handle_timeout(46'000);
  CHECK(c.pending_output().empty());
  CHECK(events(c) == std::vector<ControlEvent>{event::Error{Errc::keepalive_timeout}});
  CHECK(c.next_timeout() == UINT64_MAX);
}

TEST_CASE("control: any byte from the peer resets the keep-alive clock", "[control]") {
  ControlChannel c = make(Role::climber, 15, 1000);
  c.handle_timeout(16'000);
  CHECK(output(c) == ping(1));
  // Half a PONG is still a sign of life.
  REQUIRE(c.feed(ByteView(pong(1)).first(3), 20'000));
  CHECK(c.next_timeout() == 35'000);
  REQUIRE(c.feed(ByteView(pong(1)).subspan(3), 40'000));
  CHECK(c.next_timeout() == 55'000);
  c.handle_timeout(54'999);
  CHECK(c.pending_output().empty());
  // A clock that goes back never moves the deadline back.
  REQUIRE(c.feed(ping(9), 30'000));
  CHECK(c.next_timeout() == 55'000);
}

TEST_CASE("control: PONGs not sent hold the reader back (bounded output)", "[control]") {
  ControlChannel c = make(Role::server);
  Bytes in;
  for (int i = 0; i < 1000; ++i) in = cat({in, ping(static_cast<std::uint8_t>(i))});
  auto r = c.feed(in, 1000);
  REQUIRE(r);
  CHECK(*r < in.size());
  CHECK(c.pending_output().size() <= mtop::kControlOutputLimit + 10);
  CHECK(c.pending_output().size() > mtop::kControlOutputLimit);
  // Nothing more is taken until output is sent; then the rest goes through.
  CHECK(*c.feed(ByteView(in).subspan(*r), 1000) == 0);
  std::size_t at = *r;
  Bytes sent;
  while (at < in.size()) {
    const std::size_t n = c.pending_output().size() / 2 + 1;  // a partly sending adapter
    sent.insert(sent.end(), c.pending_output().begin(),
                c.pending_output().begin() + static_cast<std::ptrdiff_t>(n));
    c.consume_output(n);
    auto more = c.feed(ByteView(in).subspan(at), 1000);
    REQUIRE(more);
    at += *more;
    CHECK(c.pending_output().size() <= mtop::kControlOutputLimit + 10);
  }
  sent = cat({sent, output(c)});
  Bytes expect;
  for (int i = 0; i < 1000; ++i) expect = cat({expect, pong(static_cast<std::uint8_t>(i))});
  CHECK(sent == expect);
}

TEST_CASE("control: unread OPEN requests hold the reader back", "[control]") {
  ControlChannel c = make(Role::climber);
  Bytes in;
  for (int i = 0; i < 100; ++i) in = cat({in, open(static_cast<std::uint8_t>(i))});
  auto r = c.feed(in, 1000);
  REQUIRE(r);
  CHECK(*r == ControlChannel::kMaxQueuedOpens * 18);
  auto got = events(c);
  CHECK(got.size() == ControlChannel::kMaxQueuedOpens);
  CHECK(got.back() == ControlEvent{event::OpenRequest{token(63)}});
  REQUIRE(c.feed(ByteView(in).subspan(*r), 1000));
  got = events(c);
  REQUIRE(got.size() == 100 - ControlChannel::kMaxQueuedOpens);
  CHECK(got.back() == ControlEvent{event::OpenRequest{token(99)}});
}

TEST_CASE("control: EOF between frames, after queued events, EOF inside a frame", "[control]") {
  ControlChannel c = make(Role::climber);
  feed_all(c, open(5), 0);
  REQUIRE(c.feed_eof());
  CHECK(c.next_timeout() == UINT64_MAX);  // no keep-alive for a peer that said goodbye
  CHECK(events(c) == std::vector<ControlEvent>{event::OpenRequest{token(5)}, event::EndOfInput{}});
  CHECK(c.next_event() == ControlEvent{event::EndOfInput{}});
  CHECK(c.feed(ping(1), 1000).error() == Errc::invalid_state);
  CHECK(c.feed_eof().error() == Errc::invalid_state);

  for (std::size_t cut : {std::size_t{1}, std::size_t{2}, std::size_t{9}}) {
    ControlChannel t = make(Role::server);
    const Bytes whole = ping(1);
    feed_all(t, Bytes(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(cut)), 1);
    REQUIRE(t.feed_eof());
    CHECK(events(t) == std::vector<ControlEvent>{event::Error{Errc::peer_closed}});
  }
}

TEST_CASE("control: send_open and misuse", "[control]") {
  CHECK(ControlChannel::create(Role::server, 0, 0).error() == Errc::invalid_argument);
  CHECK(ControlChannel::create(Role::server, 3601, 0).error() == Errc::invalid_argument);
  REQUIRE(ControlChannel::create(Role::server, 3600, 0));

  ControlChannel server = make(Role::server);
  REQUIRE(server.send_open(token(0x42)));
  CHECK(output(server) == open(0x42));
  ControlChannel climber = make(Role::climber);
  CHECK(climber.send_open(token(1)).error() == Errc::invalid_state);
  CHECK(climber.pending_output().empty());
  // The OPEN a server writes is what a climber reads.
  REQUIRE(server.send_open(token(0x43)));
  feed_all(climber, output(server), 1);
  CHECK(events(climber) == std::vector<ControlEvent>{event::OpenRequest{token(0x43)}});
}
