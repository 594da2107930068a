// ServerHandshake: the auth request fed whole / one byte at a time / with trailing bytes,
// every decode error as an event at its byte, early-data back-pressure, accept/reject in both
// modes, EOF and misuse.
#include <catch2/catch.hpp>

#include <vector>

#include "mtop/server_handshake.hpp"

using mtop::Bytes;
using mtop::Errc;
using mtop::RejectMode;
using mtop::ServerEvent;
using mtop::ServerHandshake;
using mtop::Status;
namespace event = mtop::event;

namespace {

mtop::AuthMessage request() {
  return {mtop::Method::connect, "alice", std::string("s\x00" "cret", 5),
          mtop::Address::from_ipv4({198, 51, 100, 9}, 8443)};
}

Bytes auth_bytes() {
  Bytes b;
  REQUIRE(mtop::encode_auth(request(), b));
  return b;
}

Bytes plus(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

bool terminal(const ServerEvent& e) {
  return std::holds_alternative<event::Error>(e) || std::holds_alternative<event::EndOfInput>(e);
}

void drain(ServerHandshake& hs, std::vector<ServerEvent>& out) {
  for (int guard = 0; guard < 100; ++guard) {
    ServerEvent e = hs.next_event();
    if (std::holds_alternative<event::NeedData>(e)) return;
    if (auto* p = std::get_if<event::Payload>(&e);
        p && !out.empty() && std::holds_alternative<event::Payload>(out.back())) {
      auto& prev = std::get<event::Payload>(out.back()).data;
      prev.insert(prev.end(), p->data.begin(), p->data.end());
      continue;
    }
    const bool stop = terminal(e);
    out.push_back(std::move(e));
    if (stop) return;
  }
  FAIL("next_event() did not settle");
}

struct Run {
  std::vector<ServerEvent> events;
  std::size_t consumed = 0;
};

// Feeds `in` in chunks (0 = whole); stops when a feed leaves bytes or after a terminal event.
Run feed_chunked(ServerHandshake& hs, const Bytes& in, std::size_t chunk) {
  Run run;
  if (chunk == 0) chunk = in.size();
  std::size_t at = 0;
  while (at < in.size()) {
    const std::size_t n = std::min(chunk, in.size() - at);
    auto r = hs.feed(mtop::ByteView(in).subspan(at, n));
    REQUIRE(r);
    REQUIRE(*r <= n);
    at += *r;
    run.consumed += *r;
    drain(hs, run.events);
    if (*r < n || (!run.events.empty() && terminal(run.events.back()))) break;
  }
  return run;
}

Bytes out_of(const ServerHandshake& hs) {
  return Bytes(hs.pending_output().begin(), hs.pending_output().end());
}

const std::size_t kChunks[] = {0, 1, 2, 7};

}  // namespace

TEST_CASE("server: auth request, accept, early payload then payload", "[server]") {
  const Bytes early{'G', 'E', 'T', 0x00, 0xff};
  for (std::size_t chunk : kChunks) {
    INFO("chunk " << chunk);
    ServerHandshake hs;
    Run run = feed_chunked(hs, plus(auth_bytes(), early), chunk);
    CHECK(run.consumed == auth_bytes().size() + early.size());
    REQUIRE(run.events.size() == 1);
    REQUIRE(std::holds_alternative<event::AuthRequest>(run.events[0]));
    auto& req = std::get<event::AuthRequest>(run.events[0]).request;
    CHECK(req == request());
    req.wipe_password();
    CHECK(req.password.empty());
    CHECK(hs.state() == ServerHandshake::State::awaiting_decision);
    CHECK(hs.early_data_size() == early.size());
    CHECK(hs.pending_output().empty());
    CHECK(std::holds_alternative<event::NeedData>(hs.next_event()));  // reported once

    REQUIRE(hs.accept());
    CHECK(out_of(hs) == Bytes{0x01, 0x00});
    hs.consume_output(1);
    CHECK(out_of(hs) == Bytes{0x00});
    hs.consume_output(5);
    CHECK(hs.pending_output().empty());
    CHECK(hs.state() == ServerHandshake::State::accepted);
    std::vector<ServerEvent> events;
    drain(hs, events);
    CHECK(events == std::vector<ServerEvent>{event::Payload{early}});

    Run more = feed_chunked(hs, {'m', 'o', 'r', 'e'}, chunk);
    CHECK(more.consumed == 4);
    CHECK(more.events == std::vector<ServerEvent>{event::Payload{{'m', 'o', 'r', 'e'}}});
    REQUIRE(hs.feed_eof());
    CHECK(hs.next_event() == ServerEvent{event::EndOfInput{}});
    CHECK(hs.next_event() == ServerEvent{event::EndOfInput{}});
    CHECK(hs.feed(Bytes{1}).error() == Errc::invalid_state);
    CHECK(hs.feed_eof().error() == Errc::invalid_state);
  }
}

TEST_CASE("server: without trailing bytes nothing is held", "[server]") {
  ServerHandshake hs;
  Run run = feed_chunked(hs, auth_bytes(), 1);
  REQUIRE(run.events.size() == 1);
  CHECK(hs.early_data_size() == 0);
  REQUIRE(hs.accept());
  CHECK(std::holds_alternative<event::NeedData>(hs.next_event()));
}

TEST_CASE("server: early payload is bounded by back-pressure", "[server]") {
  Bytes early(10);
  for (std::size_t i = 0; i < early.size(); ++i) early[i] = static_cast<std::uint8_t>(i);
  for (std::size_t chunk : kChunks) {
    INFO("chunk " << chunk);
    ServerHandshake hs(ServerHandshake::Options{4});
    const Bytes in = plus(auth_bytes(), early);
    Run run = feed_chunked(hs, in, chunk);
    CHECK(run.consumed == auth_bytes().size() + 4);
    CHECK(hs.early_data_size() == 4);
    // Still full: nothing more is taken before the decision.
    CHECK(*hs.feed(mtop::ByteView(in).subspan(run.consumed)) == 0);
    REQUIRE(hs.accept());
    Run rest = feed_chunked(hs, Bytes(in.begin() + static_cast<long>(run.consumed), in.end()),
                            chunk);
    CHECK(rest.consumed == 6);
    // The adapter drains after accept(): held early payload first, then the rest, in order.
    CHECK(rest.events == std::vector<ServerEvent>{event::Payload{early}});
  }
}

TEST_CASE("server: an early-data limit of 0 takes nothing after the message", "[server]") {
  ServerHandshake hs(ServerHandshake::Options{0});
  const Bytes in = plus(auth_bytes(), {1, 2, 3});
  auto r = hs.feed(in);
  REQUIRE(r);
  CHECK(*r == auth_bytes().size());
  CHECK(std::holds_alternative<event::AuthRequest>(hs.next_event()));
  CHECK(*hs.feed(Bytes{1, 2, 3}) == 0);
}

TEST_CASE("server: the default early-data limit is 64 KiB", "[server]") {
  ServerHandshake hs;
  const Bytes in = plus(auth_bytes(), Bytes(70000, 0x5a));
  auto r = hs.feed(in);
  REQUIRE(r);
  CHECK(*r == auth_bytes().size() + mtop::kDefaultEarlyDataLimit);
  CHECK(hs.early_data_size() == 65536);
}

TEST_CASE("server: every decode error is an Error event at its byte", "[server]") {
  struct Case {
    Bytes in;
    std::size_t decisive;
    Errc code;
  };
  const Bytes a = auth_bytes();
  auto with = [&](std::size_t i, std::uint8_t v) {
    Bytes b = a;
    b[i] = v;
    return b;
  };
  const std::size_t atyp = 3 + 5 + 1 + 5;
  Bytes port0 = a;
  port0[a.size() - 2] = 0;
  port0[a.size() - 1] = 0;
  Bytes bad_dom{0x01, 0x01, 0x01, 'u', 0x01, 'p', 0x03, 0x03, 'a', ' ', 'b', 0x00, 0x50};
  const Case cases[] = {
      {with(0, 0x02), 1, Errc::bad_version},
      {with(1, 0x02), 2, Errc::bad_method},
      {with(2, 0x00), 3, Errc::bad_username},
      {with(8, 0x00), 9, Errc::bad_password},
      {with(atyp, 0x05), atyp + 1, Errc::bad_address_type},
      {port0, a.size(), Errc::bad_port},
      {bad_dom, 10, Errc::bad_domain},
  };
  for (const Case& c : cases) {
    for (std::size_t chunk : {std::size_t{0}, std::size_t{1}}) {
      INFO("code " << int(c.code) << " chunk " << chunk);
      ServerHandshake hs;
      Run run = feed_chunked(hs, plus(c.in, {0xee, 0xee}), chunk);
      CHECK(run.events == std::vector<ServerEvent>{event::Error{c.code}});
      if (chunk == 1) CHECK(run.consumed == c.decisive);
      CHECK(hs.state() == ServerHandshake::State::failed);
      CHECK(hs.next_event() == ServerEvent{event::Error{c.code}});
      CHECK(hs.feed(Bytes{1}).error() == Errc::invalid_state);
      CHECK(hs.feed_eof().error() == Errc::invalid_state);
      CHECK(hs.accept().error() == Errc::invalid_state);
    }
  }
}

TEST_CASE("server: feed takes at most 773 bytes of handshake", "[server]") {
  // Every field at its maximum and PORT 0: the error is decided at byte 773 exactly
  // (docs/PROTOCOL.md, "Limits"), so a whole chunk with more behind it must stop there.
  Bytes longest{0x01, 0x01, 255};
  longest.insert(longest.end(), 255, 'u');
  longest.push_back(255);
  longest.insert(longest.end(), 255, 'p');
  longest.insert(longest.end(), {0x03, 255});
  longest.insert(longest.end(), 255, 'd');
  longest.insert(longest.end(), {0x00, 0x00});
  REQUIRE(longest.size() == mtop::kMaxAuthMessageSize);
  REQUIRE(longest.size() == 773);
  ServerHandshake hs;
  auto r = hs.feed(plus(longest, Bytes(40, 0xee)));
  REQUIRE(r);
  CHECK(*r == 773);
  CHECK(hs.next_event() == ServerEvent{event::Error{Errc::bad_port}});

  // The same bytes with a good port: the message ends at 773 and the rest is early data.
  longest[771] = 0x01;
  ServerHandshake ok;
  auto taken = ok.feed(plus(longest, Bytes(40, 0xee)));
  REQUIRE(taken);
  CHECK(*taken == 773 + 40);
  REQUIRE(std::holds_alternative<event::AuthRequest>(ok.next_event()));
  CHECK(ok.early_data_size() == 40);
}

TEST_CASE("server: a wrong VER may be answered with version_not_supported", "[server]") {
  ServerHandshake hs;
  REQUIRE(hs.feed(Bytes{0x05}));
  CHECK(hs.next_event() == ServerEvent{event::Error{Errc::bad_version}});
  REQUIRE(hs.reject(Status::version_not_supported, RejectMode::reply));
  CHECK(out_of(hs) == Bytes{0x01, 0x01});
  CHECK(hs.state() == ServerHandshake::State::closed);
  CHECK(hs.reject(Status::auth_failed, RejectMode::reply).error() == Errc::invalid_state);
}

TEST_CASE("server: EOF before a complete message is peer_closed", "[server]") {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, auth_bytes().size() - 1}) {
    INFO("bytes before EOF " << n);
    ServerHandshake hs;
    if (n) REQUIRE(*hs.feed(mtop::ByteView(auth_bytes()).first(n)) == n);
    CHECK(std::holds_alternative<event::NeedData>(hs.next_event()));
    REQUIRE(hs.feed_eof());
    CHECK(hs.next_event() == ServerEvent{event::Error{Errc::peer_closed}});
    CHECK(hs.feed_eof().error() == Errc::invalid_state);
  }
}

