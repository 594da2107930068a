#include <catch2/catch.hpp>

#include "engine/server_uri.hpp"
#include "mtop/log.hpp"

using mtop::ServerEndpoint;

TEST_CASE("mtop:// URIs with every parameter", "[uri]") {
  ServerEndpoint ep;
  std::string error;
  REQUIRE(mtop::parse_server_uri(
      "mtop://alice:s%40cr%3At@proxy.example:8443?transport=quic&sni=front.example&ca=/etc/ca.pem"
      "&pin=abc%3D&insecure=0",
      ep, error));
  CHECK(ep.username == "alice");
  CHECK(ep.password == "s@cr:t");
  CHECK(ep.host == "proxy.example");
  CHECK(ep.port == 8443);
  CHECK(ep.transport == mtop::TransportKind::quic);
  CHECK(ep.server_name() == "front.example");
  CHECK(ep.ca_file == "/etc/ca.pem");
  CHECK(ep.pin == "abc=");
  CHECK_FALSE(ep.insecure);
}

TEST_CASE("mtop:// defaults and IPv6 hosts", "[uri]") {
  ServerEndpoint ep;
  std::string error;
  REQUIRE(mtop::parse_server_uri("mtop://u:p@[::1]", ep, error));
  CHECK(ep.host == "::1");
  CHECK(ep.port == 443);
  CHECK(ep.transport == mtop::TransportKind::tls);
  CHECK(ep.server_name() == "::1");
  REQUIRE(mtop::parse_server_uri("mtop://u:p@[2001:db8::2]:9000/?insecure=1", ep, error));
  CHECK(ep.host == "2001:db8::2");
  CHECK(ep.port == 9000);
  CHECK(ep.insecure);
}

TEST_CASE("mtop:// with a user and no password", "[uri]") {
  ServerEndpoint ep;
  std::string error;
  REQUIRE(mtop::parse_server_uri("mtop://alice@h.example:444", ep, error));
  CHECK(ep.username == "alice");
  CHECK(ep.password.empty());
  CHECK(ep.port == 444);
}

TEST_CASE("bad mtop:// URIs are refused without echoing the password", "[uri]") {
  const char* bad[] = {
      "http://u:secretpw@h:1",
      "mtop://u:secretpw@h:0",
      "mtop://u:secretpw@h:65536",
      "mtop://u:secretpw@h:x",
      "mtop://u:secretpw@::1:80",
      "mtop://u:secretpw@[::1",
      "mtop://:secretpw@h:1",
      "mtop://u:secretpw%4@h:1",
      "mtop://u:secretpw@h:1?transport=udp",
      "mtop://u:secretpw@h:1?bogus=1",
      "mtop://u:secretpw@h:1?insecure=yes",
      "mtop://u:secretpw@:1",
  };
  for (const char* uri : bad) {
    ServerEndpoint ep;
    std::string error;
    INFO(uri);
    CHECK_FALSE(mtop::parse_server_uri(uri, ep, error));
    CHECK_FALSE(error.empty());
    CHECK(error.find("secretpw") == std::string::npos);
  }
}

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

#include "engine/climber_options.hpp"

TEST_CASE("port-forward rules", "[forward]") {
  mtop::ForwardRule r;
  std::string error;
  REQUIRE(mtop::parse_forward_rule("8022:example.com:22", r, error));
  CHECK((r.bind_host == "127.0.0.1" && r.bind_port == 8022));
  CHECK((r.target_host == "example.com" && r.target_port == 22));
  REQUIRE(mtop::parse_forward_rule("[::1]:5353:[2001:db8::53]:53", r, error));
  CHECK((r.bind_host == "::1" && r.bind_port == 5353));
  CHECK((r.target_host == "2001:db8::53" && r.target_port == 53));
  REQUIRE(mtop::parse_forward_rule("0.0.0.0:80:10.0.0.2:8080", r, error));
  CHECK((r.bind_host == "0.0.0.0" && r.target_host == "10.0.0.2" && r.target_port == 8080));
  for (const char* bad : {"", "80", "80:host", "x:host:22", "80:host:0", "80:host:65536",
                          "a:b:80:host:22", "[::1:80:h:1", "80::22"}) {
    INFO(bad);
    CHECK_FALSE(mtop::parse_forward_rule(bad, r, error));
    CHECK_FALSE(error.empty());
  }
}
