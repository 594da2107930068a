#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <memory>
#include <set>
#include <string>

#include "tls/cert_gen.hpp"

using namespace mtop::tls;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/mtop-certgen-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    for (const char* f : {"/cert.pem", "/key.pem"}) ::unlink((path + f).c_str());
    ::rmdir(path.c_str());
  }
  std::string cert() const { return path + "/cert.pem"; }
  std::string key() const { return path + "/key.pem"; }
};

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
using X509P = std::unique_ptr<X509, X509Free>;
using KeyP = std::unique_ptr<EVP_PKEY, PkeyFree>;
using CtxP = std::unique_ptr<SSL_CTX, CtxFree>;
using SslP = std::unique_ptr<SSL, SslFree>;

X509P read_cert(const std::string& path) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), BIO_free);
  REQUIRE(bio);
  return X509P(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

KeyP read_key(const std::string& path) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), BIO_free);
  REQUIRE(bio);
  return KeyP(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

// The DNS names and IP addresses (as text) in the certificate's subjectAltName.
std::set<std::string> sans(X509* cert) {
  std::set<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  REQUIRE(names);
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type == GEN_DNS) {
      const auto* s = gn->d.dNSName;
      out.insert("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                      static_cast<std::size_t>(ASN1_STRING_length(s))));
    } else if (gn->type == GEN_IPADD) {
      const auto* s = gn->d.iPAddress;
      char buf[INET6_ADDRSTRLEN] = {};
      const int len = ASN1_STRING_length(s);
      inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), buf, sizeof buf);
      out.insert(std::string("IP:") + buf);
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

// A TLS 1.3 handshake in memory: the server uses the generated cert + key; the client trusts
// only that certificate (as its CA) and checks `host` (a name or an IP literal).
// Returns the client's verify result (X509_V_OK when accepted) and whether both sides finished.
std::pair<long, bool> handshake(const std::string& cert, const std::string& key,
                                const std::string& host) {
  CtxP sctx(SSL_CTX_new(TLS_server_method()));
  CtxP cctx(SSL_CTX_new(TLS_client_method()));
  REQUIRE(sctx);
  REQUIRE(cctx);
  REQUIRE(SSL_CTX_use_certificate_file(sctx.get(), cert.c_str(), SSL_FILETYPE_PEM) == 1);
  REQUIRE(SSL_CTX_use_PrivateKey_file(sctx.get(), key.c_str(), SSL_FILETYPE_PEM) == 1);
  REQUIRE(SSL_CTX_check_private_key(sctx.get()) == 1);
  REQUIRE(SSL_CTX_load_verify_locations(cctx.get(), cert.c_str(), nullptr) == 1);
  SSL_CTX_set_verify(cctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_min_proto_version(cctx.get(), TLS1_3_VERSION);

  SslP server(SSL_new(sctx.get()));
  SslP client(SSL_new(cctx.get()));
  REQUIRE(server);
  REQUIRE(client);
  unsigned char probe[16];
  if (inet_pton(AF_INET, host.c_str(), probe) == 1 || inet_pton(AF_INET6, host.c_str(), probe) == 1) {
    REQUIRE(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(client.get()), host.c_str()) == 1);
  } else {
    REQUIRE(SSL_set1_host(client.get(), host.c_str()) == 1);
    SSL_set_tlsext_host_name(client.get(), host.c_str());
  }
  BIO* cbio = nullptr;
  BIO* sbio = nullptr;
  REQUIRE(BIO_new_bio_pair(&cbio, 0, &sbio, 0) == 1);
  SSL_set_bio(client.get(), cbio, cbio);
  SSL_set_bio(server.get(), sbio, sbio);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());

  bool client_done = false, server_done = false, failed = false;
  for (int i = 0; i < 20 && !(client_done && server_done) && !failed; ++i) {
    if (!client_done) {
      const int rc = SSL_do_handshake(client.get());
      if (rc == 1) {
        client_done = true;
      } else if (SSL_get_error(client.get(), rc) != SSL_ERROR_WANT_READ) {
        failed = true;
      }
    }
    if (!server_done && !failed) {
      const int rc = SSL_do_handshake(server.get());
      if (rc == 1) {
        server_done = true;
      } else if (SSL_get_error(server.get(), rc) != SSL_ERROR_WANT_READ) {
        failed = true;
      }
    }
  }
  ERR_clear_error();
  return {SSL_get_verify_result(client.get()), client_done && server_done && !failed};
}

}  // namespace

