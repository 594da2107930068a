// SourceTable: a bounded table of per-source state, keyed by a client address or subnet; the
// one structure behind the failure throttle, the new-tunnel rate limit and the "log once per
// source" gate.
//
// Theory of operation: remote peers choose their addresses, so a table indexed by them must
// not grow with what they send. Entries are kept in recency order (front = most recently
// touched); inserting beyond `capacity` forgets the least recently touched one, and owners
// that know when an entry stops mattering drop stale ones from the old end
// (drop_oldest_while). Keys are 16 bytes (source_key); the hash does not trust them to be well
// mixed. Not thread-safe.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <utility>

#include "auth/ip_prefix.hpp"

namespace mtop::auth {

/// 16 bytes naming a source: IPv4 as ::ffff:a.b.c.d, IPv6 as itself (both masked to a prefix).
using SourceKey = std::array<std::uint8_t, 16>;

/// The key of `addr` grouped to its first `v4_bits` (IPv4) or `v6_bits` (IPv6) bits. An
/// IPv4-mapped IPv6 peer (::ffff:a.b.c.d on a dual-stack socket) is its IPv4 address. The
/// defaults group the way a subscriber is usually addressed: one IPv4 address, one IPv6 /64.
SourceKey source_key(const IpAddress& addr, unsigned v4_bits = 32, unsigned v6_bits = 64);

struct SourceKeyHash {
  std::size_t operator()(const SourceKey& k) const noexcept;
};

template <class Value>
class SourceTable {
 public:
  struct Entry {
    SourceKey key;
    Value value;
  };

  explicit SourceTable(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

  /// The entry of `key`, moved to the front; null if there is none.
  Value* touch(const SourceKey& key) {
    const auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return &it->second->value;
  }
  /// The entry of `key` without changing the order; null if there is none.
  Value* peek(const SourceKey& key) {
    const auto it = index_.find(key);
    return it == index_.end() ? nullptr : &it->second->value;
  }
  /// A new entry for `key` (which must not be in the table) at the front; the least recently
  /// touched entry is forgotten first when the table is full.
  Value& insert(const SourceKey& key, Value value) {
    if (lru_.size() >= capacity_) erase(lru_.back().key);
    lru_.push_front(Entry{key, std::move(value)});
    index_.emplace(key, lru_.begin());
    return lru_.front().value;
  }
  void erase(const SourceKey& key) {
    const auto it = index_.find(key);
    if (it == index_.end()) return;
    lru_.erase(it->second);
    index_.erase(it);
  }
  /// Forgets entries from the least recently touched end while `stale(value)` holds.
  template <class Pred>
  void drop_oldest_while(Pred stale) {
    while (!lru_.empty() && stale(lru_.back().value)) erase(lru_.back().key);
  }

  std::size_t size() const noexcept { return lru_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  using List = std::list<Entry>;
  std::size_t capacity_;
  List lru_;
  std::unordered_map<SourceKey, typename List::iterator, SourceKeyHash> index_;
};

}  // namespace mtop::auth