TEST_CASE("server: EOF while deciding comes after the early payload", "[server]") {
  ServerHandshake hs;
  REQUIRE(hs.feed(plus(auth_bytes(), {'q'})));
  CHECK(std::holds_alternative<event::AuthRequest>(hs.next_event()));
  REQUIRE(hs.feed_eof());
  CHECK(std::holds_alternative<event::NeedData>(hs.next_event()));
  CHECK(hs.feed(Bytes{1}).error() == Errc::invalid_state);
  REQUIRE(hs.accept());
  std::vector<ServerEvent> events;
  drain(hs, events);
  CHECK(events == std::vector<ServerEvent>{event::Payload{{'q'}}, event::EndOfInput{}});
}

TEST_CASE("server: reject in stealth and in reply mode", "[server]") {
  for (Status s : {Status::auth_failed, Status::connect_failed}) {
    for (RejectMode mode : {RejectMode::stealth, RejectMode::reply}) {
      ServerHandshake hs;
      REQUIRE(hs.feed(plus(auth_bytes(), {'e', 'e'})));
      CHECK(std::holds_alternative<event::AuthRequest>(hs.next_event()));
      REQUIRE(hs.reject(s, mode));
      CHECK(hs.state() == ServerHandshake::State::closed);
      CHECK(hs.early_data_size() == 0);  // never delivered
      if (mode == RejectMode::reply) {
        CHECK(out_of(hs) == Bytes{0x01, static_cast<std::uint8_t>(s)});
      } else {
        CHECK(hs.pending_output().empty());
      }
      CHECK(std::holds_alternative<event::NeedData>(hs.next_event()));
      CHECK(hs.feed(Bytes{1}).error() == Errc::invalid_state);
      CHECK(hs.feed_eof().error() == Errc::invalid_state);
      CHECK(hs.accept().error() == Errc::invalid_state);
      CHECK(hs.reject(s, mode).error() == Errc::invalid_state);
    }
  }
}

