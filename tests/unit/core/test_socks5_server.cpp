// The SOCKS5 server machine, fed as h11 feeds its codecs: every case whole, one byte at a time,
// and with trailing bytes that must not change the outcome of the message under test.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "mtop/socks5.hpp"

using mtop::Address;
using mtop::Bytes;
using mtop::ByteView;
using mtop::Errc;
using namespace mtop::socks5;

namespace {

enum class Chunking { whole, one_byte };
// Explicit loops over these rather than GENERATE: several cases loop over tables, and a
// GENERATE inside a loop (or in a helper called from one) makes Catch2 v2 re-run forever.
constexpr Chunking kChunkings[] = {Chunking::whole, Chunking::one_byte};

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes str(const std::string& s) { return Bytes(s.begin(), s.end()); }

// Feeds `in` the way an adapter would: stops at the first error or when the machine takes no
// more. Returns the error, or the number of bytes consumed.
mtop::Result<std::size_t> feed(Server& s, const Bytes& in, Chunking how) {
  if (how == Chunking::whole) return s.feed(ByteView(in));
  std::size_t total = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    auto r = s.feed(ByteView(&in[i], 1));
    if (!r) return r;
    if (*r == 0) break;
    total += *r;
  }
  return total;
}

Bytes output(const Server& s) {
  const ByteView v = s.pending_output();
  return Bytes(v.begin(), v.end());
}

Event event(Server& s) {
  auto e = s.next_event();
  REQUIRE(e);
  return *e;
}

Errc event_error(Server& s) {
  auto e = s.next_event();
  REQUIRE_FALSE(e);
  return e.error();
}

void expect_failure_once(ServerSettings settings, const Bytes& in, Chunking how,
                         const Bytes& trailing, Errc code, const Bytes& out);

// Expects `in` to fail the machine with `code` after queueing exactly `out`, fed whole and one
// byte at a time, alone and followed by trailing bytes (which must change nothing).
void expect_failure(ServerSettings settings, const Bytes& in, Errc code, const Bytes& out) {
  for (Chunking how : kChunkings) {
    for (const Bytes& trailing : {Bytes{}, Bytes{0x05, 0x01, 0x00, 0x01, 0xAA}}) {
      CAPTURE(how, trailing.size());
      expect_failure_once(settings, cat({in, trailing}), how, trailing, code, out);
    }
  }
}

void expect_failure_once(ServerSettings settings, const Bytes& in, Chunking how,
                         const Bytes& trailing, Errc code, const Bytes& out) {
  Server s(settings);
  auto r = feed(s, in, how);
  REQUIRE_FALSE(r);
  CHECK(r.error() == code);
  CHECK(s.state() == State::failed);
  CHECK(s.error() == code);
  CHECK(event_error(s) == code);
  CHECK(output(s) == out);
  // A failed machine takes no more input and its output stays for the adapter to flush.
  auto again = s.feed(ByteView(trailing.empty() ? Bytes{0x05} : trailing));
  REQUIRE_FALSE(again);
  CHECK(again.error() == code);
  CHECK(output(s) == out);
  CHECK(s.take_payload().empty());
  CHECK(s.accept_credentials(true).error() == Errc::invalid_state);
  CHECK(s.reply(ReplyCode::succeeded, Address{}).error() == Errc::invalid_state);
}

const Bytes kGreetNoAuth{0x05, 0x01, 0x00};
const Bytes kGreetUserPass{0x05, 0x01, 0x02};
const Bytes kSelectNoAuth{0x05, 0x00};
const Bytes kSelectUserPass{0x05, 0x02};
const Bytes kNoAcceptable{0x05, 0xFF};
// A failure reply the machine sends by itself: BND = 0.0.0.0:0.
Bytes machine_reply(std::uint8_t rep) { return {0x05, rep, 0x00, 0x01, 0, 0, 0, 0, 0, 0}; }

Bytes auth_request(const std::string& user, const std::string& pass) {
  Bytes b{0x01, static_cast<std::uint8_t>(user.size())};
  b.insert(b.end(), user.begin(), user.end());
  b.push_back(static_cast<std::uint8_t>(pass.size()));
  b.insert(b.end(), pass.begin(), pass.end());
  return b;
}

