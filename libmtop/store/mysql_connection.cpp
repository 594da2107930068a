#include "store/mysql_connection.hpp"

#include "mtop/host_port.hpp"
#include "mtop/percent.hpp"

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include <cstring>
#include <mutex>

#include "auth/publish_grants.hpp"
#include "store/schema_sql.hpp"

namespace mtop::store {
namespace {

struct MysqlDeleter {
  void operator()(MYSQL* m) const noexcept { mysql_close(m); }
};
struct StmtDeleter {
  void operator()(MYSQL_STMT* s) const noexcept { mysql_stmt_close(s); }
};
using Stmt = std::unique_ptr<MYSQL_STMT, StmtDeleter>;

// mysql_library_init is not thread-safe and mysql_init() calls it implicitly, so the first
// connection from any worker thread goes through this once. Process-wide by nature of the
// client library, not state of ours.
void library_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
}

// A server gone, a lost connection or a server shutting down: the session is dead.
bool connection_lost(unsigned err) {
  return (err >= 2000 && err < 3000) || err == ER_SERVER_SHUTDOWN || err == ER_CONNECTION_KILLED;
}

}  // namespace

Result<MysqlConfig> parse_mysql_uri(std::string_view uri) {
  MysqlConfig c;
  std::string_view rest;
  for (std::string_view scheme : {"mysql://", "mariadb://"}) {
    if (uri.substr(0, scheme.size()) == scheme) rest = uri.substr(scheme.size());
  }
  if (rest.empty()) return Errc::invalid_argument;
  if (auto q = rest.find('?'); q != std::string_view::npos) return Errc::invalid_argument;
  std::string_view authority = rest, path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    std::string_view user = userinfo, pass;
    if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
      user = userinfo.substr(0, colon);
      pass = userinfo.substr(colon + 1);
    }
    if (!percent_decode(user, c.user) || !percent_decode(pass, c.password))
      return Errc::invalid_argument;
  }
  HostPortOptions host_rules;
  host_rules.default_port = c.port;
  auto host = parse_host_port(authority, host_rules);
  if (!host) return Errc::invalid_argument;
  c.host = std::move(host->host);
  c.port = host->port;
  if (!percent_decode(path, c.database) || c.database.find('/') != std::string::npos)
    return Errc::invalid_argument;
  return c;
}

namespace {

// Parameter buffers that outlive mysql_stmt_execute.
struct Bound {
  std::vector<MYSQL_BIND> binds;
  std::vector<long long> ints;
  std::vector<unsigned long> lengths;
  std::vector<my_bool> nulls;

  explicit Bound(const std::vector<SqlParam>& params)
      : binds(params.size()), ints(params.size()), lengths(params.size()), nulls(params.size()) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      MYSQL_BIND& b = binds[i];
      std::memset(&b, 0, sizeof b);
      const SqlParam& p = params[i];
      if (std::holds_alternative<std::monostate>(p)) {
        nulls[i] = 1;
        b.buffer_type = MYSQL_TYPE_NULL;
        b.is_null = &nulls[i];
      } else if (const auto* n = std::get_if<std::int64_t>(&p)) {
        ints[i] = *n;
        b.buffer_type = MYSQL_TYPE_LONGLONG;
        b.buffer = &ints[i];
      } else {
        const auto& s = std::get<std::string>(p);
        lengths[i] = s.size();
        b.buffer_type = MYSQL_TYPE_STRING;
        b.buffer = const_cast<char*>(s.data());
        b.buffer_length = s.size();
        b.length = &lengths[i];
      }
    }
  }
};

}  // namespace

namespace {

class MysqlConnection final : public SqlConnection {
 public:
  explicit MysqlConnection(MYSQL* db) : db_(db) {}
  ~MysqlConnection() override { mysql_close(db_); }
  MysqlConnection(const MysqlConnection&) = delete;
  MysqlConnection& operator=(const MysqlConnection&) = delete;
  bool usable() const override { return !broken_; }

