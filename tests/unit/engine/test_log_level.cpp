#include <catch2/catch.hpp>

#include "mtop/log.hpp"

TEST_CASE("log levels parse", "[log]") {
  mtop::LogLevel l{};
  CHECK(mtop::parse_log_level("warn", l));
  CHECK(l == mtop::LogLevel::warn);
  CHECK_FALSE(mtop::parse_log_level("loud", l));
}
