// The SOCKS5 and HTTP proxy machines of mtop.h as a C caller sees them, fed h11 style: every
// case whole, one byte at a time, and with trailing bytes; a truncated valid message is only
// ever "need more"; every MTOP_ERR_SOCKS_* and MTOP_ERR_HTTP_* code is reached through the
// C API. Wire bytes are written out by hand (RFC 1928, RFC 1929, RFC 9112).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "mtop.h"

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes str(const std::string& s) {
  return Bytes(s.begin(), s.end());
}
Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Bytes as_bytes(const void* p, std::size_t n) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  return n == 0 ? Bytes{} : Bytes(b, b + n);
}
std::string as_string(const void* p, std::size_t n) {
  return n == 0 ? std::string{} : std::string(static_cast<const char*>(p), n);
}

// How a test feeds its input: whole, one byte per call, or in random chunks (fixed seed).
enum class Chunking { whole, one_byte, random };
constexpr Chunking kChunkings[] = {Chunking::whole, Chunking::one_byte, Chunking::random};
const char* name_of(Chunking c) {
  return c == Chunking::whole ? "whole" : c == Chunking::one_byte ? "one byte" : "random";
}

// A machine-independent picture of one event, so whole sequences compare equal.
struct Ev {
  int type = MTOP_PROXY_EVENT_NEED_DATA;
  int error = 0;
  Bytes data;          // PAYLOAD (consecutive payloads merged)
  std::string detail;  // AUTH: "user:pass"; REQUEST: a summary of the request
  friend bool operator==(const Ev&, const Ev&) = default;
};
std::ostream& operator<<(std::ostream& os, const Ev& e) {
  return os << "{type " << e.type << " error " << e.error << " data '"
            << as_string(e.data.data(), e.data.size()) << "' " << e.detail << "}";
}

std::string address_string(const mtop_address& a) {
  std::string host;
  if (a.type == MTOP_ADDRESS_DOMAIN) {
    host = as_string(a.domain, a.domain_len);
  } else if (a.type == MTOP_ADDRESS_IPV4) {
    host = std::to_string(a.ip[0]) + "." + std::to_string(a.ip[1]) + "." +
           std::to_string(a.ip[2]) + "." + std::to_string(a.ip[3]);
  } else {
    char buf[8];
    host = "[";
    for (int i = 0; i < 16; i += 2) {
      std::snprintf(buf, sizeof buf, "%02x%02x", a.ip[i], a.ip[i + 1]);
      host += std::string(i ? ":" : "") + buf;
    }
    host += "]";
  }
  return host + ":" + std::to_string(a.port);
}

// Appends `e`, merging it into the previous PAYLOAD so that chunking does not matter.
void push(std::vector<Ev>& evs, Ev e) {
  if (e.type == MTOP_PROXY_EVENT_PAYLOAD && !evs.empty() &&
      evs.back().type == MTOP_PROXY_EVENT_PAYLOAD) {
    evs.back().data.insert(evs.back().data.end(), e.data.begin(), e.data.end());
    return;
  }
  evs.push_back(std::move(e));
}

// --- SOCKS5 -------------------------------------------------------------------------------

struct SocksFree {
  void operator()(mtop_socks5_server* s) const { mtop_socks5_server_free(s); }
};
using SocksPtr = std::unique_ptr<mtop_socks5_server, SocksFree>;

SocksPtr make_socks(bool with_credentials = false, std::size_t max_payload = 0) {
  mtop_socks5_settings st;
  REQUIRE(mtop_socks5_settings_default(&st) == 0);
  if (with_credentials) st.username_password = 1;
  if (max_payload) st.max_payload = max_payload;
  mtop_socks5_server* s = nullptr;
  REQUIRE(mtop_socks5_server_new(&s, &st) == 0);
  REQUIRE(s != nullptr);
  return SocksPtr(s);
}

Ev socks_event(mtop_socks5_server* s) {
  mtop_socks5_event ev;
  std::memset(&ev, 0xab, sizeof ev);  // every field must be written
  const int rc = mtop_socks5_server_next_event(s, &ev);
  REQUIRE(rc >= 0);
  REQUIRE(rc == ev.type);
  Ev out;
  out.type = ev.type;
  out.error = ev.error;
  if (ev.type == MTOP_PROXY_EVENT_PAYLOAD) {
    REQUIRE(ev.len > 0);
    out.data = as_bytes(ev.data, ev.len);
  } else {
    CHECK(ev.data == nullptr);
    CHECK(ev.len == 0);
  }
  if (ev.type == MTOP_PROXY_EVENT_AUTH) {
    out.detail = as_string(ev.username, ev.username_len) + ":" +
                 as_string(ev.password, ev.password_len);
  } else {
    CHECK(ev.username == nullptr);
    CHECK(ev.password == nullptr);
  }
  if (ev.type == MTOP_PROXY_EVENT_REQUEST) {
    out.detail = address_string(ev.target);
  } else {
    CHECK(ev.target.type == 0);
  }
  if (ev.type != MTOP_PROXY_EVENT_ERROR) CHECK(ev.error == 0);
  return out;
}

// Reads events until NEED_DATA, or until a terminal ERROR / END_OF_INPUT (which repeats).
void drain_socks(mtop_socks5_server* s, std::vector<Ev>& evs) {
  for (int i = 0; i < 10000; ++i) {
    Ev e = socks_event(s);
    if (e.type == MTOP_PROXY_EVENT_NEED_DATA) return;
    const bool terminal = e.type == MTOP_PROXY_EVENT_ERROR || e.type == MTOP_PROXY_EVENT_END_OF_INPUT;
    if (terminal) CHECK(socks_event(s) == e);  // repeats
    push(evs, std::move(e));
    if (terminal) return;
  }
  FAIL("no NEED_DATA");
}

// Feeds `in` in the chosen chunks, reading events after each call. Stops when the machine
// refuses input (after an error) or takes nothing more (back-pressure with a decision due).
std::vector<Ev> feed_socks(mtop_socks5_server* s, const Bytes& in, Chunking how,
                           std::size_t* consumed = nullptr) {
  std::vector<Ev> evs;
  std::mt19937 rng(7);
  std::size_t off = 0;
  while (off < in.size()) {
    std::size_t n = in.size() - off;
    if (how == Chunking::one_byte) n = 1;
    if (how == Chunking::random) n = std::min<std::size_t>(n, 1 + rng() % 7);
    const int r = mtop_socks5_server_feed(s, in.data() + off, n);
    if (r == MTOP_ERR_INVALID_STATE) break;
    REQUIRE(r >= 0);
    off += static_cast<std::size_t>(r);
    drain_socks(s, evs);
    if (r == 0) break;
    if (!evs.empty() && evs.back().type == MTOP_PROXY_EVENT_ERROR) break;
  }
  if (in.empty()) drain_socks(s, evs);
  if (consumed) *consumed = off;
  return evs;
}

