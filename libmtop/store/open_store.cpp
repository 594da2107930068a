#include "store/open_store.hpp"

#ifdef MTOP_HAVE_SQLITE
#include "store/sqlite_user_store.hpp"
#endif
#ifdef MTOP_HAVE_POSTGRES
#include "store/postgres_user_store.hpp"
#endif
#ifdef MTOP_HAVE_MYSQL
#include "store/mysql_user_store.hpp"
#endif

namespace mtop::store {
namespace {

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

[[maybe_unused]] Failure not_built(std::string_view what) {
  return Failure{Errc::invalid_argument, std::string(what) +
                                             " support is not built in (CMake option MTOP_WITH_" +
                                             (what == "SQLite"       ? "SQLITE"
                                              : what == "PostgreSQL" ? "POSTGRES"
                                                                     : "MYSQL") +
                                             ")"};
}

}  // namespace

Result<DatabaseTarget> parse_database_uri(std::string_view uri) {
  DatabaseTarget t;
  if (starts_with(uri, "sqlite:")) {
    t.backend = Backend::sqlite;
    std::string_view path = uri.substr(7);
    if (starts_with(path, "//")) path.remove_prefix(2);
    t.location = std::string(path);
  } else if (starts_with(uri, "postgresql://") || starts_with(uri, "postgres://")) {
    t.backend = Backend::postgres;
    t.location = std::string(uri);
  } else if (starts_with(uri, "postgres:")) {
    t.backend = Backend::postgres;
    t.location = std::string(uri.substr(9));
  } else if (starts_with(uri, "mysql://") || starts_with(uri, "mariadb://")) {
    t.backend = Backend::mysql;
    t.location = std::string(uri);
  } else {
    return Failure{Errc::invalid_argument,
                   "unknown database URI (expected sqlite:PATH, postgresql://... or mysql://...)"};
  }
  if (t.location.empty() || t.location.find('\0') != std::string::npos) {
    return Failure{Errc::invalid_argument, "database URI without a location"};
  }
  // One test per backend rather than a switch: with a backend built in, its case would be an
  // empty branch identical to its neighbour's.
#ifndef MTOP_HAVE_SQLITE
  if (t.backend == Backend::sqlite) return not_built("SQLite");
#endif
#ifndef MTOP_HAVE_POSTGRES
  if (t.backend == Backend::postgres) return not_built("PostgreSQL");
#endif
#ifdef MTOP_HAVE_MYSQL
  if (t.backend == Backend::mysql && !parse_mysql_uri(t.location)) {
    return Failure{Errc::invalid_argument,
                   "malformed MySQL URI (expected mysql://user:password@host:port/database)"};
  }
#else
  if (t.backend == Backend::mysql) return not_built("MySQL");
#endif
  return t;
}

Result<std::unique_ptr<UserAdmin>> open_user_admin(std::string_view uri) {
  auto t = parse_database_uri(uri);
  if (!t) return t.failure();
  switch (t->backend) {
#ifdef MTOP_HAVE_SQLITE
    case Backend::sqlite: {
      auto c = open_sqlite(SqliteConfig{t->location});
      if (!c) return c.failure();
      return std::unique_ptr<UserAdmin>(std::move(*c));
    }
#endif
#ifdef MTOP_HAVE_POSTGRES
    case Backend::postgres: {
      auto c = open_postgres(PostgresConfig{t->location});
      if (!c) return c.failure();
      return std::unique_ptr<UserAdmin>(std::move(*c));
    }
#endif
#ifdef MTOP_HAVE_MYSQL
    case Backend::mysql: {
      auto c = open_mysql(*parse_mysql_uri(t->location));
      if (!c) return c.failure();
      return std::unique_ptr<UserAdmin>(std::move(*c));
    }
#endif
    default:
      break;
  }
  return Failure{Errc::invalid_argument, "backend not built in"};
}

Result<std::unique_ptr<DatabaseUserStore>> open_user_store(uv_loop_t* loop, std::string_view uri,
                                                           DatabaseStoreOptions options,
                                                           bool listen) {
  auto t = parse_database_uri(uri);
  if (!t) return t.failure();
  // Unused when every backend is left out of the build (-DMTOP_WITH_*=OFF).
  (void)loop;
  (void)options;
  (void)listen;
  switch (t->backend) {
#ifdef MTOP_HAVE_SQLITE
    case Backend::sqlite: {
      // SQLite serialises writers anyway; one worker avoids its lock contention.
      options.workers = 1;
      auto s = SqliteUserStore::open(loop, SqliteConfig{t->location}, options);
      if (!s) return s.failure();
      return std::unique_ptr<DatabaseUserStore>(std::move(*s));
    }
#endif
#ifdef MTOP_HAVE_POSTGRES
    case Backend::postgres: {
      PostgresConfig c{t->location};
      c.listen = listen;
      auto s = PostgresUserStore::open(loop, c, options);
      if (!s) return s.failure();
      return std::unique_ptr<DatabaseUserStore>(std::move(*s));
    }
#endif
#ifdef MTOP_HAVE_MYSQL
    case Backend::mysql: {
      auto s = MysqlUserStore::open(loop, *parse_mysql_uri(t->location), options);
      if (!s) return s.failure();
      return std::unique_ptr<DatabaseUserStore>(std::move(*s));
    }
#endif
    default:
      break;
  }
  return Failure{Errc::invalid_argument, "backend not built in"};
}

}  // namespace mtop::store
