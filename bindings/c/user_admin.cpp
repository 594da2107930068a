// mtop_user_admin: the users of a server's store, managed from C through mtop::UserAdmin, the
// code of `mtop-server user` and of the admin API's /api/users. The calls block the calling
// thread (password hashing, databases), as UserAdmin does; only reading the server's users
// source and, after a change of a users file, having the server read it go to the server's
// loop.
#if MTOP_C_WITH_ENGINES

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine.hpp"
#include "mtop/admin.hpp"
#include "mtop/server.hpp"
#include "server_handle.hpp"

struct mtop_user_admin {
  mtop_server* server = nullptr;  // borrowed: the user admin is freed before it
  mtop::UsersSource source;
  std::unique_ptr<mtop::UserAdmin> store;  // a database's stays open; a file's is per call
};

namespace {

using mtop::capi::engine_call;
using mtop::capi::failed;
using mtop::capi::Outcome;

struct UserListHolder : mtop_user_list {
  std::vector<mtop::UserRecord> users;
  std::vector<mtop_user_info> infos;
  std::vector<const mtop_user_info*> pointers;
};

/// Runs `fn(store)` inside engine_call with the store open. A users file is opened afresh
/// for every call, so that edits made meanwhile (by hand, `mtop-server user`) are not written
/// over; a store that was unreachable is opened again next time. After a change of a users
/// file the server reads it now (it would in a few seconds by itself), so a user just added
/// can log in at once.
template <class F>
int with_store(mtop_user_admin* a, const char* username, bool changes, F&& fn) {
  return engine_call([&] {
    if (a == nullptr) return failed(MTOP_ERR_INVALID_ARGUMENT, "user admin: NULL");
    if (username == nullptr) return failed(MTOP_ERR_INVALID_ARGUMENT, "username: NULL");
    const bool file = a->source.type == "file";
    if (!a->store || file) {
      a->store.reset();
      auto opened = mtop::UserAdmin::open(a->source);
      if (!opened) return failed(opened);
      a->store = std::move(*opened);
    }
    Outcome o = fn(*a->store);
    if (o.code == MTOP_ERR_STORE_UNAVAILABLE) a->store.reset();
    if (o.code >= 0 && changes && file) {
      mtop_server& s = *a->server;
      // The file was just written by UserAdmin; should the server refuse it anyway, its own
      // watch of the file reads and reports it again.
      (void)s.host.run([&] { return s.server->reload(); });
    }
    return o;
  });
}

template <class T>
Outcome done(const mtop::Result<T>& r) {
  return r ? Outcome{} : failed(r);
}

/// `p` as an optional (NULL: none).
template <class T>
std::optional<T> optional_of(const T* p) {
  return p != nullptr ? std::optional<T>(*p) : std::nullopt;
}

Outcome hashed(const char* password, std::string& out) {
  if (password == nullptr) return failed(MTOP_ERR_INVALID_ARGUMENT, "password: NULL");
  auto hash = mtop::hash_password(password);
  if (!hash) return failed(hash);
  out = std::move(*hash);
  return Outcome{};
}

}  // namespace

