// AdminService: the admin listener of a Server (docs/ADMIN_API.md) — /metrics and the JSON
// calls, served by admin::HttpServer on its own thread.
//
// Theory of operation
// - Every request but /metrics needs the bearer token; /metrics needs its own when one is set.
// - What lives on the server's loop (stats, tunnels, metrics, kick, reload) is reached through
//   an io::LoopCall with a bounded wait: a loop too busy to answer in kLoopWaitMs gets 503.
//   The calls go through the public mtop::Server, as an embedder's own would.
// - Users are managed on the admin thread itself with a UserAdmin over the configured store
//   (blocking: hashing, databases), the same code as `mtop-server user`. A database's is
//   opened on first use and again after the store was unreachable; a users file is read
//   afresh for each request, so edits made meanwhile are not written over.
// - Created and destroyed on the loop thread. Destruction first fails the waits of a request
//   in progress, then stops the HTTP thread, so it never waits for the loop it runs on.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "admin/http_server.hpp"
#include "mtop/admin.hpp"
#include "mtop/log.hpp"
#include "mtop/result.hpp"
#include "mtop/server.hpp"
#include "uv/loop_call.hpp"

namespace mtop {

class AdminService {
 public:
  struct Options {
    std::string host;  ///< from AdminConfig::listen
    std::uint16_t port = 0;
    std::string token;          ///< required by every call but /metrics
    std::string metrics_token;  ///< required by /metrics; empty = open
    // Called on the loop, so that they follow reloads:
    /// The store users are managed in; nullopt when the server has a user check of the
    /// program's own (the users calls then answer 501).
    std::function<std::optional<UsersSource>()> users;
    std::function<std::string()> config_json;  ///< GET /api/config, redacted already
    std::function<Result<ReloadReport>()> reload;  ///< POST /api/reload
    Logger log;                                    ///< used on the loop thread only
  };

  /// Binds and starts the listener. Errors: config_invalid, listen_failed, system_error.
  static Result<std::unique_ptr<AdminService>> start(uv_loop_t* loop, Server& server,
                                                     Options options);
  ~AdminService();
  AdminService(const AdminService&) = delete;
  AdminService& operator=(const AdminService&) = delete;

  std::uint16_t port() const noexcept { return http_->port(); }

  /// How long a request waits for the loop to take it.
  static constexpr std::uint64_t kLoopWaitMs = 5'000;

 private:
  AdminService(Server& server, Options options) : server_(server), options_(std::move(options)) {}
  class Request;

  Server& server_;
  Options options_;
  std::unique_ptr<UserAdmin> users_;  ///< admin thread only
  UsersSource users_source_;          ///< what users_ was opened on
  std::unique_ptr<io::LoopCall> loop_call_;
  std::unique_ptr<admin::HttpServer> http_;
};

}  // namespace mtop
