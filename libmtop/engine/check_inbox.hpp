// CheckInbox: how a UserCheck's answer, given on any thread, reaches the server's loop.
//
// Theory of operation
// - The engine numbers every check it asks and hands the UserCheck a UserCheckReply whose
//   state names a shared mailbox and that number. Answering the reply (or dropping it, which
//   answers deny) posts a CheckAnswer into the mailbox under its mutex and wakes the loop
//   through a uv_async_t; on the loop the inbox takes every answer and delivers it to the
//   engine, which gives it to the tunnel still waiting under that number, if any.
// - Every answer goes through the mailbox, also one given on the loop thread inside check(),
//   so the engine's rule "a decision never arrives inside the call that asked for it" holds.
// - Replies share the mailbox (shared_ptr), so it outlives the inbox and the server: once the
//   inbox is destroyed (on the loop) the mailbox is closed under the same mutex, later answers
//   are dropped there, and the async handle, which the inbox owns, is never touched again.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "auth/user_store.hpp"
#include "mtop/result.hpp"
#include "mtop/server.hpp"
#include "mtop/user_check.hpp"
#include "uv/handle.hpp"

namespace mtop {

/// One answer as the engine takes it: the public allow / deny / unavailable, or the more
/// precise refusals and the account record of the built-in store check.
struct CheckAnswer {
  std::optional<TunnelFailure> failure;     ///< none: allowed
  std::string reason;                       ///< log-safe; why it was refused
  UserGrant grant;                          ///< when allowed
  std::optional<auth::UserRecord> account;  ///< built-in stores: the account (hash cleared)
};

/// The shared half: a queue under a mutex, and the async handle to wake (null once closed).
class CheckMailbox {
 public:
  /// Any thread. Dropped once the inbox is gone.
  void post(std::uint64_t id, CheckAnswer answer);

 private:
  friend class CheckInbox;
  std::mutex mu_;
  uv_async_t* wake_ = nullptr;
  std::vector<std::pair<std::uint64_t, CheckAnswer>> queue_;
};

namespace detail {

struct UserCheckReplyState {
  std::shared_ptr<CheckMailbox> mailbox;
  std::uint64_t id = 0;
};

/// Answers `reply` with `answer` (first answer only; later calls do nothing).
struct UserCheckReplyAccess {
  static void answer(UserCheckReply& reply, CheckAnswer answer) {
    auto state = std::move(reply.state_);
    if (state) state->mailbox->post(state->id, std::move(answer));
  }
};

}  // namespace detail

/// The loop's half, owned by the engine. All calls on the loop thread.
class CheckInbox {
 public:
  using Deliver = std::function<void(std::uint64_t id, CheckAnswer answer)>;

  /// Binds to `loop`; `deliver` runs on the loop for each answer, never inside open() or
  /// reply(). The async handle is unreferenced: waiting answers alone do not keep the loop
  /// running (the tunnels' handshake timers do). Errors: system_error (uv_async_init).
  static Result<std::unique_ptr<CheckInbox>> open(uv_loop_t* loop, Deliver deliver);
  /// Closes the mailbox: answers still queued or given later are dropped.
  ~CheckInbox();
  CheckInbox(const CheckInbox&) = delete;
  CheckInbox& operator=(const CheckInbox&) = delete;

  /// The reply slot for check number `id`.
  UserCheckReply reply(std::uint64_t id) const;

 private:
  CheckInbox() = default;
  static void on_wake(uv_async_t* handle);

  std::shared_ptr<CheckMailbox> mailbox_ = std::make_shared<CheckMailbox>();
  io::UvHandle<uv_async_t> wake_;
  Deliver deliver_;
};

}  // namespace mtop
