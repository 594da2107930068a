#include "store_factory.hpp"

#include "auth/users_file_store.hpp"
#include "store/caching_user_store.hpp"
#include "store/user_admin.hpp"
#ifdef MTOP_HAVE_SQLITE
#include "store/sqlite_connection.hpp"
#include "store/sqlite_user_store.hpp"
#endif
#ifdef MTOP_HAVE_POSTGRES
#include "store/postgres_connection.hpp"
#include "store/postgres_user_store.hpp"
#endif
#ifdef MTOP_HAVE_MYSQL
#include "store/mysql_connection.hpp"
#include "store/mysql_user_store.hpp"
#endif

namespace mtop::server {

namespace {

std::unique_ptr<auth::UserStore> behind_cache(uv_loop_t* loop,
                                              std::unique_ptr<auth::UserStore> backend,
                                              const UsersSource& source, const Logger& log,
                                              std::string& error) {
  store::CacheOptions options;
  options.ttl_ms = source.cache_ttl_ms;
  options.negative_ttl_ms = std::min<std::uint64_t>(source.cache_ttl_ms, 1000);
  options.grace_ms = source.grace_ms;
  auto cache = store::CachingUserStore::create(loop, std::move(backend), options);
  if (!cache) {
    error = std::string("cannot start the user cache: ") + std::string(errc_message(cache.error()));
    return nullptr;
  }
  std::unique_ptr<store::CachingUserStore> c = std::move(*cache);
  Logger l = log;
  c->set_status_callback([l](bool available, const std::string& reason) {
    if (available) {
      l.info("user database is reachable again");
    } else {
      l.error("user database unavailable (" + reason +
              "): recently verified users keep working for the grace time, others are refused");
    }
  });
  return c;
}

}  // namespace

std::unique_ptr<auth::UserStore> open_user_store(uv_loop_t* loop, const UsersSource& source,
                                                 const Logger& log, std::string& error) {
  if (source.type == "file") {
    auth::UsersFileStore::Options options;
    Logger l = log;
    options.on_error = [l](std::string_view e) {
      l.error("users file changed but cannot be used, keeping the old users: " + std::string(e));
    };
    options.on_reload = [l](std::size_t users) {
      l.info("users file reloaded: " + std::to_string(users) + " users");
    };
    return auth::UsersFileStore::open(loop, source.path, std::move(options), error);
  }
  std::unique_ptr<auth::UserStore> backend;
#ifdef MTOP_HAVE_SQLITE
  if (source.type == "sqlite") {
    auto s = store::SqliteUserStore::open(loop, store::SqliteConfig{source.path});
    if (!s) {
      error = "sqlite: " + std::string(errc_message(s.error()));
      return nullptr;
    }
    backend = std::move(*s);
  }
#endif
#ifdef MTOP_HAVE_POSTGRES
  if (source.type == "postgres") {
    store::PostgresConfig config;
    config.conninfo = source.dsn;
    config.listen = true;  // changes arrive at once; the TTL stays the fallback
    auto s = store::PostgresUserStore::open(loop, std::move(config));
    if (!s) {
      error = "postgres: " + std::string(errc_message(s.error()));
      return nullptr;
    }
    backend = std::move(*s);
  }
#endif
#ifdef MTOP_HAVE_MYSQL
  if (source.type == "mysql") {
    auto config = store::parse_mysql_uri(source.dsn);
    if (!config) {
      error = "mysql: dsn must look like mysql://user:password@host:port/database";
      return nullptr;
    }
    auto s = store::MysqlUserStore::open(loop, std::move(*config));
    if (!s) {
      error = "mysql: " + std::string(errc_message(s.error()));
      return nullptr;
    }
    backend = std::move(*s);
  }
#endif
  if (!backend) {
    error = "user store type \"" + source.type + "\" is not supported by this build";
    return nullptr;
  }
  return behind_cache(loop, std::move(backend), source, log, error);
}

std::unique_ptr<store::UserAdmin> open_user_admin(const UsersSource& source, std::string& error) {
#ifdef MTOP_HAVE_SQLITE
  if (source.type == "sqlite") {
    auto c = store::SqliteConnection::open(store::SqliteConfig{source.path}, error);
    if (c) return std::move(*c);
    return nullptr;
  }
#endif
#ifdef MTOP_HAVE_POSTGRES
  if (source.type == "postgres") {
    store::PostgresConfig config;
    config.conninfo = source.dsn;
    auto c = store::PostgresConnection::open(config, error);
    if (c) return std::move(*c);
    return nullptr;
  }
#endif
#ifdef MTOP_HAVE_MYSQL
  if (source.type == "mysql") {
    auto config = store::parse_mysql_uri(source.dsn);
    if (!config) {
      error = "mysql: dsn must look like mysql://user:password@host:port/database";
      return nullptr;
    }
    auto c = store::MysqlConnection::open(*config, error);
    if (c) return std::move(*c);
    return nullptr;
  }
#endif
  error = source.type == "file" ? "the users file is edited directly"
                                : "user store type \"" + source.type + "\" is not supported by this build";
  return nullptr;
}

}  // namespace mtop::server
