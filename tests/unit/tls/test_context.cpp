// Contexts from config: every bad file or value gives a clear error string, good ones load.
#include <catch2/catch.hpp>

#include <ctime>
#include <fstream>

#include "must.hpp"
#include "tls/context.hpp"
#include "tls_test_support.hpp"

using namespace mtop::tls;
using tls_test::Pki;

namespace {
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}
}  // namespace

TEST_CASE("server context loads a matching chain and key", "[tls][context]") {
  Pki pki;
  auto ctx = must(ServerContext::create({pki.server_chain, pki.server_key}));
  REQUIRE(ctx);
  CHECK(SSL_CTX_get_min_proto_version(ctx->native()) == TLS1_3_VERSION);
  CHECK(SSL_CTX_get_max_proto_version(ctx->native()) == TLS1_3_VERSION);
  CHECK((SSL_CTX_get_mode(ctx->native()) & SSL_MODE_RELEASE_BUFFERS) != 0);
}

TEST_CASE("server context errors name the file and the reason", "[tls][context]") {
  Pki pki;
  std::string err;

  err = failure_of(ServerContext::create({pki.dir + "/missing.pem", pki.server_key}));
  CHECK_FALSE(err.empty());
  CHECK(contains(err, "cert_chain_file"));
  CHECK(contains(err, "cannot open"));

  err = failure_of(ServerContext::create({pki.server_chain, pki.dir + "/missing.key"}));
  CHECK_FALSE(err.empty());
  CHECK(contains(err, "key_file"));
  CHECK(contains(err, "cannot open"));

  const std::string junk = pki.dir + "/junk.pem";
  std::ofstream(junk) << "this is not PEM\n";
  err = failure_of(ServerContext::create({junk, pki.server_key}));
  CHECK_FALSE(err.empty());
  CHECK(contains(err, "bad PEM"));
  err = failure_of(ServerContext::create({pki.server_chain, junk}));
  CHECK_FALSE(err.empty());
  CHECK(contains(err, "key_file"));
  CHECK(contains(err, "bad PEM"));

  err = failure_of(ServerContext::create({pki.server_chain, pki.stray_key}));
  CHECK_FALSE(err.empty());
  CHECK(contains(err, "key does not match the certificate"));

  auto unset = ServerContext::create({"", ""});
  REQUIRE_FALSE(unset);
  CHECK(unset.error() == mtop::Errc::tls_setup_failed);
  CHECK(contains(std::string(unset.message()), "not set"));
}

TEST_CASE("client context: CA file, system store, pins", "[tls][context]") {
  Pki pki;
  std::string err;
  TlsClientConfig c;
  c.ca_file = pki.ca;
  REQUIRE(ClientContext::create(c));

  c.ca_file.clear();  // system store
  REQUIRE(ClientContext::create(c));

  c.ca_file = pki.dir + "/nope.pem";
  err = failure_of(ClientContext::create(c));
  CHECK_FALSE(err.empty());
  CHECK(contains(err, "ca_file"));
  CHECK(contains(err, "cannot open"));

  const std::string junk = pki.dir + "/junk.pem";
  std::ofstream(junk) << "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
  c.ca_file = junk;
  err = failure_of(ClientContext::create(c));
  CHECK_FALSE(err.empty());
  CHECK(contains(err, "bad PEM"));

  c.ca_file = pki.ca;
  c.spki_pin = pki.server_pin;
  REQUIRE(ClientContext::create(c));
  for (const char* bad : {"abc", "AAAA", "not base64 at all but exactly forty-four ch=",
                          "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="}) {
    c.spki_pin = bad;
    auto r = ClientContext::create(c);
    REQUIRE_FALSE(r);
    CHECK(r.error() == mtop::Errc::config_invalid);
    CHECK(contains(std::string(r.message()), "spki_pin"));
  }
}

TEST_CASE("client session cache is bounded per server and in servers", "[tls][context]") {
  TlsClientConfig c;
  c.insecure = true;
  auto ctx = must(ClientContext::create(c));
  REQUIRE(ctx);
  for (std::size_t i = 0; i < ClientContext::kTicketsPerServer + 6; ++i) {
    ctx->store_session("a", SslSessionPtr(SSL_SESSION_new()));
  }
  CHECK(ctx->cached_sessions() == ClientContext::kTicketsPerServer);
  for (std::size_t i = 0; i < ClientContext::kMaxServers + 5; ++i) {
    ctx->store_session("s" + std::to_string(i), SslSessionPtr(SSL_SESSION_new()));
  }
  CHECK(ctx->cached_sessions() <= ClientContext::kMaxServers * ClientContext::kTicketsPerServer);
  CHECK(ctx->take_session("nobody") == nullptr);
  std::size_t before = ctx->cached_sessions();
  auto s = ctx->take_session("s" + std::to_string(ClientContext::kMaxServers + 4));
  CHECK(s != nullptr);
  CHECK(ctx->cached_sessions() == before - 1);
}

TEST_CASE("client session cache: expired tickets are dropped, not offered", "[tls][context]") {
  TlsClientConfig c;
  c.insecure = true;
  auto ctx = must(ClientContext::create(c));
  REQUIRE(ctx);
  const long now = static_cast<long>(std::time(nullptr));
  SslSessionPtr live(SSL_SESSION_new());
  SSL_SESSION_set_time(live.get(), now - 10);
  SSL_SESSION_set_timeout(live.get(), 3600);
  SSL_SESSION* live_raw = live.get();
  ctx->store_session("a", std::move(live));
  for (int i = 0; i < 3; ++i) {  // newer in the cache, but past their lifetime
    SslSessionPtr old(SSL_SESSION_new());
    SSL_SESSION_set_time(old.get(), now - 7200);
    SSL_SESSION_set_timeout(old.get(), 3600);
    ctx->store_session("a", std::move(old));
  }
  CHECK(ctx->cached_sessions() == 4);
  auto s = ctx->take_session("a");
  CHECK(s.get() == live_raw);
  CHECK(ctx->cached_sessions() == 0);
  CHECK(ctx->take_session("a") == nullptr);
}
