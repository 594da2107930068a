// The HTTP/1.1 side of the QUIC port's HTTP/3 site: the backend request head, chunk coding,
// and the response parser fed whole, one byte at a time, and with trailing bytes.
#include <catch2/catch.hpp>

#include <string>

#include "quic/h3_http1.hpp"

using mtop::Bytes;
using mtop::ByteView;
using mtop::quic::h3::Http1ResponseParser;
using State = Http1ResponseParser::State;

namespace {

struct Parsed {
  State state;
  int status = 0;
  std::string body;
  bool has_body = false;
};

// Feeds `text` in pieces of `step` bytes (0: whole), then EOF when `eof`.
Parsed parse(const std::string& text, std::size_t step, bool eof, bool head_request = false) {
  Http1ResponseParser p(head_request);
  Bytes body;
  State st = State::head;
  const ByteView all = mtop::as_bytes(text);
  for (std::size_t at = 0; at < all.size() && st != State::error;) {
    const std::size_t n = step == 0 ? all.size() : std::min(step, all.size() - at);
    st = p.feed(all.subspan(at, n), body);
    at += n;
  }
  if (eof && st != State::error) st = p.feed_eof();
  return {st, p.status(), std::string(body.begin(), body.end()), p.has_body()};
}

void check_every_chunking(const std::string& text, bool eof, State state, int status,
                          const std::string& body) {
  for (std::size_t step : {std::size_t{0}, std::size_t{1}, std::size_t{7}}) {
    INFO("step " << step);
    const Parsed r = parse(text, step, eof);
    CHECK(r.state == state);
    CHECK(r.status == status);
    CHECK(r.body == body);
  }
}

}  // namespace

TEST_CASE("request head: Host, the fields, Connection: close; connection fields dropped") {
  const std::string head = mtop::quic::h3::request_head(
      "GET", "/a?b", "example.org",
      {{"accept", "*/*"}, {"connection", "keep-alive"}, {"te", "trailers"}, {"host", "x"}},
      false);
  CHECK(head ==
        "GET /a?b HTTP/1.1\r\nHost: example.org\r\naccept: */*\r\nConnection: close\r\n\r\n");
  const std::string chunked = mtop::quic::h3::request_head("POST", "/", "h", {}, true);
  CHECK(chunked.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
}

TEST_CASE("chunk coding") {
  Bytes out;
  mtop::quic::h3::append_chunk(out, mtop::as_bytes("hello, world!!!!"));
  mtop::quic::h3::append_chunk(out, {});
  CHECK(std::string(out.begin(), out.end()) == "10\r\nhello, world!!!!\r\n0\r\n\r\n");
}

TEST_CASE("Content-Length body, fed whole, byte by byte and with trailing bytes") {
  const std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\nhello";
  check_every_chunking(r, false, State::done, 200, "hello");
  check_every_chunking(r + "ignored", false, State::done, 200, "hello");
  Http1ResponseParser p(false);
  Bytes body;
  p.feed(mtop::as_bytes(r), body);
  REQUIRE(p.fields().size() == 2);
  CHECK(p.fields()[1] == mtop::quic::h3::Field{"x-a", "b"});
}

TEST_CASE("chunked body with extensions and trailers; interim 1xx skipped") {
  const std::string r =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n";
  check_every_chunking(r, false, State::done, 201, "abcde");
}

TEST_CASE("a body delimited by the close ends at EOF") {
  const std::string r = "HTTP/1.0 200 OK\r\n\r\nuntil the end";
  check_every_chunking(r, false, State::body, 200, "until the end");
  check_every_chunking(r, true, State::done, 200, "until the end");
}

TEST_CASE("no body for HEAD, 204 and 304, whatever the fields say") {
  CHECK(parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", 0, false, true).state ==
        State::done);
  CHECK_FALSE(parse("HTTP/1.1 204 No Content\r\n\r\n", 1, false).has_body);
  CHECK(parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", 0, false).state ==
        State::done);
}

TEST_CASE("truncated responses need more bytes, and are errors at EOF") {
  const std::string r = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel";
  check_every_chunking(r, false, State::body, 200, "hel");
  CHECK(parse(r, 0, true).state == State::error);
  CHECK(parse("HTTP/1.1 200 OK\r\nContent-Le", 1, false).state == State::head);
  CHECK(parse("HTTP/1.1 200 OK\r\nContent-Le", 1, true).state == State::error);
  CHECK(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 0, true).state ==
        State::error);
}

TEST_CASE("malformed responses are errors") {
  for (const char* bad : {"HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                          "HTTP/1.1 101 Switching Protocols\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"}) {
    INFO(bad);
    CHECK(parse(bad, 0, false).state == State::error);
    CHECK(parse(bad, 1, false).state == State::error);
  }
  // A head beyond the bound.
  std::string huge = "HTTP/1.1 200 OK\r\nX: " + std::string(70 * 1024, 'a') + "\r\n\r\n";
  CHECK(parse(huge, 0, false).state == State::error);
}
