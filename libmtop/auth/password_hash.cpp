#include "auth/password_hash.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <charconv>

#include "auth/phc_base64.hpp"

namespace mtop::auth {

namespace {

constexpr std::string_view kScrypt = "scrypt";
constexpr std::string_view kPbkdf2 = "pbkdf2-sha256";

Failure fail(std::string_view reason) {
  return Failure{Errc::invalid_argument, std::string(reason)};
}

// Splits off the text up to the next '$' (or the end).
std::string_view next_field(std::string_view& rest) {
  const auto pos = rest.find('$');
  std::string_view field = rest.substr(0, pos);
  rest = pos == std::string_view::npos ? std::string_view{} : rest.substr(pos + 1);
  return field;
}

// "name=123": a strict decimal (no sign, no leading zero, at most 10 digits) after `name=`.
bool parse_param(std::string_view text, std::string_view name, std::uint64_t& out) {
  if (text.size() <= name.size() + 1 || text.substr(0, name.size()) != name ||
      text[name.size()] != '=') {
    return false;
  }
  const std::string_view digits = text.substr(name.size() + 1);
  if (digits.size() > 10 || (digits.size() > 1 && digits[0] == '0')) return false;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), out);
  return r.ec == std::errc{} && r.ptr == digits.data() + digits.size();
}

// Checks scrypt parameters against HashLimits; the failure says why.
Result<void> scrypt_params_ok(std::uint64_t ln, std::uint64_t r, std::uint64_t p) {
  if (ln < 1 || ln > HashLimits::max_scrypt_log2_n) {
    return fail("scrypt ln out of range (1-20)");
  }
  if (r < 1 || r > HashLimits::max_scrypt_r) {
    return fail("scrypt r out of range (1-32)");
  }
  if (p < 1 || p > HashLimits::max_scrypt_p) {
    return fail("scrypt p out of range (1-16)");
  }
  const std::uint64_t n = std::uint64_t{1} << ln;
  if (128 * r * n > HashLimits::max_scrypt_memory) {
    return fail("scrypt memory (128*r*N) above 1 GiB");
  }
  if (n * r * p > HashLimits::max_scrypt_work) {
    return fail("scrypt work (N*r*p) above 2^24");
  }
  return {};
}

Result<void> pbkdf2_params_ok(std::uint64_t i) {
  if (i < 1 || i > HashLimits::max_pbkdf2_iterations) {
    return fail("pbkdf2 iterations out of range (1-5000000)");
  }
  return {};
}

// Runs the KDF of `h` (scheme, parameters, salt) over `password` into `out` (out.size() bytes).
bool derive(const PhcHash& h, std::string_view password, Bytes& out) {
  if (h.scheme == HashScheme::scrypt) {
    const std::uint64_t n = std::uint64_t{1} << h.scrypt_log2_n;
    // OpenSSL's own memory estimate is a little above 128*r*N (plus 128*r*p for B); our
    // bounds already cap the cost, so give it room rather than a second, tighter limit.
    const std::uint64_t maxmem = HashLimits::max_scrypt_memory * 2;
    return EVP_PBE_scrypt(password.data(), password.size(), h.salt.data(), h.salt.size(), n,
                          h.scrypt_r, h.scrypt_p, maxmem, out.data(), out.size()) == 1;
  }
  return PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), h.salt.data(),
                           static_cast<int>(h.salt.size()),
                           static_cast<int>(h.pbkdf2_iterations), EVP_sha256(),
                           static_cast<int>(out.size()), out.data()) == 1;
}

}  // namespace

