// ReverseHub: the server side of reverse tunnels (docs/PROTOCOL.md section 9) — the public
// ports, who holds them, their visitors, and the grace period.
//
// Theory of operation
// - publish(): a control tunnel's REVERSE request, after the user check. The user's publish
//   grants (auth::PublishGrants) must cover the bind (not_permitted); the PortRegistry says
//   whether the bind is free, in grace for this user (reclaim: the listener is still bound),
//   or in use (port_in_use); a free bind is bound (EADDRINUSE: port_in_use; anything else:
//   bad_request). Port 0 tries the user's ports in order. The control tunnel's transport
//   picks its VisitorDelivery: TLS the ATTACH pool, QUIC a server-opened stream per visitor
//   (QuicVisitorDelivery); a QUIC tunnel whose connection is unusable gets bad_request.
// - Visitors: each connection to a public port is checked against the port's rule (allow and
//   deny CIDRs, max visitors) and reset if refused or if the port has no live control tunnel
//   (grace); otherwise it goes to the control tunnel's VisitorDelivery with its header.
// - attach(): a data connection's token (AttachTokens), redeemed once, for a live control
//   tunnel: the engine adds it to the user's tunnels (Host::reverse_attached), then the pool.
//   A QUIC visitor's stream becomes a data tunnel the same way (visitor_tunnel), made by the
//   engine (Host::reverse_stream).
// - tunnel_ended(): a control tunnel ended: its delivery closes (visitors aborted, pool
//   closed), and the port is kept for its user for the grace period — closed at once when the
//   tunnel was revoked (user disabled, deleted, over quota, its publish grant withdrawn) or
//   the server stops.
// - withdraw(): the engine's re-check read the user's grants again; a control tunnel whose
//   bind they no longer cover is closed as revoked (its port at once, carried visitors aborted).
// - A tick every kTickMs while ports exist: grace periods, token expiry, waiting visitors.
// - Workers (reverse_share.hpp): every worker's hub works on one ReverseShare — the port
//   registry, the ATTACH tokens, the control tunnels by id. A public port's listening socket is
//   open on the worker of its control tunnel: a climber whose new control tunnel lands on
//   another worker within the grace takes it back there (the descriptor is duplicated, never
//   closed and bound again). A visitor accepted on the old worker's copy meanwhile is moved to
//   the new one. A data connection redeemed on another worker than its control tunnel's stays
//   there (a TLS session cannot change loops); the owner's pool keeps it as a RemoteData and
//   moves each visitor's socket, not yet read from, to that worker.
//
// Loop thread only (the share is the only thing other threads touch; other hubs reach this
// one through its inbox). The hub never destroys tunnels; it holds them by pointer while the
// engine tells it they live.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/ip_prefix.hpp"
#include "auth/publish_grants.hpp"
#include "engine/attach_tokens.hpp"
#include "engine/port_registry.hpp"
#include "engine/server_metrics.hpp"
#include "engine/reverse_share.hpp"
#include "engine/tunnel_session.hpp"
#include "engine/visitor_delivery.hpp"
#include "mtop/log.hpp"
#include "uv/loop_mailbox.hpp"
#include "uv/owned_fd.hpp"
#include "uv/tcp_listener.hpp"
#include "uv/timer.hpp"

namespace mtop {

class ReverseHub final : private RemoteDataLinks {
 public:
  /// What the hub needs from the engine.
  class Host {
   public:
    virtual ~Host() = default;
    /// A data connection of `user` attached: count it among the user's tunnels (quota, rate,
    /// revoke) before it carries anything.
    virtual void reverse_attached(ServerTunnel& data, const std::string& user) = 0;
    /// A visitor was reset (counted for the metrics).
    virtual void visitor_refused(VisitorRefusal why) = 0;
    /// A stream the server opened to a climber (QUIC) for a visitor of `control`: a new data
    /// tunnel owned by the engine, started with start_visitor_stream(); null (the stream
    /// reset) when the server takes no more tunnels.
    virtual ServerTunnel* reverse_stream(io::StreamPtr stream, const ServerTunnel& control) = 0;
  };

