// The HTTP proxy head parser. Every case is fed whole, one byte at a time, in 7-byte chunks,
// and with trailing bytes (which must come back untouched); every strict prefix of a valid head
// must be "need more", never an error.
#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <string>

#include "mtop/base64.hpp"
#include "mtop/http_proxy.hpp"

using mtop::Address;
using mtop::as_bytes;
using mtop::Errc;
using mtop::http::AuthState;
using mtop::http::Header;
using mtop::http::HttpVersion;
using mtop::http::ProxyRequest;
using mtop::http::ProxyRequestParser;
using mtop::http::ProxySettings;

namespace {

struct Run {
  std::optional<Errc> error;
  bool done = false;
  ProxyRequest request;
  std::string rest;  ///< input bytes the parser did not consume
};

/// Feeds `input` in chunks of `chunk` bytes (0: all at once) until done, error or the end.
Run run(std::string_view input, size_t chunk, ProxySettings settings = {}) {
  ProxyRequestParser p(settings);
  Run out;
  size_t pos = 0;
  while (pos < input.size()) {
    const size_t n = chunk == 0 ? input.size() - pos : std::min(chunk, input.size() - pos);
    auto r = p.feed(as_bytes(input.substr(pos, n)));
    if (!r) {
      out.error = r.error();
      return out;
    }
    REQUIRE(*r <= n);
    pos += *r;
    if (p.done()) {
      out.done = true;
      out.request = p.request();
      out.rest = std::string(input.substr(pos));
      return out;
    }
    REQUIRE(*r == n);  // while not done, everything is consumed
  }
  return out;
}

const std::string kTrailing = "hello\r\n\r\nGET http://other.example/ HTTP/1.1\r\n\r\n";

/// Parses a complete head in every feeding mode; all must agree. Returns the request.
ProxyRequest parse_ok(std::string_view head, ProxySettings settings = {}) {
  Run whole = run(head, 0, settings);
  REQUIRE_FALSE(whole.error);
  REQUIRE(whole.done);
  CHECK(whole.rest.empty());
  CHECK(whole.request.head_size == head.size());
  for (size_t chunk : {size_t{1}, size_t{7}}) {
    CAPTURE(chunk);
    Run r = run(head, chunk, settings);
    REQUIRE(r.done);
    CHECK(r.request == whole.request);
    CHECK(r.rest.empty());
  }
  const std::string with_tail = std::string(head) + kTrailing;
  for (size_t chunk : {size_t{0}, size_t{1}, size_t{7}}) {
    CAPTURE(chunk);
    Run r = run(with_tail, chunk, settings);
    REQUIRE(r.done);
    CHECK(r.request == whole.request);
    CHECK(r.rest == kTrailing);  // body / tunnel bytes are never lost
  }
  if (head.size() <= 4096) {
    for (size_t k = 0; k < head.size(); ++k) {
      Run r = run(head.substr(0, k), 0, settings);
      if (r.error || r.done) FAIL("prefix of " << k << " bytes was not 'need more'");
    }
  }
  return whole.request;
}

/// Feeds a bad input in every mode; all must fail with the same error, which is returned.
Errc parse_error(std::string_view input, ProxySettings settings = {}) {
  Run whole = run(input, 0, settings);
  REQUIRE(whole.error);
  const std::string with_tail = std::string(input) + kTrailing;
  for (size_t chunk : {size_t{1}, size_t{7}}) {
    CAPTURE(chunk);
    Run r = run(input, chunk, settings);
    REQUIRE(r.error);
    CHECK(*r.error == *whole.error);
  }
  for (size_t chunk : {size_t{0}, size_t{1}}) {
    CAPTURE(chunk);
    Run r = run(with_tail, chunk, settings);
    REQUIRE(r.error);
    CHECK(*r.error == *whole.error);
  }
  return *whole.error;
}

std::string basic(std::string_view user_colon_pass) {
  return "Basic " + mtop::base64_encode(as_bytes(user_colon_pass));
}

}  // namespace