Bytes socks_output(mtop_socks5_server* s) {
  const std::uint8_t* data = nullptr;
  std::size_t len = 0;
  REQUIRE(mtop_socks5_server_pending_output(s, &data, &len) == 0);
  Bytes out = as_bytes(data, len);
  REQUIRE(mtop_socks5_server_consume_output(s, len) == 0);
  return out;
}

const Bytes kGreetingNoAuth{0x05, 0x01, 0x00};
const Bytes kGreetingUserPass{0x05, 0x02, 0x00, 0x02};
const Bytes kAuthAlice = cat({{0x01, 5}, str("alice"), {6}, str("s3cret")});
const Bytes kConnectDomain = cat({{0x05, 0x01, 0x00, 0x03, 11}, str("example.com"), {0x01, 0xbb}});
const Bytes kConnectIpv4{0x05, 0x01, 0x00, 0x01, 192, 0, 2, 7, 0x1f, 0x90};
const Bytes kFailureReplyTail{0x00, 0x01, 0, 0, 0, 0, 0, 0};  // RSV ATYP 0.0.0.0:0

Ev request(const std::string& target) {
  return Ev{MTOP_PROXY_EVENT_REQUEST, 0, {}, target};
}
Ev payload(const std::string& s) {
  return Ev{MTOP_PROXY_EVENT_PAYLOAD, 0, str(s), {}};
}
Ev error(int code) {
  return Ev{MTOP_PROXY_EVENT_ERROR, code, {}, {}};
}
Ev auth(const std::string& s) {
  return Ev{MTOP_PROXY_EVENT_AUTH, 0, {}, s};
}
Ev end_of_input() {
  return Ev{MTOP_PROXY_EVENT_END_OF_INPUT, 0, {}, {}};
}

// --- HTTP -------------------------------------------------------------------------------------

struct HttpFree {
  void operator()(mtop_http_proxy* p) const { mtop_http_proxy_free(p); }
};
using HttpPtr = std::unique_ptr<mtop_http_proxy, HttpFree>;

HttpPtr make_http(const mtop_http_proxy_settings* settings = nullptr) {
  mtop_http_proxy* p = nullptr;
  REQUIRE(mtop_http_proxy_new(&p, settings) == 0);
  REQUIRE(p != nullptr);
  return HttpPtr(p);
}

// The last REQUEST event in full (its pointers stay valid until the handle is freed).
mtop_http_proxy_event g_last_request;

Ev http_event(mtop_http_proxy* p) {
  mtop_http_proxy_event ev;
  std::memset(&ev, 0xab, sizeof ev);
  const int rc = mtop_http_proxy_next_event(p, &ev);
  REQUIRE(rc >= 0);
  REQUIRE(rc == ev.type);
  Ev out;
  out.type = ev.type;
  out.error = ev.error;
  if (ev.type == MTOP_PROXY_EVENT_PAYLOAD) {
    REQUIRE(ev.len > 0);
    out.data = as_bytes(ev.data, ev.len);
  } else {
    CHECK(ev.data == nullptr);
    CHECK(ev.len == 0);
  }
  if (ev.type == MTOP_PROXY_EVENT_REQUEST) {
    g_last_request = ev;
    out.detail = as_string(ev.method, ev.method_len) + " " + address_string(ev.target) +
                 (ev.connect ? " connect" : " forward") + " 1." + std::to_string(ev.http_minor) +
                 " auth " + std::to_string(ev.auth);
    if (ev.auth == MTOP_HTTP_AUTH_BASIC) {
      out.detail += " " + as_string(ev.username, ev.username_len) + ":" +
                    as_string(ev.password, ev.password_len);
    } else {
      CHECK(ev.username == nullptr);
      CHECK(ev.password == nullptr);
    }
    CHECK((ev.forward_head == nullptr) == (ev.connect == 1));
  } else {
    CHECK(ev.method == nullptr);
    CHECK(ev.forward_head == nullptr);
    CHECK(ev.target.type == 0);
  }
  if (ev.type != MTOP_PROXY_EVENT_ERROR) CHECK(ev.error == 0);
  return out;
}

void drain_http(mtop_http_proxy* p, std::vector<Ev>& evs) {
  for (int i = 0; i < 10000; ++i) {
    Ev e = http_event(p);
    if (e.type == MTOP_PROXY_EVENT_NEED_DATA) return;
    const bool terminal = e.type == MTOP_PROXY_EVENT_ERROR || e.type == MTOP_PROXY_EVENT_END_OF_INPUT;
    if (terminal) CHECK(http_event(p) == e);
    push(evs, std::move(e));
    if (terminal) return;
  }
  FAIL("no NEED_DATA");
}

std::vector<Ev> feed_http(mtop_http_proxy* p, const Bytes& in, Chunking how,
                          std::size_t* consumed = nullptr) {
  std::vector<Ev> evs;
  std::mt19937 rng(11);
  std::size_t off = 0;
  while (off < in.size()) {
    std::size_t n = in.size() - off;
    if (how == Chunking::one_byte) n = 1;
    if (how == Chunking::random) n = std::min<std::size_t>(n, 1 + rng() % 7);
    const int r = mtop_http_proxy_feed(p, in.data() + off, n);
    if (r == MTOP_ERR_INVALID_STATE) break;
    REQUIRE(r >= 0);
    off += static_cast<std::size_t>(r);
    drain_http(p, evs);
    if (r == 0) break;
    if (!evs.empty() && evs.back().type == MTOP_PROXY_EVENT_ERROR) break;
  }
  if (in.empty()) drain_http(p, evs);
  if (consumed) *consumed = off;
  return evs;
}

Bytes http_output(mtop_http_proxy* p) {
  const std::uint8_t* data = nullptr;
  std::size_t len = 0;
  REQUIRE(mtop_http_proxy_pending_output(p, &data, &len) == 0);
  Bytes out = as_bytes(data, len);
  REQUIRE(mtop_http_proxy_consume_output(p, len) == 0);
  return out;
}


}  // namespace

// =============================================================================================
// SOCKS5
// =============================================================================================

TEST_CASE("socks5: no-auth CONNECT to a domain, accepted, then pass-through", "[c][socks5]") {
  for (Chunking how : kChunkings) {
    INFO(name_of(how));
    auto s = make_socks();
    const std::vector<Ev> want{request("example.com:443")};
    CHECK(feed_socks(s.get(), cat({kGreetingNoAuth, kConnectDomain}), how) == want);
    CHECK(socks_output(s.get()) == Bytes{0x05, 0x00});
    REQUIRE(mtop_socks5_server_accept(s.get(), nullptr) == 0);
    CHECK(socks_output(s.get()) == cat({{0x05, 0x00}, kFailureReplyTail}));
    CHECK(feed_socks(s.get(), str("GET / HTTP/1.1\r\n"), how) ==
          std::vector<Ev>{payload("GET / HTTP/1.1\r\n")});
    REQUIRE(mtop_socks5_server_feed_eof(s.get()) == 0);
    CHECK(socks_event(s.get()) == end_of_input());
    CHECK(socks_event(s.get()) == end_of_input());
    CHECK(mtop_socks5_server_feed_eof(s.get()) == MTOP_ERR_INVALID_STATE);
    const std::uint8_t b = 'x';
    CHECK(mtop_socks5_server_feed(s.get(), &b, 1) == MTOP_ERR_INVALID_STATE);
  }
}

