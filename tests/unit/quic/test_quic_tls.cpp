// The client's check of the server: trusted chain, server name, SPKI pin, and the insecure
// switch. A refused server must fail the open() with a clear reason, never hand out a stream.
#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "must.hpp"
#include "quic/handles.hpp"
#include "quic/tls.hpp"
#include "quic_test_support.hpp"

using namespace qt;
using mtop::quic::QuicClient;
using mtop::quic::QuicServer;

namespace {

struct Fixture {
  Loop loop;
  Certs certs;
  EchoServer echo;
  std::unique_ptr<QuicServer> server;

  explicit Fixture(bool other_cert = false,
                   std::vector<mtop::TlsGroup> groups = mtop::default_tls_groups()) {
    REQUIRE(certs.ok);
    auto o = server_options(certs);
    o.tls.groups = std::move(groups);
    if (other_cert) {
      o.tls.cert_chain_file = certs.other_cert;
      o.tls.key_file = certs.other_key;
    }
    server = must(QuicServer::create(loop.get(), o, echo.acceptor()));
    REQUIRE(server);
  }
  ~Fixture() {
    echo.sessions.clear();
    server.reset();
  }

  /// Opens one stream with `o`; returns the error ("" on success, after an echo round trip).
  std::string try_open(const mtop::quic::QuicClientOptions& o) {
    auto client = QuicClient::create(loop.get(), o);
    if (!client) return "create: " + std::string(client.message());
    std::string error;
    StreamPtr s = open_stream(loop, **client, error);
    if (!s) return error.empty() ? "no stream" : error;
    Collector c;
    c.s = std::move(s);
    c.s->set_handler(&c);
    c.s->start_read();
    c.s->write(mtop::as_bytes("ok?"));
    c.s->shutdown();
    if (!loop.run_until([&] { return c.eof || !c.error.empty(); })) return "echo timed out";
    if (!c.error.empty()) return c.error;
    return mtop::as_chars(c.data) == "ok?" ? "" : "echo mismatch";
  }
};

}  // namespace

TEST_CASE("RAII owners free GnuTLS handles exactly once", "[quic][tls]") {
  gnutls_certificate_credentials_t raw = nullptr;
  REQUIRE(gnutls_certificate_allocate_credentials(&raw) == 0);
  mtop::quic::CredentialsPtr cred(raw);
  gnutls_session_t s = nullptr;
  REQUIRE(gnutls_init(&s, GNUTLS_CLIENT) == 0);
  mtop::quic::SessionPtr session(s);
  mtop::quic::SessionPtr moved = std::move(session);
  CHECK(session == nullptr);
  CHECK(moved.get() == s);
  mtop::quic::ConnPtr conn;  // an empty owner frees nothing
  CHECK(conn == nullptr);
}

TEST_CASE("a server with a certificate from our CA and the right name is accepted", "[quic][tls]") {
  Fixture f;
  CHECK(f.try_open(client_options(f.certs, f.server->port())) == "");
}

TEST_CASE("a certificate from an unknown CA is refused", "[quic][tls]") {
  Fixture f(/*other_cert=*/true);
  std::string e = f.try_open(client_options(f.certs, f.server->port()));
  INFO(e);
  CHECK(e.find("quic: cannot connect to 127.0.0.1:") == 0);
  CHECK(e.find("server certificate rejected") != std::string::npos);
  CHECK(e.find("issuer") != std::string::npos);  // GnuTLS: "The certificate issuer is unknown."
  CHECK(f.echo.sessions.empty());
}

TEST_CASE("a certificate for another name is refused", "[quic][tls]") {
  Fixture f;
  auto o = client_options(f.certs, f.server->port());
  o.tls.server_name = "wrong.example";
  std::string e = f.try_open(o);
  INFO(e);
  CHECK(e.find("server certificate rejected") != std::string::npos);
  CHECK(e.find("name in the certificate does not match") != std::string::npos);
  CHECK(f.echo.sessions.empty());
}

TEST_CASE("the SPKI pin is enforced", "[quic][tls]") {
  Fixture f;
  std::string error;
  std::string pin = must(mtop::quic::spki_pin_of_pem_file(f.certs.cert));
  REQUIRE(error == "");
  REQUIRE(pin.size() == 44);  // base64 of 32 bytes
  std::string other = must(mtop::quic::spki_pin_of_pem_file(f.certs.other_cert));
  REQUIRE(other != pin);

  SECTION("matching pin") {
    auto o = client_options(f.certs, f.server->port());
    o.tls.spki_pin = pin;
    CHECK(f.try_open(o) == "");
  }
  SECTION("pin mismatch") {
    auto o = client_options(f.certs, f.server->port());
    o.tls.spki_pin = other;
    std::string e = f.try_open(o);
    INFO(e);
    CHECK(e.find("server key pin mismatch") != std::string::npos);
    CHECK(f.echo.sessions.empty());
  }
  SECTION("the pin still applies in insecure mode") {
    auto o = client_options(f.certs, f.server->port());
    o.tls.insecure = true;
    o.tls.ca_file.clear();
    o.tls.spki_pin = other;
    CHECK(f.try_open(o).find("server key pin mismatch") != std::string::npos);
  }
}