TEST_CASE("server: misuse is invalid_state / invalid_argument", "[server]") {
  ServerHandshake fresh;
  CHECK(fresh.accept().error() == Errc::invalid_state);
  CHECK(fresh.reject(Status::auth_failed, RejectMode::reply).error() == Errc::invalid_state);

  // The request is complete but the app has not seen it yet.
  ServerHandshake unseen;
  REQUIRE(unseen.feed(auth_bytes()));
  CHECK(unseen.accept().error() == Errc::invalid_state);
  CHECK(unseen.reject(Status::auth_failed, RejectMode::stealth).error() == Errc::invalid_state);

  ServerHandshake hs;
  REQUIRE(hs.feed(auth_bytes()));
  CHECK(std::holds_alternative<event::AuthRequest>(hs.next_event()));
  CHECK(hs.reject(Status::success, RejectMode::reply).error() == Errc::invalid_argument);
  CHECK(hs.reject(static_cast<Status>(0x09), RejectMode::reply).error() ==
        Errc::invalid_argument);
  CHECK(hs.state() == ServerHandshake::State::awaiting_decision);
  REQUIRE(hs.accept());
  CHECK(hs.accept().error() == Errc::invalid_state);
  CHECK(hs.reject(Status::auth_failed, RejectMode::reply).error() == Errc::invalid_state);
  CHECK(out_of(hs) == Bytes{0x01, 0x00});  // queued once
}

