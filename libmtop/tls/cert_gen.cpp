#include "tls/cert_gen.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "tls/ossl.hpp"  // RAII deleters only

namespace mtop::tls {

namespace {

template <class T, void (*Free)(T*)>
using Ptr = std::unique_ptr<T, OsslDeleter<T, Free>>;
using BnPtr = Ptr<BIGNUM, BN_free>;
using AsnIntPtr = Ptr<ASN1_INTEGER, ASN1_INTEGER_free>;
using GeneralNamesPtr = Ptr<GENERAL_NAMES, GENERAL_NAMES_free>;
using GeneralNamePtr = Ptr<GENERAL_NAME, GENERAL_NAME_free>;
using ExtPtr = Ptr<X509_EXTENSION, X509_EXTENSION_free>;

// The reason of the oldest queued OpenSSL error (then clears the queue), or `fallback`.
std::string ossl_reason(const char* fallback) {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  const char* reason = e ? ERR_reason_error_string(e) : nullptr;
  return std::string(fallback) + (reason ? std::string(": ") + reason : std::string());
}

// Up to 64 characters of user input for an error message, non-printables as '?'.
std::string printable(const std::string& s) {
  std::string out = s.substr(0, 64);
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return out;
}

// A host name as certificates carry it: LDH labels of 1-63 bytes, at most 253 in all,
// not starting or ending with '-'. One optional trailing dot is dropped by the caller.
bool valid_dns_name(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  char prev = '.';
  for (char c : name) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else {
      const bool ldh = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       (c >= '0' && c <= '9') || c == '-';
      if (!ldh || (label == 0 && c == '-') || ++label > 63) return false;
    }
    prev = c;
  }
  return label > 0 && prev != '-';
}

// The 4 or 16 bytes of an IP literal, or empty if `text` is not one.
std::string ip_bytes(const std::string& text) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 4);
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) return std::string(reinterpret_cast<char*>(buf), 16);
  return {};
}

bool add_dns(GENERAL_NAMES* names, const std::string& dns) {
  GeneralNamePtr gn(GENERAL_NAME_new());
  Ptr<ASN1_IA5STRING, ASN1_IA5STRING_free> s(ASN1_IA5STRING_new());
  if (!gn || !s || ASN1_STRING_set(s.get(), dns.data(), static_cast<int>(dns.size())) != 1) {
    return false;
  }
  GENERAL_NAME_set0_value(gn.get(), GEN_DNS, s.release());
  if (sk_GENERAL_NAME_push(names, gn.get()) == 0) return false;
  (void)gn.release();  // the stack owns it now
  return true;
}

bool add_ip(GENERAL_NAMES* names, const std::string& raw) {
  GeneralNamePtr gn(GENERAL_NAME_new());
  Ptr<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free> s(ASN1_OCTET_STRING_new());
  if (!gn || !s || ASN1_OCTET_STRING_set(s.get(), reinterpret_cast<const unsigned char*>(raw.data()),
                                         static_cast<int>(raw.size())) != 1) {
    return false;
  }
  GENERAL_NAME_set0_value(gn.get(), GEN_IPADD, s.release());
  if (sk_GENERAL_NAME_push(names, gn.get()) == 0) return false;
  (void)gn.release();  // the stack owns it now
  return true;
}

// Adds an extension given in OpenSSL's configuration syntax (constant strings only: nothing
// from the caller goes through this parser).
bool add_ext(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

// A positive serial of 159 random bits (RFC 5280: at most 20 octets, positive).
bool set_random_serial(X509* cert) {
  unsigned char bytes[20];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01;  // never zero, and the full length
  BnPtr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn) return false;
  AsnIntPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  return serial && X509_set_serialNumber(cert, serial.get()) == 1;
}

// The PEM text a writer puts into a memory BIO.
template <class F>
bool to_pem(F write, std::string& out) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || !write(bio.get())) return false;
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0) return false;
  out.assign(data, static_cast<std::size_t>(len));
  return true;
}

// Creates `path` with `mode` (O_EXCL unless overwrite) and writes `text`. `created` tells the
// caller whether a new file now exists that it should remove on a later failure.
std::string write_file(const std::string& path, const std::string& text, mode_t mode,
                       bool overwrite, bool& created) {
  created = false;
  struct stat before {};
  const bool existed = ::lstat(path.c_str(), &before) == 0;
  if (existed && !overwrite) return path + ": already exists (use overwrite to replace it)";
  const int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | (overwrite ? 0 : O_EXCL);
  const int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) return path + ": " + std::strerror(errno);
  created = !existed;
  std::string err;
  // An existing file keeps its old mode through O_TRUNC: set ours (0600 for the key).
  if (::fchmod(fd, mode) != 0) err = path + ": chmod: " + std::strerror(errno);
  std::size_t done = 0;
  while (err.empty() && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = path + ": " + std::strerror(errno);
    } else {
      done += static_cast<std::size_t>(n);
    }
  }
  if (err.empty() && ::fsync(fd) != 0) err = path + ": fsync: " + std::strerror(errno);
  if (::close(fd) != 0 && err.empty()) err = path + ": close: " + std::strerror(errno);
  return err;
}

