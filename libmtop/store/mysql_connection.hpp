// MySQL / MariaDB session: one MYSQL* (libmariadb) with server-side prepared statements.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "store/sql_connection.hpp"

struct st_mysql;

namespace mtop::store {

struct MysqlConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 3306;
  std::string user;
  std::string password;
  std::string database;
  std::string unix_socket;        ///< used instead of host/port when set
  unsigned connect_timeout_s = 5;
  unsigned io_timeout_s = 10;     ///< read and write time-out on the socket
};

/// Parses "mysql://user:password@host:port/database" (or "mariadb://..."); user, password and
/// database may be percent-encoded; "[::1]" for an IPv6 host. Errors: invalid_argument.
Result<MysqlConfig> parse_mysql_uri(std::string_view uri);

class MysqlConnection final : public SqlConnection {
 public:
  /// Connects. Errors: store_unavailable with the server's or the client's reason in `error`.
  static Result<std::unique_ptr<MysqlConnection>> open(const MysqlConfig& config,
                                                       std::string& error);
  ~MysqlConnection() override;
  bool usable() const override { return !broken_; }

 protected:
  Result<std::uint64_t> execute(std::string_view sql, const std::vector<SqlParam>& params) override;
  Result<std::vector<auth::UserRecord>> query_users(std::string_view sql,
                                                    const std::vector<SqlParam>& params) override;
  Result<void> run_schema() override;

 private:
  explicit MysqlConnection(st_mysql* db) : db_(db) {}
  Errc db_fail(unsigned err, const char* message, std::string_view what);
  st_mysql* db_;
  bool broken_ = false;
};

}  // namespace mtop::store
