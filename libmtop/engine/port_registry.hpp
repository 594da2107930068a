// PortRegistry: which public binds of a server's reverse tunnels are held, by whom, and which
// are in their grace period (docs/PROTOCOL.md 9.2 and 9.7).
//
// A bind is held by one live control tunnel. When the tunnel ends the bind stays reserved for
// its user until the grace period is over: only a control tunnel of the same user gets it back
// (reclaim); anybody else hears in_use. Each entry carries a Payload for the caller (the
// server keeps the listening socket there, so it stays bound through the grace).
//
// Pure bookkeeping: time is an argument, nothing is bound here. Binds are told apart by
// address and port exactly; overlaps between a wildcard and a specific address are bind(2)'s
// to find.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "auth/ip_prefix.hpp"

namespace mtop {

/// A public address and port a control tunnel asked for (or was given).
struct PublicBind {
  auth::IpAddress address;
  std::uint16_t port = 0;

  friend bool operator==(const PublicBind&, const PublicBind&) = default;
  friend bool operator<(const PublicBind& a, const PublicBind& b) {
    return std::tie(a.address.is_v6, a.address.bytes, a.port) <
           std::tie(b.address.is_v6, b.address.bytes, b.port);
  }
  /// "1.2.3.4:80" / "[::1]:80".
  std::string to_string() const {
    const std::string host = address.to_string();
    return (address.is_v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
};

template <typename Payload>
class PortRegistry {
 public:
  enum class Verdict {
    free,     ///< nobody holds it: bind it
    reclaim,  ///< in its grace period for this very user: take it back
    in_use,   ///< held by a live control tunnel, or in grace for another user
  };

  struct Entry {
    std::string user;
    std::optional<std::uint32_t> tunnel;  ///< the live control tunnel; none in grace
    std::uint64_t grace_until_ms = 0;     ///< when not held
    Payload payload{};
  };

  Verdict check(const PublicBind& bind, const std::string& user) const {
    const auto it = entries_.find(bind);
    if (it == entries_.end()) return Verdict::free;
    if (it->second.tunnel || it->second.user != user) return Verdict::in_use;
    return Verdict::reclaim;
  }
  /// Marks `bind` held by `tunnel` of `user`: a new entry with `payload` (Verdict::free), or
  /// the entry in grace taken back, its payload kept (Verdict::reclaim). Returns the entry.
  Entry& hold(const PublicBind& bind, const std::string& user, std::uint32_t tunnel,
              Payload payload) {
    auto [it, fresh] = entries_.try_emplace(bind);
    if (fresh) it->second.payload = std::move(payload);
    it->second.user = user;
    it->second.tunnel = tunnel;
    it->second.grace_until_ms = 0;
    return it->second;
  }
  /// The control tunnel holding `bind` ended: the bind is kept for its user until `until_ms`.
  void release(const PublicBind& bind, std::uint64_t until_ms) {
    if (auto it = entries_.find(bind); it != entries_.end()) {
      it->second.tunnel.reset();
      it->second.grace_until_ms = until_ms;
    }
  }
  /// Drops `bind` now (its user was disabled: no grace).
  void erase(const PublicBind& bind) { entries_.erase(bind); }
  /// Drops every bind whose grace is over at `now_ms` and returns them.
  std::vector<PublicBind> expire(std::uint64_t now_ms) {
    std::vector<PublicBind> out;
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (!it->second.tunnel && now_ms >= it->second.grace_until_ms) {
        out.push_back(it->first);
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  Entry* find(const PublicBind& bind) {
    const auto it = entries_.find(bind);
    return it == entries_.end() ? nullptr : &it->second;
  }
  const Entry* find(const PublicBind& bind) const {
    const auto it = entries_.find(bind);
    return it == entries_.end() ? nullptr : &it->second;
  }
  bool empty() const noexcept { return entries_.empty(); }
  std::size_t size() const noexcept { return entries_.size(); }
  /// Binds held by a live control tunnel.
  std::size_t held() const noexcept {
    std::size_t n = 0;
    for (const auto& [b, e] : entries_) n += e.tunnel ? 1 : 0;
    return n;
  }

 private:
  std::map<PublicBind, Entry> entries_;
};

}  // namespace mtop
