// Opens what a UsersSource (mtop/server.hpp) names: the users file or a database, as the
// asynchronous auth::UserStore the server looks users up in, or as the synchronous
// store::UserAdmin of the admin commands. One place knows how the config's type + path/dsn
// becomes a store, so the server and `mtop-server user ...` always agree.
#pragma once

#include <uv.h>

#include <memory>

#include "auth/user_store.hpp"
#include "mtop/log.hpp"
#include "mtop/result.hpp"
#include "mtop/server.hpp"
#include "store/user_admin.hpp"

namespace mtop {

/// The store the server looks users up in. Database stores sit behind a CachingUserStore
/// (TTL source.cache_ttl_ms, outage grace source.grace_ms) whose outages and recoveries are
/// logged once each. Errors: config_invalid (unknown type, a users file that cannot be read or
/// parsed, a malformed URI), not_built_in (a database left out of this build), system_error.
Result<std::unique_ptr<auth::UserStore>> open_user_store(uv_loop_t* loop, const UsersSource& source,
                                                         const Logger& log);

/// The synchronous admin side of any store (`user ...`, `db init`). Errors: config_invalid
/// (a users file that cannot be parsed, a malformed URI), not_built_in, store_unavailable.
Result<std::unique_ptr<store::UserAdmin>> open_store_admin(const UsersSource& source);

}  // namespace mtop