  static constexpr std::uint64_t kTickMs = 250;
  /// Ports a request for port 0 tries at most.
  static constexpr std::size_t kMaxCandidates = 1024;

  /// `share` (what the workers' hubs share) outlives the hub.
  ReverseHub(uv_loop_t* loop, Host& host, const Logger& log, ReverseShare& share);
  /// Closes the listeners; touches no tunnel.
  ~ReverseHub() override;
  ReverseHub(const ReverseHub&) = delete;
  ReverseHub& operator=(const ReverseHub&) = delete;

  /// Opens the hub's inbox, through which the other workers' hubs reach it. Errors:
  /// system_error (uv_async_init).
  Result<void> open();
  /// This hub is worker `worker`'s of the share from now on (after open(), before the first
  /// publish; without it the hub is worker 0 and reachable by none: a single worker).
  void join(unsigned worker);

  /// Decides `control`'s REVERSE request for `bind`, its user's `grants` (the user is
  /// control.username()).
  TunnelHost::PublishAnswer publish(ServerTunnel& control, const auth::PublishGrants& grants,
                                    const Address& bind);
  /// The success response is out: start the delivery (the pool's OPEN frames).
  void published(ServerTunnel& control);
  /// A data connection's token; true when taken (then it is pooled).
  bool attach(ServerTunnel& data, const AttachToken& token);
  /// Does `user` hold a public port through a live control tunnel?
  bool publishing(const std::string& user) const;
  /// `user`'s grants are now `grants`: closes (revoked) each of the user's control tunnels
  /// whose bind they no longer cover. Returns how many it closed.
  std::size_t withdraw(const std::string& user, const auth::PublishGrants& grants);
  /// Any tunnel ended; the hub forgets it if it knew it.
  void tunnel_ended(ServerTunnel& t);
  /// Data tunnel `t` relayed the climber's first byte to its visitor: its pool's deferred
  /// refill, if any, is due (AttachPool, visitor_delivery.hpp).
  void tunnel_answered(ServerTunnel& t);
  /// Closes every public port now (the server stops).
  void close_all();
  /// The server drains: control tunnels end and their ports close at once (a restarted
  /// server is where the climbers go next); visitors being carried may finish.
  void drain();

  /// Ports held by this worker's live control tunnels.
  std::size_t ports_held() const noexcept { return controls_.size(); }
  /// Ports in their grace period, on every worker (the share's registry: not to be summed).
  std::size_t ports_in_grace() const;
  std::size_t visitors() const;
  std::uint64_t visitors_total() const noexcept { return visitors_total_; }
  std::uint64_t visitors_refused() const noexcept { return visitors_refused_; }

 private:
  /// A public port's listening socket open on this loop, and its visitor rule.
  struct Listening {
    std::unique_ptr<io::TcpListener> listener;
    std::vector<auth::IpPrefix> allow;
    std::vector<auth::IpPrefix> deny;
    std::size_t max_visitors = 0;
  };
  struct Control {
    ServerTunnel* tunnel = nullptr;
    PublicBind bind;
    std::unique_ptr<VisitorDelivery> delivery;
    AttachPool* pool = nullptr;  ///< the delivery, when it is TLS's
  };
  /// A data connection here whose control tunnel is on another worker.
  struct RemoteAttached {
    std::uint32_t tunnel = 0;  ///< its control tunnel
    unsigned owner = 0;        ///< that tunnel's worker
    std::uint64_t link = 0;    ///< its number here (RemoteData::link)
  };
  /// A visitor on its way between workers: its socket and what goes with it.
  struct Parcel {
    Parcel() = default;
    Parcel(const Parcel&) = delete;
    Parcel& operator=(const Parcel&) = delete;
    Parcel(Parcel&&) = delete;
    Parcel& operator=(Parcel&&) = delete;
    /// A visitor still in the parcel was never carried: it is reset, as in Visitor.
    ~Parcel() { io::reset_on_close(fd.get()); }

