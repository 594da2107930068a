// VisitorDelivery: how the visitors of one control tunnel reach its climber, one per
// transport (docs/PROTOCOL.md 9.5, 9.6). The server's ReverseHub accepts visitors on the
// public port and hands each to the delivery of the port's control tunnel.
//
// - TLS (AttachPool, below): the climber keeps a pool of data connections ready, asked for
//   with OPEN frames carrying one-time tokens (AttachTokens); a visitor goes to an idle one at
//   once, or waits (bounded by the handshake time-out) for the next to attach. The number of
//   connections asked for follows one rule: ready + tokens outstanding + refills owed = pool
//   size + visitors waiting. A refill is owed for a pooled connection a visitor took while
//   others stayed idle: its OPEN waits until the climber's first byte on it has gone to the
//   visitor, or its tunnel ended, because the climber's answer to that OPEN (a new TLS
//   connection, whose handshake costs this loop about a millisecond) would otherwise delay
//   that first byte. Taking the last idle connection sends every owed refill at once, so a
//   burst never finds the pool empty for want of a deferred OPEN. On a multi-worker server a data
//   connection may attach on another worker than its control tunnel's (SO_REUSEPORT hashes each
//   connection anew): the pool keeps it as a RemoteData, and a visitor handed to it goes there
//   (RemoteDataLinks: the hub moves the visitor's socket to that worker).
// - QUIC (QuicVisitorDelivery, quic_visitor_delivery.hpp): a server-initiated stream per
//   visitor on the climber's connection.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <variant>

#include "engine/attach_tokens.hpp"
#include "mtop/bytes.hpp"
#include "mtop/stream.hpp"

namespace mtop {

class ServerTunnel;

/// A visitor accepted on a public port, not yet reading. One dropped before a tunnel carries
/// it (refused, waited too long for a data connection or stream credit, its climber gone) is
/// reset, not closed with a FIN: a visitor must not take "nobody answered" for an empty
/// answer (docs/PROTOCOL.md 9.5, 9.7).
struct Visitor {
  Visitor() = default;
  Visitor(Visitor&&) noexcept = default;
  Visitor& operator=(Visitor&&) noexcept = default;
  Visitor(const Visitor&) = delete;
  Visitor& operator=(const Visitor&) = delete;
  ~Visitor();

  io::StreamPtr stream;
  Bytes header;      ///< the visitor header (9.5) to send before its bytes
  std::string name;  ///< "ip:port", for the summary
  std::uint64_t arrived_ms = 0;
};

/// A data connection of a pool that attached on another worker: that worker and its number
/// for the connection there.
struct RemoteData {
  unsigned worker = 0;
  std::uint64_t link = 0;
  friend bool operator==(const RemoteData&, const RemoteData&) = default;
  friend bool operator<(const RemoteData& a, const RemoteData& b) {
    return a.worker != b.worker ? a.worker < b.worker : a.link < b.link;
  }
};

/// How a pool reaches its data connections on other workers (the hub, through the workers'
/// mailboxes). Both calls return at once; what they do happens on the other worker's loop.
class RemoteDataLinks {
 public:
  virtual ~RemoteDataLinks() = default;
  /// Carries visitor `v` of control tunnel `tunnel` on `data`. Should `data` be gone when it
  /// gets there, the visitor comes back to the pool (AttachPool::deliver).
  virtual void carry(const RemoteData& data, std::uint32_t tunnel, Visitor v) = 0;
  /// Closes `data` (the control tunnel ended).
  virtual void close(const RemoteData& data, const std::string& reason) = 0;
};

class VisitorDelivery {
 public:
  virtual ~VisitorDelivery() = default;
  /// The control tunnel is up: ask for what is needed ahead (TLS: the pool).
  virtual void start() = 0;
  /// Carries `v` to the climber now, or as soon as a way is ready.
  virtual void deliver(Visitor v) = 0;
  /// Visitors waiting or carried right now (the port's visitor limit counts these).
  virtual std::size_t visitors() const = 0;
  /// Time passes: visitors that waited too long are reset, expired requests replaced.
  virtual void tick(std::uint64_t now_ms) = 0;
  /// A tunnel of this delivery ended (a data connection); forget it.
  virtual void tunnel_ended(ServerTunnel& t) = 0;
  /// The control tunnel ended: reset waiting visitors, close the pool and (unless
  /// `keep_carried`, a draining server) the visitors being carried.
  virtual void close(const std::string& reason, bool keep_carried) = 0;
};

/// TLS: the ATTACH pool of 9.6.
class AttachPool final : public VisitorDelivery {
 public:
  /// `control` and `tokens` outlive the pool. `pool_size` idle connections are kept asked
  /// for; a visitor waits at most `wait_ms` for one.
  /// `remote` (may be null: one worker) reaches data connections that attach elsewhere; it
  /// outlives the pool.
  AttachPool(ServerTunnel& control, std::uint32_t tunnel, AttachTokens& tokens,
             std::size_t pool_size, std::uint64_t wait_ms, uv_loop_t* loop,
             RemoteDataLinks* remote = nullptr);
  ~AttachPool() override;
  AttachPool(const AttachPool&) = delete;
  AttachPool& operator=(const AttachPool&) = delete;

  void start() override { top_up(); }
  void deliver(Visitor v) override;
  std::size_t visitors() const override { return waiting_.size() + carrying_.size(); }
  void tick(std::uint64_t now_ms) override;
  void tunnel_ended(ServerTunnel& t) override;
  void close(const std::string& reason, bool keep_carried) override;

  /// A data connection redeemed one of this pool's tokens (already pooled by the engine).
  void attached(ServerTunnel& t) { attached_link(&t); }
  /// The same for a data connection on another worker.
  void attached_remote(const RemoteData& data) { attached_link(data); }
  /// A data connection on another worker ended.
  void remote_ended(const RemoteData& data) { link_ended(data); }
  /// Data connection `t` relayed the climber's first byte to its visitor: its refill is due.
  void answered(ServerTunnel& t) { link_answered(&t); }
  /// The same for a data connection on another worker.
  void answered_remote(const RemoteData& data) { link_answered(data); }

 private:
  /// A data connection: here, or on another worker.
  using Link = std::variant<ServerTunnel*, RemoteData>;

  void attached_link(const Link& link);
  void link_ended(const Link& link);
  void link_answered(const Link& link);
  void hand(const Link& link, Visitor v);
  void close_link(const Link& link, const std::string& reason);
  /// Sends OPEN frames until ready + outstanding + owed = pool size + waiting.
  void top_up();

  ServerTunnel& control_;
  std::uint32_t tunnel_;
  AttachTokens& tokens_;
  std::size_t pool_size_;
  std::uint64_t wait_ms_;
  uv_loop_t* loop_;
  RemoteDataLinks* remote_;
  std::deque<Link> ready_;
  std::set<Link> carrying_;
  std::set<Link> owed_;  ///< carried, their refill deferred until answered or ended
  std::deque<Visitor> waiting_;
  bool closed_ = false;
};

}  // namespace mtop
