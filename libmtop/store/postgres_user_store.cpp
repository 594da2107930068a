#include "store/postgres_user_store.hpp"

namespace mtop::store {

Result<std::unique_ptr<PostgresUserStore>> PostgresUserStore::open(uv_loop_t* loop,
                                                                   PostgresConfig config,
                                                                   DatabaseStoreOptions options) {
  const PostgresConfig listen_config = config;
  auto connect = [config = std::move(config)] { return open_postgres(config); };
  std::unique_ptr<PostgresUserStore> store(
      new PostgresUserStore(loop, "postgres", std::move(connect), options));
  if (auto r = store->start(); !r) return r.error();
  if (listen_config.listen) {
    auto* raw = store.get();
    auto l = PostgresListener::start(listen_config,
                                     [raw](std::string name) { raw->changed(std::move(name)); });
    if (!l) return l.error();
    store->listener_ = std::move(*l);
  }
  return store;
}

}  // namespace mtop::store