TEST_CASE("insecure mode connects to an unverifiable server", "[quic][tls]") {
  Fixture f(/*other_cert=*/true);
  auto o = client_options(f.certs, f.server->port());
  o.tls.insecure = true;
  o.tls.server_name = "anything.example";
  CHECK(f.try_open(o) == "");
}

TEST_CASE("bad TLS options fail at creation with a reason", "[quic][tls]") {
  Loop loop;
  Certs certs;
  REQUIRE(certs.ok);
  auto o = client_options(certs, 4433);
  o.tls.ca_file = (certs.dir / "missing.pem").string();
  auto client = QuicClient::create(loop.get(), o);
  REQUIRE_FALSE(client);
  CHECK(client.error() == mtop::Errc::tls_setup_failed);
  CHECK(client.message().find("CA file") != std::string::npos);

  o = client_options(certs, 4433);
  o.tls.spki_pin = "not a pin";
  client = QuicClient::create(loop.get(), o);
  REQUIRE_FALSE(client);
  CHECK(client.error() == mtop::Errc::config_invalid);
  CHECK(client.message().find("spki_pin") != std::string::npos);

  auto so = server_options(certs);
  so.tls.key_file = (certs.dir / "missing.key").string();
  auto server = QuicServer::create(loop.get(), so, nullptr);
  REQUIRE_FALSE(server);
  CHECK(server.error() == mtop::Errc::tls_setup_failed);
  CHECK(server.message().find("certificate/key") != std::string::npos);

  o = client_options(certs, 0);
  client = QuicClient::create(loop.get(), o);
  REQUIRE_FALSE(client);
  CHECK(client.error() == mtop::Errc::config_invalid);
  CHECK(client.message().find("port") != std::string::npos);
}

// --- key-exchange groups ---------------------------------------------------------------------

namespace {

// The groups GnuTLS enables for a priority string, as GnuTLS itself reads it.
std::vector<unsigned> groups_enabled(const std::string& priority) {
  gnutls_priority_t cache = nullptr;
  const char* err = nullptr;
  REQUIRE(gnutls_priority_init(&cache, priority.c_str(), &err) == 0);
  const unsigned* list = nullptr;
  const int n = gnutls_priority_group_list(cache, &list);
  std::vector<unsigned> out(list, list + (n > 0 ? n : 0));
  gnutls_priority_deinit(cache);
  return out;
}

}  // namespace

TEST_CASE("the priority string enables exactly the configured groups, no ffdhe",
          "[quic][tls][groups]") {
  const std::string def = mtop::quic::gnutls_priority(mtop::default_tls_groups());
  CHECK(def ==
        "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
        "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:%DISABLE_TLS13_COMPAT_MODE");
  CHECK(groups_enabled(def) == std::vector<unsigned>{GNUTLS_GROUP_X25519, GNUTLS_GROUP_SECP256R1});
  // Without "-GROUP-ALL" NORMAL would have enabled the finite-field groups too.
  const auto normal = groups_enabled("NORMAL:-VERS-ALL:+VERS-TLS1.3");
  CHECK(std::find(normal.begin(), normal.end(), GNUTLS_GROUP_FFDHE8192) != normal.end());
  using mtop::TlsGroup;
  CHECK(groups_enabled(mtop::quic::gnutls_priority(
            {TlsGroup::p384, TlsGroup::p521, TlsGroup::x448, TlsGroup::x25519})) ==
        std::vector<unsigned>{GNUTLS_GROUP_SECP384R1, GNUTLS_GROUP_SECP521R1, GNUTLS_GROUP_X448,
                              GNUTLS_GROUP_X25519});
}

TEST_CASE("a client offering no group the server accepts fails the handshake",
          "[quic][tls][groups]") {
  using mtop::TlsGroup;
  {
    Fixture f;  // X25519, P-256
    auto o = client_options(f.certs, f.server->port());
    for (auto groups : {std::vector<TlsGroup>{TlsGroup::x25519},
                        std::vector<TlsGroup>{TlsGroup::p256}, mtop::default_tls_groups()}) {
      o.tls.groups = groups;
      CHECK(f.try_open(o) == "");
    }
    o.tls.groups = {TlsGroup::p384};
    CHECK(f.try_open(o) != "");
    o.tls.groups = {TlsGroup::p384, TlsGroup::p256};  // a HelloRetryRequest for P-256
    CHECK(f.try_open(o) == "");
  }
  {
    Fixture f(false, {TlsGroup::p384});
    auto o = client_options(f.certs, f.server->port());
    CHECK(f.try_open(o) != "");  // the default client: X25519, P-256
    o.tls.groups = {TlsGroup::p384};
    CHECK(f.try_open(o) == "");
  }
}

TEST_CASE("an empty group list fails at creation", "[quic][tls][groups]") {
  Loop loop;
  Certs certs;
  REQUIRE(certs.ok);
  auto o = client_options(certs, 4433);
  o.tls.groups.clear();
  auto client = QuicClient::create(loop.get(), o);
  REQUIRE_FALSE(client);
  CHECK(client.error() == mtop::Errc::config_invalid);
  CHECK(client.message().find("no key-exchange group") != std::string::npos);
  auto so = server_options(certs);
  so.tls.groups.clear();
  auto server = QuicServer::create(loop.get(), so, nullptr);
  REQUIRE_FALSE(server);
  CHECK(server.message().find("no key-exchange group") != std::string::npos);
}
