#include <catch2/catch.hpp>

#include "mtop/errc.hpp"
#include "mtop/result.hpp"

using mtop::Errc;

TEST_CASE("every error code has its own message", "[errc]") {
  const Errc all[] = {Errc::invalid_argument, Errc::invalid_state, Errc::bad_version,
                      Errc::bad_domain, Errc::socks_bad_version, Errc::http_bad_request};
  for (Errc e : all) {
    CHECK(mtop::errc_message(e) != "unknown error");
    CHECK_FALSE(mtop::errc_message(e).empty());
  }
  CHECK(mtop::errc_message(static_cast<Errc>(9999)) == "unknown error");
  CHECK(mtop::is_local_error(Errc::invalid_state));
  CHECK_FALSE(mtop::is_local_error(Errc::bad_version));
}

TEST_CASE("Result holds a value or an error", "[errc]") {
  mtop::Result<int> ok = 7;
  REQUIRE(ok);
  CHECK(*ok == 7);
  mtop::Result<int> bad = Errc::bad_port;
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == Errc::bad_port);
  mtop::Result<void> v;
  CHECK(v.ok());
  mtop::Result<void> e = Errc::invalid_state;
  CHECK(e.error() == Errc::invalid_state);
}
