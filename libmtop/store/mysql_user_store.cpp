#include "store/mysql_user_store.hpp"

namespace mtop::store {

Result<std::unique_ptr<MysqlUserStore>> MysqlUserStore::open(uv_loop_t* loop, MysqlConfig config,
                                                             DatabaseStoreOptions options) {
  auto connect = [config = std::move(config)] { return open_mysql(config); };
  std::unique_ptr<MysqlUserStore> store(
      new MysqlUserStore(loop, "mysql", std::move(connect), options));
  if (auto r = store->start(); !r) return r.error();
  return store;
}

}  // namespace mtop::store