Result<PhcHash> parse_phc(std::string_view phc) {
  if (phc.size() > HashLimits::max_phc_len) return fail("hash string too long");
  if (phc.empty() || phc[0] != '$') return fail("not a PHC string (must start with '$')");
  std::string_view rest = phc.substr(1);
  const std::string_view id = next_field(rest);
  if (id != kScrypt && id != kPbkdf2) {
    return fail("unknown hash scheme (expected scrypt or pbkdf2-sha256)");
  }
  // Exactly $id$params$salt$hash: three more '$'-separated fields.
  std::size_t dollars = 0;
  for (char c : phc) dollars += c == '$';
  if (dollars < 4) return fail("missing fields (expected $id$params$salt$hash)");
  if (dollars > 4) return fail("too many '$' fields");
  const std::string_view params = next_field(rest);
  const std::string_view salt = next_field(rest);
  const std::string_view hash = next_field(rest);

  PhcHash h;
  if (id == kScrypt) {
    h.scheme = HashScheme::scrypt;
    // PHC fixes the parameter order for a function: ln, r, p.
    const auto c1 = params.find(',');
    const auto c2 = c1 == std::string_view::npos ? c1 : params.find(',', c1 + 1);
    if (c2 == std::string_view::npos || params.find(',', c2 + 1) != std::string_view::npos) {
      return fail("scrypt parameters must be ln=..,r=..,p=..");
    }
    std::uint64_t ln = 0, r = 0, p = 0;
    if (!parse_param(params.substr(0, c1), "ln", ln) ||
        !parse_param(params.substr(c1 + 1, c2 - c1 - 1), "r", r) ||
        !parse_param(params.substr(c2 + 1), "p", p)) {
      return fail("scrypt parameters must be ln=..,r=..,p=..");
    }
    if (auto ok = scrypt_params_ok(ln, r, p); !ok) return ok.failure();
    h.scrypt_log2_n = static_cast<unsigned>(ln);
    h.scrypt_r = static_cast<unsigned>(r);
    h.scrypt_p = static_cast<unsigned>(p);
  } else {
    h.scheme = HashScheme::pbkdf2_sha256;
    std::uint64_t i = 0;
    if (!parse_param(params, "i", i)) return fail("pbkdf2-sha256 parameters must be i=..");
    if (auto ok = pbkdf2_params_ok(i); !ok) return ok.failure();
    h.pbkdf2_iterations = static_cast<std::uint32_t>(i);
  }

  auto salt_bytes = phc_b64_decode(salt);
  if (!salt_bytes) return fail("salt is not valid base64");
  if (salt_bytes->size() < HashLimits::min_salt_len ||
      salt_bytes->size() > HashLimits::max_salt_len) {
    return fail("salt length out of range (8-64 bytes)");
  }
  auto hash_bytes = phc_b64_decode(hash);
  if (!hash_bytes) return fail("hash is not valid base64");
  if (hash_bytes->size() < HashLimits::min_hash_len ||
      hash_bytes->size() > HashLimits::max_hash_len) {
    return fail("hash length out of range (16-64 bytes)");
  }
  h.salt = std::move(*salt_bytes);
  h.hash = std::move(*hash_bytes);
  return h;
}

std::string format_phc(const PhcHash& h) {
  std::string out = "$";
  if (h.scheme == HashScheme::scrypt) {
    out += kScrypt;
    out += "$ln=" + std::to_string(h.scrypt_log2_n) + ",r=" + std::to_string(h.scrypt_r) +
           ",p=" + std::to_string(h.scrypt_p);
  } else {
    out += kPbkdf2;
    out += "$i=" + std::to_string(h.pbkdf2_iterations);
  }
  out += '$';
  out += phc_b64_encode(h.salt);
  out += '$';
  out += phc_b64_encode(h.hash);
  return out;
}

Result<std::string> hash_password(std::string_view password, const HashParams& params) {
  if (password.size() > HashLimits::max_password_len) return Errc::invalid_argument;
  if (params.salt_len < HashLimits::min_salt_len || params.salt_len > HashLimits::max_salt_len ||
      params.hash_len < HashLimits::min_hash_len || params.hash_len > HashLimits::max_hash_len) {
    return Errc::invalid_argument;
  }
  PhcHash h;
  h.scheme = params.scheme;
  if (params.scheme == HashScheme::scrypt) {
    if (auto ok = scrypt_params_ok(params.scrypt_log2_n, params.scrypt_r, params.scrypt_p); !ok) {
      return ok.failure();
    }
    h.scrypt_log2_n = params.scrypt_log2_n;
    h.scrypt_r = params.scrypt_r;
    h.scrypt_p = params.scrypt_p;
  } else {
    if (auto ok = pbkdf2_params_ok(params.pbkdf2_iterations); !ok) return ok.failure();
    h.pbkdf2_iterations = params.pbkdf2_iterations;
  }
  h.salt.resize(params.salt_len);
  if (RAND_bytes(h.salt.data(), static_cast<int>(h.salt.size())) != 1) return Errc::invalid_state;
  h.hash.resize(params.hash_len);
  if (!derive(h, password, h.hash)) return Errc::invalid_state;
  return format_phc(h);
}

Result<bool> verify_password(std::string_view phc, std::string_view password) {
  auto parsed = parse_phc(phc);
  if (!parsed) return parsed.error();
  if (password.size() > HashLimits::max_password_len) return false;
  Bytes computed(parsed->hash.size());
  if (!derive(*parsed, password, computed)) return Errc::invalid_state;
  const bool same = CRYPTO_memcmp(computed.data(), parsed->hash.data(), computed.size()) == 0;
  OPENSSL_cleanse(computed.data(), computed.size());
  return same;
}

}  // namespace mtop::auth
