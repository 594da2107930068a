// ReverseShare: what the ReverseHubs of a multi-worker server's workers share, so that reverse
// tunnels behave as on one worker (docs/ARCHITECTURE.md, "Workers"; docs/PROTOCOL.md 9.6).
//
// - One port registry: a public bind held, or in its grace period, on any worker is in use for
//   every other user. Each entry names the worker whose loop has the listening socket open and
//   its descriptor there; a reclaim on another worker duplicates that descriptor under the lock
//   (the owner closes its own copy only once the entry no longer names it), so the port stays
//   bound while it changes loops and no other process can take it in between.
// - One book of ATTACH tokens (AttachTokens locks itself): a token is redeemed once, whichever
//   worker its data connection lands on.
// - The live control tunnels by id (ids are unique across workers): the worker owning each, its
//   user and bind. A data connection redeemed on another worker is reported to the owner's hub,
//   which hands it visitors by moving their sockets there.
// - Each hub's inbox (its own io::LoopMailbox): post() runs a function with a worker's hub on
//   that hub's loop, or drops it once the hub is gone.
//
// Every call is short and safe from any thread. A single-worker server has one of its own.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/attach_tokens.hpp"
#include "engine/port_registry.hpp"
#include "uv/loop_mailbox.hpp"

namespace mtop {

class ReverseHub;

class ReverseShare {
 public:
  /// Where a public port's listening socket is open: the worker and its descriptor there.
  struct PortHome {
    unsigned worker = 0;
    int fd = -1;
  };
  using Ports = PortRegistry<PortHome>;
  /// A live control tunnel.
  struct ControlHome {
    unsigned worker = 0;
    std::string user;
    std::string bind;  ///< "ip:port", the data connections' target in summaries
  };
  /// The live control tunnel holding a bind.
  struct Route {
    std::uint32_t tunnel = 0;
    unsigned worker = 0;
  };

  ReverseShare() = default;
  ReverseShare(const ReverseShare&) = delete;
  ReverseShare& operator=(const ReverseShare&) = delete;

  /// Worker `worker`'s `hub` takes messages through `inbox` (a mailbox on its loop that dies
  /// with it) from now on.
  void join(unsigned worker, ReverseHub* hub, io::LoopMailbox::Sender inbox);
  /// `hub` of `worker` is going away: nothing is posted to it any more.
  void leave(unsigned worker, const ReverseHub* hub);
  /// Runs `fn` with worker `worker`'s hub on that hub's loop; false (and `fn` dropped, with
  /// what it holds) when the worker has no hub.
  bool post(unsigned worker, std::function<void(ReverseHub&)> fn) const;

  /// Runs `fn(Ports&)` under the lock and returns what it returns. `fn` must be short and
  /// must not call back into the share.
  template <class F>
  decltype(auto) with_ports(F&& fn) {
    std::lock_guard lock(mu_);
    return std::forward<F>(fn)(ports_);
  }
  /// The live control tunnel holding `bind`, if any.
  std::optional<Route> route(const PublicBind& bind) const;

  /// Registers a live control tunnel; returns its id (not 0, unique among the live ones).
  std::uint32_t add_control(ControlHome home);
  std::optional<ControlHome> control(std::uint32_t id) const;
  void remove_control(std::uint32_t id);

  AttachTokens& tokens() noexcept { return tokens_; }

 private:
  struct Inbox {
    ReverseHub* hub = nullptr;
    io::LoopMailbox::Sender sender;
  };

  mutable std::mutex mu_;
  Ports ports_;
  std::unordered_map<std::uint32_t, ControlHome> controls_;
  std::uint32_t next_id_ = 1;
  std::vector<Inbox> hubs_;  ///< by worker
  AttachTokens tokens_{10'000};
};

}  // namespace mtop
