// PostgreSQL session: one PGconn* with parameterised statements (PQexecParams).
#pragma once

#include <memory>
#include <string>

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
/// Returns null with libpq's reason in `error`.
PgConnPtr connect_postgres(const PostgresConfig& config, std::string& error);

class PostgresConnection final : public SqlConnection {
 public:
  /// Connects. Errors: store_unavailable with libpq's reason in `error`.
  static Result<std::unique_ptr<PostgresConnection>> open(const PostgresConfig& config,
                                                          std::string& error);
  ~PostgresConnection() override;
  bool usable() const override;

 protected:
  Result<std::uint64_t> execute(std::string_view sql, const std::vector<SqlParam>& params) override;
  Result<std::vector<auth::UserRecord>> query_users(std::string_view sql,
                                                    const std::vector<SqlParam>& params) override;
  Result<void> run_schema() override;

 private:
  explicit PostgresConnection(pg_conn* conn) : conn_(conn) {}
  pg_conn* conn_;
};

/// Rewrites our `?` placeholders as PostgreSQL's `$1, $2, ...` (our SQL has no '?' elsewhere).
std::string postgres_placeholders(std::string_view sql);

}  // namespace mtop::store
