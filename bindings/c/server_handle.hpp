// The C handle of a server (mtop_server), shared by server.cpp (its life cycle and config)
// and the operations on a running server (server_ops.cpp, user_admin.cpp). Not installed.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "engine.hpp"
#include "mtop/server.hpp"

struct mtop_server {
  mtop::capi::Host host;
  std::unique_ptr<mtop::Server> server;  // lives and dies on host's loop thread
  void* user_data = nullptr;
  std::size_t listen_count = 0;
  bool started = false;
  bool draining = false;
  bool auth_callback = false;               // users come from the C auth callback, no store
  std::vector<mtop::ListenInfo> listening;  // after start()
};

namespace mtop::capi {

/// The caller's config struct of `version` over the defaults, as a C++ config: MTOP_ERR_*
/// with a message naming the field at fault (server.cpp).
Outcome read_server_config(int version, const mtop_server_config* config, ServerConfig& out);

/// Runs `fn(handle)` on the server's loop, for a handle that must exist.
template <class F>
int on_server_loop(const mtop_server* s, F&& fn) {
  return on_handle_loop(s, "server", std::forward<F>(fn));
}

}  // namespace mtop::capi