TEST_CASE("socks5: pipelined bytes after the request are PAYLOAD before the decision",
          "[c][socks5]") {
  for (Chunking how : kChunkings) {
    INFO(name_of(how));
    auto s = make_socks();
    const Bytes in = cat({kGreetingNoAuth, kConnectIpv4, str("early bytes")});
    CHECK(feed_socks(s.get(), in, how) ==
          std::vector<Ev>{request("192.0.2.7:8080"), payload("early bytes")});
    REQUIRE(mtop_socks5_server_feed_eof(s.get()) == 0);
    CHECK(socks_event(s.get()) == end_of_input());
    // The decision still comes after the EOF (the client half-closed after its request).
    REQUIRE(mtop_socks5_server_reject(s.get(), MTOP_SOCKS5_REPLY_CONNECTION_REFUSED) == 0);
    CHECK(socks_output(s.get()) == cat({{0x05, 0x00, 0x05, 0x05}, kFailureReplyTail}));
  }
}

TEST_CASE("socks5: IPv6 target; accept with IPv6 and domain bounds", "[c][socks5]") {
  Bytes req{0x05, 0x01, 0x00, 0x04};
  for (int i = 0; i < 16; ++i) req.push_back(i == 0 ? 0x20 : i == 1 ? 0x01 : i == 15 ? 1 : 0);
  req.insert(req.end(), {0x01, 0xbb});
  for (Chunking how : kChunkings) {
    INFO(name_of(how));
    auto s = make_socks();
    CHECK(feed_socks(s.get(), cat({kGreetingNoAuth, req}), how) ==
          std::vector<Ev>{request("[2001:0000:0000:0000:0000:0000:0000:0001]:443")});
    socks_output(s.get());
    mtop_address bound{};
    bound.type = MTOP_ADDRESS_DOMAIN;
    bound.domain = "proxy.local";
    bound.domain_len = 11;
    bound.port = 1080;
    REQUIRE(mtop_socks5_server_accept(s.get(), &bound) == 0);
    CHECK(socks_output(s.get()) ==
          cat({{0x05, 0x00, 0x00, 0x03, 11}, str("proxy.local"), {0x04, 0x38}}));
  }
  auto s = make_socks();
  feed_socks(s.get(), cat({kGreetingNoAuth, kConnectIpv4}), Chunking::whole);
  socks_output(s.get());
  mtop_address bound{};
  bound.type = MTOP_ADDRESS_IPV6;
  bound.ip[15] = 1;
  bound.port = 2;
  REQUIRE(mtop_socks5_server_accept(s.get(), &bound) == 0);
  const Bytes out = socks_output(s.get());
  REQUIRE(out.size() == 4 + 16 + 2);
  CHECK(out[3] == 0x04);
  CHECK(out[19] == 1);
  CHECK(out[21] == 2);
}

TEST_CASE("socks5: RFC 1929 credentials, accepted; the password is zeroed by the answer",
          "[c][socks5]") {
  for (Chunking how : kChunkings) {
    INFO(name_of(how));
    auto s = make_socks(true);
    // Everything pipelined: the request waits behind the credentials decision.
    const Bytes in = cat({kGreetingUserPass, kAuthAlice, kConnectDomain, str("hi")});
    std::size_t used = 0;
    CHECK(feed_socks(s.get(), in, how, &used) == std::vector<Ev>{auth("alice:s3cret")});
    CHECK(socks_output(s.get()) == Bytes{0x05, 0x02});
    // The pointers of the AUTH event stay valid; the answer zeroes the password in place.
    mtop_socks5_event ev;
    REQUIRE(mtop_socks5_server_next_event(s.get(), &ev) == MTOP_PROXY_EVENT_NEED_DATA);
    REQUIRE(mtop_socks5_server_accept_credentials(s.get()) == 0);
    CHECK(mtop_socks5_server_accept_credentials(s.get()) == MTOP_ERR_INVALID_STATE);
    CHECK(socks_output(s.get()) == Bytes{0x01, 0x00});
    std::vector<Ev> rest;
    drain_socks(s.get(), rest);
    const std::vector<Ev> tail =
        feed_socks(s.get(), Bytes(in.begin() + static_cast<std::ptrdiff_t>(used), in.end()), how);
    for (const Ev& e : tail) push(rest, e);
    CHECK(rest == std::vector<Ev>{request("example.com:443"), payload("hi")});
  }
  // The password bytes read as zeros after the answer.
  auto s = make_socks(true);
  feed_socks(s.get(), kGreetingUserPass, Chunking::whole);
  REQUIRE(mtop_socks5_server_feed(s.get(), kAuthAlice.data(), kAuthAlice.size()) ==
          static_cast<int>(kAuthAlice.size()));
  mtop_socks5_event ev;
  REQUIRE(mtop_socks5_server_next_event(s.get(), &ev) == MTOP_PROXY_EVENT_AUTH);
  REQUIRE(ev.password_len == 6);
  CHECK(as_string(ev.password, 6) == "s3cret");
  REQUIRE(mtop_socks5_server_accept_credentials(s.get()) == 0);
  CHECK(as_bytes(ev.password, 6) == Bytes(6, 0));
  CHECK(as_string(ev.username, ev.username_len) == "alice");
}