namespace {

mtop::AuthMessage reverse_request() {
  return {mtop::Method::reverse, "alice", "pw", mtop::Address::from_ipv4({0, 0, 0, 0}, 0)};
}

Bytes reverse_bytes() {
  Bytes b;
  REQUIRE(mtop::encode_auth(reverse_request(), b));
  return b;
}

ServerHandshake reverse_server() {
  ServerHandshake::Options o;
  o.reverse = true;
  return ServerHandshake(o);
}

}  // namespace

TEST_CASE("server: REVERSE is bad_method unless the server offers reverse tunnels",
          "[server][reverse]") {
  ServerHandshake plain;
  Run run = feed_chunked(plain, reverse_bytes(), 1);
  CHECK(run.consumed == 2);
  CHECK(run.events == std::vector<ServerEvent>{event::Error{Errc::bad_method}});
  // ATTACH (0x03) is not decoded by this machine either way.
  ServerHandshake rev = reverse_server();
  run = feed_chunked(rev, Bytes{0x01, 0x03, 0x00}, 0);
  CHECK(run.events == std::vector<ServerEvent>{event::Error{Errc::bad_method}});
}

TEST_CASE("server: REVERSE request, accept_reverse, then control bytes as payload",
          "[server][reverse]") {
  const Bytes ping{0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 1};
  for (std::size_t chunk : kChunks) {
    INFO("chunk " << chunk);
    ServerHandshake hs = reverse_server();
    Run run = feed_chunked(hs, plus(reverse_bytes(), ping), chunk);
    CHECK(run.consumed == reverse_bytes().size() + ping.size());
    REQUIRE(run.events.size() == 1);
    CHECK(std::get<event::AuthRequest>(run.events[0]).request == reverse_request());
    // A CONNECT yes is not the answer to a REVERSE request.
    CHECK(hs.accept().error() == Errc::invalid_state);
    CHECK(hs.accept_reverse({0, 1, 15}).error() == Errc::invalid_argument);
    REQUIRE(hs.accept_reverse({40001, 0x01020304, 15}));
    CHECK(out_of(hs) == Bytes{0x01, 0x00, 0x9c, 0x41, 1, 2, 3, 4, 0x00, 0x0f});
    CHECK(hs.accept_reverse({40001, 1, 15}).error() == Errc::invalid_state);
    std::vector<ServerEvent> events;
    drain(hs, events);
    CHECK(events == std::vector<ServerEvent>{event::Payload{ping}});
  }
}

