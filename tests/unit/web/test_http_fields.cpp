// The HTTP fields the static site reads and writes: dates, byte ranges, content types.
#include <catch2/catch.hpp>

#include "web/byte_range.hpp"
#include "web/content_type.hpp"
#include "web/http_date.hpp"

using namespace mtop::web;

TEST_CASE("http dates: IMF-fixdate both ways, other forms ignored", "[web]") {
  CHECK(format_http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(format_http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);
  for (const std::time_t t : {std::time_t{0}, std::time_t{951782400}, std::time_t{4102444799}}) {
    CHECK(parse_http_date(format_http_date(t)) == t);
  }
  for (const char* bad : {"", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                          "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Xyz 1994 08:49:37 GMT",
                          "Sun, 6 Nov 1994 08:49:37 GMT ", "Sun, 06 Nov 1994 24:49:37 GMT",
                          "Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 19x4 08:49:37 GMT",
                          "Abc, 06 Nov 1994 08:49:37 GMT"}) {
    INFO(bad);
    CHECK_FALSE(parse_http_date(bad));
  }
}

TEST_CASE("byte ranges: one range served, the rest whole or unsatisfiable", "[web]") {
  using K = ByteRange::Kind;
  struct Case {
    const char* header;
    K kind;
    std::uint64_t first, last;
  };
  for (const Case c :
       {Case{"bytes=0-99", K::partial, 0, 99}, Case{"bytes=10-", K::partial, 10, 999},
        Case{"bytes=-100", K::partial, 900, 999}, Case{"bytes=-5000", K::partial, 0, 999},
        Case{"bytes=990-5000", K::partial, 990, 999}, Case{"BYTES= 5-5 ", K::partial, 5, 5},
        Case{"bytes=1000-", K::unsatisfiable, 0, 0}, Case{"bytes=-0", K::unsatisfiable, 0, 0},
        Case{"bytes=5-4", K::whole, 0, 0}, Case{"bytes=0-1,5-6", K::whole, 0, 0},
        Case{"bytes=a-b", K::whole, 0, 0}, Case{"bytes=-", K::whole, 0, 0},
        Case{"bytes=5", K::whole, 0, 0}, Case{"items=0-1", K::whole, 0, 0},
        Case{"", K::whole, 0, 0}, Case{"bytes=99999999999999999999-", K::whole, 0, 0}}) {
    INFO(c.header);
    const ByteRange r = parse_byte_range(c.header, 1000);
    CHECK(r.kind == c.kind);
    if (c.kind == K::partial) {
      CHECK(r.first == c.first);
      CHECK(r.last == c.last);
    }
  }
  CHECK(parse_byte_range("bytes=0-", 0).kind == ByteRange::Kind::unsatisfiable);
  CHECK(parse_byte_range("bytes=-1", 0).kind == ByteRange::Kind::unsatisfiable);
}

TEST_CASE("content types by extension", "[web]") {
  CHECK(content_type_for("/site/index.html") == "text/html; charset=utf-8");
  CHECK(content_type_for("/site/STYLE.CSS") == "text/css; charset=utf-8");
  CHECK(content_type_for("app.min.js") == "text/javascript; charset=utf-8");
  CHECK(content_type_for("/a/logo.png") == "image/png");
  CHECK(content_type_for("/a/font.woff2") == "font/woff2");
  CHECK(content_type_for("/a/archive.tar.gz") == "application/gzip");
  CHECK(content_type_for("/a/README") == "application/octet-stream");
  CHECK(content_type_for("/a.d/README") == "application/octet-stream");
  CHECK(content_type_for("/a/.profile") == "application/octet-stream");
  CHECK(content_type_for("/a/x.unknown") == "application/octet-stream");
}
