// One table of server certificates and client policies (tls/config.hpp), run against both
// client paths: OpenSSL (TLS over TCP: ClientContext + Engine, handshaking in memory) and
// GnuTLS (QUIC: QuicClient to a QuicServer on loopback). Every row states the verdict, and
// both transports must reach it, so they refuse exactly the same certificates.
//
// It lives with the engine's tests because the engine is the layer that links both backends.
#ifdef MTOP_HAVE_QUIC

#include <catch2/catch.hpp>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "../quic/quic_test_support.hpp"
#include "../tls/tls_test_support.hpp"
#include "must.hpp"
#include "quic/client.hpp"
#include "quic/server.hpp"
#include "tls/context.hpp"
#include "tls/engine.hpp"

namespace {

using namespace mtop::tls;
using namespace tls_test;

constexpr long kDay = 24L * 3600;

/// The server certificates of the table, each with its key, in the folder of a Pki (which
/// removes it).
struct Certificates {
  Pki folder;
  std::string dir = folder.dir;
  std::string ca, other_ca;
  std::string ca_pin, good_pin, self_pin;
  struct Server {
    std::string chain, key;
  };
  Server good, expired, not_yet_valid, self_signed, from_other_ca, client_only, ip_only,
      ip_in_dns_san, cn_only, wildcard;

  Certificates() {
    auto ca_key = make_key();
    auto ca_cert = make_cert(ca_key.get(), "Check CA", nullptr, nullptr, true, nullptr, 1);
    auto other_key = make_key();
    auto other_cert = make_cert(other_key.get(), "Other CA", nullptr, nullptr, true, nullptr, 2);
    ca = dir + "/ca.pem";
    other_ca = dir + "/other-ca.pem";
    write_pem(ca, ca_cert.get());
    write_pem(other_ca, other_cert.get());
    ca_pin = spki_pin(ca_cert.get());

    long serial = 10;
    // A leaf signed by `issuer` (null: self-signed), written as leaf + issuer.
    auto leaf = [&](const char* file, const char* cn, const char* sans, X509* issuer,
                    EVP_PKEY* issuer_key, const CertShape& shape = {}) {
      auto key = make_key();
      auto cert = make_cert(key.get(), cn, issuer, issuer_key, false, sans, serial++, shape);
      Server s{dir + "/" + file + ".pem", dir + "/" + file + ".key"};
      write_pem(s.chain, cert.get(), issuer);
      write_key(s.key, key.get());
      return std::make_pair(s, spki_pin(cert.get()));
    };
    const char* kSans = "DNS:localhost,IP:127.0.0.1";
    std::tie(good, good_pin) = leaf("good", "localhost", kSans, ca_cert.get(), ca_key.get(),
                                    CertShape{-3600, 30 * kDay, "serverAuth"});
    expired = leaf("expired", "localhost", kSans, ca_cert.get(), ca_key.get(),
                   CertShape{-30 * kDay, -kDay, nullptr})
                  .first;
    not_yet_valid = leaf("future", "localhost", kSans, ca_cert.get(), ca_key.get(),
                         CertShape{kDay, 30 * kDay, nullptr})
                        .first;
    std::tie(self_signed, self_pin) = leaf("self", "localhost", kSans, nullptr, nullptr);
    from_other_ca = leaf("other", "localhost", kSans, other_cert.get(), other_key.get()).first;
    client_only = leaf("client-only", "localhost", kSans, ca_cert.get(), ca_key.get(),
                       CertShape{-3600, 30 * kDay, "clientAuth"})
                      .first;
    ip_only = leaf("ip-only", "mtop ip", "IP:127.0.0.1", ca_cert.get(), ca_key.get()).first;
    ip_in_dns_san =
        leaf("ip-in-dns", "mtop ip", "DNS:127.0.0.1", ca_cert.get(), ca_key.get()).first;
    cn_only = leaf("cn-only", "localhost", nullptr, ca_cert.get(), ca_key.get()).first;
    wildcard = leaf("wildcard", "wildcard", "DNS:*.mtop.test", ca_cert.get(), ca_key.get()).first;
  }
};

struct Case {
  const char* what;
  Certificates::Server Certificates::*server;
  std::string name;        ///< the name the client checks (and sends as SNI unless an IP)
  TlsClientConfig policy;  ///< server_name is set from `name`
  bool accepted;
};

/// OpenSSL: a client and a server engine handshaking in memory. "" = accepted.
std::string openssl_verdict(const Certificates::Server& server, const TlsClientConfig& policy) {
  auto sctx = must(ServerContext::create(TlsServerConfig{server.chain, server.key}));
  auto cctx = ClientContext::create(policy);
  if (!cctx) return "context: " + std::string(cctx.message());
  auto client = must(Engine::client(*cctx, policy.server_name, ""));
  auto s = must(Engine::server(sctx));
  for (int round = 0; round < 10; ++round) {
    const Engine::Status c = client->handshake();
    if (c == Engine::Status::failed) return client->error();
    if (c == Engine::Status::ok) return "";
    const mtop::Bytes to_server = client->take_output();
    s->handle_ciphertext(to_server);
    if (s->handshake() == Engine::Status::failed) return "server: " + s->error();
    s->retain_input();
    const mtop::Bytes to_client = s->take_output();
    client->handle_ciphertext(to_client);
    // Consumed by the client's next handshake() at the top of the loop: keep it alive till then.
    client->retain_input();
  }
  return "handshake did not finish";
}

/// GnuTLS: a QUIC client opening one stream to a QUIC server on loopback. "" = accepted.
std::string quic_verdict(const Certificates::Server& server, const TlsClientConfig& policy) {
  qt::Loop loop;
  qt::EchoServer echo;
  mtop::quic::QuicServerOptions so;
  so.host = "127.0.0.1";
  so.tls = TlsServerConfig{server.chain, server.key};
  auto quic_server = must(mtop::quic::QuicServer::create(loop.get(), so, echo.acceptor()));
  mtop::quic::QuicClientOptions co;
  co.host = "127.0.0.1";
  co.port = quic_server->port();
  co.tls = policy;
  co.backoff_initial_ms = 50;
  auto client = mtop::quic::QuicClient::create(loop.get(), co);
  if (!client) return "context: " + std::string(client.message());
  std::string error;
  qt::StreamPtr stream = qt::open_stream(loop, **client, error);
  if (stream == nullptr && error.empty()) error = "no stream";
  stream.reset();
  client->reset();
  echo.sessions.clear();
  return error;
}

TlsClientConfig policy(std::string ca_file, std::string pin = "", bool insecure = false) {
  TlsClientConfig c;
  c.ca_file = std::move(ca_file);
  c.spki_pin = std::move(pin);
  c.insecure = insecure;
  return c;
}

}  // namespace

