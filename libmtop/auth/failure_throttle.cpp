#include "auth/failure_throttle.hpp"

#include <algorithm>

namespace mtop::auth {

namespace {

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

}  // namespace

std::size_t FailureThrottle::KeyHash::operator()(const SourceKey& k) const noexcept {
  // FNV-1a: keys are chosen by remote peers, so do not rely on them being well mixed.
  std::size_t h = 1469598103934665603ull;
  for (std::uint8_t b : k) h = (h ^ b) * 1099511628211ull;
  return h;
}

FailureThrottle::SourceKey FailureThrottle::key_of(const IpAddress& addr) {
  SourceKey k{};
  IpAddress a = addr;
  // ::ffff:a.b.c.d from a dual-stack socket is the IPv4 peer a.b.c.d.
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (a.is_v6 && std::equal(kMapped, kMapped + 12, a.bytes.begin())) {
    a = IpAddress::v4(a.bytes[12], a.bytes[13], a.bytes[14], a.bytes[15]);
  }
  if (a.is_v6) {
    std::copy(a.bytes.begin(), a.bytes.begin() + 8, k.begin());  // the /64
  } else {
    k[10] = k[11] = 0xff;
    std::copy(a.bytes.begin(), a.bytes.begin() + 4, k.begin() + 12);
  }
  return k;
}

FailureThrottle::FailureThrottle(Options options) : options_(options) {
  options_.max_failures = std::max<std::uint32_t>(options_.max_failures, 1);
  options_.max_sources = std::max<std::size_t>(options_.max_sources, 1);
}

bool FailureThrottle::allowed(const IpAddress& source, std::uint64_t now_ms) {
  const auto it = index_.find(key_of(source));
  if (it == index_.end()) return true;
  Entry& e = *it->second;
  if (e.locked_until == 0) return true;
  if (now_ms < e.locked_until) return false;
  // The lock-out is over: forget the source entirely, it starts with a clean slate.
  lru_.erase(it->second);
  index_.erase(it);
  return true;
}

void FailureThrottle::record_failure(const IpAddress& source, std::uint64_t now_ms) {
  const SourceKey key = key_of(source);
  auto it = index_.find(key);
  if (it == index_.end()) {
    if (lru_.size() >= options_.max_sources) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
    lru_.push_front(Entry{key, 0, now_ms, 0});
    it = index_.emplace(key, lru_.begin()).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second);
  }
  Entry& e = *it->second;
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
  const auto it = index_.find(key_of(source));
  if (it == index_.end() || it->second->locked_until != 0) return;
  lru_.erase(it->second);
  index_.erase(it);
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
