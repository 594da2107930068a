#include "api/quic_secret.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fstream>
#include <iterator>
#include <vector>

namespace mtop {

Result<std::string> quic_secret_from_key_file(const std::string& key_file) {
  std::ifstream in(key_file, std::ios::binary);
  if (!in)
    return Result<std::string>(Errc::tls_setup_failed, "key '" + key_file + "': cannot open");
  std::vector<char> key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (key.empty())
    return Result<std::string>(Errc::tls_setup_failed, "key '" + key_file + "': empty");
  static constexpr char kLabel[] = "mtop quic server secret v1";
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  const bool ok = HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                       reinterpret_cast<const unsigned char*>(kLabel), sizeof kLabel - 1, out,
                       &out_len) != nullptr;
  OPENSSL_cleanse(key.data(), key.size());  // private key material: do not leave it behind
  if (!ok || out_len != 32) {
    return Result<std::string>(Errc::tls_setup_failed,
                               "key '" + key_file + "': HMAC-SHA256 failed");
  }
  std::string secret(reinterpret_cast<const char*>(out), out_len);
  OPENSSL_cleanse(out, sizeof out);
  return secret;
}

}  // namespace mtop