Bytes connect_domain(const std::string& name, std::uint16_t port) {
  Bytes b{0x05, 0x01, 0x00, 0x03, static_cast<std::uint8_t>(name.size())};
  b.insert(b.end(), name.begin(), name.end());
  b.push_back(static_cast<std::uint8_t>(port >> 8));
  b.push_back(static_cast<std::uint8_t>(port & 0xFF));
  return b;
}

const Bytes kConnectV4{0x05, 0x01, 0x00, 0x01, 192, 0, 2, 7, 0x01, 0xBB};  // 192.0.2.7:443

ServerSettings settings_with(bool no_auth, bool user_pass) {
  ServerSettings s;
  s.no_auth = no_auth;
  s.username_password = user_pass;
  return s;
}

// A machine in reply_decision after a no-auth CONNECT to 192.0.2.7:443, output drained.
Server connected(ServerSettings settings = {}) {
  Server s(settings);
  auto r = s.feed(ByteView(cat({kGreetNoAuth, kConnectV4})));
  REQUIRE(r);
  REQUIRE(s.state() == State::reply_decision);
  s.consume_output(s.pending_output().size());
  return s;
}

}  // namespace

TEST_CASE("greeting: the method chosen for each offer and setting", "[socks5]") {
  struct Case {
    ServerSettings settings;
    Bytes offered;
    int chosen;  // -1: no acceptable method
  };
  const ServerSettings none_only = ServerSettings::for_credentials(false);
  const ServerSettings creds = ServerSettings::for_credentials(true);
  const ServerSettings both = settings_with(true, true);
  const ServerSettings neither = settings_with(false, false);
  const std::vector<Case> cases{
      {none_only, {0x00}, 0x00},       {none_only, {0x02}, -1},
      {none_only, {0x02, 0x00}, 0x00}, {none_only, {0x01, 0x80, 0xFF, 0x00}, 0x00},
      {none_only, {0x01}, -1},         {creds, {0x02}, 0x02},
      {creds, {0x00}, -1},             {creds, {0x00, 0x02}, 0x02},
      {creds, {0x02, 0x00}, 0x02},     {creds, {0x00, 0x00, 0x01}, -1},
      // Credentials configured: 0x00 is refused even if no_auth is also set.
      {both, {0x00}, -1},              {both, {0x00, 0x02}, 0x02},
      {neither, {0x00, 0x02}, -1},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    CAPTURE(i);
    Bytes greeting{0x05, static_cast<std::uint8_t>(c.offered.size())};
    greeting.insert(greeting.end(), c.offered.begin(), c.offered.end());
    if (c.chosen < 0) {
      expect_failure(c.settings, greeting, Errc::socks_no_acceptable_method, kNoAcceptable);
      continue;
    }
    for (Chunking how : kChunkings) {
      // Trailing: the first byte of the next message, which must wait for the rest.
      for (bool trailing : {false, true}) {
        CAPTURE(how, trailing);
        const std::uint8_t next_first = c.chosen == 0x02 ? 0x01 : 0x05;
        const Bytes in = trailing ? cat({greeting, {next_first}}) : greeting;
        Server s(c.settings);
        auto r = feed(s, in, how);
        REQUIRE(r);
        CHECK(*r == in.size());
        CHECK(output(s) == Bytes{0x05, static_cast<std::uint8_t>(c.chosen)});
        CHECK(s.method() == static_cast<Method>(c.chosen));
        CHECK(s.state() == (c.chosen == 0x02 ? State::auth : State::request));
        CHECK(std::holds_alternative<NeedData>(event(s)));
      }
    }
  }
}

TEST_CASE("greeting: NMETHODS 0 is answered 0xFF", "[socks5]") {
  expect_failure({}, {0x05, 0x00}, Errc::socks_no_methods, kNoAcceptable);
}