TEST_CASE("CONNECT with a domain, as curl sends it", "[http]") {
  const std::string head =
      "CONNECT example.com:443 HTTP/1.1\r\n"
      "Host: example.com:443\r\n"
      "User-Agent: curl/7.88.1\r\n"
      "Proxy-Connection: Keep-Alive\r\n"
      "\r\n";
  ProxyRequest r = parse_ok(head);
  CHECK(r.method == "CONNECT");
  CHECK(r.is_connect());
  CHECK(r.target.address == Address::from_domain("example.com", 443));
  CHECK(r.version == HttpVersion::http_1_1);
  CHECK(r.headers == std::vector<Header>{{"Host", "example.com:443"},
                                         {"User-Agent", "curl/7.88.1"},
                                         {"Proxy-Connection", "Keep-Alive"}});
  CHECK(r.credentials.state == AuthState::absent);
  CHECK(r.head_size == head.size());
  CHECK(r.forward_head.empty());
}

TEST_CASE("CONNECT with IPv4 and IPv6 literals - tunnel bytes after the head are kept", "[http]") {
  ProxyRequest v4 = parse_ok("CONNECT 192.0.2.7:8443 HTTP/1.0\r\n\r\n");
  CHECK(v4.target.address == Address::from_ipv4({192, 0, 2, 7}, 8443));
  CHECK(v4.version == HttpVersion::http_1_0);
  CHECK(v4.headers.empty());

  ProxyRequest v6 = parse_ok("CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n");
  std::array<std::uint8_t, 16> ip{0x20, 0x01, 0x0d, 0xb8};
  ip[15] = 1;
  CHECK(v6.target.address == Address::from_ipv6(ip, 443));

  // A client that pipelines its TLS ClientHello right behind CONNECT.
  const std::string head = "CONNECT [::1]:443 HTTP/1.1\r\n\r\n";
  const std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  Run r = run(head + hello, 0);
  REQUIRE(r.done);
  CHECK(r.request.head_size == head.size());
  CHECK(r.rest == hello);
}

TEST_CASE("absolute-form GET: origin-form request line, Host, Connection: close", "[http]") {
  const std::string head =
      "GET http://example.com/index.html?q=1&r=%20 HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "User-Agent: curl/7.88.1\r\n"
      "Accept: */*\r\n"
      "Proxy-Connection: Keep-Alive\r\n"
      "\r\n";
  ProxyRequest r = parse_ok(head);
  CHECK(r.method == "GET");
  CHECK_FALSE(r.is_connect());
  CHECK(r.target.address == Address::from_domain("example.com", 80));
  CHECK(r.forward_head ==
        "GET /index.html?q=1&r=%20 HTTP/1.1\r\n"
        "Host: example.com\r\n"
        "User-Agent: curl/7.88.1\r\n"
        "Accept: */*\r\n"
        "Connection: close\r\n"
        "\r\n");
}

TEST_CASE("absolute-form with a port and no path: '/' and Host added from the URI", "[http]") {
  ProxyRequest r = parse_ok("GET http://example.com:8080 HTTP/1.0\r\nAccept: text/html\r\n\r\n");
  CHECK(r.target.address == Address::from_domain("example.com", 8080));
  CHECK(r.version == HttpVersion::http_1_0);
  CHECK(r.forward_head ==
        "GET / HTTP/1.0\r\nHost: example.com:8080\r\nAccept: text/html\r\nConnection: close\r\n\r\n");

  ProxyRequest q = parse_ok("HEAD http://192.0.2.1?x=y HTTP/1.1\r\n\r\n");
  CHECK(q.target.address == Address::from_ipv4({192, 0, 2, 1}, 80));
  CHECK(q.forward_head == "HEAD /?x=y HTTP/1.1\r\nHost: 192.0.2.1\r\nConnection: close\r\n\r\n");

  ProxyRequest v6 = parse_ok("GET http://[::1]:8080/a/b HTTP/1.1\r\n\r\n");
  CHECK(v6.forward_head == "GET /a/b HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\n\r\n");
}

TEST_CASE("a received Host is replaced by the URI's authority", "[http]") {
  ProxyRequest r = parse_ok(
      "GET http://real.example/ HTTP/1.1\r\nX-A: 1\r\nHOST: spoofed.example\r\nX-B: 2\r\n\r\n");
  CHECK(r.target.address == Address::from_domain("real.example", 80));
  CHECK(r.forward_head ==
        "GET / HTTP/1.1\r\nHost: real.example\r\nX-A: 1\r\nX-B: 2\r\nConnection: close\r\n\r\n");
}

