#include "store/mysql_user_store.hpp"

namespace mtop::store {

Result<std::unique_ptr<MysqlUserStore>> MysqlUserStore::open(uv_loop_t* loop, MysqlConfig config,
                                                           DatabaseStoreOptions options) {
  auto connect = [config = std::move(config)](std::string& error)
      -> Result<std::unique_ptr<SqlConnection>> {
    auto c = MysqlConnection::open(config, error);
    if (!c) return c.error();
    return std::unique_ptr<SqlConnection>(std::move(*c));
  };
  std::unique_ptr<MysqlUserStore> store(
      new MysqlUserStore(loop, "mysql", std::move(connect), options));
  if (auto r = store->start(); !r) return r.error();
  return store;
}

}  // namespace mtop::store
