#include "engine/store_user_check.hpp"

#include <utility>

#include "auth/users_file_store.hpp"
#include "engine/check_inbox.hpp"
#include "mtop/codec.hpp"

namespace mtop {

namespace {

CheckAnswer to_answer(AuthOutcome outcome) {
  CheckAnswer a;
  if (!outcome.ok) {
    a.failure = outcome.failure;
    a.reason = std::move(outcome.reason);
    return a;
  }
  secure_wipe(outcome.user.password_hash);
  if (std::string problem = account_problem(outcome.user, 0, unix_now()); !problem.empty()) {
    a.failure = TunnelFailure::account_refused;
    a.reason = std::move(problem);
    return a;
  }
  a.grant.user = outcome.user.username;
  a.grant.max_tunnels = outcome.user.max_tunnels;
  a.grant.rate_limit = outcome.user.rate_limit;
  a.account = std::move(outcome.user);
  return a;
}

}  // namespace

StoreUserCheck::StoreUserCheck(uv_loop_t* loop, std::unique_ptr<auth::UserStore> store,
                               const ServerOptions& options, Logger log)
    : store_(std::move(store)),
      log_(std::move(log)),
      auth_(loop, *store_, options, counters_, log_) {}

StoreUserCheck::~StoreUserCheck() {
  attempts_.clear();  // before the authenticator and the store they point into
}

void StoreUserCheck::check(const UserCheckRequest& request, UserCheckReply reply) {
  const std::uint64_t id = next_attempt_++;
  // std::function needs a copyable callable; the reply is move-only.
  auto slot = std::make_shared<UserCheckReply>(std::move(reply));
  attempts_[id] =
      auth_.authenticate(request.username, request.password, [this, id, slot](AuthOutcome outcome) {
        attempts_.erase(id);
        detail::UserCheckReplyAccess::answer(*slot, to_answer(std::move(outcome)));
      });
}

Result<void> StoreUserCheck::reload() {
  auto* file = dynamic_cast<auth::UsersFileStore*>(store_.get());
  if (!file) return {};  // database stores follow their database by themselves
  if (auto r = file->reload(); !r) return Failure{Errc::config_invalid, std::string(r.message())};
  return {};
}

}  // namespace mtop