TEST_CASE("bad versions fail at the version byte", "[socks5]") {
  SECTION("greeting VER 4 (a SOCKS4 client) gets no reply") {
    expect_failure({}, {0x04, 0x01, 0x00, 0x50}, Errc::socks_bad_version, {});
  }
  SECTION("an HTTP request on the SOCKS port fails after one byte") {
    Server s;
    auto r = s.feed(ByteView(str("G")));
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::socks_bad_version);
    CHECK(output(s).empty());
  }
  SECTION("request VER 4 after a good greeting") {
    expect_failure({}, cat({kGreetNoAuth, {0x04, 0x01, 0x00, 0x01}}), Errc::socks_bad_version,
                   kSelectNoAuth);
  }
  SECTION("RFC 1929 sub-version 5 instead of 1 gets status 0x01") {
    expect_failure(ServerSettings::for_credentials(true),
                   cat({kGreetUserPass, {0x05, 0x01, 'a', 0x01, 'b'}}), Errc::socks_bad_version,
                   cat({kSelectUserPass, {0x01, 0x01}}));
  }
}

TEST_CASE("RFC 1929: credentials accepted", "[socks5]") {
  const Chunking how = GENERATE(Chunking::whole, Chunking::one_byte);
  const bool trailing = GENERATE(false, true);
  CAPTURE(how, trailing);
  Server s(ServerSettings::for_credentials(true));
  const Bytes in = cat({kGreetUserPass, auth_request("alice", "s3cr:et"),
                        trailing ? Bytes{0x05, 0x01} : Bytes{}});
  auto r = feed(s, in, how);
  REQUIRE(r);
  CHECK(*r == in.size());  // the request's start is buffered while the decision is outstanding
  CHECK(s.state() == State::auth_decision);
  CHECK(event(s) == Event{Credentials{"alice", "s3cr:et"}});
  CHECK(event(s) == Event{Paused{}});  // issued once
  REQUIRE(s.accept_credentials(true));
  CHECK(output(s) == Bytes{0x05, 0x02, 0x01, 0x00});
  CHECK(s.state() == State::request);
  CHECK(event(s) == Event{NeedData{}});
  CHECK(s.accept_credentials(true).error() == Errc::invalid_state);  // answered already
  // The request completes: whatever was buffered counts.
  const Bytes rest = trailing ? Bytes(kConnectV4.begin() + 2, kConnectV4.end()) : kConnectV4;
  REQUIRE(s.feed(ByteView(rest)));
  CHECK(event(s) == Event{ConnectRequest{Address::from_ipv4({192, 0, 2, 7}, 443)}});
}

TEST_CASE("RFC 1929: 255-byte fields are fine", "[socks5]") {
  const std::string user(255, 'u');
  const std::string pass(255, '\0');  // opaque bytes: a NUL is a password byte like any other
  Server s(ServerSettings::for_credentials(true));
  const Chunking how = GENERATE(Chunking::whole, Chunking::one_byte);
  REQUIRE(feed(s, cat({kGreetUserPass, auth_request(user, pass)}), how));
  CHECK(event(s) == Event{Credentials{user, pass}});
}

TEST_CASE("RFC 1929: credentials refused", "[socks5]") {
  const Chunking how = GENERATE(Chunking::whole, Chunking::one_byte);
  Server s(ServerSettings::for_credentials(true));
  // The client pipelines its request; it must never be parsed.
  REQUIRE(feed(s, cat({kGreetUserPass, auth_request("bob", "nope"), kConnectV4}), how));
  CHECK(std::holds_alternative<Credentials>(event(s)));
  REQUIRE(s.accept_credentials(false));
  CHECK(output(s) == Bytes{0x05, 0x02, 0x01, 0x01});
  CHECK(s.error() == Errc::socks_auth_failed);
  CHECK(event_error(s) == Errc::socks_auth_failed);
  auto r = s.feed(ByteView(kConnectV4));
  REQUIRE_FALSE(r);
  CHECK(r.error() == Errc::socks_auth_failed);
  CHECK(output(s) == Bytes{0x05, 0x02, 0x01, 0x01});
}