extern "C" {

MTOP_API int mtop_user_admin_new(mtop_user_admin** out, mtop_server* server) {
  if (out == nullptr) {
    return engine_call([] { return failed(MTOP_ERR_INVALID_ARGUMENT, "user admin: NULL out"); });
  }
  auto admin = std::make_unique<mtop_user_admin>();
  admin->server = server;
  const int rc = mtop::capi::on_server_loop(server, [&](mtop_server& h) {
    if (h.auth_callback) {
      return failed(MTOP_ERR_INVALID_STATE,
                    "user admin: this server's users come from its auth callback, not a store");
    }
    admin->source = h.server->config().users;
    return Outcome{};
  });
  if (rc < 0) return rc;
  return engine_call([&] {
    auto opened = mtop::UserAdmin::open(admin->source);
    if (!opened) return failed(opened);
    if (admin->source.type != "file") admin->store = std::move(*opened);
    *out = admin.release();
    return Outcome{};
  });
}

MTOP_API void mtop_user_admin_free(mtop_user_admin* admin) {
  delete admin;
}

MTOP_API int mtop_user_admin_list(mtop_user_admin* admin, mtop_user_list** out) {
  if (out == nullptr) {
    return engine_call([] { return failed(MTOP_ERR_INVALID_ARGUMENT, "users: NULL out"); });
  }
  return with_store(admin, "", false, [&](mtop::UserAdmin& store) {
    auto users = store.list();
    if (!users) return failed(users);
    auto holder = std::make_unique<UserListHolder>();
    holder->users = std::move(*users);
    holder->infos.reserve(holder->users.size());
    for (const auto& u : holder->users) {
      mtop_user_info i{};
      i.username = u.username.c_str();
      i.enabled = u.enabled ? 1 : 0;
      i.has_expires_at = u.expires_at.has_value() ? 1 : 0;
      i.expires_at = u.expires_at.value_or(0);
      i.has_max_tunnels = u.max_tunnels.has_value() ? 1 : 0;
      i.max_tunnels = u.max_tunnels.value_or(0);
      i.has_quota_bytes = u.quota_bytes.has_value() ? 1 : 0;
      i.quota_bytes = u.quota_bytes.value_or(0);
      i.used_bytes = u.used_bytes;
      i.has_rate_limit = u.rate_limit.has_value() ? 1 : 0;
      i.rate_limit = u.rate_limit.value_or(0);
      i.publish = u.publish.c_str();
      holder->infos.push_back(i);
    }
    for (const auto& i : holder->infos) holder->pointers.push_back(&i);
    mtop_user_list& c = *holder;
    c.items = holder->pointers.data();
    c.count = holder->pointers.size();
    const int n = mtop::capi::count_of(c.count);
    *out = holder.release();
    return Outcome{n, {}};
  });
}

MTOP_API void mtop_user_list_free(mtop_user_list* list) {
  delete static_cast<UserListHolder*>(list);
}

MTOP_API int mtop_user_admin_add(mtop_user_admin* admin, const char* username,
                                 const char* password) {
  return with_store(admin, username, true, [&](mtop::UserAdmin& store) {
    mtop::UserRecord u;
    u.username = username;
    Outcome o = hashed(password, u.password_hash);
    if (o.code < 0) return o;
    return done(store.add(u));
  });
}

MTOP_API int mtop_user_admin_delete(mtop_user_admin* admin, const char* username) {
  return with_store(admin, username, true,
                    [&](mtop::UserAdmin& store) { return done(store.del(username)); });
}

MTOP_API int mtop_user_admin_set_password(mtop_user_admin* admin, const char* username,
                                          const char* password) {
  return with_store(admin, username, true, [&](mtop::UserAdmin& store) {
    if (auto exists = store.get(username); !exists) return failed(exists);  // before hashing
    std::string hash;
    Outcome o = hashed(password, hash);
    if (o.code < 0) return o;
    return done(store.set_password_hash(username, hash));
  });
}

MTOP_API int mtop_user_admin_set_enabled(mtop_user_admin* admin, const char* username,
                                         int enabled) {
  return with_store(admin, username, true, [&](mtop::UserAdmin& store) {
    if (enabled != 0 && enabled != 1) return failed(MTOP_ERR_INVALID_ARGUMENT, "enabled: 0 or 1");
    return done(store.set_enabled(username, enabled == 1));
  });
}

MTOP_API int mtop_user_admin_set_quota(mtop_user_admin* admin, const char* username,
                                       const uint64_t* quota_bytes, int reset_used) {
  return with_store(admin, username, true, [&](mtop::UserAdmin& store) {
    return done(store.set_quota(username, optional_of(quota_bytes), reset_used != 0));
  });
}

MTOP_API int mtop_user_admin_set_max_tunnels(mtop_user_admin* admin, const char* username,
                                             const uint32_t* max_tunnels) {
  return with_store(admin, username, true, [&](mtop::UserAdmin& store) {
    return done(store.set_max_tunnels(username, optional_of(max_tunnels)));
  });
}

MTOP_API int mtop_user_admin_set_rate_limit(mtop_user_admin* admin, const char* username,
                                            const uint64_t* bytes_per_second) {
  return with_store(admin, username, true, [&](mtop::UserAdmin& store) {
    return done(store.set_rate_limit(username, optional_of(bytes_per_second)));
  });
}

MTOP_API int mtop_user_admin_set_expiry(mtop_user_admin* admin, const char* username,
                                        const int64_t* expires_at) {
  return with_store(admin, username, true, [&](mtop::UserAdmin& store) {
    return done(store.set_expiry(username, optional_of(expires_at)));
  });
}

MTOP_API int mtop_user_admin_set_publish(mtop_user_admin* admin, const char* username,
                                         const char* grants) {
  return with_store(admin, username, true, [&](mtop::UserAdmin& store) {
    return done(store.set_publish(username, grants != nullptr ? grants : ""));
  });
}

}  // extern "C"

#endif  // MTOP_C_WITH_ENGINES
