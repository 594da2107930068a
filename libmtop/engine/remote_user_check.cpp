#include "engine/remote_user_check.hpp"

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "auth/user_store.hpp"
#include "mtop/codec.hpp"

namespace mtop {

namespace {

class RemoteUserCheck : public UserCheck {
 public:
  RemoteUserCheck(std::shared_ptr<UserCheck> check, io::LoopMailbox::Sender owner)
      : check_(std::move(check)), owner_(std::move(owner)) {}

  void check(const UserCheckRequest& request, UserCheckReply reply) override {
    // A reply dropped because the owner's loop is gone answers deny, as any dropped reply.
    // (Shared: a posted function must be copyable, a reply is move-only.)
    owner_.post([check = check_, req = UserCheckRequest(request),
                 slot = std::make_shared<UserCheckReply>(std::move(reply))]() mutable {
      try {
        check->check(req, std::move(*slot));
      } catch (...) {  // NOLINT(bugprone-empty-catch): the dropped reply answers deny
      }
      secure_wipe(req.password);
    });
  }

 protected:
  std::shared_ptr<UserCheck> check_;
  io::LoopMailbox::Sender owner_;
};

/// Usage not yet handed to the store, shared with the functions posted to the owner.
struct PendingUsage {
  std::mutex mu;
  std::map<std::string, std::uint64_t, std::less<>> bytes;
};

class RemoteAccountCheck final : public RemoteUserCheck,
                                 public AccountSource,
                                 private auth::UserStore {
 public:
  RemoteAccountCheck(std::shared_ptr<UserCheck> check, AccountSource& accounts,
                     io::LoopMailbox::Sender owner, io::LoopMailbox::Sender self)
      : RemoteUserCheck(std::move(check), std::move(owner)),
        accounts_(accounts),
        self_(std::move(self)) {}
  ~RemoteAccountCheck() override { flush(); }
  RemoteAccountCheck(const RemoteAccountCheck&) = delete;
  RemoteAccountCheck& operator=(const RemoteAccountCheck&) = delete;

  auth::UserStore& account_store() override { return *this; }
  Counters counters() const override { return {}; }
  Result<void> reload() override {
    return Result<void>(Errc::invalid_state, "the user store is reloaded on its own loop");
  }

 private:
  // auth::UserStore, on the worker's loop.
  void lookup(std::string_view username, LookupCallback cb) override {
    // check_ keeps accounts_ alive for as long as the posted function may use it.
    owner_.post([check = check_, &accounts = accounts_, name = std::string(username), back = self_,
                 cb = std::move(cb)]() mutable {
      accounts.account_store().lookup(name, [back, cb = std::move(cb)](auth::LookupResult r) {
        back.post([cb, r = std::move(r)]() mutable { cb(std::move(r)); });
      });
    });
  }

  void add_usage(std::string_view username, std::uint64_t bytes) override {
    bool first = false;
    {
      const std::lock_guard<std::mutex> lock(usage_->mu);
      first = usage_->bytes.empty();
      auto it = usage_->bytes.find(username);
      if (it == usage_->bytes.end()) {
        usage_->bytes.emplace(std::string(username), bytes);
      } else {
        it->second += bytes;
      }
    }
    if (first) hand_over(false);
  }

  void flush() override { hand_over(true); }

  std::string_view kind() const override { return accounts_.account_store().kind(); }

  /// Gives the summed usage to the store on the owner's loop (and flushes it there).
  void hand_over(bool then_flush) {
    owner_.post([check = check_, &accounts = accounts_, usage = usage_, then_flush] {
      std::map<std::string, std::uint64_t, std::less<>> bytes;
      {
        const std::lock_guard<std::mutex> lock(usage->mu);
        bytes.swap(usage->bytes);
      }
      auth::UserStore& store = accounts.account_store();
      for (const auto& [user, n] : bytes) store.add_usage(user, n);
      if (then_flush) store.flush();
    });
  }

  AccountSource& accounts_;
  io::LoopMailbox::Sender self_;
  std::shared_ptr<PendingUsage> usage_ = std::make_shared<PendingUsage>();
};

}  // namespace

std::shared_ptr<UserCheck> make_remote_user_check(std::shared_ptr<UserCheck> check,
                                                  io::LoopMailbox::Sender owner,
                                                  io::LoopMailbox::Sender self) {
  if (auto* accounts = dynamic_cast<AccountSource*>(check.get())) {
    return std::make_shared<RemoteAccountCheck>(std::move(check), *accounts, std::move(owner),
                                                std::move(self));
  }
  return std::make_shared<RemoteUserCheck>(std::move(check), std::move(owner));
}

}  // namespace mtop
