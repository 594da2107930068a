#include "engine/attach_tokens.hpp"

#include <algorithm>

namespace mtop {

bool AttachTokens::issue(const AttachToken& token, std::uint32_t tunnel, std::uint64_t now_ms) {
  std::lock_guard lock(mu_);
  return tokens_.emplace(token, Entry{tunnel, now_ms}).second;
}

std::optional<std::uint32_t> AttachTokens::redeem(const AttachToken& token, std::uint64_t now_ms) {
  std::lock_guard lock(mu_);
  const auto it = tokens_.find(token);
  if (it == tokens_.end()) return std::nullopt;
  const Entry e = it->second;
  tokens_.erase(it);
  if (expired(e, now_ms)) return std::nullopt;
  return e.tunnel;
}

void AttachTokens::forget_tunnel(std::uint32_t tunnel) {
  std::lock_guard lock(mu_);
  std::erase_if(tokens_, [tunnel](const auto& kv) { return kv.second.tunnel == tunnel; });
}

std::vector<std::uint32_t> AttachTokens::expire(std::uint64_t now_ms) {
  std::lock_guard lock(mu_);
  std::vector<std::uint32_t> dropped;
  for (auto it = tokens_.begin(); it != tokens_.end();) {
    if (expired(it->second, now_ms)) {
      dropped.push_back(it->second.tunnel);
      it = tokens_.erase(it);
    } else {
      ++it;
    }
  }
  return dropped;
}

std::size_t AttachTokens::outstanding(std::uint32_t tunnel) const {
  std::lock_guard lock(mu_);
  return static_cast<std::size_t>(
      std::count_if(tokens_.begin(), tokens_.end(),
                    [tunnel](const auto& kv) { return kv.second.tunnel == tunnel; }));
}

}  // namespace mtop