TEST_CASE("both transports accept and refuse exactly the same server certificates",
          "[tls][quic][verify]") {
  Certificates certs;
  using C = Certificates;
  const std::vector<Case> cases = {
      {"good certificate, DNS name", &C::good, "localhost", policy(certs.ca), true},
      {"good certificate, IP SAN", &C::good, "127.0.0.1", policy(certs.ca), true},
      {"wrong name", &C::good, "wrong.example", policy(certs.ca), false},
      {"IP not in the certificate", &C::good, "127.0.0.2", policy(certs.ca), false},
      {"IP SAN only, dialed by name", &C::ip_only, "localhost", policy(certs.ca), false},
      {"IP SAN only, dialed by IP", &C::ip_only, "127.0.0.1", policy(certs.ca), true},
      {"an IP in a DNS SAN is no IP SAN", &C::ip_in_dns_san, "127.0.0.1", policy(certs.ca), false},
      {"name only in the subject CN", &C::cn_only, "localhost", policy(certs.ca), true},
      {"wildcard, one label", &C::wildcard, "a.mtop.test", policy(certs.ca), true},
      {"wildcard, two labels", &C::wildcard, "a.b.mtop.test", policy(certs.ca), false},
      {"wildcard, the bare domain", &C::wildcard, "mtop.test", policy(certs.ca), false},
      {"expired", &C::expired, "localhost", policy(certs.ca), false},
      {"not yet valid", &C::not_yet_valid, "localhost", policy(certs.ca), false},
      {"self-signed, not trusted", &C::self_signed, "localhost", policy(certs.ca), false},
      {"self-signed, trusted as the CA file", &C::self_signed, "localhost",
       policy(certs.self_signed.chain), true},
      {"signed by another CA", &C::from_other_ca, "localhost", policy(certs.ca), false},
      {"the wrong CA file", &C::good, "localhost", policy(certs.other_ca), false},
      {"system store does not know our CA", &C::good, "localhost", policy(""), false},
      {"only for TLS clients (EKU clientAuth)", &C::client_only, "localhost", policy(certs.ca),
       false},
      {"pin matches", &C::good, "localhost", policy(certs.ca, certs.good_pin), true},
      {"pin of the CA, not of the server", &C::good, "localhost", policy(certs.ca, certs.ca_pin),
       false},
      {"pin matches, chain untrusted", &C::self_signed, "localhost",
       policy(certs.ca, certs.self_pin), false},
      {"insecure, self-signed", &C::self_signed, "localhost", policy("", "", true), true},
      {"insecure, any name", &C::from_other_ca, "anything.example", policy("", "", true), true},
      {"insecure, expired", &C::expired, "localhost", policy("", "", true), true},
      {"insecure with a matching pin", &C::self_signed, "localhost",
       policy("", certs.self_pin, true), true},
      {"insecure with a pin mismatch", &C::self_signed, "localhost",
       policy("", certs.good_pin, true), false},
  };
  for (const Case& c : cases) {
    TlsClientConfig p = c.policy;
    p.server_name = c.name;
    const C::Server& server = certs.*(c.server);
    const std::string by_openssl = openssl_verdict(server, p);
    const std::string by_gnutls = quic_verdict(server, p);
    INFO(c.what << " (" << c.name << ")\n  OpenSSL: " << by_openssl
                << "\n  GnuTLS:  " << by_gnutls);
    CHECK(by_openssl.empty() == c.accepted);
    CHECK(by_gnutls.empty() == c.accepted);
    if (!c.accepted && by_openssl.find("pin") != std::string::npos) {
      // A refused pin reads the same on both transports.
      CHECK(by_openssl.find(mtop::tls::kPinMismatch) != std::string::npos);
      CHECK(by_gnutls.find(mtop::tls::kPinMismatch) != std::string::npos);
    }
  }
}

TEST_CASE("both transports reject the same malformed policies at set-up", "[tls][quic][verify]") {
  Certificates certs;
  for (const char* pin : {"abc", "AAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="}) {
    TlsClientConfig p = policy(certs.ca, pin);
    p.server_name = "localhost";
    const std::string by_openssl = openssl_verdict(certs.good, p);
    const std::string by_gnutls = quic_verdict(certs.good, p);
    INFO(pin << "\n  OpenSSL: " << by_openssl << "\n  GnuTLS:  " << by_gnutls);
    CHECK(by_openssl.find("context: spki_pin") == 0);
    CHECK(by_gnutls.find("context: quic client: spki_pin") == 0);
  }
}

#endif  // MTOP_HAVE_QUIC
