#include "engine/shared_limits.hpp"

#include <utility>

namespace mtop {

namespace {

auth::FailureThrottle::Options throttle_options(const ServerOptions& o) {
  return auth::FailureThrottle::Options{.max_failures = o.max_failures == 0 ? 1 : o.max_failures,
                                        .window_ms = o.failure_window_ms,
                                        .lockout_ms = o.lockout_ms,
                                        .max_sources = 100'000};
}

bool same_throttle(const auth::FailureThrottle::Options& a,
                   const auth::FailureThrottle::Options& b) {
  return a.max_failures == b.max_failures && a.window_ms == b.window_ms &&
         a.lockout_ms == b.lockout_ms && a.max_sources == b.max_sources;
}

}  // namespace

// A lambda, not &RateGate::monotonic_ms: a std::function holding a plain function pointer
// would make libmtop_cpp.so export the typeinfo of that pointer type (package_install).
SharedLimits::SharedLimits(const ServerOptions& options)
    : SharedLimits(options, [] { return RateGate::monotonic_ms(); }) {}

SharedLimits::SharedLimits(const ServerOptions& options, RateGate::Clock clock)
    : throttle_options_(throttle_options(options)),
      throttle_(throttle_options_),
      clock_(std::move(clock)) {}

Result<void> SharedLimits::configure(const ServerOptions& options) {
  std::lock_guard lock(mu_);
  if (auto r = admission_.configure(options); !r) return r;
  const auto next = throttle_options(options);
  if (!same_throttle(next, throttle_options_)) {
    throttle_options_ = next;
    throttle_ = auth::FailureThrottle(next);
  }
  return {};
}

std::optional<AdmissionPolicy::Refusal> SharedLimits::check_source(
    const auth::IpAddress& source) const {
  std::lock_guard lock(mu_);
  return admission_.check_source(source);
}

std::optional<AdmissionPolicy::Refusal> SharedLimits::admit(const auth::IpAddress& source,
                                                            std::uint64_t now_ms,
                                                            AdmissionPolicy::Ticket& ticket) {
  std::lock_guard lock(mu_);
  return admission_.admit(source, now_ms, ticket);
}

void SharedLimits::release(const AdmissionPolicy::Ticket& ticket) {
  std::lock_guard lock(mu_);
  admission_.release(ticket);
}

void SharedLimits::count(AdmissionRule rule) {
  std::lock_guard lock(mu_);
  admission_.count(rule);
}

std::array<std::uint64_t, kAdmissionRuleCount> SharedLimits::counts() const {
  std::lock_guard lock(mu_);
  return admission_.counts();
}

void SharedLimits::report(const auth::IpAddress& source, const AdmissionPolicy::Refusal& refusal,
                          std::uint64_t now_ms, const Logger& log) {
  std::lock_guard lock(mu_);
  admission_.report(source, refusal, now_ms, log);
}

bool SharedLimits::allowed(const auth::IpAddress& source, std::uint64_t now_ms) {
  std::lock_guard lock(mu_);
  return throttle_.allowed(source, now_ms);
}

void SharedLimits::record_failure(const auth::IpAddress& source, std::uint64_t now_ms) {
  std::lock_guard lock(mu_);
  throttle_.record_failure(source, now_ms);
}

void SharedLimits::record_success(const auth::IpAddress& source) {
  std::lock_guard lock(mu_);
  throttle_.record_success(source);
}

bool SharedLimits::take_tunnel(std::size_t max) {
  std::lock_guard lock(mu_);
  if (live_ >= max) return false;
  ++live_;
  return true;
}

void SharedLimits::release_tunnel() {
  std::lock_guard lock(mu_);
  if (live_ > 0) --live_;
}

std::shared_ptr<RateGate> SharedLimits::take_user_tunnel(const std::string& user,
                                                         std::optional<std::uint32_t> max,
                                                         std::size_t& live) {
  std::lock_guard lock(mu_);
  auto it = users_.find(user);
  live = it == users_.end() ? 0 : it->second.live;
  if (max && live >= *max) return nullptr;
  if (it == users_.end()) {
    it = users_.emplace(user, UserTunnels{0, std::make_shared<RateGate>(0, clock_)}).first;
  }
  ++it->second.live;
  return it->second.gate;
}

void SharedLimits::release_user_tunnel(const std::string& user) {
  std::lock_guard lock(mu_);
  auto it = users_.find(user);
  if (it == users_.end()) return;
  if (--it->second.live == 0) users_.erase(it);
}

std::size_t SharedLimits::active_users() const {
  std::lock_guard lock(mu_);
  return users_.size();
}

}  // namespace mtop
