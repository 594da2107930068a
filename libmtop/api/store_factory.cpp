#include "api/store_factory.hpp"

#include <algorithm>
#include <string>

#include "api/file_user_admin.hpp"
#include "auth/users_file_store.hpp"
#include "store/caching_user_store.hpp"
#include "store/open_store.hpp"

namespace mtop {

namespace {

// The config names a database by type + path/dsn; the store layer takes one URI.
std::string database_uri(const UsersSource& source) {
  if (source.type == "sqlite") return "sqlite:" + source.path;
  if (source.type == "postgres" && source.dsn.rfind("postgres", 0) != 0) {
    return "postgres:" + source.dsn;  // a libpq "host=... dbname=..." conninfo
  }
  return source.dsn;
}

// The store layer says invalid_argument both for a malformed URI and for a backend left out of
// the build; its message tells them apart.
Failure store_failure(Errc code, std::string message) {
  if (code == Errc::invalid_argument) {
    code = message.find("not built in") != std::string::npos ? Errc::not_built_in
                                                             : Errc::config_invalid;
  }
  return Failure{code, std::move(message)};
}

Result<void> check_type(const UsersSource& source) {
  if (source.type == "file" || source.type == "sqlite" || source.type == "postgres" ||
      source.type == "mysql") {
    return {};
  }
  return Result<void>(Errc::config_invalid, "users.type: one of file, sqlite, postgres, mysql");
}

Result<std::unique_ptr<auth::UserStore>> behind_cache(uv_loop_t* loop,
                                                      std::unique_ptr<auth::UserStore> backend,
                                                      const UsersSource& source,
                                                      const Logger& log) {
  store::CacheOptions options;
  options.ttl_ms = source.cache_ttl_ms;
  options.negative_ttl_ms = std::min<std::uint64_t>(source.cache_ttl_ms, 1000);
  options.grace_ms = source.grace_ms;
  auto cache = store::CachingUserStore::create(loop, std::move(backend), options);
  if (!cache) {
    return Failure{Errc::system_error, std::string("cannot start the user cache: ") +
                                           std::string(errc_message(cache.error()))};
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
  return std::unique_ptr<auth::UserStore>(std::move(c));
}

}  // namespace

Result<std::unique_ptr<auth::UserStore>> open_user_store(uv_loop_t* loop, const UsersSource& source,
                                                         const Logger& log) {
  if (auto r = check_type(source); !r) return r.failure();
  if (source.type == "file") {
    auth::UsersFileStore::Options options;
    options.on_error = [l = log](std::string_view e) {
      l.error("users file changed but cannot be used, keeping the old users: " + std::string(e));
    };
    options.on_reload = [l = log](std::size_t users) {
      l.info("users file reloaded: " + std::to_string(users) + " users");
    };
    auto file = auth::UsersFileStore::open(loop, source.path, std::move(options));
    if (!file) return Failure{Errc::config_invalid, std::string(file.message())};
    return std::unique_ptr<auth::UserStore>(std::move(*file));
  }
  store::DatabaseStoreOptions options;
  options.flush_interval_ms = source.flush_ms;
  auto backend = store::open_user_store(loop, database_uri(source), options,
                                        /*listen=*/source.type == "postgres");
  if (!backend) return store_failure(backend.error(), std::string(backend.message()));
  (*backend)->set_schema_callback([l = log](bool publish_column) {
    if (publish_column) {
      l.info("user database schema upgraded: publish grants are read from now on");
    } else {
      l.warn(
          "user database has schema version 1: it works, but nobody may publish reverse "
          "tunnels until `mtop-server db migrate` upgrades it (docs/USERS.md)");
    }
  });
  return behind_cache(loop, std::move(*backend), source, log);
}

Result<std::unique_ptr<store::UserAdmin>> open_store_admin(const UsersSource& source) {
  if (auto r = check_type(source); !r) return r.failure();
  if (source.type == "file") {
    auto admin = open_file_user_admin(source.path);
    if (!admin) return Failure{Errc::config_invalid, std::string(admin.message())};
    return std::move(*admin);
  }
  auto admin = store::open_user_admin(database_uri(source));
  if (!admin) return store_failure(admin.error(), std::string(admin.message()));
  return std::move(*admin);
}

}  // namespace mtop