TEST_CASE("RFC 1929: zero-length fields", "[socks5]") {
  const Bytes expect = cat({kSelectUserPass, {0x01, 0x01}});
  SECTION("ULEN 0") {
    expect_failure(ServerSettings::for_credentials(true),
                   cat({kGreetUserPass, {0x01, 0x00, 0x04, 'p', 'a', 's', 's'}}),
                   Errc::socks_bad_credentials, expect);
  }
  SECTION("PLEN 0") {
    expect_failure(ServerSettings::for_credentials(true),
                   cat({kGreetUserPass, {0x01, 0x01, 'u', 0x00}}), Errc::socks_bad_credentials,
                   expect);
  }
}

TEST_CASE("CONNECT: IPv4, IPv6 and domain targets", "[socks5]") {
  std::array<std::uint8_t, 16> v6{0x20, 0x01, 0x0d, 0xb8};
  v6[15] = 0x01;
  struct Case {
    Bytes request;
    Address target;
  };
  const std::vector<Case> cases{
      {kConnectV4, Address::from_ipv4({192, 0, 2, 7}, 443)},
      {cat({{0x05, 0x01, 0x00, 0x04}, Bytes(v6.begin(), v6.end()), {0xFF, 0xFF}}),
       Address::from_ipv6(v6, 65535)},
      {connect_domain("example.com", 80), Address::from_domain("example.com", 80)},
      {connect_domain(std::string(255, 'a'), 1), Address::from_domain(std::string(255, 'a'), 1)},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    for (Chunking how : kChunkings) {
      for (const Bytes& trailing : {Bytes{}, Bytes{'G', 'E', 'T', 0x00, 0x05}}) {
        CAPTURE(i, how, trailing.size());
        Server s;
        const Bytes in = cat({kGreetNoAuth, cases[i].request, trailing});
        auto r = feed(s, in, how);
        REQUIRE(r);
        CHECK(*r == in.size());
        CHECK(output(s) == kSelectNoAuth);
        CHECK(event(s) == Event{ConnectRequest{cases[i].target}});
        CHECK(event(s) == Event{Paused{}});
        CHECK(s.take_payload() == trailing);
      }
    }
  }
}

TEST_CASE("every proper prefix of a valid handshake is need-more, never an error", "[socks5]") {
  const Bytes full = cat({kGreetNoAuth, connect_domain("example.com", 8080)});
  for (std::size_t n = 0; n < full.size(); ++n) {
    CAPTURE(n);
    Server s;
    auto r = s.feed(ByteView(full.data(), n));
    REQUIRE(r);
    CHECK(*r == n);
    CHECK(event(s) == Event{NeedData{}});
  }
}

TEST_CASE("BIND, UDP ASSOCIATE and unknown commands get reply 0x07", "[socks5]") {
  const std::uint8_t cmd = GENERATE(0x02, 0x03, 0x00, 0x04, 0xFF);
  CAPTURE(cmd);
  expect_failure({}, cat({kGreetNoAuth, {0x05, cmd, 0x00, 0x01, 127, 0, 0, 1, 0x00, 0x50}}),
                 Errc::socks_command_not_supported, cat({kSelectNoAuth, machine_reply(0x07)}));
}

TEST_CASE("BIND and UDP ASSOCIATE after RFC 1929 auth get reply 0x07", "[socks5]") {
  // The request state is reached through the credentials path too; the refusal must not
  // depend on how the client got there, and it comes before any address byte is needed.
  for (const std::uint8_t cmd : {std::uint8_t{0x02}, std::uint8_t{0x03}}) {
    for (Chunking how : kChunkings) {
      CAPTURE(cmd, how);
      Server s(ServerSettings::for_credentials(true));
      REQUIRE(feed(s, cat({kGreetUserPass, auth_request("alice", "pw")}), how));
      REQUIRE(std::holds_alternative<Credentials>(event(s)));
      REQUIRE(s.accept_credentials(true));
      auto r = feed(s, Bytes{0x05, cmd}, how);
      REQUIRE_FALSE(r);
      CHECK(r.error() == Errc::socks_command_not_supported);
      CHECK(output(s) == cat({Bytes{0x05, 0x02, 0x01, 0x00}, machine_reply(0x07)}));
      CHECK(event_error(s) == Errc::socks_command_not_supported);
    }
  }
}