TEST_CASE("socks5: every peer error, with the machine's own failure reply", "[c][socks5][errors]") {
  struct Case {
    const char* name;
    bool credentials;
    Bytes in;
    int error;
    Bytes reply;
  };
  const Bytes greeting_done = kGreetingNoAuth;
  const std::vector<Case> cases{
      {"greeting VER 4", false, {0x04, 0x01, 0x00}, MTOP_ERR_SOCKS_BAD_VERSION, {}},
      {"NMETHODS 0", false, {0x05, 0x00}, MTOP_ERR_SOCKS_NO_METHODS, {0x05, 0xff}},
      {"only 0x02 offered, no credentials configured", false, {0x05, 0x01, 0x02},
       MTOP_ERR_SOCKS_NO_ACCEPTABLE_METHOD, {0x05, 0xff}},
      {"only 0x00 offered, credentials configured", true, {0x05, 0x01, 0x00},
       MTOP_ERR_SOCKS_NO_ACCEPTABLE_METHOD, {0x05, 0xff}},
      {"RFC 1929 version 2", true, cat({kGreetingUserPass, {0x02, 1, 'a', 1, 'b'}}),
       MTOP_ERR_SOCKS_BAD_VERSION, {0x05, 0x02, 0x01, 0x01}},
      {"ULEN 0", true, cat({kGreetingUserPass, {0x01, 0}}), MTOP_ERR_SOCKS_BAD_CREDENTIALS,
       {0x05, 0x02, 0x01, 0x01}},
      {"PLEN 0", true, cat({kGreetingUserPass, {0x01, 1, 'a', 0}}),
       MTOP_ERR_SOCKS_BAD_CREDENTIALS, {0x05, 0x02, 0x01, 0x01}},
      {"request VER 4", false, cat({greeting_done, {0x04}}), MTOP_ERR_SOCKS_BAD_VERSION,
       {0x05, 0x00}},
      {"BIND", false, cat({greeting_done, {0x05, 0x02}}), MTOP_ERR_SOCKS_COMMAND_NOT_SUPPORTED,
       cat({{0x05, 0x00, 0x05, 0x07}, kFailureReplyTail})},
      {"UDP ASSOCIATE", false, cat({greeting_done, {0x05, 0x03}}),
       MTOP_ERR_SOCKS_COMMAND_NOT_SUPPORTED, cat({{0x05, 0x00, 0x05, 0x07}, kFailureReplyTail})},
      {"RSV 1", false, cat({greeting_done, {0x05, 0x01, 0x01}}), MTOP_ERR_SOCKS_BAD_RESERVED,
       cat({{0x05, 0x00, 0x05, 0x01}, kFailureReplyTail})},
      {"ATYP 2", false, cat({greeting_done, {0x05, 0x01, 0x00, 0x02}}),
       MTOP_ERR_SOCKS_BAD_ADDRESS_TYPE, cat({{0x05, 0x00, 0x05, 0x08}, kFailureReplyTail})},
      {"empty domain", false, cat({greeting_done, {0x05, 0x01, 0x00, 0x03, 0}}),
       MTOP_ERR_SOCKS_BAD_ADDRESS, cat({{0x05, 0x00, 0x05, 0x04}, kFailureReplyTail})},
      {"domain with a space", false,
       cat({greeting_done, {0x05, 0x01, 0x00, 0x03, 3}, str("a b"), {0x00, 0x50}}),
       MTOP_ERR_SOCKS_BAD_ADDRESS, cat({{0x05, 0x00, 0x05, 0x04}, kFailureReplyTail})},
      {"port 0", false, cat({greeting_done, {0x05, 0x01, 0x00, 0x01, 10, 0, 0, 1, 0, 0}}),
       MTOP_ERR_SOCKS_BAD_ADDRESS, cat({{0x05, 0x00, 0x05, 0x01}, kFailureReplyTail})},
  };
  for (const Case& c : cases) {
    for (Chunking how : kChunkings) {
      for (bool trailing : {false, true}) {
        INFO(c.name << ", " << name_of(how) << (trailing ? ", trailing bytes" : ""));
        auto s = make_socks(c.credentials);
        const Bytes in = trailing ? cat({c.in, {0x05, 0x01, 0x00, 0xff}}) : c.in;
        CHECK(feed_socks(s.get(), in, how) == std::vector<Ev>{error(c.error)});
        CHECK(socks_output(s.get()) == c.reply);
        // Terminal: input and decisions are refused, the error repeats.
        const std::uint8_t b = 0x05;
        CHECK(mtop_socks5_server_feed(s.get(), &b, 1) == MTOP_ERR_INVALID_STATE);
        CHECK(mtop_socks5_server_feed_eof(s.get()) == MTOP_ERR_INVALID_STATE);
        CHECK(mtop_socks5_server_accept(s.get(), nullptr) == MTOP_ERR_INVALID_STATE);
        CHECK(mtop_socks5_server_reject(s.get(), 1) == MTOP_ERR_INVALID_STATE);
        CHECK(socks_event(s.get()) == error(c.error));
      }
    }
  }
}

TEST_CASE("socks5: every proper prefix of a valid handshake is only NEED_DATA", "[c][socks5]") {
  const Bytes in = cat({kGreetingUserPass, kAuthAlice});
  for (std::size_t n = 0; n < in.size(); ++n) {
    INFO("prefix " << n);
    auto s = make_socks(true);
    CHECK(feed_socks(s.get(), Bytes(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n)),
                     Chunking::whole)
              .empty());
  }
  const Bytes req = cat({kGreetingNoAuth, kConnectDomain});
  for (std::size_t n = 0; n < req.size(); ++n) {
    INFO("prefix " << n);
    auto s = make_socks();
    CHECK(feed_socks(s.get(), Bytes(req.begin(), req.begin() + static_cast<std::ptrdiff_t>(n)),
                     Chunking::one_byte)
              .empty());
  }
}

TEST_CASE("socks5: rejected credentials fail the machine with SOCKS_AUTH_FAILED",
          "[c][socks5][errors]") {
  auto s = make_socks(true);
  CHECK(feed_socks(s.get(), cat({kGreetingUserPass, kAuthAlice}), Chunking::whole) ==
        std::vector<Ev>{auth("alice:s3cret")});
  REQUIRE(mtop_socks5_server_reject_credentials(s.get()) == 0);
  CHECK(socks_output(s.get()) == Bytes{0x05, 0x02, 0x01, 0x01});
  CHECK(socks_event(s.get()) == error(MTOP_ERR_SOCKS_AUTH_FAILED));
  CHECK(mtop_socks5_server_reject_credentials(s.get()) == MTOP_ERR_INVALID_STATE);
}

TEST_CASE("socks5: EOF before a complete request is PEER_CLOSED", "[c][socks5][errors]") {
  for (std::size_t n : {std::size_t{0}, std::size_t{2}, std::size_t{3}, std::size_t{7}}) {
    INFO("after " << n << " bytes");
    auto s = make_socks();
    const Bytes in = cat({kGreetingNoAuth, kConnectDomain});
    feed_socks(s.get(), Bytes(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n)),
               Chunking::whole);
    REQUIRE(mtop_socks5_server_feed_eof(s.get()) == 0);
    CHECK(socks_event(s.get()) == error(MTOP_ERR_PEER_CLOSED));
    CHECK(socks_event(s.get()) == error(MTOP_ERR_PEER_CLOSED));
    CHECK(mtop_socks5_server_feed_eof(s.get()) == MTOP_ERR_INVALID_STATE);
  }
  // With credentials outstanding the AUTH comes first; the EOF fails the machine once answered.
  auto s = make_socks(true);
  feed_socks(s.get(), cat({kGreetingUserPass, kAuthAlice}), Chunking::whole);
  REQUIRE(mtop_socks5_server_feed_eof(s.get()) == 0);
  CHECK(socks_event(s.get()).type == MTOP_PROXY_EVENT_NEED_DATA);
  REQUIRE(mtop_socks5_server_accept_credentials(s.get()) == 0);
  CHECK(socks_event(s.get()) == error(MTOP_ERR_PEER_CLOSED));
  CHECK(mtop_socks5_server_accept(s.get(), nullptr) == MTOP_ERR_INVALID_STATE);
}