TEST_CASE("POST: body bytes after the head are preserved, framing headers forwarded", "[http]") {
  const std::string head =
      "POST http://api.example:8000/v1/items HTTP/1.1\r\n"
      "Host: api.example:8000\r\n"
      "Content-Type: application/json\r\n"
      "Content-Length: 13\r\n"
      "Connection: keep-alive\r\n"
      "\r\n";
  const std::string body = "{\"a\":[1,2,3]}";
  ProxyRequest r = parse_ok(head);
  CHECK(r.forward_head ==
        "POST /v1/items HTTP/1.1\r\n"
        "Host: api.example:8000\r\n"
        "Content-Type: application/json\r\n"
        "Content-Length: 13\r\n"
        "Connection: close\r\n"
        "\r\n");
  for (size_t chunk : {size_t{0}, size_t{1}, size_t{5}}) {
    Run run_r = run(head + body, chunk);
    REQUIRE(run_r.done);
    CHECK(run_r.rest == body);
  }
  // A body that looks like another head is still just body.
  Run tricky = run(head + "\r\n\r\nGET / HTTP/1.1\r\n\r\n", 1);
  REQUIRE(tricky.done);
  CHECK(tricky.rest == "\r\n\r\nGET / HTTP/1.1\r\n\r\n");
}

TEST_CASE("hop-by-hop headers are removed, including those named by Connection", "[http]") {
  const std::string head =
      "GET http://example.com/ HTTP/1.1\r\n"
      "Connection: keep-alive, X-Secret ,,Upgrade, content-length, Transfer-Encoding\r\n"
      "X-Secret: 1\r\n"
      "Keep-Alive: timeout=5\r\n"
      "x-secret: 2\r\n"
      "TE: trailers\r\n"
      "Trailer: X-Checksum\r\n"
      "Upgrade: h2c\r\n"
      "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"
      "Proxy-Authenticate: Basic\r\n"
      "proxy-connection: close\r\n"
      "X-Keep: yes\r\n"
      "Transfer-Encoding: chunked\r\n"
      "Connection: X-Other\r\n"
      "X-Other: gone\r\n"
      "Close: reserved\r\n"
      "Accept-Encoding: gzip\r\n"
      "\r\n";
  ProxyRequest r = parse_ok(head);
  CHECK(r.headers.size() == 16);  // the parsed view keeps everything
  CHECK(r.forward_head ==
        "GET / HTTP/1.1\r\n"
        "Host: example.com\r\n"
        "X-Keep: yes\r\n"
        "Transfer-Encoding: chunked\r\n"
        "Accept-Encoding: gzip\r\n"
        "Connection: close\r\n"
        "\r\n");
}

TEST_CASE("Proxy-Authorization: Basic decoded, or reported malformed", "[http]") {
  const std::string line = "GET http://example.com/ HTTP/1.1\r\n";

  ProxyRequest good = parse_ok(line + "Proxy-Authorization: " + basic("alice:s3cr:et") + "\r\n\r\n");
  CHECK(good.credentials.state == AuthState::basic);
  CHECK(good.credentials.user == "alice");
  CHECK(good.credentials.password == "s3cr:et");
  CHECK(good.forward_head.find("Proxy-Authorization") == std::string::npos);
  CHECK(good.forward_head.find(mtop::base64_encode(as_bytes("alice:s3cr:et"))) == std::string::npos);

  // Scheme in any case, several spaces, and an empty password.
  ProxyRequest lower = parse_ok(line + "proxy-authorization: bASIC   " +
                                mtop::base64_encode(as_bytes("bob:")) + "\r\n\r\n");
  CHECK(lower.credentials == mtop::http::Credentials{AuthState::basic, "bob", ""});

  ProxyRequest connect = parse_ok("CONNECT example.com:443 HTTP/1.1\r\nProxy-Authorization: " +
                                  basic("u:p") + "\r\n\r\n");
  CHECK(connect.credentials == mtop::http::Credentials{AuthState::basic, "u", "p"});

  ProxyRequest absent = parse_ok(line + "Authorization: " + basic("u:p") + "\r\n\r\n");
  CHECK(absent.credentials.state == AuthState::absent);

  const std::string malformed[] = {
      "Basic dXNlcjpwYXNz=",                                // bad padding
      "Basic dXNlcjpwYXN!",                                 // bad character
      "Basic dXNlcg==",                                     // "user": no colon
      "Basic ",                                             // nothing
      "Basic",                                              // no credentials at all
      "Bearer dXNlcjpwYXNz",                                // another scheme
      "Digest username=\"u\"",
      "BasicdXNlcjpwYXNz",
  };
  for (const std::string& value : malformed) {
    CAPTURE(value);
    ProxyRequest r = parse_ok(line + "Proxy-Authorization: " + value + "\r\n\r\n");
    CHECK(r.credentials == mtop::http::Credentials{AuthState::malformed, "", ""});
  }
  // Two copies, even of good credentials: ambiguous, so malformed.
  ProxyRequest twice = parse_ok(line + "Proxy-Authorization: " + basic("a:b") +
                                "\r\nProxy-Authorization: " + basic("c:d") + "\r\n\r\n");
  CHECK(twice.credentials.state == AuthState::malformed);
}