TEST_CASE("unknown ATYP gets reply 0x08", "[socks5]") {
  const std::uint8_t atyp = GENERATE(0x00, 0x02, 0x05, 0xFF);
  CAPTURE(atyp);
  expect_failure({}, cat({kGreetNoAuth, {0x05, 0x01, 0x00, atyp, 1, 2, 3, 4, 0, 80}}),
                 Errc::socks_bad_address_type, cat({kSelectNoAuth, machine_reply(0x08)}));
}

TEST_CASE("bad RSV gets reply 0x01", "[socks5]") {
  expect_failure({}, cat({kGreetNoAuth, {0x05, 0x01, 0x01, 0x01, 1, 2, 3, 4, 0, 80}}),
                 Errc::socks_bad_reserved, cat({kSelectNoAuth, machine_reply(0x01)}));
}

TEST_CASE("bad domain names get reply 0x04 (host unreachable), port 0 gets 0x01", "[socks5]") {
  // docs/CLIMBER.md: a target the MTop core refuses (bad domain) is host unreachable.
  const Bytes expect = cat({kSelectNoAuth, machine_reply(0x04)});
  SECTION("domain with a NUL") {
    expect_failure({}, cat({kGreetNoAuth, connect_domain(std::string("a\0b.com", 7), 80)}),
                   Errc::socks_bad_address, expect);
  }
  SECTION("domain with a space, and one with a slash") {
    expect_failure({}, cat({kGreetNoAuth, connect_domain("a b", 80)}), Errc::socks_bad_address,
                   expect);
    expect_failure({}, cat({kGreetNoAuth, connect_domain("a/b", 80)}), Errc::socks_bad_address,
                   expect);
  }
  SECTION("domain that is not ASCII (UTF-8, and bytes that are not UTF-8)") {
    expect_failure({},
                   cat({kGreetNoAuth, connect_domain("b\xC3\xBC"
                                                     "cher.example",
                                                     80)}),
                   Errc::socks_bad_address, expect);
    expect_failure({},
                   cat({kGreetNoAuth, connect_domain("a\xFF\xFE"
                                                     ".example",
                                                     80)}),
                   Errc::socks_bad_address, expect);
  }
  SECTION("domain of length 0") {
    expect_failure({}, cat({kGreetNoAuth, {0x05, 0x01, 0x00, 0x03, 0x00, 0x00, 0x50}}),
                   Errc::socks_bad_address, expect);
  }
  SECTION("port 0, IPv4 and domain: a malformed request, general failure") {
    const Bytes general = cat({kSelectNoAuth, machine_reply(0x01)});
    expect_failure({}, cat({kGreetNoAuth, {0x05, 0x01, 0x00, 0x01, 10, 0, 0, 1, 0x00, 0x00}}),
                   Errc::socks_bad_address, general);
    expect_failure({}, cat({kGreetNoAuth, connect_domain("example.com", 0)}),
                   Errc::socks_bad_address, general);
  }
}

TEST_CASE("pipelined payload after the request is kept byte for byte", "[socks5]") {
  Bytes payload;
  for (int i = 0; i < 300; ++i) payload.push_back(static_cast<std::uint8_t>(i * 7));
  const Chunking how = GENERATE(Chunking::whole, Chunking::one_byte);
  CAPTURE(how);

  SECTION("no auth: greeting, request and payload in one go, then more before the reply") {
    Server s;
    REQUIRE(feed(s, cat({kGreetNoAuth, kConnectV4, payload}), how));
    CHECK(std::holds_alternative<ConnectRequest>(event(s)));
    CHECK(s.take_payload() == payload);
    CHECK(s.take_payload().empty());
    REQUIRE(feed(s, str("more"), how));
    CHECK(s.take_payload() == str("more"));
  }
  SECTION("username/password: request and payload wait behind the credentials decision") {
    Server s(ServerSettings::for_credentials(true));
    REQUIRE(feed(s, cat({kGreetUserPass, auth_request("u", "p"), kConnectV4, payload}), how));
    CHECK(std::holds_alternative<Credentials>(event(s)));
    CHECK(s.take_payload().empty());  // not payload yet: the request is not parsed
    REQUIRE(s.accept_credentials(true));
    CHECK(event(s) == Event{ConnectRequest{Address::from_ipv4({192, 0, 2, 7}, 443)}});
    CHECK(s.take_payload() == payload);
    CHECK(output(s) == Bytes{0x05, 0x02, 0x01, 0x00});
  }
  SECTION("payload that survives reply(succeeded) is still handed over") {
    Server s;
    REQUIRE(feed(s, cat({kGreetNoAuth, kConnectV4, payload}), how));
    REQUIRE(s.reply(ReplyCode::succeeded, Address{}));
    CHECK(s.take_payload() == payload);
  }
}

