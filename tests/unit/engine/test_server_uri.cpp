#include <catch2/catch.hpp>

#include "engine/server_uri.hpp"
#include "mtop/log.hpp"

TEST_CASE("host:port forms", "[uri]") {
  std::string host;
  std::uint16_t port = 0;
  CHECK(mtop::parse_host_port("127.0.0.1:1080", host, port));
  CHECK((host == "127.0.0.1" && port == 1080));
  CHECK(mtop::parse_host_port("[::1]:53", host, port));
  CHECK((host == "::1" && port == 53));
  CHECK(mtop::parse_host_port("localhost", host, port, 8080));
  CHECK((host == "localhost" && port == 8080));
  CHECK_FALSE(mtop::parse_host_port("localhost", host, port));
  CHECK_FALSE(mtop::parse_host_port(":80", host, port));
  CHECK_FALSE(mtop::parse_host_port("h:", host, port));
  CHECK_FALSE(mtop::parse_host_port("[]:80", host, port));
  CHECK_FALSE(mtop::parse_host_port("[::1]x", host, port));
}

TEST_CASE("log levels parse", "[log]") {
  mtop::LogLevel l{};
  CHECK(mtop::parse_log_level("warn", l));
  CHECK(l == mtop::LogLevel::warn);
  CHECK_FALSE(mtop::parse_log_level("loud", l));
}
