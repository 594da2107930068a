#include "store_factory.hpp"

#include "auth/users_file_store.hpp"
#include "store/caching_user_store.hpp"
#include "store/user_admin.hpp"
#include "store/open_store.hpp"

namespace mtop::server {

namespace {

// The config names a database by type + path/dsn; the store layer takes one URI.
std::string database_uri(const UsersSource& source) {
  if (source.type == "sqlite") return "sqlite:" + source.path;
  if (source.type == "postgres" && source.dsn.rfind("postgres", 0) != 0) {
    return "postgres:" + source.dsn;  // a libpq "host=... dbname=..." conninfo
  }
  return source.dsn;
}

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
  c->set_status_callback([l = log](bool available, const std::string& reason) {
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
    options.on_error = [l = log](std::string_view e) {
      l.error("users file changed but cannot be used, keeping the old users: " + std::string(e));
    };
    options.on_reload = [l = log](std::size_t users) {
      l.info("users file reloaded: " + std::to_string(users) + " users");
    };
    return auth::UsersFileStore::open(loop, source.path, std::move(options), error);
  }
  store::DatabaseStoreOptions options;
  options.flush_interval_ms = source.flush_ms;
  auto backend = store::open_user_store(loop, database_uri(source), error, options,
                                       /*listen=*/source.type == "postgres");
  if (!backend) return nullptr;
  return behind_cache(loop, std::move(*backend), source, log, error);
}

std::unique_ptr<store::UserAdmin> open_user_admin(const UsersSource& source, std::string& error) {
  if (source.type == "file") {
    error = "the users file is edited directly";
    return nullptr;
  }
  auto admin = store::open_user_admin(database_uri(source), error);
  if (!admin) return nullptr;
  return std::move(*admin);
}

}  // namespace mtop::server
