#include "store/sqlite_user_store.hpp"

namespace mtop::store {

Result<std::unique_ptr<SqliteUserStore>> SqliteUserStore::open(uv_loop_t* loop, SqliteConfig config,
                                                               DatabaseStoreOptions options) {
  auto connect = [config = std::move(config)] { return open_sqlite(config); };
  std::unique_ptr<SqliteUserStore> store(
      new SqliteUserStore(loop, "sqlite", std::move(connect), options));
  if (auto r = store->start(); !r) return r.error();
  return store;
}

}  // namespace mtop::store