    io::OwnedFd fd;
    Bytes header;
    std::string name;
    std::uint64_t arrived_ms = 0;
  };

  /// Claims `pb` for `user`'s control tunnel `id` in the share: binds it (free), or takes it
  /// back (in grace: from this loop, or by duplicating the other worker's socket). success,
  /// port_in_use or bad_request (with `why`); `reclaimed` says which; `moved_from` names the
  /// worker whose copy of the socket is stale now.
  Status claim(const PublicBind& pb, const std::string& user, std::uint32_t id, bool& reclaimed,
               std::optional<unsigned>& moved_from, std::string& why);
  /// Binds `bind` for a new entry: success, port_in_use or bad_request.
  Status listen(const PublicBind& bind, Listening& out, std::string& reason);
  io::TcpListener::RawAcceptCallback accept_callback(const PublicBind& bind);
  void apply_rule(const TunnelSettings& settings, std::uint16_t port, Listening& l) const;
  /// A connection accepted on a public port's socket here: carried here, or moved to the
  /// worker of the port's control tunnel.
  void on_visitor(const PublicBind& bind, io::UvHandle<uv_tcp_t> tcp);
  /// Decides visitor `tcp` of `bind` for this worker's control tunnel `route` (none: reset).
  void visit(const PublicBind& bind, io::UvHandle<uv_tcp_t> tcp,
             std::optional<ReverseShare::Route> route);
  /// Closes this loop's copies of the binds the share no longer keeps here; with `all`, also
  /// the ones it does (dropped from the share: the server stops or drains).
  void drop_listeners(bool all);
  /// QUIC: `stream`, opened for a visitor of `control`, as a pooled data tunnel of its user.
  ServerTunnel* visitor_tunnel(const ServerTunnel& control, io::StreamPtr stream);
  void arm();
  void tick();

  // Messages from other workers' hubs (run on this loop through the inbox).
  void take_visitor(const PublicBind& bind, io::OwnedFd fd);
  void remote_attached(std::uint32_t tunnel, const RemoteData& data);
  void remote_ended(std::uint32_t tunnel, const RemoteData& data);
  void remote_answered(std::uint32_t tunnel, const RemoteData& data);
  void carry_here(std::uint64_t link, std::uint32_t tunnel, unsigned owner,
                  const std::shared_ptr<Parcel>& parcel);
  void visitor_back(std::uint32_t tunnel, const std::shared_ptr<Parcel>& parcel);
  void close_link(std::uint64_t link, const std::string& reason);

  // RemoteDataLinks (the pools of this worker's control tunnels)
  void carry(const RemoteData& data, std::uint32_t tunnel, Visitor v) override;
  void close(const RemoteData& data, const std::string& reason) override;

  uv_loop_t* loop_;
  Host& host_;
  const Logger& log_;
  ReverseShare& share_;
  unsigned worker_ = 0;
  std::map<PublicBind, Listening> listening_;                       ///< sockets open here
  std::unordered_map<std::uint32_t, Control> controls_;             ///< by tunnel id
  std::unordered_map<const ServerTunnel*, std::uint32_t> tunnels_;  ///< control and data
  std::unordered_map<const ServerTunnel*, RemoteAttached> remote_data_;
  std::unordered_map<std::uint64_t, ServerTunnel*> links_;  ///< remote_data_ by link
  std::uint64_t next_link_ = 1;
  std::uint64_t visitors_total_ = 0;
  std::uint64_t visitors_refused_ = 0;
  bool draining_ = false;
  io::Timer ticker_;
  // Declared last: destroyed first, dropping what other hubs posted and this one never ran.
  std::unique_ptr<io::LoopMailbox> inbox_;
};

}  // namespace mtop