 protected:
  Result<std::uint64_t> execute(std::string_view sql,
                                const std::vector<SqlParam>& params) override {
    if (params.empty()) {
      // BEGIN / COMMIT / ROLLBACK: constant text, no user data.
      if (mysql_real_query(db_, sql.data(), sql.size()) != 0)
        return db_fail(mysql_errno(db_), mysql_error(db_), "MySQL statement failed");
      return static_cast<std::uint64_t>(mysql_affected_rows(db_));
    }
    auto st = prepare(sql);
    if (!st) return st.error();
    if (auto r = run(st->get(), params, "MySQL statement failed"); !r) return r.error();
    return static_cast<std::uint64_t>(mysql_stmt_affected_rows(st->get()));
  }
  Result<std::vector<auth::UserRecord>> query_users(std::string_view sql,
                                                    const std::vector<SqlParam>& params) override {
    auto prepared = prepare(sql);
    if (!prepared) return prepared.error();
    MYSQL_STMT* st = prepared->get();
    if (mysql_stmt_field_count(st) != kUserColumnCount)
      return fail(Errc::store_query_failed, "MySQL: unexpected columns");
    if (auto r = run(st, params, "MySQL query failed"); !r) return r.error();

    // Output: two strings, six integers and a string (strings re-fetched at full length when
    // longer than their buffer), each with its NULL flag.
    MYSQL_BIND out[kUserColumnCount];
    std::memset(out, 0, sizeof out);
    char name_buf[kMaxUsernameBytes + 1];
    char hash_buf[kMaxPasswordHashBytes + 1];
    char publish_buf[auth::PublishGrants::max_text + 1];
    unsigned long lengths[kUserColumnCount] = {};
    my_bool nulls[kUserColumnCount] = {};
    long long ints[kUserColumnCount] = {};
    for (int i = 0; i < kUserColumnCount; ++i) {
      out[i].length = &lengths[i];
      out[i].is_null = &nulls[i];
      if (i < 2 || i == 8) {
        char* buf = i == 0 ? name_buf : i == 1 ? hash_buf : publish_buf;
        out[i].buffer_type = MYSQL_TYPE_STRING;
        out[i].buffer = buf;
        out[i].buffer_length = i == 0   ? sizeof name_buf
                               : i == 1 ? sizeof hash_buf
                                        : sizeof publish_buf;
      } else {
        out[i].buffer_type = MYSQL_TYPE_LONGLONG;
        out[i].buffer = &ints[i];
      }
    }
    if (mysql_stmt_bind_result(st, out) != 0) return statement_failed(st, "MySQL bind failed");
    if (mysql_stmt_store_result(st) != 0) return statement_failed(st, "MySQL query failed");

    auto text = [&](int col, char* buf, std::string& dst) -> bool {
      if (nulls[col]) {
        dst.clear();
        return true;
      }
      if (lengths[col] <= out[col].buffer_length) {
        dst.assign(buf, lengths[col]);
        return true;
      }
      dst.resize(lengths[col]);
      MYSQL_BIND b;
      std::memset(&b, 0, sizeof b);
      b.buffer_type = MYSQL_TYPE_STRING;
      b.buffer = dst.data();
      b.buffer_length = dst.size();
      return mysql_stmt_fetch_column(st, &b, static_cast<unsigned>(col), 0) == 0;
    };

    std::vector<auth::UserRecord> users;
    for (;;) {
      int rc = mysql_stmt_fetch(st);
      if (rc == MYSQL_NO_DATA) break;
      if (rc == 1) return statement_failed(st, "MySQL fetch failed");
      auth::UserRecord u;
      if (!text(0, name_buf, u.username) || !text(1, hash_buf, u.password_hash) ||
          !text(8, publish_buf, u.publish))
        return statement_failed(st, "MySQL fetch failed");
      u.enabled = !nulls[2] && ints[2] != 0;
      if (!nulls[3]) u.expires_at = ints[3];
      if (!nulls[4]) u.max_tunnels = to_u32(ints[4]);
      if (!nulls[5]) u.quota_bytes = to_u64(ints[5]);
      u.used_bytes = nulls[6] ? 0 : to_u64(ints[6]);
      if (!nulls[7]) u.rate_limit = to_u64(ints[7]);
      users.push_back(std::move(u));
    }
    return users;
  }
  Result<std::optional<std::int64_t>> query_int(std::string_view sql,
                                                const std::vector<SqlParam>& params) override {
    auto prepared = prepare(sql);
    if (!prepared) return prepared.error();
    MYSQL_STMT* st = prepared->get();
    if (auto r = run(st, params, "MySQL query failed"); !r) return r.error();
    MYSQL_BIND out;
    std::memset(&out, 0, sizeof out);
    long long value = 0;
    my_bool null = 0;
    out.buffer_type = MYSQL_TYPE_LONGLONG;
    out.buffer = &value;
    out.is_null = &null;
    if (mysql_stmt_bind_result(st, &out) != 0) return statement_failed(st, "MySQL bind failed");
    if (mysql_stmt_store_result(st) != 0) return statement_failed(st, "MySQL query failed");
    const int rc = mysql_stmt_fetch(st);
    if (rc == MYSQL_NO_DATA || (rc == 0 && null)) return std::optional<std::int64_t>{};
    if (rc != 0) return statement_failed(st, "MySQL fetch failed");
    return std::optional<std::int64_t>(value);
  }
  const Dialect& dialect() const override {
    static constexpr Dialect kDialect{
        kMysqlSchema, kMysqlToV2,
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = DATABASE() "
        "AND table_name = ? AND (? = '' OR column_name = ?)"};
    return kDialect;
  }
  // DDL commits at once in MySQL: no transaction, a named lock (the session's; released by
  // end_schema_change or when the session ends) so that two migrations do not interleave.
  Result<void> begin_schema_change() override {
    auto got = query_int("SELECT GET_LOCK('mtop_schema', 30)", {});
    if (!got) return got.error();
    if (*got != 1)
      return fail(Errc::store_unavailable,
                  "MySQL: another schema change held the lock 'mtop_schema' for 30 s");
    return {};
  }
  Result<void> end_schema_change(bool) override {
    const std::string why = error_;
    (void)query_int("SELECT RELEASE_LOCK('mtop_schema')", {});
    error_ = why;
    return {};
  }
  Result<void> run_script(std::string_view script) override {
    // The script holds one statement per ';' at a line end; comments are left to the server.
    while (!script.empty()) {
      auto end = script.find(";\n");
      std::string_view stmt = script.substr(0, end == std::string_view::npos ? script.size() : end);
      script = end == std::string_view::npos ? std::string_view{} : script.substr(end + 2);
      if (stmt.find_first_not_of(" \t\r\n") == std::string_view::npos) continue;
      if (mysql_real_query(db_, stmt.data(), stmt.size()) != 0)
        return db_fail(mysql_errno(db_), mysql_error(db_), "MySQL schema failed");
    }
    return {};
  }