TEST_CASE("socks5: back-pressure before the decision, never an error", "[c][socks5]") {
  auto s = make_socks(false, 4);
  const Bytes hs = cat({kGreetingNoAuth, kConnectIpv4});
  REQUIRE(mtop_socks5_server_feed(s.get(), hs.data(), hs.size()) == static_cast<int>(hs.size()));
  const Bytes body = str("0123456789");
  // Nothing read yet: the request is pending, 4 bytes of payload fit.
  CHECK(mtop_socks5_server_feed(s.get(), body.data(), body.size()) == 4);
  CHECK(mtop_socks5_server_feed(s.get(), body.data() + 4, 6) == 0);
  CHECK(socks_event(s.get()) == request("192.0.2.7:8080"));
  CHECK(socks_event(s.get()) == payload("0123"));
  CHECK(mtop_socks5_server_feed(s.get(), body.data() + 4, 6) == 4);
  CHECK(socks_event(s.get()) == payload("4567"));
  REQUIRE(mtop_socks5_server_accept(s.get(), nullptr) == 0);
  // Accepted: everything is taken.
  CHECK(mtop_socks5_server_feed(s.get(), body.data() + 8, 2) == 2);
  CHECK(socks_event(s.get()) == payload("89"));
  CHECK(socks_event(s.get()).type == MTOP_PROXY_EVENT_NEED_DATA);
}

