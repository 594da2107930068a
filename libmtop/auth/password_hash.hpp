// Password hashes as PHC strings (docs/USERS.md, "Password hashes"):
//
//   $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>
//   $pbkdf2-sha256$i=<iterations>$<salt>$<hash>
//
// salt and hash in unpadded standard base64. The stored string may come from a file or a
// database that an attacker could have touched, so parsing enforces bounds on every cost
// parameter and length: a hostile string cannot make a verification take minutes or
// gigabytes. Hashing is slow on purpose; callers run it off the loop thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mtop/bytes.hpp"
#include "mtop/result.hpp"

namespace mtop::auth {

enum class HashScheme { scrypt, pbkdf2_sha256 };

/// Cost parameters for hash_password(). The defaults follow current OWASP guidance.
struct HashParams {
  HashScheme scheme = HashScheme::scrypt;
  unsigned scrypt_log2_n = 15;                ///< N = 2^15: 32 MiB with r = 8
  unsigned scrypt_r = 8;
  unsigned scrypt_p = 1;
  std::uint32_t pbkdf2_iterations = 600'000;  ///< for pbkdf2-sha256
  std::size_t salt_len = 16;
  std::size_t hash_len = 32;
};

/// Bounds that every parsed or requested parameter must respect.
struct HashLimits {
  static constexpr unsigned max_scrypt_log2_n = 20;
  static constexpr unsigned max_scrypt_r = 32;
  static constexpr unsigned max_scrypt_p = 16;
  /// 128 * r * N bytes of scrypt memory: at most 1 GiB (ln=20, r=8).
  static constexpr std::uint64_t max_scrypt_memory = std::uint64_t{1} << 30;
  /// N * r * p, the scrypt work factor: at most ln=20, r=8, p=2.
  static constexpr std::uint64_t max_scrypt_work = std::uint64_t{1} << 24;
  static constexpr std::uint32_t max_pbkdf2_iterations = 5'000'000;
  static constexpr std::size_t min_salt_len = 8;
  static constexpr std::size_t max_salt_len = 64;
  static constexpr std::size_t min_hash_len = 16;
  static constexpr std::size_t max_hash_len = 64;
  static constexpr std::size_t max_phc_len = 512;
  static constexpr std::size_t max_password_len = 4096;
};

/// A PHC string taken apart (the result of parse_phc).
struct PhcHash {
  HashScheme scheme = HashScheme::scrypt;
  unsigned scrypt_log2_n = 0;
  unsigned scrypt_r = 0;
  unsigned scrypt_p = 0;
  std::uint32_t pbkdf2_iterations = 0;
  Bytes salt;
  Bytes hash;
};

/// Parses and bounds-checks a PHC string. Errors: invalid_argument with a short log-safe
/// reason ("unknown hash scheme ...", "scrypt ln out of range (1-20)", ...) that never
/// repeats the salt or hash.
Result<PhcHash> parse_phc(std::string_view phc);

/// Formats a parsed hash back into its PHC string.
std::string format_phc(const PhcHash& h);

/// Hashes `password` with a fresh random salt (RAND_bytes) into a PHC string.
/// Errors: invalid_argument (parameters outside HashLimits, password longer than
/// max_password_len), invalid_state (OpenSSL failed: no randomness, KDF unavailable).
Result<std::string> hash_password(std::string_view password, const HashParams& params = {});

/// Checks `password` against the PHC string `phc`, comparing in constant time.
/// Returns true/false for a well-formed string; Errc::invalid_argument for a malformed or
/// out-of-bounds string (never "false": a broken store must be visible, not look like a
/// wrong password); Errc::invalid_state if OpenSSL fails. A password longer than
/// max_password_len is simply false (hash_password never accepts one).
Result<bool> verify_password(std::string_view phc, std::string_view password);

}  // namespace mtop::auth
