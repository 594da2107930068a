// Administration of an MTop server's users and certificate, for tools like `mtop-server user
// add` and `gen-cert`: password hashes, a self-signed certificate, and a synchronous UserAdmin
// over the store a UsersSource names (users file, SQLite, PostgreSQL, MySQL).
//
//   auto hash = mtop::hash_password(password);          // "$scrypt$ln=15,r=8,p=1$..."
//   auto admin = mtop::UserAdmin::open(config.users);   // config: mtop::ServerConfig
//   if (!admin) { report(admin.message()); return; }
//   mtop::UserRecord u;  u.username = "alice";  u.password_hash = *hash;
//   if (auto r = (*admin)->add(u); !r) report(r.message());  // "user alice exists"
//
// Everything here blocks the calling thread (hashing is slow on purpose; databases are asked
// synchronously): never call it on a server's loop thread. A UserAdmin is not thread-safe;
// distinct ones may be used from distinct threads. A running server sees the changes by itself
// (it watches the users file, and re-reads database rows after their cache_ttl).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mtop/export.hpp"
#include "mtop/result.hpp"

namespace mtop {

struct UsersSource;  // mtop/server.hpp

/// The user database schema this library writes (sql/*.sql, docs/USERS.md "Schema versions").
/// Version 1 is the schema from before versions were recorded; 2 added UserRecord::publish.
inline constexpr int kUserSchemaVersion = 2;

/// One user, the same in every store (docs/USERS.md).
struct UserRecord {
  std::string username;
  std::string password_hash;  ///< PHC string ($scrypt$... or $pbkdf2-sha256$...)
  bool enabled = true;
  std::optional<std::int64_t> expires_at;    ///< Unix seconds; absent = never
  std::optional<std::uint32_t> max_tunnels;  ///< concurrent tunnels per server; absent = no limit
  std::optional<std::uint64_t> quota_bytes;  ///< up + down; absent = no quota
  std::uint64_t used_bytes = 0;              ///< counted against quota_bytes
  std::optional<std::uint64_t> rate_limit;   ///< bytes/s in each direction; absent = no limit
  /// Public binds this user may publish with reverse tunnels, e.g. "8000-8099" or
  /// "*:2222,192.0.2.10:443,[2001:db8::1]:8080-8081" (grammar: docs/USERS.md); empty = none.
  std::string publish;
};

enum class PasswordScheme : std::uint8_t {
  scrypt,         ///< N = 2^15, r = 8, p = 1 (the default)
  pbkdf2_sha256,  ///< 600,000 iterations
};

/// Hashes `password` with a fresh random salt into a PHC string for a users file or database.
/// Slow on purpose (tens of ms). Errors: invalid_argument (empty or longer than 4096 bytes),
/// invalid_state (OpenSSL has no randomness or KDF), each with a message.
MTOP_CPP_API Result<std::string> hash_password(std::string_view password,
                                               PasswordScheme scheme = PasswordScheme::scrypt);

/// What generate_self_signed_cert() writes.
struct CertGenOptions {
  std::string name;              ///< DNS name (LDH labels) or an IP address; required
  std::vector<std::string> ips;  ///< more IPv4/IPv6 addresses for subjectAltName
  std::string cert_path;         ///< PEM certificate, written with mode 0644
  std::string key_path;          ///< PEM private key (PKCS#8), written with mode 0600
  unsigned valid_days = 3650;    ///< 1 - 36500
  bool overwrite = false;        ///< replace existing files instead of failing
};

/// Writes an ECDSA P-256 key and a self-signed certificate naming options.name (and the ips)
/// for TLS server use; climbers trust it as their CA file or by its pin. Returns the SHA-256
/// fingerprint of the certificate ("AB:CD:..."). On failure nothing new is left behind.
/// Errors: tls_setup_failed with a message (bad name, a file exists, cannot write...).
MTOP_CPP_API Result<std::string> generate_self_signed_cert(const CertGenOptions& options);

/// The users of one store, changed synchronously. The users file is rewritten atomically
/// (a temporary file renamed over it, mode 0600); usage counters are not kept in it.
class MTOP_CPP_API UserAdmin {
 public:
  /// Opens the store `source` names (a missing users file counts as empty; the first change
  /// creates it). Errors: config_invalid (a users file that cannot be parsed, an unknown type,
  /// a malformed URI), not_built_in (a database left out of this build), store_unavailable.
  static Result<std::unique_ptr<UserAdmin>> open(const UsersSource& source);
  ~UserAdmin();
  UserAdmin(const UserAdmin&) = delete;
  UserAdmin& operator=(const UserAdmin&) = delete;

  // Every call's errors come with a message (the database's own where there is one):
  // store_unavailable (cannot connect / connection lost), store_duplicate_user (add of a name
  // that exists), store_no_such_user, store_query_failed (a refused statement, e.g. no schema
  // yet; for the users file: cannot write it), invalid_argument (a value out of range).

  /// Creates the users table if missing (a database), or writes the file; idempotent. A
  /// database with an older schema is refused (store_query_failed): migrate_schema() it.
  Result<void> init_schema();
  /// Upgrades a database made by an older version (docs/USERS.md "Schema versions"), keeping
  /// its users and usage; returns the schema version found, which is the current one when
  /// there was nothing to do (and always for a users file). Errors: store_query_failed (no
  /// users table yet, or a schema newer than this library's), store_unavailable.
  Result<int> migrate_schema();
  /// Adds a user; used_bytes is stored as given (databases).
  Result<void> add(const UserRecord& user);
  Result<void> del(std::string_view username);
  /// Every user, sorted by name.
  Result<std::vector<UserRecord>> list();
  Result<UserRecord> get(std::string_view username);
  Result<void> set_password_hash(std::string_view username, std::string_view phc);
  Result<void> set_enabled(std::string_view username, bool enabled);
  /// Sets quota_bytes (nullopt = no quota); with reset_used, used_bytes goes back to 0.
  Result<void> set_quota(std::string_view username, std::optional<std::uint64_t> bytes,
                         bool reset_used);
  Result<void> set_rate_limit(std::string_view username,
                              std::optional<std::uint64_t> bytes_per_second);
  Result<void> set_max_tunnels(std::string_view username, std::optional<std::uint32_t> max_tunnels);
  /// Unix seconds; nullopt = never expires.
  Result<void> set_expiry(std::string_view username, std::optional<std::int64_t> expires_at);
  /// The public binds the user may publish (UserRecord::publish; "" = none). invalid_argument
  /// with the grant that does not parse; store_query_failed on a database not yet migrated.
  Result<void> set_publish(std::string_view username, std::string_view grants);

 private:
  struct Impl;
  explicit UserAdmin(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mtop
