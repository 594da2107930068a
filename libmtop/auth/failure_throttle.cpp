#include "auth/failure_throttle.hpp"

#include <algorithm>

namespace mtop::auth {

namespace {

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

FailureThrottle::Options sane(FailureThrottle::Options o) {
  o.max_failures = std::max<std::uint32_t>(o.max_failures, 1);
  o.max_sources = std::max<std::size_t>(o.max_sources, 1);
  return o;
}

}  // namespace

FailureThrottle::FailureThrottle(Options options)
    : options_(sane(options)), sources_(options_.max_sources) {}

bool FailureThrottle::allowed(const IpAddress& source, std::uint64_t now_ms) {
  const SourceKey key = key_of(source);
  const Entry* e = sources_.peek(key);
  if (!e || e->locked_until == 0) return true;
  if (now_ms < e->locked_until) return false;
  // The lock-out is over: forget the source entirely, it starts with a clean slate.
  sources_.erase(key);
  return true;
}

void FailureThrottle::record_failure(const IpAddress& source, std::uint64_t now_ms) {
  const SourceKey key = key_of(source);
  Entry* found = sources_.touch(key);
  Entry& e = found ? *found : sources_.insert(key, Entry{0, now_ms, 0});
  if (e.locked_until != 0) {
    if (now_ms < e.locked_until) return;  // already locked; failures do not extend it
    e.locked_until = 0;
    e.failures = 0;
    e.window_start = now_ms;
  }
  if (now_ms >= saturating_add(e.window_start, options_.window_ms)) {
    e.failures = 0;
    e.window_start = now_ms;
  }
  if (++e.failures >= options_.max_failures) {
    e.locked_until = std::max<std::uint64_t>(saturating_add(now_ms, options_.lockout_ms), 1);
  }
}

void FailureThrottle::record_success(const IpAddress& source) {
  const SourceKey key = key_of(source);
  const Entry* e = sources_.peek(key);
  if (!e || e->locked_until != 0) return;
  sources_.erase(key);
}

bool FailureThrottle::allowed(const struct sockaddr* source, std::uint64_t now_ms) {
  const auto a = IpAddress::from_sockaddr(source);
  return !a || allowed(*a, now_ms);
}

void FailureThrottle::record_failure(const struct sockaddr* source, std::uint64_t now_ms) {
  if (const auto a = IpAddress::from_sockaddr(source)) record_failure(*a, now_ms);
}

void FailureThrottle::record_success(const struct sockaddr* source) {
  if (const auto a = IpAddress::from_sockaddr(source)) record_success(*a);
}

}  // namespace mtop::auth