TEST_CASE("socks5: decisions out of turn and bad arguments", "[c][socks5]") {
  auto s = make_socks();
  CHECK(mtop_socks5_server_accept(s.get(), nullptr) == MTOP_ERR_INVALID_STATE);
  CHECK(mtop_socks5_server_reject(s.get(), 1) == MTOP_ERR_INVALID_STATE);
  CHECK(mtop_socks5_server_accept_credentials(s.get()) == MTOP_ERR_INVALID_STATE);
  CHECK(mtop_socks5_server_reject_credentials(s.get()) == MTOP_ERR_INVALID_STATE);
  feed_socks(s.get(), cat({kGreetingNoAuth, kConnectDomain}), Chunking::whole);
  socks_output(s.get());
  CHECK(mtop_socks5_server_reject(s.get(), 0) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_reject(s.get(), 9) == MTOP_ERR_INVALID_ARGUMENT);
  mtop_address bad{};
  bad.type = 2;
  CHECK(mtop_socks5_server_accept(s.get(), &bad) == MTOP_ERR_INVALID_ARGUMENT);
  bad.type = MTOP_ADDRESS_DOMAIN;  // NULL domain of length 3
  bad.domain_len = 3;
  CHECK(mtop_socks5_server_accept(s.get(), &bad) == MTOP_ERR_INVALID_ARGUMENT);
  bad.domain_len = 0;  // empty
  CHECK(mtop_socks5_server_accept(s.get(), &bad) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(socks_output(s.get()).empty());  // nothing queued, the decision is still due
  REQUIRE(mtop_socks5_server_reject(s.get(), MTOP_SOCKS5_REPLY_HOST_UNREACHABLE) == 0);
  CHECK(socks_output(s.get()) == cat({{0x05, 0x04}, kFailureReplyTail}));
  CHECK(mtop_socks5_server_accept(s.get(), nullptr) == MTOP_ERR_INVALID_STATE);
  const std::uint8_t b = 1;
  CHECK(mtop_socks5_server_feed(s.get(), &b, 1) == MTOP_ERR_INVALID_STATE);
  CHECK(mtop_socks5_server_feed_eof(s.get()) == MTOP_ERR_INVALID_STATE);
  CHECK(socks_event(s.get()).type == MTOP_PROXY_EVENT_NEED_DATA);
  CHECK(mtop_socks5_server_consume_output(s.get(), 1) == MTOP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("socks5: NULL arguments, struct versions, settings and user data", "[c][socks5]") {
  mtop_socks5_settings st;
  CHECK(mtop_socks5_settings_default(nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_settings_default_versioned(0, &st) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_settings_default_versioned(MTOP_SOCKS5_SETTINGS_VERSION + 1, &st) ==
        MTOP_ERR_INVALID_ARGUMENT);
  REQUIRE(mtop_socks5_settings_default(&st) == 0);
  CHECK(st.no_auth == 1);
  CHECK(st.username_password == 0);
  CHECK(st.max_payload == MTOP_DEFAULT_PROXY_MAX_PAYLOAD);
  mtop_socks5_server* s = nullptr;
  CHECK(mtop_socks5_server_new(nullptr, &st) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_new_versioned(&s, 0, &st) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_new_versioned(&s, 2, &st) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_new_versioned(&s, 2, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  st.no_auth = 0;
  CHECK(mtop_socks5_server_new(&s, &st) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(s == nullptr);
  REQUIRE(mtop_socks5_server_new(&s, nullptr) == 0);
  SocksPtr owner(s);
  int x = 0;
  CHECK(mtop_socks5_server_get_user_data(s) == nullptr);
  CHECK(mtop_socks5_server_set_user_data(s, &x) == 0);
  CHECK(mtop_socks5_server_get_user_data(s) == &x);
  CHECK(mtop_socks5_server_set_user_data(nullptr, &x) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_get_user_data(nullptr) == nullptr);
  mtop_socks5_event ev;
  CHECK(mtop_socks5_server_next_event(nullptr, &ev) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_next_event(s, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_next_event_versioned(s, 0, &ev) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_next_event_versioned(s, MTOP_SOCKS5_EVENT_VERSION + 1, &ev) ==
        MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_feed(nullptr, nullptr, 0) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_feed(s, nullptr, 1) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_feed(s, nullptr, 0) == 0);
  CHECK(mtop_socks5_server_feed_eof(nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  const std::uint8_t* data = nullptr;
  std::size_t len = 1;
  CHECK(mtop_socks5_server_pending_output(s, &data, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_pending_output(s, &data, &len) == 0);
  CHECK(len == 0);
  CHECK(mtop_socks5_server_consume_output(nullptr, 0) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_accept(nullptr, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_reject(nullptr, 1) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_accept_credentials(nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_socks5_server_reject_credentials(nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  mtop_socks5_server_free(nullptr);
}

TEST_CASE("proxy event numbers match the handshake events where they mean the same",
          "[c][socks5][http]") {
  STATIC_REQUIRE(MTOP_PROXY_EVENT_NEED_DATA == MTOP_EVENT_NEED_DATA);
  STATIC_REQUIRE(MTOP_PROXY_EVENT_PAYLOAD == MTOP_EVENT_PAYLOAD);
  STATIC_REQUIRE(MTOP_PROXY_EVENT_END_OF_INPUT == MTOP_EVENT_END_OF_INPUT);
  STATIC_REQUIRE(MTOP_PROXY_EVENT_ERROR == MTOP_EVENT_ERROR);
}

// =============================================================================================
// HTTP proxy
// =============================================================================================

const std::string kConnectHead = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
const std::string kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";

TEST_CASE("http: CONNECT, accepted with 200, then pass-through", "[c][http]") {
  for (Chunking how : kChunkings) {
    for (bool trailing : {false, true}) {
      INFO(name_of(how) << (trailing ? ", trailing tunnel bytes" : ""));
      auto p = make_http();
      const std::string tls("\x16\x03\x01\x02\x00", 5);
      std::vector<Ev> want{request("CONNECT example.com:443 connect 1.1 auth 0")};
      if (trailing) want.push_back(payload(tls));
      CHECK(feed_http(p.get(), str(kConnectHead + (trailing ? tls : "")), how) == want);
      CHECK(http_output(p.get()).empty());  // nothing before the decision
      REQUIRE(mtop_http_proxy_accept(p.get()) == 0);
      CHECK(mtop_http_proxy_accept(p.get()) == MTOP_ERR_INVALID_STATE);
      CHECK(http_output(p.get()) == str(kEstablished));
      CHECK(feed_http(p.get(), str("more"), how) == std::vector<Ev>{payload("more")});
      REQUIRE(mtop_http_proxy_feed_eof(p.get()) == 0);
      CHECK(http_event(p.get()) == end_of_input());
      CHECK(mtop_http_proxy_feed_eof(p.get()) == MTOP_ERR_INVALID_STATE);
    }
  }
}

TEST_CASE("http: absolute-form GET with Basic credentials; the forwarded head", "[c][http]") {
  // alice:s3cret
  const std::string head =
      "GET http://example.com/a?b=1 HTTP/1.1\r\nHost: example.com\r\n"
      "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\nProxy-Connection: keep-alive\r\n"
      "Accept: */*\r\n\r\n";
  const std::string forward =
      "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  for (Chunking how : kChunkings) {
    INFO(name_of(how));
    auto p = make_http();
    CHECK(feed_http(p.get(), str(head), how) ==
          std::vector<Ev>{request("GET example.com:80 forward 1.1 auth 1 alice:s3cret")});
    const mtop_http_proxy_event ev = g_last_request;
    CHECK(as_string(ev.forward_head, ev.forward_head_len) == forward);
    REQUIRE(mtop_http_proxy_accept(p.get()) == 0);
    CHECK(http_output(p.get()).empty());  // the origin answers a forward request
    // The request stays readable; the password is zeroed by the decision.
    CHECK(as_string(ev.method, ev.method_len) == "GET");
    CHECK(as_bytes(ev.password, ev.password_len) == Bytes(6, 0));
  }
}

TEST_CASE("http: POST body after the head is PAYLOAD, HTTP/1.0, IPv6 and malformed auth",
          "[c][http]") {
  const std::string head =
      "POST http://[2001:db8::1]:8080/up HTTP/1.0\r\nContent-Length: 4\r\n"
      "Proxy-Authorization: Digest x\r\n\r\n";
  for (Chunking how : kChunkings) {
    INFO(name_of(how));
    auto p = make_http();
    CHECK(feed_http(p.get(), str(head + "body"), how) ==
          std::vector<Ev>{request("POST [2001:0db8:0000:0000:0000:0000:0000:0001]:8080 forward "
                                  "1.0 auth 2"),
                          payload("body")});
    REQUIRE(mtop_http_proxy_feed_eof(p.get()) == 0);
    CHECK(http_event(p.get()) == end_of_input());
    REQUIRE(mtop_http_proxy_reject(p.get(), MTOP_HTTP_STATUS_PROXY_AUTH_REQUIRED) == 0);
    const std::string out = [&] {
      const Bytes b = http_output(p.get());
      return std::string(b.begin(), b.end());
    }();
    CHECK(out.rfind("HTTP/1.1 407 ", 0) == 0);
    CHECK(out.find("Proxy-Authenticate: Basic realm=\"mtop\"\r\n") != std::string::npos);
  }
}

TEST_CASE("http: every peer error, and reject(400) after it", "[c][http][errors]") {
  struct Case {
    const char* name;
    std::string in;
    int error;
  };
  const std::vector<Case> cases{
      {"no target", "GET\r\n", MTOP_ERR_HTTP_BAD_REQUEST},
      {"binary", "\x16\x03\x01", MTOP_ERR_HTTP_BAD_REQUEST},
      {"obs-fold", "GET http://a.example/ HTTP/1.1\r\n folded\r\n", MTOP_ERR_HTTP_BAD_REQUEST},
      {"head too large", "GET http://a.example/ HTTP/1.1\r\nX-Long: " + std::string(64, 'x'),
       MTOP_ERR_HTTP_HEADER_TOO_LARGE},
      {"too many headers", "GET http://a.example/ HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n",
       MTOP_ERR_HTTP_TOO_MANY_HEADERS},
      {"CONNECT without a port", "CONNECT example.com HTTP/1.1\r\n", MTOP_ERR_HTTP_BAD_TARGET},
      {"origin-form", "GET /index.html HTTP/1.1\r\n", MTOP_ERR_HTTP_BAD_TARGET},
      {"https scheme", "GET https://example.com/ HTTP/1.1\r\n", MTOP_ERR_HTTP_UNSUPPORTED},
      {"HTTP/2.0", "GET http://example.com/ HTTP/2.0\r\n", MTOP_ERR_HTTP_BAD_VERSION},
  };
  mtop_http_proxy_settings st;
  REQUIRE(mtop_http_proxy_settings_default(&st) == 0);
  st.max_head_size = 64;
  st.max_header_lines = 2;
  for (const Case& c : cases) {
    for (Chunking how : kChunkings) {
      for (bool trailing : {false, true}) {
        INFO(c.name << ", " << name_of(how) << (trailing ? ", trailing bytes" : ""));
        auto p = make_http(&st);
        const std::string in = trailing ? c.in + "\r\nX: y\r\n\r\ntrailing" : c.in;
        CHECK(feed_http(p.get(), str(in), how) == std::vector<Ev>{error(c.error)});
        CHECK(http_output(p.get()).empty());
        const std::uint8_t b = 'x';
        CHECK(mtop_http_proxy_feed(p.get(), &b, 1) == MTOP_ERR_INVALID_STATE);
        CHECK(mtop_http_proxy_feed_eof(p.get()) == MTOP_ERR_INVALID_STATE);
        CHECK(mtop_http_proxy_accept(p.get()) == MTOP_ERR_INVALID_STATE);
        REQUIRE(mtop_http_proxy_reject(p.get(), MTOP_HTTP_STATUS_BAD_REQUEST) == 0);
        CHECK(mtop_http_proxy_reject(p.get(), MTOP_HTTP_STATUS_BAD_REQUEST) ==
              MTOP_ERR_INVALID_STATE);
        const Bytes out = http_output(p.get());
        CHECK(std::string(out.begin(), out.end()).rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
        CHECK(http_event(p.get()) == error(c.error));  // still the error
      }
    }
  }
}

TEST_CASE("http: every proper prefix of a valid head is only NEED_DATA; EOF in it is "
          "PEER_CLOSED", "[c][http][errors]") {
  const std::string head =
      "GET http://example.com/ HTTP/1.1\r\nProxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n";
  for (std::size_t n = 0; n < head.size(); ++n) {
    INFO("prefix " << n);
    auto p = make_http();
    CHECK(feed_http(p.get(), str(head.substr(0, n)), Chunking::whole).empty());
    REQUIRE(mtop_http_proxy_feed_eof(p.get()) == 0);
    CHECK(http_event(p.get()) == error(MTOP_ERR_PEER_CLOSED));
  }
}

TEST_CASE("http: back-pressure before the decision, everything once accepted", "[c][http]") {
  mtop_http_proxy_settings st;
  REQUIRE(mtop_http_proxy_settings_default(&st) == 0);
  st.max_payload = 4;
  auto p = make_http(&st);
  const Bytes in = str(kConnectHead + "0123456789");
  CHECK(mtop_http_proxy_feed(p.get(), in.data(), in.size()) ==
        static_cast<int>(kConnectHead.size() + 4));
  CHECK(mtop_http_proxy_feed(p.get(), in.data() + kConnectHead.size() + 4, 6) == 0);
  CHECK(mtop_http_proxy_accept(p.get()) == MTOP_ERR_INVALID_STATE);  // REQUEST not read yet
  CHECK(http_event(p.get()).type == MTOP_PROXY_EVENT_REQUEST);
  CHECK(http_event(p.get()) == payload("0123"));
  REQUIRE(mtop_http_proxy_accept(p.get()) == 0);
  CHECK(mtop_http_proxy_feed(p.get(), in.data() + kConnectHead.size() + 4, 6) == 6);
  CHECK(http_event(p.get()) == payload("456789"));
}

TEST_CASE("http: decisions out of turn, statuses, NULL arguments, versions, user data",
          "[c][http]") {
  auto p = make_http();
  CHECK(mtop_http_proxy_accept(p.get()) == MTOP_ERR_INVALID_STATE);
  CHECK(mtop_http_proxy_reject(p.get(), 400) == MTOP_ERR_INVALID_STATE);
  feed_http(p.get(), str(kConnectHead), Chunking::whole);
  for (int bad : {0, 200, 404, 500, 503}) {
    CHECK(mtop_http_proxy_reject(p.get(), bad) == MTOP_ERR_INVALID_ARGUMENT);
  }
  for (int good : {400, 403, 502, 504}) {
    auto q = make_http();
    feed_http(q.get(), str(kConnectHead + "dropped"), Chunking::whole);
    REQUIRE(mtop_http_proxy_reject(q.get(), good) == 0);
    const Bytes out = http_output(q.get());
    CHECK(std::string(out.begin(), out.end()).rfind("HTTP/1.1 " + std::to_string(good), 0) == 0);
    CHECK(http_event(q.get()).type == MTOP_PROXY_EVENT_NEED_DATA);  // the payload is dropped
    const std::uint8_t b = 'x';
    CHECK(mtop_http_proxy_feed(q.get(), &b, 1) == MTOP_ERR_INVALID_STATE);
    CHECK(mtop_http_proxy_accept(q.get()) == MTOP_ERR_INVALID_STATE);
  }
  mtop_http_proxy_settings st;
  CHECK(mtop_http_proxy_settings_default(nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_settings_default_versioned(0, &st) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_settings_default_versioned(MTOP_HTTP_PROXY_SETTINGS_VERSION + 1, &st) ==
        MTOP_ERR_INVALID_ARGUMENT);
  REQUIRE(mtop_http_proxy_settings_default(&st) == 0);
  CHECK(st.max_head_size == MTOP_DEFAULT_HTTP_MAX_HEAD_SIZE);
  CHECK(st.max_header_lines == MTOP_DEFAULT_HTTP_MAX_HEADER_LINES);
  CHECK(st.max_payload == MTOP_DEFAULT_PROXY_MAX_PAYLOAD);
  mtop_http_proxy* h = nullptr;
  CHECK(mtop_http_proxy_new(nullptr, &st) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_new_versioned(&h, 0, &st) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_new_versioned(&h, 2, &st) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_new_versioned(&h, 0, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(h == nullptr);
  int x = 0;
  CHECK(mtop_http_proxy_set_user_data(p.get(), &x) == 0);
  CHECK(mtop_http_proxy_get_user_data(p.get()) == &x);
  CHECK(mtop_http_proxy_set_user_data(nullptr, &x) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_get_user_data(nullptr) == nullptr);
  mtop_http_proxy_event ev;
  CHECK(mtop_http_proxy_next_event(nullptr, &ev) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_next_event(p.get(), nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_next_event_versioned(p.get(), 0, &ev) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_next_event_versioned(p.get(), MTOP_HTTP_PROXY_EVENT_VERSION + 1, &ev) ==
        MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_feed(p.get(), nullptr, 1) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_feed(nullptr, nullptr, 0) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_feed_eof(nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_accept(nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_reject(nullptr, 400) == MTOP_ERR_INVALID_ARGUMENT);
  const std::uint8_t* data = nullptr;
  std::size_t len = 0;
  CHECK(mtop_http_proxy_pending_output(nullptr, &data, &len) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_consume_output(p.get(), 1) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_http_proxy_consume_output(nullptr, 0) == MTOP_ERR_INVALID_ARGUMENT);
  // Output consumed in parts.
  REQUIRE(mtop_http_proxy_reject(p.get(), 502) == 0);
  REQUIRE(mtop_http_proxy_pending_output(p.get(), &data, &len) == 0);
  const std::size_t total = len;
  REQUIRE(mtop_http_proxy_consume_output(p.get(), 9) == 0);
  REQUIRE(mtop_http_proxy_pending_output(p.get(), &data, &len) == 0);
  CHECK(len == total - 9);
  CHECK(as_string(data, 3) == "502");
  mtop_http_proxy_free(nullptr);
}

// =============================================================================================
// Any chunking gives the same events and output (h11's rule), over many mutated inputs
// =============================================================================================

namespace {

struct Run {
  std::vector<Ev> events;
  Bytes output;
  friend bool operator==(const Run&, const Run&) = default;
};

// Drives a SOCKS5 machine the way the climber would, deciding at once: credentials are good
// when the username starts with 'a', a request is accepted when `accept` is set.
Run run_socks(const Bytes& in, Chunking how, bool credentials, bool accept, std::uint32_t seed) {
  auto s = make_socks(credentials);
  Run run;
  std::mt19937 rng(seed);
  std::size_t off = 0;
  bool done = false;
  auto drain = [&] {
    for (int i = 0; i < 1000; ++i) {
      mtop_socks5_event ev;
      REQUIRE(mtop_socks5_server_next_event(s.get(), &ev) >= 0);
      Ev e{ev.type, ev.error, {}, {}};
      if (ev.type == MTOP_PROXY_EVENT_NEED_DATA) break;
      if (ev.type == MTOP_PROXY_EVENT_PAYLOAD) e.data = as_bytes(ev.data, ev.len);
      if (ev.type == MTOP_PROXY_EVENT_AUTH) {
        e.detail = as_string(ev.username, ev.username_len);
        const bool good = ev.username_len > 0 && ev.username[0] == 'a';
        REQUIRE((good ? mtop_socks5_server_accept_credentials(s.get())
                      : mtop_socks5_server_reject_credentials(s.get())) == 0);
      }
      if (ev.type == MTOP_PROXY_EVENT_REQUEST) {
        e.detail = address_string(ev.target);
        REQUIRE((accept ? mtop_socks5_server_accept(s.get(), nullptr)
                        : mtop_socks5_server_reject(s.get(), MTOP_SOCKS5_REPLY_NOT_ALLOWED)) == 0);
      }
      const bool terminal = ev.type == MTOP_PROXY_EVENT_ERROR || ev.type == MTOP_PROXY_EVENT_END_OF_INPUT;
      push(run.events, std::move(e));
      if (terminal) {
        done = true;
        break;
      }
    }
    const Bytes out = socks_output(s.get());
    run.output.insert(run.output.end(), out.begin(), out.end());
  };
  while (off < in.size() && !done) {
    std::size_t n = in.size() - off;
    if (how == Chunking::one_byte) n = 1;
    if (how == Chunking::random) n = std::min<std::size_t>(n, 1 + rng() % 9);
    const int r = mtop_socks5_server_feed(s.get(), in.data() + off, n);
    if (r == MTOP_ERR_INVALID_STATE) break;  // rejected: no more input
    REQUIRE(r >= 0);
    off += static_cast<std::size_t>(r);
    drain();
    if (r == 0) break;
  }
  if (!done && mtop_socks5_server_feed_eof(s.get()) == 0) drain();
  return run;
}

Run run_http(const Bytes& in, Chunking how, bool accept, std::uint32_t seed) {
  auto p = make_http();
  Run run;
  std::mt19937 rng(seed);
  std::size_t off = 0;
  bool done = false;
  auto drain = [&] {
    for (int i = 0; i < 1000; ++i) {
      mtop_http_proxy_event ev;
      REQUIRE(mtop_http_proxy_next_event(p.get(), &ev) >= 0);
      Ev e{ev.type, ev.error, {}, {}};
      if (ev.type == MTOP_PROXY_EVENT_NEED_DATA) break;
      if (ev.type == MTOP_PROXY_EVENT_PAYLOAD) e.data = as_bytes(ev.data, ev.len);
      if (ev.type == MTOP_PROXY_EVENT_REQUEST) {
        e.detail = as_string(ev.method, ev.method_len) + " " + address_string(ev.target) + " " +
                   as_string(ev.forward_head, ev.forward_head_len);
        REQUIRE((accept ? mtop_http_proxy_accept(p.get())
                        : mtop_http_proxy_reject(p.get(), MTOP_HTTP_STATUS_FORBIDDEN)) == 0);
      }
      if (ev.type == MTOP_PROXY_EVENT_ERROR) {
        REQUIRE(mtop_http_proxy_reject(p.get(), MTOP_HTTP_STATUS_BAD_REQUEST) == 0);
      }
      const bool terminal = ev.type == MTOP_PROXY_EVENT_ERROR || ev.type == MTOP_PROXY_EVENT_END_OF_INPUT;
      push(run.events, std::move(e));
      if (terminal) {
        done = true;
        break;
      }
    }
    const Bytes out = http_output(p.get());
    run.output.insert(run.output.end(), out.begin(), out.end());
  };
  while (off < in.size() && !done) {
    std::size_t n = in.size() - off;
    if (how == Chunking::one_byte) n = 1;
    if (how == Chunking::random) n = std::min<std::size_t>(n, 1 + rng() % 9);
    const int r = mtop_http_proxy_feed(p.get(), in.data() + off, n);
    if (r == MTOP_ERR_INVALID_STATE) break;
    REQUIRE(r >= 0);
    off += static_cast<std::size_t>(r);
    drain();
    if (r == 0) break;
  }
  if (!done && mtop_http_proxy_feed_eof(p.get()) == 0) drain();
  return run;
}

// A valid input with a few random bytes changed, cut short, or extended.
Bytes mutate(const Bytes& base, std::mt19937& rng) {
  Bytes b = base;
  const unsigned kind = rng() % 4;
  if (kind == 0 && !b.empty()) b.resize(rng() % b.size());
  const unsigned flips = rng() % 3;
  for (unsigned i = 0; i < flips && !b.empty(); ++i) {
    b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
  }
  if (kind == 3) b.push_back(static_cast<std::uint8_t>(rng()));
  return b;
}

}  // namespace

TEST_CASE("socks5: whole, byte-by-byte and random chunks agree on mutated inputs",
          "[c][socks5][chunking]") {
  const Bytes bases[] = {
      cat({kGreetingNoAuth, kConnectDomain, str("payload")}),
      cat({kGreetingUserPass, kAuthAlice, kConnectIpv4, str("x")}),
      cat({kGreetingUserPass, {0x01, 3}, str("bob"), {1, 'p'}, kConnectDomain}),
  };
  std::mt19937 rng(2024);
  for (int i = 0; i < 600; ++i) {
    const Bytes& base = bases[i % 3];
    const Bytes in = mutate(base, rng);
    const bool credentials = i % 3 != 0;
    const bool accept = (i / 3) % 2 == 0;
    INFO("case " << i);
    const Run whole = run_socks(in, Chunking::whole, credentials, accept, 1);
    CHECK(run_socks(in, Chunking::one_byte, credentials, accept, 1) == whole);
    CHECK(run_socks(in, Chunking::random, credentials, accept, static_cast<std::uint32_t>(i)) ==
          whole);
  }
}

TEST_CASE("http: whole, byte-by-byte and random chunks agree on mutated inputs",
          "[c][http][chunking]") {
  const Bytes bases[] = {
      str(kConnectHead + "tunnel"),
      str("GET http://example.com/x HTTP/1.1\r\nHost: a\r\nProxy-Authorization: Basic "
          "YWxpY2U6czNjcmV0\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\n\r\nbody"),
      str("POST http://10.0.0.1:81/ HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"),
  };
  std::mt19937 rng(99);
  for (int i = 0; i < 600; ++i) {
    const Bytes in = mutate(bases[i % 3], rng);
    const bool accept = (i / 3) % 2 == 0;
    INFO("case " << i);
    const Run whole = run_http(in, Chunking::whole, accept, 1);
    CHECK(run_http(in, Chunking::one_byte, accept, 1) == whole);
    CHECK(run_http(in, Chunking::random, accept, static_cast<std::uint32_t>(i)) == whole);
  }
}