TEST_CASE("bare LF line ends, mixed line ends and leading empty lines", "[http]") {
  const std::string head = "GET http://a.example/x HTTP/1.1\nHost: a.example\nX-Y:z\r\n\n";
  ProxyRequest r = parse_ok(head);
  CHECK(r.headers == std::vector<Header>{{"Host", "a.example"}, {"X-Y", "z"}});
  CHECK(r.forward_head == "GET /x HTTP/1.1\r\nHost: a.example\r\nX-Y: z\r\nConnection: close\r\n\r\n");

  const std::string lead = "\r\n\n\r\nCONNECT example.com:443 HTTP/1.1\r\n\r\n";
  ProxyRequest l = parse_ok(lead);
  CHECK(l.head_size == lead.size());
  CHECK(l.target.address == Address::from_domain("example.com", 443));
}

TEST_CASE("header values: whitespace trimmed, obs-text kept, empty values allowed", "[http]") {
  ProxyRequest r = parse_ok(
      "GET http://a.example/ HTTP/1.1\r\nX-A: \t v a l \t\r\nX-B:\r\nX-C: caf\xc3\xa9\r\n\r\n");
  CHECK(r.headers == std::vector<Header>{{"X-A", "v a l"}, {"X-B", ""}, {"X-C", "caf\xc3\xa9"}});
  CHECK(r.forward_head ==
        "GET / HTTP/1.1\r\nHost: a.example\r\nX-A: v a l\r\nX-B: \r\nX-C: caf\xc3\xa9\r\n"
        "Connection: close\r\n\r\n");
}

TEST_CASE("request line errors", "[http]") {
  CHECK(parse_error("GET https://example.com/ HTTP/1.1\r\n\r\n") == Errc::http_unsupported);
  CHECK(parse_error("GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n") ==
        Errc::http_bad_target);
  CHECK(parse_error("OPTIONS * HTTP/1.1\r\n\r\n") == Errc::http_bad_target);
  CHECK(parse_error("GET example.com:80 HTTP/1.1\r\n\r\n") == Errc::http_bad_target);
  CHECK(parse_error("CONNECT example.com HTTP/1.1\r\n\r\n") == Errc::http_bad_target);
  CHECK(parse_error("connect example.com:443 HTTP/1.1\r\n\r\n") == Errc::http_bad_target);
  CHECK(parse_error("CONNECT 127.1:443 HTTP/1.1\r\n") == Errc::http_bad_target);

  CHECK(parse_error("GET http://a/ HTTP/2.0\r\n\r\n") == Errc::http_bad_version);
  CHECK(parse_error("GET http://a/ HTTP/1.2\r\n\r\n") == Errc::http_bad_version);
  CHECK(parse_error("GET http://a/ HTTP/0.9\r\n\r\n") == Errc::http_bad_version);
  CHECK(parse_error("GET http://a/ http/1.1\r\n\r\n") == Errc::http_bad_version);
  CHECK(parse_error("GET http://a/ HTTP/1.1 \r\n\r\n") == Errc::http_bad_version);
  CHECK(parse_error("GET http://a/ HTTP/1.1 extra\r\n\r\n") == Errc::http_bad_version);
  CHECK(parse_error("GET http://a/ \xff\xfe\r\n") == Errc::http_bad_version);
  CHECK(parse_error("GET http://a/ \r\n") == Errc::http_bad_version);

  CHECK(parse_error("GET http://a/\r\n\r\n") == Errc::http_bad_request);  // HTTP/0.9 style
  CHECK(parse_error("GET\r\n") == Errc::http_bad_request);
  CHECK(parse_error("GET  http://a/ HTTP/1.1\r\n") == Errc::http_bad_request);
  CHECK(parse_error(" GET http://a/ HTTP/1.1\r\n") == Errc::http_bad_request);
  CHECK(parse_error("GE(T http://a/ HTTP/1.1\r\n") == Errc::http_bad_request);
  CHECK(parse_error("GET\thttp://a/ HTTP/1.1\r\n") == Errc::http_bad_request);
  CHECK(parse_error("GET http://a/\rX HTTP/1.1\r\n") == Errc::http_bad_request);
}

