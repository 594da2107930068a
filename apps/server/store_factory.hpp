// Picks the user store the config names: the users file, or a database behind a cache.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "auth/user_store.hpp"
#include "mtop/log.hpp"
#include "server_config.hpp"

namespace mtop::store {
class UserAdmin;
}

namespace mtop::server {

/// The store the server looks users up in. Database stores sit behind a CachingUserStore
/// (TTL config.cache_ttl_ms, outage grace config.grace_ms) whose outages and recoveries are
/// logged once each. Null with `error` when the store cannot be opened, or the kind was left
/// out of this build.
std::unique_ptr<auth::UserStore> open_user_store(uv_loop_t* loop, const UsersSource& source,
                                                 const Logger& log, std::string& error);

/// The synchronous admin side of a database store (`user ...`, `db init`); null with `error`
/// for the users file (edited by FileUserAdmin instead) or on failure.
std::unique_ptr<store::UserAdmin> open_user_admin(const UsersSource& source, std::string& error);

}  // namespace mtop::server