TEST_CASE("gen-cert writes a usable self-signed certificate", "[tls][certgen]") {
  TempDir dir;
  CertGenOptions o;
  o.name = "proxy.example.com";
  o.ips = {"127.0.0.1", "::1"};
  o.cert_path = dir.cert();
  o.key_path = dir.key();
  const auto r = generate_self_signed(o);
  REQUIRE(r.ok());
  CHECK(r->size() == 32 * 3 - 1);

  struct stat st {};
  REQUIRE(::stat(dir.key().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat(dir.cert().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);

  X509P cert = read_cert(dir.cert());
  REQUIRE(cert);
  KeyP key = read_key(dir.key());
  REQUIRE(key);
  CHECK(X509_check_private_key(cert.get(), key.get()) == 1);
  CHECK(EVP_PKEY_is_a(key.get(), "EC"));
  char group[32] = {};
  size_t glen = 0;
  REQUIRE(EVP_PKEY_get_utf8_string_param(key.get(), "group", group, sizeof group, &glen) == 1);
  CHECK(std::string(group) == "prime256v1");

  CHECK(sans(cert.get()) == std::set<std::string>{"DNS:proxy.example.com", "IP:127.0.0.1", "IP:::1"});
  CHECK(X509_get_version(cert.get()) == X509_VERSION_3);
  // Self-signed: issuer = subject, and its own key verifies the signature.
  CHECK(X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())) == 0);
  CHECK(X509_verify(cert.get(), X509_get0_pubkey(cert.get())) == 1);
  CHECK(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0) == 1);
  CHECK(X509_check_ca(cert.get()) == 0);  // not a CA: it cannot sign other certificates
  // Valid now, and for about ten years.
  int days = 0, secs = 0;
  REQUIRE(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert.get()), X509_get0_notAfter(cert.get())) == 1);
  CHECK(days >= 3650);
  CHECK(days <= 3651);
  CHECK(X509_cmp_current_time(X509_get0_notBefore(cert.get())) < 0);
  // A positive, non-zero serial.
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert.get());
  CHECK(serial->type == V_ASN1_INTEGER);
  CHECK(serial->length >= 19);

  // An OpenSSL client trusting the certificate accepts the name and the IPs, nothing else.
  auto ok = handshake(dir.cert(), dir.key(), "proxy.example.com");
  CHECK(ok.first == X509_V_OK);
  CHECK(ok.second);
  auto ip4 = handshake(dir.cert(), dir.key(), "127.0.0.1");
  CHECK(ip4.first == X509_V_OK);
  CHECK(ip4.second);
  auto ip6 = handshake(dir.cert(), dir.key(), "::1");
  CHECK(ip6.first == X509_V_OK);
  CHECK(ip6.second);
  auto wrong = handshake(dir.cert(), dir.key(), "other.example.com");
  CHECK(wrong.first == X509_V_ERR_HOSTNAME_MISMATCH);
  CHECK_FALSE(wrong.second);
  auto wrong_ip = handshake(dir.cert(), dir.key(), "127.0.0.2");
  CHECK(wrong_ip.first == X509_V_ERR_IP_ADDRESS_MISMATCH);
  CHECK_FALSE(wrong_ip.second);
}

TEST_CASE("gen-cert: two runs give different keys and serials", "[tls][certgen]") {
  TempDir a, b;
  CertGenOptions o;
  o.name = "x.test";
  o.cert_path = a.cert();
  o.key_path = a.key();
  const auto ra = generate_self_signed(o);
  REQUIRE(ra.ok());
  o.cert_path = b.cert();
  o.key_path = b.key();
  const auto rb = generate_self_signed(o);
  REQUIRE(rb.ok());
  CHECK(*ra != *rb);
  X509P ca = read_cert(a.cert()), cb = read_cert(b.cert());
  REQUIRE(ca);
  REQUIRE(cb);
  CHECK(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca.get()), X509_get0_serialNumber(cb.get())) != 0);
}