TEST_CASE("back-pressure: payload beyond max_payload is left to the caller", "[socks5]") {
  ServerSettings settings;
  settings.max_payload = 4;
  Server s = connected(settings);
  const Bytes data = str("0123456789");
  auto r = s.feed(ByteView(data));
  REQUIRE(r);
  CHECK(*r == 4);
  auto r2 = s.feed(ByteView(data).subspan(4));
  REQUIRE(r2);
  CHECK(*r2 == 0);  // full: no error, nothing taken
  CHECK(s.take_payload() == str("0123"));
  auto r3 = s.feed(ByteView(data).subspan(4));
  REQUIRE(r3);
  CHECK(*r3 == 4);
  CHECK(s.take_payload() == str("4567"));
}

TEST_CASE("back-pressure: handshake bytes while a credentials decision is outstanding",
          "[socks5]") {
  Server s(ServerSettings::for_credentials(true));
  const Bytes head = cat({kGreetUserPass, auth_request("u", "p"), kConnectV4});
  const Bytes flood(4000, 0xAB);
  const Bytes in = cat({head, flood});
  auto r = s.feed(ByteView(in));
  REQUIRE(r);
  // Greeting and auth are parsed; the request plus flood bytes fill the handshake buffer.
  const std::size_t parsed = kGreetUserPass.size() + auth_request("u", "p").size();
  CHECK(*r == parsed + kMaxHandshakeBuffer);
  auto none = s.feed(ByteView(in).subspan(*r));
  REQUIRE(none);
  CHECK(*none == 0);
  REQUIRE(s.accept_credentials(true));  // answers the unread Credentials event as well
  CHECK(std::holds_alternative<ConnectRequest>(event(s)));
  const Bytes first = s.take_payload();
  CHECK(first.size() == kMaxHandshakeBuffer - kConnectV4.size());
  auto more = s.feed(ByteView(in).subspan(*r));
  REQUIRE(more);
  CHECK(*more == in.size() - *r);
  CHECK(cat({first, s.take_payload()}) == flood);
}

TEST_CASE("reply: exact bytes for success and failure", "[socks5]") {
  std::array<std::uint8_t, 16> v6{};
  v6[15] = 1;  // ::1
  struct Case {
    ReplyCode code;
    Address bound;
    Bytes wire;
  };
  const std::vector<Case> cases{
      {ReplyCode::succeeded, Address::from_ipv4({10, 1, 2, 3}, 1080),
       {0x05, 0x00, 0x00, 0x01, 10, 1, 2, 3, 0x04, 0x38}},
      {ReplyCode::succeeded, Address::from_ipv6(v6, 443),
       cat({{0x05, 0x00, 0x00, 0x04}, Bytes(v6.begin(), v6.end()), {0x01, 0xBB}})},
      {ReplyCode::succeeded, Address::from_domain("proxy.example", 8080),
       cat({{0x05, 0x00, 0x00, 0x03, 13}, str("proxy.example"), {0x1F, 0x90}})},
      {ReplyCode::connection_refused, Address{}, machine_reply(0x05)},
      {ReplyCode::host_unreachable, Address::from_ipv6(v6, 0),
       cat({{0x05, 0x04, 0x00, 0x04}, Bytes(v6.begin(), v6.end()), {0x00, 0x00}})},
      {ReplyCode::not_allowed, Address::from_domain("x", 1),
       {0x05, 0x02, 0x00, 0x03, 0x01, 'x', 0x00, 0x01}},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(i);
    Server s = connected();
    REQUIRE(s.feed(ByteView(str("early"))));
    REQUIRE(s.reply(cases[i].code, cases[i].bound));
    CHECK(output(s) == cases[i].wire);
    CHECK(event(s) == Event{Finished{}});
    const bool ok = cases[i].code == ReplyCode::succeeded;
    CHECK(s.established() == ok);
    CHECK(s.state() == (ok ? State::established : State::closed));
    CHECK(s.error() == std::nullopt);
    CHECK(s.take_payload() == (ok ? str("early") : Bytes{}));
    auto r = s.feed(ByteView(str("x")));
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::invalid_state);  // the caller relays or closes now
  }
}