Failure failure(std::string error) {
  return Failure{Errc::tls_setup_failed, std::move(error)};
}

}  // namespace

std::string sha256_fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!cert || X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    if (i) out += ':';
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

Result<std::string> generate_self_signed(const CertGenOptions& o) {
  // --- check the input first, so nothing is generated or written for a typo --------------
  if (o.cert_path.empty() || o.key_path.empty()) return failure("certificate and key paths are required");
  if (o.cert_path == o.key_path) return failure("certificate and key paths must differ");
  if (o.valid_days < 1 || o.valid_days > 36500) return failure("validity must be 1-36500 days");
  std::string name = o.name;
  if (!name.empty() && name.back() == '.') name.pop_back();
  const std::string name_ip = ip_bytes(name);
  if (name_ip.empty() && !valid_dns_name(name)) {
    return failure("invalid name \"" + printable(o.name) +
                   "\" (expected a host name like proxy.example.com or an IP address)");
  }
  std::vector<std::string> ips;
  if (!name_ip.empty()) ips.push_back(name_ip);
  for (const auto& ip : o.ips) {
    std::string raw = ip_bytes(ip);
    if (raw.empty()) return failure("invalid IP address \"" + printable(ip) + "\"");
    ips.push_back(std::move(raw));
  }

  // --- key and certificate -----------------------------------------------------------------
  ERR_clear_error();
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return failure(ossl_reason("cannot generate a P-256 key"));
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1 || !set_random_serial(cert.get())) {
    return failure(ossl_reason("cannot create the certificate"));
  }
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
      !X509_time_adj_ex(X509_getm_notAfter(cert.get()), static_cast<int>(o.valid_days), 0, nullptr)) {
    return failure(ossl_reason("cannot set the validity"));
  }
  // CN is limited to 64 bytes (RFC 5280 ub-common-name); clients check the SAN anyway.
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const std::string cn = name.size() <= 64 ? name : std::string("mtop-server");
  if (X509_NAME_add_entry_by_NID(subject, NID_commonName, MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), subject) != 1 || X509_set_pubkey(cert.get(), key.get()) != 1) {
    return failure(ossl_reason("cannot set the names"));
  }
  GeneralNamesPtr sans(GENERAL_NAMES_new());
  if (!sans || (name_ip.empty() && !add_dns(sans.get(), name))) {
    return failure(ossl_reason("cannot build subjectAltName"));
  }
  for (const auto& raw : ips) {
    if (!add_ip(sans.get(), raw)) return failure(ossl_reason("cannot build subjectAltName"));
  }
  if (X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, sans.get(), 0, X509V3_ADD_DEFAULT) != 1 ||
      !add_ext(cert.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !add_ext(cert.get(), NID_key_usage, "critical,digitalSignature") ||
      !add_ext(cert.get(), NID_ext_key_usage, "serverAuth") ||
      !add_ext(cert.get(), NID_subject_key_identifier, "hash") ||
      !add_ext(cert.get(), NID_authority_key_identifier, "keyid:always")) {
    return failure(ossl_reason("cannot add extensions"));
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    return failure(ossl_reason("cannot sign the certificate"));
  }

  std::string key_pem, cert_pem;
  if (!to_pem([&](BIO* b) {
        return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
      }, key_pem) ||
      !to_pem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()) == 1; }, cert_pem)) {
    return failure(ossl_reason("cannot encode PEM"));
  }

  // --- files: the key first, so a certificate never exists without its key ------------------
  bool key_created = false, cert_created = false;
  std::string err = write_file(o.key_path, key_pem, 0600, o.overwrite, key_created);
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  if (err.empty()) err = write_file(o.cert_path, cert_pem, 0644, o.overwrite, cert_created);
  if (!err.empty()) {
    if (cert_created) ::unlink(o.cert_path.c_str());
    if (key_created) ::unlink(o.key_path.c_str());
    return failure(err);
  }
  return sha256_fingerprint(cert.get());
}

}  // namespace mtop::tls