TEST_CASE("header line errors", "[http]") {
  const std::string line = "GET http://example.com/ HTTP/1.1\r\n";
  CHECK(parse_error(line + "NoColonHere\r\n\r\n") == Errc::http_bad_request);
  CHECK(parse_error(line + "X-A: 1\r\n folded\r\n\r\n") == Errc::http_bad_request);
  CHECK(parse_error(line + "X-A: 1\r\n\tfolded\r\n\r\n") == Errc::http_bad_request);
  CHECK(parse_error(line + " X-A: 1\r\n\r\n") == Errc::http_bad_request);
  CHECK(parse_error(line + "X-A : 1\r\n\r\n") == Errc::http_bad_request);
  CHECK(parse_error(line + ": 1\r\n\r\n") == Errc::http_bad_request);
  CHECK(parse_error(line + "X(A): 1\r\n\r\n") == Errc::http_bad_request);
  CHECK(parse_error(line + "X-A: a\rb\r\n\r\n") == Errc::http_bad_request);
  CHECK(parse_error(line + "X-A: 1\r\r\n\r\n") == Errc::http_bad_request);
  CHECK(parse_error(line + "\r\r\n") == Errc::http_bad_request);
  CHECK(parse_error(line + std::string("X-A: a\0b\r\n\r\n", 12)) == Errc::http_bad_request);
  CHECK(parse_error(line + "X-A: a\x7f\r\n\r\n") == Errc::http_bad_request);
  CHECK(parse_error(line + "X-A: a\x01\r\n\r\n") == Errc::http_bad_request);
}

