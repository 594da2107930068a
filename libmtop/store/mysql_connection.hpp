// MySQL / MariaDB session: one MYSQL* (libmariadb) with server-side prepared statements.
// The class is private to mysql_connection.cpp; the rest of the store sees a SqlConnection.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "store/sql_connection.hpp"

namespace mtop::store {

struct MysqlConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 3306;
  std::string user;
  std::string password;
  std::string database;
  std::string unix_socket;  ///< used instead of host/port when set
  unsigned connect_timeout_s = 5;
  unsigned io_timeout_s = 10;  ///< read and write time-out on the socket
};

/// Parses "mysql://user:password@host:port/database" (or "mariadb://..."); user, password and
/// database may be percent-encoded; "[::1]" for an IPv6 host. Errors: invalid_argument.
Result<MysqlConfig> parse_mysql_uri(std::string_view uri);

/// Connects: a SqlConnection (a UserAdmin) over one MYSQL* with server-side prepared
/// statements. Errors: store_unavailable with the server's or the client's reason.
Result<std::unique_ptr<SqlConnection>> open_mysql(const MysqlConfig& config);

}  // namespace mtop::store