TEST_CASE("gen-cert: a name that is an IP address becomes an IP SAN", "[tls][certgen]") {
  TempDir dir;
  CertGenOptions o;
  o.name = "192.0.2.10";
  o.cert_path = dir.cert();
  o.key_path = dir.key();
  REQUIRE(generate_self_signed(o).ok());
  X509P cert = read_cert(dir.cert());
  REQUIRE(cert);
  CHECK(sans(cert.get()) == std::set<std::string>{"IP:192.0.2.10"});
  CHECK(handshake(dir.cert(), dir.key(), "192.0.2.10").first == X509_V_OK);
}

TEST_CASE("gen-cert: bad input is refused and nothing is written", "[tls][certgen]") {
  TempDir dir;
  struct Case {
    std::string name;
    std::vector<std::string> ips;
    std::string error;
  };
  const Case cases[] = {
      {"", {}, "invalid name"},
      {"bad name", {}, "invalid name"},
      {"a..b", {}, "invalid name"},
      {"-a.example", {}, "invalid name"},
      {"a,IP:1.2.3.4", {}, "invalid name"},
      {std::string(64, 'a') + ".com", {}, "invalid name"},
      {"ok.example", {"1.2.3"}, "invalid IP address \"1.2.3\""},
      {"ok.example", {"::1::2"}, "invalid IP address"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    CertGenOptions o;
    o.name = c.name;
    o.ips = c.ips;
    o.cert_path = dir.cert();
    o.key_path = dir.key();
    const auto r = generate_self_signed(o);
    CHECK_FALSE(r.ok());
    CHECK_THAT(std::string(r.message()), Catch::Contains(c.error));
    CHECK(::access(dir.cert().c_str(), F_OK) != 0);
    CHECK(::access(dir.key().c_str(), F_OK) != 0);
  }
  CertGenOptions o;
  o.name = "ok.example";
  o.cert_path = dir.cert();
  o.key_path = dir.cert();
  CHECK_THAT(std::string(generate_self_signed(o).message()), Catch::Contains("must differ"));
  o.key_path = dir.key();
  o.valid_days = 0;
  CHECK_THAT(std::string(generate_self_signed(o).message()), Catch::Contains("validity"));
}

TEST_CASE("gen-cert: existing files are kept unless overwrite", "[tls][certgen]") {
  TempDir dir;
  {
    std::ofstream f(dir.key());
    f << "precious";
  }
  REQUIRE(::chmod(dir.key().c_str(), 0644) == 0);
  CertGenOptions o;
  o.name = "ok.example";
  o.cert_path = dir.cert();
  o.key_path = dir.key();
  auto r = generate_self_signed(o);
  CHECK_THAT(std::string(r.message()), Catch::Contains("already exists"));
  std::ifstream in(dir.key());
  std::string content;
  in >> content;
  CHECK(content == "precious");
  CHECK(::access(dir.cert().c_str(), F_OK) != 0);

  o.overwrite = true;
  r = generate_self_signed(o);
  REQUIRE(r.ok());
  struct stat st {};
  REQUIRE(::stat(dir.key().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);  // tightened even though the file existed
  KeyP key = read_key(dir.key());
  CHECK(key);
}

TEST_CASE("gen-cert: an unwritable location is a clear error", "[tls][certgen]") {
  TempDir dir;
  CertGenOptions o;
  o.name = "ok.example";
  o.cert_path = dir.path + "/missing/cert.pem";
  o.key_path = dir.key();
  const auto r = generate_self_signed(o);
  CHECK_THAT(std::string(r.message()), Catch::Contains("missing/cert.pem") && Catch::Contains("No such file"));
  // The key written before the failure was removed again.
  CHECK(::access(dir.key().c_str(), F_OK) != 0);
}
