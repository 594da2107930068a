// AttachTokens: the one-time tokens of a server's reverse tunnels over TLS (docs/PROTOCOL.md
// 9.6). The server sends each token in an OPEN frame on a control tunnel; the climber's data
// connection brings it back in its ATTACH message. A token is good once, only before it
// expires (the handshake time-out after it was issued), and only while its control tunnel
// lives: it is the data connection's only credential.
//
// Pure bookkeeping: the tokens come in (random bytes from the caller), time is an argument.
// Safe from any thread (one mutex): the workers of a server share one book (reverse_share.hpp),
// so a token is redeemed once whichever worker its data connection lands on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "mtop/reverse_codec.hpp"

namespace mtop {

class AttachTokens {
 public:
  /// Tokens live `lifetime_ms` after they are issued.
  explicit AttachTokens(std::uint64_t lifetime_ms) : lifetime_ms_(lifetime_ms) {}

  AttachTokens(const AttachTokens&) = delete;
  AttachTokens& operator=(const AttachTokens&) = delete;

  void set_lifetime(std::uint64_t lifetime_ms) {
    std::lock_guard lock(mu_);
    lifetime_ms_ = lifetime_ms;
  }
  /// Remembers `token` for control tunnel `tunnel`. False (nothing changes) if the token is
  /// already outstanding: the caller draws another.
  bool issue(const AttachToken& token, std::uint32_t tunnel, std::uint64_t now_ms);
  /// The control tunnel `token` was issued for, if it is outstanding and not expired at
  /// `now_ms`. The token is spent either way: it is never accepted twice.
  std::optional<std::uint32_t> redeem(const AttachToken& token, std::uint64_t now_ms);
  /// Forgets every token of `tunnel` (its control tunnel ended).
  void forget_tunnel(std::uint32_t tunnel);
  /// Drops the tokens expired at `now_ms`; returns the tunnel of each one dropped (once per
  /// token), so the caller can ask for replacements.
  std::vector<std::uint32_t> expire(std::uint64_t now_ms);

  /// Outstanding tokens of `tunnel`.
  std::size_t outstanding(std::uint32_t tunnel) const;
  std::size_t size() const {
    std::lock_guard lock(mu_);
    return tokens_.size();
  }

 private:
  struct Entry {
    std::uint32_t tunnel = 0;
    std::uint64_t issued_ms = 0;
  };
  bool expired(const Entry& e, std::uint64_t now_ms) const noexcept {
    // Workers' loops read the clock at different moments: another worker's "now" may be a
    // little before the issuing worker's.
    return now_ms >= e.issued_ms && now_ms - e.issued_ms >= lifetime_ms_;
  }

  mutable std::mutex mu_;
  std::uint64_t lifetime_ms_;
  std::map<AttachToken, Entry> tokens_;
};

}  // namespace mtop
