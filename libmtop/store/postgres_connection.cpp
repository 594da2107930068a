#include "store/postgres_connection.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstring>

#include "store/schema_sql.hpp"

namespace mtop::store {
namespace {

struct ResultDeleter {
  void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

std::int64_t to_i64(const char* s) {
  std::int64_t v = 0;
  std::from_chars(s, s + std::strlen(s), v);
  return v;
}

std::string trimmed(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

std::string postgres_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  for (char c : sql) {
    if (c == '?') {
      out += '$';
      out += std::to_string(++n);
    } else {
      out += c;
    }
  }
  return out;
}

void PgConnDeleter::operator()(PGconn* c) const noexcept {
  PQfinish(c);
}

Result<PgConnPtr> connect_postgres(const PostgresConfig& config) {
  // expand_dbname: the conninfo string (or URI) is read as a whole, and key words are applied
  // in array order, so the defaults go first and the conninfo may override any of them.
  const std::string timeout = std::to_string(config.connect_timeout_s);
  // tcp_user_timeout and keepalives: a server that vanishes without closing the connection
  // (power loss, partition) fails the statement within ~10 s instead of hanging a worker.
  const char* keys[] = {
      "connect_timeout",  "tcp_user_timeout", "keepalives_idle", "keepalives_interval",
      "keepalives_count", "application_name", "dbname",          nullptr};
  const char* values[] = {timeout.c_str(),         "10000", "5", "2", "3", "mtop",
                          config.conninfo.c_str(), nullptr};
  PgConnPtr conn(PQconnectdbParams(keys, values, 1));
  if (!conn) return Failure{Errc::store_unavailable, "PostgreSQL: out of memory"};
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return Failure{Errc::store_unavailable,
                   "PostgreSQL connection failed: " + trimmed(PQerrorMessage(conn.get()))};
  }
  // Quiet NOTICEs ("relation exists, skipping") instead of libpq printing them to stderr.
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  return conn;
}

namespace {

// Runs a statement; returns the result when it succeeded, else nullptr with (code, message).
struct Exec {
  PgResult res;
  Errc code = Errc::store_query_failed;
  std::string message;
};

Exec run(PGconn* conn, std::string_view sql, const std::vector<SqlParam>& params) {
  std::vector<std::string> text;
  std::vector<const char*> values;
  text.reserve(params.size());
  for (const auto& p : params) {
    if (std::holds_alternative<std::monostate>(p)) {
      text.emplace_back();
    } else if (const auto* n = std::get_if<std::int64_t>(&p)) {
      text.push_back(std::to_string(*n));
    } else {
      text.push_back(std::get<std::string>(p));
    }
  }
  for (std::size_t i = 0; i < params.size(); ++i)
    values.push_back(std::holds_alternative<std::monostate>(params[i]) ? nullptr : text[i].c_str());
  Exec e;
  const std::string q = postgres_placeholders(sql);
  e.res.reset(PQexecParams(conn, q.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                           nullptr, nullptr, 0));
  ExecStatusType st = e.res ? PQresultStatus(e.res.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return e;
  const char* state = e.res ? PQresultErrorField(e.res.get(), PG_DIAG_SQLSTATE) : nullptr;
  e.message = "PostgreSQL: " + trimmed(PQerrorMessage(conn));
  if (PQstatus(conn) != CONNECTION_OK || (state && std::strncmp(state, "08", 2) == 0) ||
      (state && std::strncmp(state, "57P", 3) == 0)) {
    e.code = Errc::store_unavailable;  // connection exception / admin shutdown
  } else if (state && std::strcmp(state, "23505") == 0) {
    e.code = Errc::store_duplicate_user;
  }
  e.res.reset();
  return e;
}

}  // namespace

namespace {

class PostgresConnection final : public SqlConnection {
 public:
  explicit PostgresConnection(PGconn* conn) : conn_(conn) {}
  ~PostgresConnection() override { PQfinish(conn_); }
  PostgresConnection(const PostgresConnection&) = delete;
  PostgresConnection& operator=(const PostgresConnection&) = delete;
  bool usable() const override { return PQstatus(conn_) == CONNECTION_OK; }