TEST_CASE("framing and Host ambiguities are refused", "[http]") {
  const std::string line = "POST http://example.com/ HTTP/1.1\r\n";
  CHECK(parse_error(line + "Host: a\r\nHost: a\r\n\r\n") == Errc::http_bad_request);
  CHECK(parse_error(line + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n") ==
        Errc::http_bad_request);
  CHECK(parse_error(line + "Content-Length: +5\r\n\r\n") == Errc::http_bad_request);
  CHECK(parse_error(line + "Content-Length: 5, 5\r\n\r\n") == Errc::http_bad_request);
  CHECK(parse_error(line + "Content-Length:\r\n\r\n") == Errc::http_bad_request);
  CHECK(parse_error(line + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") ==
        Errc::http_bad_request);
  // Identical copies are one length.
  ProxyRequest same = parse_ok(line + "Content-Length: 5\r\ncontent-length: 5\r\n\r\n");
  CHECK(same.forward_head ==
        "POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\ncontent-length: 5\r\n"
        "Connection: close\r\n\r\n");
}

TEST_CASE("binary garbage fails at its first byte", "[http]") {
  ProxyRequestParser p;
  const std::uint8_t hello[] = {0x16, 0x03, 0x01};
  auto r = p.feed(mtop::ByteView(hello, 1));
  REQUIRE_FALSE(r);
  CHECK(r.error() == Errc::http_bad_request);
  CHECK(parse_error(std::string("\x16\x03\x01\x02\x00", 5)) == Errc::http_bad_request);
  CHECK(parse_error(std::string("\0", 1)) == Errc::http_bad_request);
}

TEST_CASE("head size limit: exactly at the limit passes, one byte more fails", "[http]") {
  const std::string start = "GET http://example.com/ HTTP/1.1\r\nX-Pad: ";
  const std::string end = "\r\n\r\n";
  const size_t limit = ProxySettings{}.max_head_size;
  CHECK(limit == 16384);
  const std::string at_limit = start + std::string(limit - start.size() - end.size(), 'a') + end;
  REQUIRE(at_limit.size() == limit);
  ProxyRequest r = parse_ok(at_limit);
  CHECK(r.head_size == limit);

  const std::string over = start + std::string(limit - start.size() - end.size() + 1, 'a') + end;
  CHECK(parse_error(over) == Errc::http_header_too_large);

  // A line that never ends fails at the limit, not at its line feed.
  Run endless = run(std::string(limit + 1, 'G'), 1);
  REQUIRE(endless.error);
  CHECK(*endless.error == Errc::http_header_too_large);
  Run just_under = run(std::string(limit, 'G'), 0);
  CHECK_FALSE(just_under.error);
  CHECK_FALSE(just_under.done);

  // Leading empty lines count too.
  ProxySettings small;
  small.max_head_size = 40;
  const std::string head = "CONNECT a.example:1 HTTP/1.1\r\n\r\n";  // 32 bytes
  REQUIRE(head.size() == 32);
  parse_ok("\r\n\r\n\r\n\r\n" + head, small);
  CHECK(parse_error("\r\n\r\n\r\n\r\n\n" + head, small) == Errc::http_header_too_large);
}

TEST_CASE("header count limit: 100 lines pass, 101 fail - settings are honoured", "[http]") {
  std::string head = "GET http://example.com/ HTTP/1.1\r\n";
  for (int i = 0; i < 100; ++i) head += "X-H" + std::to_string(i) + ": v\r\n";
  ProxyRequest r = parse_ok(head + "\r\n");
  CHECK(r.headers.size() == 100);
  CHECK(parse_error(head + "X-Last: v\r\n\r\n") == Errc::http_too_many_headers);

  ProxySettings two;
  two.max_header_lines = 2;
  const std::string line = "CONNECT example.com:443 HTTP/1.1\r\n";
  parse_ok(line + "A: 1\r\nB: 2\r\n\r\n", two);
  CHECK(parse_error(line + "A: 1\r\nB: 2\r\nC: 3\r\n", two) == Errc::http_too_many_headers);
  ProxySettings none;
  none.max_header_lines = 0;
  parse_ok(line + "\r\n", none);
  CHECK(parse_error(line + "A: 1\r\n", none) == Errc::http_too_many_headers);
}

TEST_CASE("errors are sticky - feeding after done is a caller error", "[http]") {
  ProxyRequestParser bad;
  auto e = bad.feed(as_bytes("GET /x HTTP/1.1\r\n"));
  REQUIRE_FALSE(e);
  CHECK(e.error() == Errc::http_bad_target);
  auto again = bad.feed(as_bytes("\r\n"));
  REQUIRE_FALSE(again);
  CHECK(again.error() == Errc::http_bad_target);
  CHECK_FALSE(bad.done());

  ProxyRequestParser good;
  auto n = good.feed(as_bytes("CONNECT a.example:1 HTTP/1.1\r\n\r\nrest"));
  REQUIRE(n);
  CHECK(*n == 32);
  REQUIRE(good.done());
  auto after = good.feed(as_bytes("rest"));
  REQUIRE_FALSE(after);
  CHECK(after.error() == Errc::invalid_state);
  CHECK(mtop::is_local_error(after.error()));
  CHECK(good.request().target.address == Address::from_domain("a.example", 1));

  // Empty input is harmless at any point.
  ProxyRequestParser empty;
  auto z = empty.feed({});
  REQUIRE(z);
  CHECK(*z == 0);
  CHECK_FALSE(empty.done());
}

TEST_CASE("the climber's own responses, byte for byte", "[http]") {
  using mtop::http::proxy_response;
  using mtop::http::ProxyStatus;
  CHECK(proxy_response(ProxyStatus::connection_established) ==
        "HTTP/1.1 200 Connection established\r\n\r\n");
  CHECK(proxy_response(ProxyStatus::bad_request) ==
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  CHECK(proxy_response(ProxyStatus::forbidden) ==
        "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  CHECK(proxy_response(ProxyStatus::proxy_auth_required) ==
        "HTTP/1.1 407 Proxy Authentication Required\r\n"
        "Proxy-Authenticate: Basic realm=\"mtop\"\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n");
  CHECK(proxy_response(ProxyStatus::bad_gateway) ==
        "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  CHECK(proxy_response(ProxyStatus::service_unavailable) ==
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  CHECK(proxy_response(ProxyStatus::gateway_timeout) ==
        "HTTP/1.1 504 Gateway Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  CHECK(proxy_response(static_cast<ProxyStatus>(999)) == proxy_response(ProxyStatus::bad_request));
}