TEST_CASE("server: REVERSE refusals: 0x04-0x06 in both modes, auth_failed per mode",
          "[server][reverse]") {
  for (Status s : {Status::not_permitted, Status::port_in_use, Status::bad_request}) {
    for (RejectMode mode : {RejectMode::stealth, RejectMode::reply}) {
      ServerHandshake hs = reverse_server();
      feed_chunked(hs, reverse_bytes(), 0);
      REQUIRE(hs.reject(s, mode));
      CHECK(out_of(hs) == Bytes{0x01, static_cast<std::uint8_t>(s)});
      CHECK(hs.state() == ServerHandshake::State::closed);
    }
  }
  ServerHandshake stealth = reverse_server();
  feed_chunked(stealth, reverse_bytes(), 0);
  CHECK(stealth.reject(Status::connect_failed, RejectMode::reply).error() ==
        Errc::invalid_argument);  // not a REVERSE status
  REQUIRE(stealth.reject(Status::auth_failed, RejectMode::stealth));
  CHECK(stealth.pending_output().empty());
  ServerHandshake reply = reverse_server();
  feed_chunked(reply, reverse_bytes(), 0);
  REQUIRE(reply.reject(Status::auth_failed, RejectMode::reply));
  CHECK(out_of(reply) == Bytes{0x01, 0x02});
  // A CONNECT request cannot be refused with a REVERSE-only status.
  ServerHandshake connect = reverse_server();
  feed_chunked(connect, auth_bytes(), 0);
  CHECK(connect.reject(Status::port_in_use, RejectMode::reply).error() == Errc::invalid_argument);
  CHECK(connect.accept_reverse({1, 1, 1}).error() == Errc::invalid_state);
  REQUIRE(connect.accept());
}
