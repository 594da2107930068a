// ClientHandshake: output, every response outcome fed whole / one byte at a time / with
// trailing bytes, EOF handling and misuse.
#include <catch2/catch.hpp>

#include <vector>

#include "mtop/client_handshake.hpp"

using mtop::Bytes;
using mtop::ClientEvent;
using mtop::ClientHandshake;
using mtop::Errc;
using mtop::Status;
namespace event = mtop::event;

namespace {

mtop::AuthMessage request() {
  return {mtop::Method::connect, "alice", "secret",
          mtop::Address::from_domain("example.com", 443)};
}

ClientHandshake make() {
  auto r = ClientHandshake::create(request());
  REQUIRE(r);
  return std::move(*r);
}

bool terminal(const ClientEvent& e) {
  return std::holds_alternative<event::Rejected>(e) ||
         std::holds_alternative<event::ClosedWithoutStatus>(e) ||
         std::holds_alternative<event::Error>(e) || std::holds_alternative<event::EndOfInput>(e);
}

// Events until NeedData or a (repeating) terminal event, adjacent Payloads merged so that the
// list does not depend on chunking.
void drain(ClientHandshake& hs, std::vector<ClientEvent>& out) {
  for (int guard = 0; guard < 100; ++guard) {
    ClientEvent e = hs.next_event();
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
  std::vector<ClientEvent> events;
  std::size_t consumed = 0;
};

// Feeds `in` in chunks of `chunk` bytes (0 = whole), stopping when a feed leaves bytes or
// a terminal event came (the machine takes no input after that).
Run feed_chunked(ClientHandshake& hs, const Bytes& in, std::size_t chunk) {
  Run run;
  std::size_t at = 0;
  if (chunk == 0) chunk = in.size();
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

const std::size_t kChunks[] = {0, 1, 2, 3};

}  // namespace

TEST_CASE("client: output is the auth message, then early payload", "[client]") {
  ClientHandshake hs = make();
  Bytes auth;
  REQUIRE(mtop::encode_auth(request(), auth));
  CHECK(Bytes(hs.pending_output().begin(), hs.pending_output().end()) == auth);
  CHECK(std::holds_alternative<event::NeedData>(hs.next_event()));

  hs.consume_output(4);
  CHECK(Bytes(hs.pending_output().begin(), hs.pending_output().end()) ==
        Bytes(auth.begin() + 4, auth.end()));
  REQUIRE(hs.send_payload(mtop::as_bytes("GET / HTTP/1.1\r\n")));
  Bytes expect(auth.begin() + 4, auth.end());
  for (char c : std::string("GET / HTTP/1.1\r\n")) expect.push_back(static_cast<std::uint8_t>(c));
  CHECK(Bytes(hs.pending_output().begin(), hs.pending_output().end()) == expect);
  hs.consume_output(1000);  // clamped
  CHECK(hs.pending_output().empty());
  REQUIRE(hs.send_payload(mtop::as_bytes("x")));
  CHECK(hs.pending_output().size() == 1);
}

TEST_CASE("client: create refuses an invalid request", "[client]") {
  auto m = request();
  m.password.clear();
  auto r = ClientHandshake::create(m);
  REQUIRE_FALSE(r);
  CHECK(r.error() == Errc::invalid_argument);
  m = request();
  m.target.port = 0;
  CHECK(ClientHandshake::create(m).error() == Errc::invalid_argument);
}

TEST_CASE("client: success, then payload in the same and later feeds", "[client]") {
  for (std::size_t chunk : kChunks) {
    INFO("chunk " << chunk);
    ClientHandshake hs = make();
    Run run = feed_chunked(hs, {0x01, 0x00, 'h', 'i'}, chunk);
    CHECK(run.consumed == 4);
    REQUIRE(run.events.size() == 2);
    CHECK(run.events[0] == ClientEvent{event::Established{}});
    CHECK(run.events[1] == ClientEvent{event::Payload{{'h', 'i'}}});
    CHECK(hs.state() == ClientHandshake::State::established);

    Run more = feed_chunked(hs, {'!', 0x00}, chunk);
    CHECK(more.events == std::vector<ClientEvent>{event::Payload{{'!', 0x00}}});
    REQUIRE(hs.feed_eof());
    CHECK(hs.next_event() == ClientEvent{event::EndOfInput{}});
    CHECK(hs.next_event() == ClientEvent{event::EndOfInput{}});  // repeats
    CHECK(hs.feed(Bytes{1}).error() == Errc::invalid_state);
    CHECK(hs.feed_eof().error() == Errc::invalid_state);
    REQUIRE(hs.send_payload(Bytes{7}));  // half-close: our side may still send
  }
}

TEST_CASE("client: success without trailing bytes reports Established once", "[client]") {
  ClientHandshake hs = make();
  Run run = feed_chunked(hs, {0x01, 0x00}, 0);
  CHECK(run.events == std::vector<ClientEvent>{event::Established{}});
  CHECK(std::holds_alternative<event::NeedData>(hs.next_event()));
  // Early payload queued before the answer is still there to send.
  ClientHandshake hs2 = make();
  const std::size_t auth_size = hs2.pending_output().size();
  REQUIRE(hs2.send_payload(Bytes{'e'}));
  (void)feed_chunked(hs2, {0x01, 0x00}, 0);
  CHECK(hs2.pending_output().size() == auth_size + 1);
  CHECK(hs2.pending_output().back() == 'e');
}

TEST_CASE("client: every failure status is Rejected; bytes after it are left", "[client]") {
  for (Status s : {Status::version_not_supported, Status::auth_failed, Status::connect_failed}) {
    for (std::size_t chunk : kChunks) {
      INFO("status " << int(s) << " chunk " << chunk);
      ClientHandshake hs = make();
      REQUIRE(hs.send_payload(Bytes{'e'}));
      Run run = feed_chunked(hs, {0x01, static_cast<std::uint8_t>(s), 0xaa, 0xbb}, chunk);
      CHECK(run.consumed == 2);
      CHECK(run.events == std::vector<ClientEvent>{event::Rejected{s}});
      CHECK(hs.next_event() == ClientEvent{event::Rejected{s}});
      CHECK(hs.state() == ClientHandshake::State::rejected);
      CHECK(hs.pending_output().empty());  // nothing more to send to a server that said no
      CHECK(hs.send_payload(Bytes{1}).error() == Errc::invalid_state);
      CHECK(hs.feed(Bytes{1}).error() == Errc::invalid_state);
      CHECK(hs.feed_eof().error() == Errc::invalid_state);
    }
  }
}

TEST_CASE("client: bad VER after one byte, bad STATUS after two", "[client]") {
  for (std::size_t chunk : kChunks) {
    INFO("chunk " << chunk);
    ClientHandshake a = make();
    Run ra = feed_chunked(a, {0x05, 0x00, 0x00}, chunk);
    CHECK(ra.events == std::vector<ClientEvent>{event::Error{Errc::bad_version}});
    CHECK(ra.consumed == (chunk == 0 || chunk >= 2 ? 2u : 1u));  // at most the response size
    CHECK(a.state() == ClientHandshake::State::failed);
    CHECK(a.pending_output().empty());

    ClientHandshake b = make();
    Run rb = feed_chunked(b, {0x01, 0x04, 0x00}, chunk);
    CHECK(rb.events == std::vector<ClientEvent>{event::Error{Errc::bad_status}});
    CHECK(rb.consumed == 2);
    CHECK(b.next_event() == ClientEvent{event::Error{Errc::bad_status}});
    CHECK(b.feed(Bytes{1}).error() == Errc::invalid_state);
    CHECK(b.feed_eof().error() == Errc::invalid_state);
  }
  // One byte at a time: the first byte alone decides.
  ClientHandshake c = make();
  REQUIRE(*c.feed(Bytes{0x02}) == 1);
  CHECK(c.next_event() == ClientEvent{event::Error{Errc::bad_version}});
}

TEST_CASE("client: EOF before a complete response is ClosedWithoutStatus", "[client]") {
  for (const Bytes& before : {Bytes{}, Bytes{0x01}}) {
    ClientHandshake hs = make();
    if (!before.empty()) {
      REQUIRE(*hs.feed(before) == before.size());
      CHECK(std::holds_alternative<event::NeedData>(hs.next_event()));
    }
    REQUIRE(hs.feed_eof());
    CHECK(hs.next_event() == ClientEvent{event::ClosedWithoutStatus{}});
    CHECK(hs.next_event() == ClientEvent{event::ClosedWithoutStatus{}});
    CHECK(hs.state() == ClientHandshake::State::closed_without_status);
    CHECK(hs.pending_output().empty());
    CHECK(hs.feed(Bytes{0x01, 0x00}).error() == Errc::invalid_state);
    CHECK(hs.feed_eof().error() == Errc::invalid_state);
    CHECK(hs.send_payload(Bytes{1}).error() == Errc::invalid_state);
  }
}

TEST_CASE("client: a moved machine keeps working", "[client]") {
  ClientHandshake a = make();
  const std::size_t n = a.pending_output().size();
  ClientHandshake b = std::move(a);
  CHECK(b.pending_output().size() == n);
  REQUIRE(b.feed(Bytes{0x01, 0x00}));
  CHECK(b.next_event() == ClientEvent{event::Established{}});
}

namespace {

ClientHandshake make_reverse() {
  auto r = ClientHandshake::create(
      {mtop::Method::reverse, "alice", "secret", mtop::Address::from_ipv4({0, 0, 0, 0}, 0)});
  REQUIRE(r);
  return std::move(*r);
}

}  // namespace

TEST_CASE("client: REVERSE success carries the grant, frames after it are payload",
          "[client][reverse]") {
  const Bytes wire{0x01, 0x00, 0x1f, 0x90, 0, 0, 0, 9, 0x00, 0x1e,
                   0x02, 0x08, 1,    2,    3, 4, 5, 6, 7,    8};
  for (std::size_t chunk : kChunks) {
    INFO("chunk " << chunk);
    ClientHandshake hs = make_reverse();
    CHECK(hs.pending_output()[1] == 0x02);
    // A control tunnel has no early payload; once established it may send frames.
    CHECK(hs.send_payload(Bytes{0x01}).error() == Errc::invalid_state);
    Run run = feed_chunked(hs, wire, chunk);
    CHECK(run.consumed == wire.size());
    CHECK(run.events ==
          std::vector<ClientEvent>{event::Established{mtop::ReverseGrant{8080, 9, 30}},
                                   event::Payload{Bytes(wire.begin() + 10, wire.end())}});
    REQUIRE(hs.send_payload(Bytes{0x02, 0x08}));
  }
}

TEST_CASE("client: REVERSE failures, and bytes a CONNECT client must not accept",
          "[client][reverse]") {
  for (Status s :
       {Status::not_permitted, Status::port_in_use, Status::bad_request, Status::auth_failed}) {
    for (std::size_t chunk : kChunks) {
      ClientHandshake hs = make_reverse();
      Run run = feed_chunked(hs, {0x01, static_cast<std::uint8_t>(s), 0xee, 0xee}, chunk);
      CHECK(run.consumed == 2);  // bytes after a failure are left
      CHECK(run.events == std::vector<ClientEvent>{event::Rejected{s}});
    }
  }
  ClientHandshake port0 = make_reverse();
  CHECK(feed_chunked(port0, {0x01, 0x00, 0x00, 0x00}, 1).events ==
        std::vector<ClientEvent>{event::Error{Errc::bad_port}});
  ClientHandshake connect_failed = make_reverse();
  CHECK(feed_chunked(connect_failed, {0x01, 0x03}, 0).events ==
        std::vector<ClientEvent>{event::Error{Errc::bad_status}});
  // A CONNECT client knows only 0x00-0x03.
  ClientHandshake connect = make();
  CHECK(feed_chunked(connect, {0x01, 0x05}, 0).events ==
        std::vector<ClientEvent>{event::Error{Errc::bad_status}});
  // EOF inside the 10-byte success is the stealth answer, as for CONNECT.
  ClientHandshake cut = make_reverse();
  feed_chunked(cut, {0x01, 0x00, 0x1f, 0x90, 0}, 0);
  REQUIRE(cut.feed_eof());
  CHECK(cut.next_event() == ClientEvent{event::ClosedWithoutStatus{}});
}
