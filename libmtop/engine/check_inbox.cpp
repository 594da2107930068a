#include "engine/check_inbox.hpp"

#include <exception>

namespace mtop {

void CheckMailbox::post(std::uint64_t id, CheckAnswer answer) {
  const std::lock_guard<std::mutex> lock(mu_);
  if (!wake_) return;  // the server is gone: nobody waits for this answer
  queue_.emplace_back(id, std::move(answer));
  uv_async_send(wake_);  // under the lock: the inbox cannot close the handle meanwhile
}

Result<std::unique_ptr<CheckInbox>> CheckInbox::open(uv_loop_t* loop, Deliver deliver) {
  std::unique_ptr<CheckInbox> inbox(new CheckInbox());
  inbox->deliver_ = std::move(deliver);
  inbox->wake_ = io::UvHandle<uv_async_t>::make();
  if (const int rc = uv_async_init(loop, inbox->wake_.get(), &CheckInbox::on_wake); rc != 0) {
    inbox->wake_.release_uninitialised();
    return Result<std::unique_ptr<CheckInbox>>(
        Errc::system_error, std::string("user check answers: ") + uv_strerror(rc));
  }
  inbox->wake_->data = inbox.get();
  uv_unref(inbox->wake_.handle());
  const std::lock_guard<std::mutex> lock(inbox->mailbox_->mu_);
  inbox->mailbox_->wake_ = inbox->wake_.get();
  return inbox;
}

CheckInbox::~CheckInbox() {
  {
    const std::lock_guard<std::mutex> lock(mailbox_->mu_);
    mailbox_->wake_ = nullptr;
    mailbox_->queue_.clear();
  }
  wake_.reset();
}

UserCheckReply CheckInbox::reply(std::uint64_t id) const {
  return UserCheckReply(
      std::make_shared<detail::UserCheckReplyState>(detail::UserCheckReplyState{mailbox_, id}));
}

void CheckInbox::on_wake(uv_async_t* handle) {
  auto* self = static_cast<CheckInbox*>(handle->data);
  if (!self) return;
  std::vector<std::pair<std::uint64_t, CheckAnswer>> answers;
  {
    const std::lock_guard<std::mutex> lock(self->mailbox_->mu_);
    answers.swap(self->mailbox_->queue_);
  }
  for (auto& [id, answer] : answers) self->deliver_(id, std::move(answer));
}

// --- the public reply (mtop/user_check.hpp) ---------------------------------------------------

namespace {

CheckAnswer refusal(TunnelFailure failure, const char* reason) {
  CheckAnswer a;
  a.failure = failure;
  a.reason = reason;
  return a;
}

}  // namespace

UserCheck::~UserCheck() = default;

UserCheckReply::UserCheckReply(std::shared_ptr<detail::UserCheckReplyState> state) noexcept
    : state_(std::move(state)) {}

UserCheckReply::~UserCheckReply() {
  if (!state_) return;
  // A destructor must not throw; a reply that cannot even be posted leaves the tunnel to the
  // handshake time-out, which refuses it just the same.
  try {
    detail::UserCheckReplyAccess::answer(
        *this, refusal(TunnelFailure::auth_failed, "the user check dropped its reply"));
  } catch (...) {  // NOLINT(bugprone-empty-catch): see above
  }
}

UserCheckReply& UserCheckReply::operator=(UserCheckReply&& other) noexcept {
  if (this != &other) {
    UserCheckReply old(std::move(*this));  // answers deny if it was still open
    state_ = std::move(other.state_);
  }
  return *this;
}

void UserCheckReply::allow(UserGrant grant) {
  CheckAnswer a;
  a.grant = std::move(grant);
  detail::UserCheckReplyAccess::answer(*this, std::move(a));
}

void UserCheckReply::deny() {
  detail::UserCheckReplyAccess::answer(
      *this, refusal(TunnelFailure::auth_failed, "denied by the user check"));
}

void UserCheckReply::unavailable() {
  detail::UserCheckReplyAccess::answer(
      *this, refusal(TunnelFailure::store_unavailable, "user check unavailable"));
}

bool UserCheckReply::valid() const noexcept {
  return state_ != nullptr;
}

}  // namespace mtop