 protected:
  Result<std::uint64_t> execute(std::string_view sql,
                                const std::vector<SqlParam>& params) override {
    Exec e = run(conn_, sql, params);
    if (!e.res) return fail(e.code, std::move(e.message));
    return static_cast<std::uint64_t>(to_i64(PQcmdTuples(e.res.get())));
  }
  Result<std::vector<auth::UserRecord>> query_users(std::string_view sql,
                                                    const std::vector<SqlParam>& params) override {
    Exec e = run(conn_, sql, params);
    if (!e.res) return fail(e.code, std::move(e.message));
    PGresult* r = e.res.get();
    if (PQnfields(r) != kUserColumnCount)
      return fail(Errc::store_query_failed, "PostgreSQL: unexpected columns");
    std::vector<auth::UserRecord> out;
    const int rows = PQntuples(r);
    out.reserve(static_cast<std::size_t>(rows));
    for (int i = 0; i < rows; ++i) {
      auto null = [&](int c) { return PQgetisnull(r, i, c) != 0; };
      auto num = [&](int c) { return to_i64(PQgetvalue(r, i, c)); };
      auth::UserRecord u;
      u.username.assign(PQgetvalue(r, i, 0), static_cast<std::size_t>(PQgetlength(r, i, 0)));
      u.password_hash.assign(PQgetvalue(r, i, 1), static_cast<std::size_t>(PQgetlength(r, i, 1)));
      // Booleans come back as "t"/"f" in text format.
      u.enabled = !null(2) && PQgetvalue(r, i, 2)[0] == 't';
      if (!null(3)) u.expires_at = num(3);
      if (!null(4)) u.max_tunnels = to_u32(num(4));
      if (!null(5)) u.quota_bytes = to_u64(num(5));
      u.used_bytes = to_u64(num(6));
      if (!null(7)) u.rate_limit = to_u64(num(7));
      u.publish.assign(PQgetvalue(r, i, 8), static_cast<std::size_t>(PQgetlength(r, i, 8)));
      out.push_back(std::move(u));
    }
    return out;
  }
  Result<std::optional<std::int64_t>> query_int(std::string_view sql,
                                                const std::vector<SqlParam>& params) override {
    Exec e = run(conn_, sql, params);
    if (!e.res) return fail(e.code, std::move(e.message));
    if (PQntuples(e.res.get()) == 0 || PQnfields(e.res.get()) < 1 || PQgetisnull(e.res.get(), 0, 0))
      return std::optional<std::int64_t>{};
    return std::optional<std::int64_t>(to_i64(PQgetvalue(e.res.get(), 0, 0)));
  }
  const Dialect& dialect() const override {
    // to_regclass finds the table the way the unqualified statements do (search_path).
    static constexpr Dialect kDialect{
        kPostgresSchema, kPostgresToV2,
        "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass(?::text) AND attnum > 0 "
        "AND NOT attisdropped AND (?::text = '' OR attname = ?::name)"};
    return kDialect;
  }
  // DDL is transactional; the advisory lock (released at COMMIT / ROLLBACK) makes a second
  // migration wait for the first and then find the new version.
  Result<void> begin_schema_change() override {
    if (auto r = execute("BEGIN", {}); !r) return r.error();
    if (auto r = execute("SELECT pg_advisory_xact_lock(7418636)", {}); !r) {
      (void)commit_or_rollback(false);
      return r.error();
    }
    return {};
  }
  Result<void> end_schema_change(bool commit) override { return commit_or_rollback(commit); }
  Result<void> run_script(std::string_view script) override {
    // A script with several statements and no parameters: PQexec runs it as one transaction
    // (or inside the one begin_schema_change() opened).
    PgResult r(PQexec(conn_, std::string(script).c_str()));
    if (r && PQresultStatus(r.get()) == PGRES_COMMAND_OK) return {};
    std::string why = "PostgreSQL schema failed: " + trimmed(PQerrorMessage(conn_));
    return fail(usable() ? Errc::store_query_failed : Errc::store_unavailable, std::move(why));
  }

 private:
  PGconn* conn_;
};

}  // namespace

Result<std::unique_ptr<SqlConnection>> open_postgres(const PostgresConfig& config) {
  auto conn = connect_postgres(config);
  if (!conn) return conn.failure();
  return std::unique_ptr<SqlConnection>(std::make_unique<PostgresConnection>(conn->release()));
}

}  // namespace mtop::store
