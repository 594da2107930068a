// PostgreSQL session: one PGconn* with parameterised statements (PQexecParams).
// The class is private to postgres_connection.cpp; the rest of the store sees a SqlConnection.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "store/sql_connection.hpp"

struct pg_conn;

namespace mtop::store {

struct PostgresConfig {
  /// libpq conninfo ("host=... dbname=...") or URI ("postgresql://user:pw@host:port/db").
  std::string conninfo;
  /// Used unless the conninfo sets its own connect_timeout.
  unsigned connect_timeout_s = 5;
  /// PostgresUserStore only: keep one more session that LISTENs on the schema's change
  /// notifications, so a cache in front drops a changed user at once (see sql/postgres.sql).
  /// Without it the cache TTL is the only way changes arrive.
  bool listen = false;
};

struct PgConnDeleter {
  void operator()(pg_conn* c) const noexcept;
};
using PgConnPtr = std::unique_ptr<pg_conn, PgConnDeleter>;

/// Opens a libpq session with our defaults (time-outs, keepalives, application_name).
/// Errors: store_unavailable with libpq's reason.
Result<PgConnPtr> connect_postgres(const PostgresConfig& config);

/// Connects: a SqlConnection (a UserAdmin) over one PGconn* with parameterised statements
/// (PQexecParams). Errors: store_unavailable with libpq's reason.
Result<std::unique_ptr<SqlConnection>> open_postgres(const PostgresConfig& config);

/// Rewrites our `?` placeholders as PostgreSQL's `$1, $2, ...` (our SQL has no '?' elsewhere).
std::string postgres_placeholders(std::string_view sql);

}  // namespace mtop::store
