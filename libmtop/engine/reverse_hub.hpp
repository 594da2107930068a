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
//   tunnel was revoked (user disabled, deleted, over quota) or the server stops.
// - A tick every kTickMs while ports exist: grace periods, token expiry, waiting visitors.
//
// Loop thread only. The hub never destroys tunnels; it holds them by pointer while the engine
// tells it they live.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/ip_prefix.hpp"
#include "auth/publish_grants.hpp"
#include "engine/attach_tokens.hpp"
#include "engine/port_registry.hpp"
#include "engine/tunnel_session.hpp"
#include "engine/visitor_delivery.hpp"
#include "mtop/log.hpp"
#include "uv/tcp_listener.hpp"
#include "uv/timer.hpp"

namespace mtop {

class ReverseHub {
 public:
  /// What the hub needs from the engine.
  class Host {
   public:
    virtual ~Host() = default;
    /// A data connection of `user` attached: count it among the user's tunnels (quota, rate,
    /// revoke) before it carries anything.
    virtual void reverse_attached(ServerTunnel& data, const std::string& user) = 0;
    /// A stream the server opened to a climber (QUIC) for a visitor of `control`: a new data
    /// tunnel owned by the engine, started with start_visitor_stream(); null (the stream
    /// reset) when the server takes no more tunnels.
    virtual ServerTunnel* reverse_stream(io::StreamPtr stream, const ServerTunnel& control) = 0;
  };

  static constexpr std::uint64_t kTickMs = 250;
  /// Ports a request for port 0 tries at most.
  static constexpr std::size_t kMaxCandidates = 1024;

  ReverseHub(uv_loop_t* loop, Host& host, const Logger& log);
  /// Closes the listeners; touches no tunnel.
  ~ReverseHub();
  ReverseHub(const ReverseHub&) = delete;
  ReverseHub& operator=(const ReverseHub&) = delete;

  /// Decides `control`'s REVERSE request for `bind`, its user's `grants` (the user is
  /// control.username()).
  TunnelHost::PublishAnswer publish(ServerTunnel& control, const auth::PublishGrants& grants,
                                    const Address& bind);
  /// The success response is out: start the delivery (the pool's OPEN frames).
  void published(ServerTunnel& control);
  /// A data connection's token; true when taken (then it is pooled).
  bool attach(ServerTunnel& data, const AttachToken& token);
  /// Any tunnel ended; the hub forgets it if it knew it.
  void tunnel_ended(ServerTunnel& t);
  /// Closes every public port now (the server stops).
  void close_all();
  /// The server drains: control tunnels end and their ports close at once (a restarted
  /// server is where the climbers go next); visitors being carried may finish.
  void drain();

  std::size_t ports_held() const noexcept { return ports_.held(); }
  std::size_t visitors() const;
  std::uint64_t visitors_total() const noexcept { return visitors_total_; }
  std::uint64_t visitors_refused() const noexcept { return visitors_refused_; }

 private:
  /// What a public port keeps through its grace: the socket and its visitor rule.
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

  /// Binds `bind` for a new entry: success, port_in_use or bad_request.
  Status listen(const PublicBind& bind, Listening& out, std::string& reason);
  void apply_rule(const TunnelSettings& settings, std::uint16_t port, Listening& l) const;
  void on_visitor(const PublicBind& bind, io::UvHandle<uv_tcp_t> tcp);
  /// QUIC: `stream`, opened for a visitor of `control`, as a pooled data tunnel of its user.
  ServerTunnel* visitor_tunnel(const ServerTunnel& control, io::StreamPtr stream);
  std::uint32_t new_tunnel_id();
  void arm();
  void tick();

  uv_loop_t* loop_;
  Host& host_;
  const Logger& log_;
  PortRegistry<Listening> ports_;
  AttachTokens tokens_{10'000};
  std::unordered_map<std::uint32_t, Control> controls_;             ///< by tunnel id
  std::unordered_map<const ServerTunnel*, std::uint32_t> tunnels_;  ///< control and data
  std::uint32_t next_id_ = 1;
  std::uint64_t visitors_total_ = 0;
  std::uint64_t visitors_refused_ = 0;
  bool draining_ = false;
  io::Timer ticker_;
};

}  // namespace mtop