TEST_CASE("reply codes are the RFC 1928 REP values", "[socks5]") {
  for (std::uint8_t rep = 0; rep <= 8; ++rep) {
    CAPTURE(rep);
    Server s = connected();
    REQUIRE(s.reply(static_cast<ReplyCode>(rep), Address{}));
    CHECK(output(s) == machine_reply(rep));
  }
}

TEST_CASE("misuse is invalid_state or invalid_argument and changes nothing", "[socks5]") {
  SECTION("reply before any request") {
    Server s;
    CHECK(s.reply(ReplyCode::succeeded, Address{}).error() == Errc::invalid_state);
    REQUIRE(s.feed(ByteView(kGreetNoAuth)));
    CHECK(s.reply(ReplyCode::succeeded, Address{}).error() == Errc::invalid_state);
    CHECK(output(s) == kSelectNoAuth);
  }
  SECTION("reply twice") {
    Server s = connected();
    REQUIRE(s.reply(ReplyCode::succeeded, Address{}));
    CHECK(s.reply(ReplyCode::succeeded, Address{}).error() == Errc::invalid_state);
    CHECK(s.reply(ReplyCode::general_failure, Address{}).error() == Errc::invalid_state);
    CHECK(output(s) == machine_reply(0x00));
  }
  SECTION("bad reply arguments keep the decision outstanding") {
    Server s = connected();
    CHECK(s.reply(static_cast<ReplyCode>(9), Address{}).error() == Errc::invalid_argument);
    CHECK(s.reply(ReplyCode::succeeded, Address::from_domain("", 1)).error() ==
          Errc::invalid_argument);
    CHECK(s.reply(ReplyCode::succeeded, Address::from_domain(std::string(256, 'a'), 1)).error() ==
          Errc::invalid_argument);
    CHECK(output(s).empty());
    CHECK(s.state() == State::reply_decision);
    REQUIRE(s.reply(ReplyCode::succeeded, Address{}));
  }
  SECTION("accept_credentials without a Credentials event") {
    Server s;
    CHECK(s.accept_credentials(true).error() == Errc::invalid_state);
    Server c = connected();
    CHECK(c.accept_credentials(true).error() == Errc::invalid_state);
  }
  SECTION("feeding a closed machine") {
    Server s = connected();
    REQUIRE(s.reply(ReplyCode::general_failure, Address{}));
    CHECK(s.feed(ByteView(Bytes{})).error() == Errc::invalid_state);
  }
}

TEST_CASE("output is consumed in parts", "[socks5]") {
  Server s = connected();
  REQUIRE(s.reply(ReplyCode::succeeded, Address::from_ipv4({1, 2, 3, 4}, 5)));
  s.consume_output(3);
  CHECK(output(s) == Bytes{0x01, 1, 2, 3, 4, 0x00, 0x05});
  s.consume_output(100);  // more than pending: all of it
  CHECK(output(s).empty());
}

TEST_CASE("an empty feed changes nothing", "[socks5]") {
  Server s;
  auto r = s.feed(ByteView());
  REQUIRE(r);
  CHECK(*r == 0);
  CHECK(s.state() == State::greeting);
  CHECK(output(s).empty());
}
