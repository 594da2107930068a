#include "admin/bearer_token.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <array>
#include <fstream>
#include <sstream>

namespace mtop::admin {

namespace {

constexpr std::size_t kMinToken = 16;
constexpr std::size_t kMaxToken = 4096;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::array<unsigned char, SHA256_DIGEST_LENGTH> digest(std::string_view s) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> d{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return d;
}

}  // namespace

Result<std::string> read_token_file(const std::string& path) {
  using R = Result<std::string>;
  std::ifstream in(path, std::ios::binary);
  if (!in) return R(Errc::config_invalid, "token file " + path + ": cannot be read");
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  std::size_t begin = 0;
  std::size_t end = text.size();
  while (begin < end && is_space(text[begin])) ++begin;
  while (end > begin && is_space(text[end - 1])) --end;
  std::string token = text.substr(begin, end - begin);
  if (token.size() < kMinToken || token.size() > kMaxToken) {
    return R(Errc::config_invalid, "token file " + path + ": the token must be " +
                                       std::to_string(kMinToken) + " to " +
                                       std::to_string(kMaxToken) + " characters");
  }
  for (const char c : token) {
    if (c <= ' ' || c > '~') {
      return R(Errc::config_invalid,
               "token file " + path + ": the token must be printable ASCII without spaces");
    }
  }
  return token;
}

bool bearer_matches(std::string_view authorization, const std::string& token) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size()) return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    const char c = authorization[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != kScheme[i]) return false;
  }
  std::string_view given = authorization.substr(kScheme.size());
  while (!given.empty() && is_space(given.front())) given.remove_prefix(1);
  while (!given.empty() && is_space(given.back())) given.remove_suffix(1);
  const auto a = digest(given);
  const auto b = digest(token);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0 && !token.empty();
}

}  // namespace mtop::admin