 private:
  // The steps every statement with parameters shares. Their messages name the step:
  // "MySQL statement failed" (no statement handle), "MySQL prepare failed", then `what`.
  Result<Stmt> prepare(std::string_view sql) {
    Stmt st(mysql_stmt_init(db_));
    if (!st) return db_fail(mysql_errno(db_), mysql_error(db_), "MySQL statement failed");
    if (mysql_stmt_prepare(st.get(), sql.data(), sql.size()) != 0)
      return statement_failed(st.get(), "MySQL prepare failed");
    return st;
  }
  /// Binds `params` (none: nothing to bind) and executes `st`.
  Result<void> run(MYSQL_STMT* st, const std::vector<SqlParam>& params, std::string_view what) {
    Bound bound(params);  // read by mysql_stmt_execute, not after it
    if ((!params.empty() && mysql_stmt_bind_param(st, bound.binds.data()) != 0) ||
        mysql_stmt_execute(st) != 0)
      return statement_failed(st, what);
    return {};
  }
  Errc statement_failed(MYSQL_STMT* st, std::string_view what) {
    return db_fail(mysql_stmt_errno(st), mysql_stmt_error(st), what);
  }
  Errc db_fail(unsigned err, const char* message, std::string_view what) {
    std::string msg = std::string(what) + ": " + (message ? message : "unknown error");
    if (connection_lost(err)) {
      broken_ = true;
      return fail(Errc::store_unavailable, std::move(msg));
    }
    if (err == ER_DUP_ENTRY) return fail(Errc::store_duplicate_user, std::move(msg));
    if (err == ER_LOCK_WAIT_TIMEOUT) return fail(Errc::store_unavailable, std::move(msg));
    return fail(Errc::store_query_failed, std::move(msg));
  }
  MYSQL* db_;
  bool broken_ = false;
};

}  // namespace

Result<std::unique_ptr<SqlConnection>> open_mysql(const MysqlConfig& config) {
  library_init_once();
  std::unique_ptr<MYSQL, MysqlDeleter> db(mysql_init(nullptr));
  if (!db) {
    return Failure{Errc::store_unavailable, "MySQL: out of memory"};
  }
  unsigned ct = config.connect_timeout_s, io = config.io_timeout_s;
  mysql_options(db.get(), MYSQL_OPT_CONNECT_TIMEOUT, &ct);
  mysql_options(db.get(), MYSQL_OPT_READ_TIMEOUT, &io);
  mysql_options(db.get(), MYSQL_OPT_WRITE_TIMEOUT, &io);
  // Never reconnect behind our back: a silent reconnect would lose a transaction's state.
  my_bool no = 0;
  mysql_options(db.get(), MYSQL_OPT_RECONNECT, &no);
  mysql_options(db.get(), MYSQL_SET_CHARSET_NAME, "utf8mb4");
  const bool socket = !config.unix_socket.empty();
  // CLIENT_FOUND_ROWS: an UPDATE that matches a row counts it even when nothing changed, so
  // "no such user" is never reported for an existing user set to its current value.
  if (!mysql_real_connect(db.get(), socket ? nullptr : config.host.c_str(), config.user.c_str(),
                          config.password.c_str(),
                          config.database.empty() ? nullptr : config.database.c_str(),
                          socket ? 0 : config.port, socket ? config.unix_socket.c_str() : nullptr,
                          CLIENT_FOUND_ROWS)) {
    return Failure{Errc::store_unavailable,
                   std::string("MySQL connection failed: ") + mysql_error(db.get())};
  }
  return std::unique_ptr<SqlConnection>(std::make_unique<MysqlConnection>(db.release()));
}

}  // namespace mtop::store
