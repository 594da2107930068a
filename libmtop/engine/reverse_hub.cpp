#include "engine/reverse_hub.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "engine/quic_visitor_delivery.hpp"
#include "uv/sockaddr.hpp"
#include "uv/tcp_stream.hpp"
#include "uv/uv_error.hpp"

namespace mtop {

namespace {

std::optional<Address> to_address(const sockaddr_storage& ss) {
  const auto ip = auth::IpAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
  const std::uint16_t port = io::sockaddr_port(reinterpret_cast<const sockaddr*>(&ss));
  if (!ip || port == 0) return std::nullopt;
  const auth::IpAddress a = ip->unmapped();
  if (!a.is_v6) return Address::from_ipv4({a.bytes[0], a.bytes[1], a.bytes[2], a.bytes[3]}, port);
  return Address::from_ipv6(a.bytes, port);
}

std::optional<auth::IpAddress> bind_address(const Address& a) {
  if (a.type == AddressType::ipv4) {
    return auth::IpAddress::v4(a.ip[0], a.ip[1], a.ip[2], a.ip[3]);
  }
  if (a.type == AddressType::ipv6) {
    auth::IpAddress ip;
    ip.is_v6 = true;
    ip.bytes = a.ip;
    return ip;
  }
  return std::nullopt;
}

std::vector<auth::IpPrefix> prefixes(const std::vector<std::string>& texts) {
  std::vector<auth::IpPrefix> out;
  for (const auto& t : texts) {
    if (auto p = auth::IpPrefix::parse(t)) out.push_back(*p);  // validated by the config
  }
  return out;
}

bool any_contains(const std::vector<auth::IpPrefix>& list, const auth::IpAddress& a) {
  for (const auto& p : list) {
    if (p.contains(a)) return true;
  }
  return false;
}

}  // namespace

ReverseHub::ReverseHub(uv_loop_t* loop, Host& host, const Logger& log, ReverseShare& share)
    : loop_(loop), host_(host), log_(log), share_(share), ticker_(loop) {}

ReverseHub::~ReverseHub() {
  ticker_.stop();
  share_.leave(worker_, this);
  // Deliveries drop their pointers; the engine destroys the tunnels itself.
  for (const auto& [id, c] : controls_) share_.remove_control(id);
  controls_.clear();
  drop_listeners(true);
}

Result<void> ReverseHub::open() {
  auto inbox = io::LoopMailbox::open(loop_);
  if (!inbox) return inbox.failure();
  inbox_ = std::move(*inbox);
  return {};
}

void ReverseHub::join(unsigned worker) {
  if (!inbox_) return;
  share_.leave(worker_, this);
  worker_ = worker;
  share_.join(worker_, this, inbox_->sender());
}

void ReverseHub::apply_rule(const TunnelSettings& settings, std::uint16_t port,
                            Listening& l) const {
  const ReverseOptions& r = settings.options.reverse;
  l.allow.clear();
  l.deny.clear();
  l.max_visitors = r.max_visitors;
  for (const ReverseVisitorRule& rule : r.visitors) {
    if (port < rule.first_port || port > rule.last_port) continue;
    l.allow = prefixes(rule.allow);
    l.deny = prefixes(rule.deny);
    if (rule.max_visitors > 0) l.max_visitors = rule.max_visitors;
    break;
  }
}

io::TcpListener::RawAcceptCallback ReverseHub::accept_callback(const PublicBind& bind) {
  return [this, bind](io::UvHandle<uv_tcp_t> tcp) { on_visitor(bind, std::move(tcp)); };
}

Status ReverseHub::listen(const PublicBind& bind, Listening& out, std::string& reason) {
  auto l = io::TcpListener::listen_raw(loop_, bind.address.to_string(), bind.port,
                                       accept_callback(bind));
  if (l) {
    out.listener = std::move(*l);
    return Status::success;
  }
  reason = std::string(l.message());
  // listen_failed messages end with libuv's reason; EADDRINUSE is the one that means "taken".
  if (reason.ends_with(io::uv_reason(UV_EADDRINUSE))) return Status::port_in_use;
  return Status::bad_request;
}

Status ReverseHub::claim(const PublicBind& pb, const std::string& user, std::uint32_t id,
                         bool& reclaimed, std::optional<unsigned>& moved_from, std::string& why) {
  // Under the share's lock from the check to the hold: two workers never both take a bind.
  return share_.with_ports([&](ReverseShare::Ports& ports) {
    using Verdict = ReverseShare::Ports::Verdict;
    const Verdict verdict = ports.check(pb, user);
    if (verdict == Verdict::in_use) return Status::port_in_use;
    reclaimed = verdict == Verdict::reclaim;
    if (!reclaimed) {
      // A stale copy of ours (the bind moved on and was released since) would hold it.
      listening_.erase(pb);
      Listening fresh;
      if (const Status s = listen(pb, fresh, why); s != Status::success) return s;
      const int fd = fresh.listener->fd();
      listening_[pb] = std::move(fresh);
      ports.hold(pb, user, id, ReverseShare::PortHome{worker_, fd});
      return Status::success;
    }
    auto* entry = ports.find(pb);
    if (entry->payload.worker != worker_) {
      // In grace on another worker: its socket comes here, still bound (a duplicate now; that
      // worker closes its copy as soon as it sees the entry name this one).
      auto here = listening_.find(pb);
      if (here == listening_.end() || !here->second.listener) {
        io::OwnedFd fd = io::OwnedFd::duplicate(entry->payload.fd);
        if (!fd) {
          why = "taking back " + pb.to_string() + ": dup: too many open files";
          return Status::bad_request;
        }
        auto l = io::TcpListener::adopt(loop_, std::move(fd), accept_callback(pb));
        if (!l) {
          why = "taking back " + pb.to_string() + ": " + std::string(l.message());
          return Status::bad_request;
        }
        listening_[pb].listener = std::move(*l);
      }
      moved_from = entry->payload.worker;
      entry->payload = ReverseShare::PortHome{worker_, listening_[pb].listener->fd()};
    }
    ports.hold(pb, user, id, entry->payload);
    return Status::success;
  });
}

TunnelHost::PublishAnswer ReverseHub::publish(ServerTunnel& control,
                                              const auth::PublishGrants& grants,
                                              const Address& bind) {
  TunnelHost::PublishAnswer answer;
  const std::string& user = control.username();
  const TunnelSettings& settings = control.settings();
  std::unique_ptr<VisitorDelivery> quic;
  if (control.summary().transport != "tls") {
    quic = make_quic_delivery(
        control,
        [this, &control](io::StreamPtr s) { return visitor_tunnel(control, std::move(s)); },
        settings.options.handshake_timeout_ms);
    if (!quic) {
      answer.status = Status::bad_request;
      answer.reason = "reverse tunnels need TLS or a live QUIC connection";
      return answer;
    }
  }
  const auto address = bind_address(bind);
  if (!address) {
    answer.status = Status::bad_request;
    answer.reason = "bind address is not an IP address";
    return answer;
  }
  std::vector<std::uint16_t> ports;
  if (bind.port == 0) {
    ports = grants.candidate_ports(*address, kMaxCandidates);
    // The user's own ports in their grace period first: a climber that came back asking for
    // "any port" gets the one its visitors knew rather than a lower one freed meanwhile.
    share_.with_ports([&](ReverseShare::Ports& registry) {
      std::stable_partition(ports.begin(), ports.end(), [&](std::uint16_t port) {
        return registry.check(PublicBind{*address, port}, user) ==
               ReverseShare::Ports::Verdict::reclaim;
      });
    });
  } else if (grants.allows(*address, bind.port)) {
    ports = {bind.port};
  }
  if (ports.empty()) {
    answer.status = Status::not_permitted;
    answer.reason = "not permitted to publish " + bind.to_string();
    return answer;
  }
  answer.status = Status::port_in_use;
  answer.reason = "port in use: " + bind.to_string();
  for (const std::uint16_t port : ports) {
    const PublicBind pb{*address, port};
    const std::uint32_t id = share_.add_control({worker_, user, pb.to_string()});
    bool reclaimed = false;
    std::optional<unsigned> moved_from;
    std::string why;
    const Status s = claim(pb, user, id, reclaimed, moved_from, why);
    if (s != Status::success) {
      share_.remove_control(id);
      if (s == Status::port_in_use) {
        if (!why.empty()) answer.reason = "port in use: " + why;
        continue;
      }
      answer.status = s;
      answer.reason = why;
      return answer;
    }
    if (moved_from) {
      // Its old worker closes its copy now rather than at its next tick.
      share_.post(*moved_from, [](ReverseHub& old) { old.drop_listeners(false); });
    }
    apply_rule(settings, port, listening_[pb]);
    Control& c = controls_[id];
    c.tunnel = &control;
    c.bind = pb;
    AttachTokens& tokens = share_.tokens();
    if (quic) {
      c.delivery = std::move(quic);
    } else {
      auto pool = std::make_unique<AttachPool>(control, id, tokens, settings.options.reverse.pool,
                                               settings.options.handshake_timeout_ms, loop_,
                                               static_cast<RemoteDataLinks*>(this));
      c.pool = pool.get();
      c.delivery = std::move(pool);
    }
    tunnels_[&control] = id;
    tokens.set_lifetime(settings.options.handshake_timeout_ms);
    answer.status = Status::success;
    answer.reason.clear();
    // An embedder's options are not checked elsewhere: keep K on the wire's range.
    const auto k =
        std::clamp<std::uint16_t>(settings.options.reverse.keepalive_s, 1, kMaxKeepaliveSeconds);
    answer.grant = ReverseGrant{port, id, k};
    log_.info("reverse tunnel user=" + log_escape(user) + " source=" + control.summary().source +
              " published " + pb.to_string() + " tunnel=" + std::to_string(id) +
              (reclaimed ? " (taken back in grace)" : ""));
    arm();
    return answer;
  }
  return answer;
}

void ReverseHub::published(ServerTunnel& control) {
  const auto it = tunnels_.find(&control);
  if (it == tunnels_.end()) return;
  if (auto c = controls_.find(it->second); c != controls_.end()) c->second.delivery->start();
}

bool ReverseHub::attach(ServerTunnel& data, const AttachToken& token) {
  const auto id = share_.tokens().redeem(token, uv_now(loop_));
  if (!id) return false;
  const auto home = share_.control(*id);
  if (!home) return false;
  if (home->worker != worker_) {
    // Its control tunnel is on another worker: the connection stays here (its TLS session is
    // this loop's), pooled for that worker's pool, which sends it visitors (carry_here).
    const std::uint64_t link = next_link_++;
    host_.reverse_attached(data, home->user);
    data.make_pooled(home->user, home->bind);
    remote_data_[&data] = RemoteAttached{*id, home->worker, link};
    links_[link] = &data;
    share_.post(home->worker, [tunnel = *id, d = RemoteData{worker_, link}](ReverseHub& owner) {
      owner.remote_attached(tunnel, d);
    });
    return true;
  }
  const auto c = controls_.find(*id);
  if (c == controls_.end() || !c->second.pool) return false;
  Control& control = c->second;
  tunnels_[&data] = *id;
  const std::string user = control.tunnel->username();
  host_.reverse_attached(data, user);
  data.make_pooled(user, control.bind.to_string());
  control.pool->attached(data);
  return true;
}

ServerTunnel* ReverseHub::visitor_tunnel(const ServerTunnel& control, io::StreamPtr stream) {
  const auto it = tunnels_.find(&control);
  const auto c = it == tunnels_.end() ? controls_.end() : controls_.find(it->second);
  if (c == controls_.end()) {
    stream.release()->abort(static_cast<std::uint64_t>(QuicAppError::refused));
    return nullptr;
  }
  const std::uint32_t id = c->first;
  ServerTunnel* data = host_.reverse_stream(std::move(stream), control);
  if (!data) return nullptr;
  tunnels_[data] = id;
  const std::string user = control.username();
  host_.reverse_attached(*data, user);
  data->make_pooled(user, c->second.bind.to_string());
  return data;
}

void ReverseHub::on_visitor(const PublicBind& bind, io::UvHandle<uv_tcp_t> tcp) {
  const auto route = share_.route(bind);
  if (route && route->worker != worker_) {
    // The port moved to its climber's new worker and this copy has not closed yet.
    auto fd = std::make_shared<io::OwnedFd>(io::OwnedFd::duplicate(io::handle_fd(tcp.handle())));
    tcp.reset();
    if (*fd && share_.post(route->worker, [bind, fd](ReverseHub& owner) {
          owner.take_visitor(bind, std::move(*fd));
        })) {
      return;
    }
    ++visitors_total_;
    ++visitors_refused_;  // its socket closes with `fd`
    return;
  }
  visit(bind, std::move(tcp), route);
}

void ReverseHub::take_visitor(const PublicBind& bind, io::OwnedFd fd) {
  auto tcp = io::open_tcp(loop_, std::move(fd));
  if (!tcp) {
    ++visitors_total_;
    ++visitors_refused_;
    return;
  }
  auto route = share_.route(bind);
  if (route && route->worker != worker_) route.reset();  // moved again: not passed on twice
  visit(bind, std::move(*tcp), route);
}

void ReverseHub::visit(const PublicBind& bind, io::UvHandle<uv_tcp_t> tcp,
                       std::optional<ReverseShare::Route> route) {
  ++visitors_total_;
  sockaddr_storage peer{};
  sockaddr_storage local{};
  int len = sizeof peer;
  const bool named = uv_tcp_getpeername(tcp.get(), reinterpret_cast<sockaddr*>(&peer), &len) == 0;
  len = sizeof local;
  const bool local_named =
      uv_tcp_getsockname(tcp.get(), reinterpret_cast<sockaddr*>(&local), &len) == 0;
  io::StreamPtr stream = io::TcpStream::adopt(std::move(tcp));
  const auto rule_of = listening_.find(bind);
  const auto source = named ? to_address(peer) : std::nullopt;
  const auto destination = local_named ? to_address(local) : std::nullopt;
  auto refuse = [&](VisitorRefusal why) {
    ++visitors_refused_;
    host_.visitor_refused(why);
    if (stream) io::TcpStream::reset(std::move(stream));  // 9.5: reset, never a FIN
  };
  if (!route || rule_of == listening_.end()) {
    refuse(VisitorRefusal::no_climber);  // grace: reset at once
    return;
  }
  if (!source || !destination) {
    refuse(VisitorRefusal::no_address);
    return;
  }
  const auto c = controls_.find(route->tunnel);
  if (c == controls_.end()) {
    refuse(VisitorRefusal::no_climber);
    return;
  }
  const Listening& rule = rule_of->second;
  const auto ip = auth::IpAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&peer));
  const auth::IpAddress visitor_ip = ip ? ip->unmapped() : auth::IpAddress{};
  if (any_contains(rule.deny, visitor_ip) ||
      (!rule.allow.empty() && !any_contains(rule.allow, visitor_ip))) {
    refuse(VisitorRefusal::source_rule);
    return;
  }
  if (c->second.delivery->visitors() >= rule.max_visitors) {
    refuse(VisitorRefusal::visitor_limit);
    return;
  }
  Visitor v;
  if (!encode_visitor_header(VisitorHeader{c->first, *source, *destination}, v.header)) {
    refuse(VisitorRefusal::no_address);
    return;
  }
  v.stream = std::move(stream);
  v.name = source->to_string();
  v.arrived_ms = uv_now(loop_);
  c->second.delivery->deliver(std::move(v));
}

bool ReverseHub::publishing(const std::string& user) const {
  return std::any_of(controls_.begin(), controls_.end(),
                     [&user](const auto& e) { return e.second.tunnel->username() == user; });
}

std::size_t ReverseHub::withdraw(const std::string& user, const auth::PublishGrants& grants) {
  std::vector<ServerTunnel*> gone;  // closing edits controls_
  for (const auto& [id, c] : controls_) {
    if (c.tunnel->username() != user || grants.allows(c.bind.address, c.bind.port)) continue;
    log_.info("reverse tunnel user=" + log_escape(user) + " " + c.bind.to_string() +
              " tunnel=" + std::to_string(id) + ": no longer in the user's publish grant");
    gone.push_back(c.tunnel);
  }
  for (ServerTunnel* t : gone) t->close(TunnelFailure::revoked, "publish grant withdrawn");
  return gone.size();
}

void ReverseHub::tunnel_ended(ServerTunnel& t) {
  if (const auto r = remote_data_.find(&t); r != remote_data_.end()) {
    // A data connection of a control tunnel on another worker: its pool there forgets it.
    const RemoteAttached a = r->second;
    remote_data_.erase(r);
    links_.erase(a.link);
    share_.post(a.owner, [tunnel = a.tunnel, d = RemoteData{worker_, a.link}](ReverseHub& owner) {
      owner.remote_ended(tunnel, d);
    });
    return;
  }
  const auto it = tunnels_.find(&t);
  if (it == tunnels_.end()) return;
  const std::uint32_t id = it->second;
  tunnels_.erase(it);
  const auto c = controls_.find(id);
  if (c == controls_.end()) return;
  if (c->second.tunnel != &t) {
    c->second.delivery->tunnel_ended(t);  // a data connection
    return;
  }
  // The control tunnel: the port stops carrying visitors at once (9.7).
  Control control = std::move(c->second);
  controls_.erase(c);
  share_.remove_control(id);
  const ServerTunnel::Summary& s = t.summary();
  control.delivery->close("control tunnel ended", draining_);
  const bool revoked = s.failure == TunnelFailure::revoked || draining_;
  const std::uint64_t grace = revoked ? 0 : t.settings().options.reverse.grace_ms;
  const std::uint64_t until = uv_now(loop_) + grace;
  // The bind's socket is on this worker (publish brought it here) until another takes it.
  share_.with_ports([&](ReverseShare::Ports& ports) {
    if (grace == 0) {
      ports.erase(control.bind);
    } else {
      ports.release(control.bind, until);
    }
  });
  if (grace == 0) listening_.erase(control.bind);
  log_.info(
      "reverse tunnel user=" + s.user + " " + control.bind.to_string() +
      " tunnel=" + std::to_string(id) + " ended (" + s.reason + ")" +
      (grace > 0 ? ", port kept " + std::to_string(grace) + " ms for the user" : ", port closed"));
}

void ReverseHub::tunnel_answered(ServerTunnel& t) {
  if (const auto r = remote_data_.find(&t); r != remote_data_.end()) {
    const RemoteAttached& a = r->second;
    share_.post(a.owner, [tunnel = a.tunnel, d = RemoteData{worker_, a.link}](ReverseHub& owner) {
      owner.remote_answered(tunnel, d);
    });
    return;
  }
  const auto it = tunnels_.find(&t);
  if (it == tunnels_.end()) return;
  const auto c = controls_.find(it->second);
  if (c != controls_.end() && c->second.pool && c->second.tunnel != &t) c->second.pool->answered(t);
}

void ReverseHub::close_all() {
  std::vector<ServerTunnel*> controls;
  for (auto& [id, c] : controls_) controls.push_back(c.tunnel);
  for (ServerTunnel* t : controls) t->close(TunnelFailure::revoked, "server stopped");
  drop_listeners(true);
  ticker_.stop();
}

void ReverseHub::drain() {
  draining_ = true;
  std::vector<ServerTunnel*> controls;
  for (auto& [id, c] : controls_) controls.push_back(c.tunnel);
  for (ServerTunnel* t : controls) t->close(TunnelFailure::draining, "server draining");
  drop_listeners(true);  // ports in grace close too
}

std::size_t ReverseHub::ports_in_grace() const {
  return share_.with_ports([](const ReverseShare::Ports& p) { return p.size() - p.held(); });
}

std::size_t ReverseHub::visitors() const {
  std::size_t n = 0;
  for (const auto& [id, c] : controls_) n += c.delivery->visitors();
  return n;
}

void ReverseHub::drop_listeners(bool all) {
  std::vector<PublicBind> stale;
  share_.with_ports([&](ReverseShare::Ports& ports) {
    for (const auto& [bind, l] : listening_) {
      const auto* entry = ports.find(bind);
      const bool ours = entry && entry->payload.worker == worker_;
      if (ours && all) ports.erase(bind);
      if (!ours || all) stale.push_back(bind);
    }
  });
  // Closed after the lock: no other worker duplicates a descriptor the share does not name.
  for (const PublicBind& b : stale) listening_.erase(b);
}

void ReverseHub::arm() {
  if (!ticker_.active()) ticker_.start(kTickMs, [this] { tick(); });
}

void ReverseHub::tick() {
  const std::uint64_t now = uv_now(loop_);
  std::vector<PublicBind> released;  // closed here: stale copies and expired binds
  std::vector<PublicBind> expired;
  share_.with_ports([&](ReverseShare::Ports& ports) {
    for (const auto& [bind, l] : listening_) {
      const auto* entry = ports.find(bind);
      if (!entry || entry->payload.worker != worker_) {
        released.push_back(bind);  // a stale copy: the bind moved to another worker
      } else if (!entry->tunnel && now >= entry->grace_until_ms) {
        ports.erase(bind);
        released.push_back(bind);
        expired.push_back(bind);
      }
    }
  });
  for (const PublicBind& b : released) listening_.erase(b);
  for (const PublicBind& b : expired) {
    log_.info("reverse port " + b.to_string() + " released after its grace period");
  }
  (void)share_.tokens().expire(now);
  for (auto& [id, c] : controls_) c.delivery->tick(now);
  if (!listening_.empty()) arm();
}

// --- between workers ------------------------------------------------------------------------

void ReverseHub::remote_attached(std::uint32_t tunnel, const RemoteData& data) {
  const auto c = controls_.find(tunnel);
  if (c == controls_.end() || !c->second.pool) {
    close(data, "control tunnel ended");
    return;
  }
  c->second.pool->attached_remote(data);
}

void ReverseHub::remote_ended(std::uint32_t tunnel, const RemoteData& data) {
  if (const auto c = controls_.find(tunnel); c != controls_.end() && c->second.pool) {
    c->second.pool->remote_ended(data);
  }
}

void ReverseHub::remote_answered(std::uint32_t tunnel, const RemoteData& data) {
  if (const auto c = controls_.find(tunnel); c != controls_.end() && c->second.pool) {
    c->second.pool->answered_remote(data);
  }
}

void ReverseHub::carry(const RemoteData& data, std::uint32_t tunnel, Visitor v) {
  auto parcel = std::make_shared<Parcel>();
  parcel->fd = io::TcpStream::hand_over(std::move(v.stream));
  if (!parcel->fd) {
    // The visitor is lost (dup failed): free its data connection too, so the pool asks anew.
    close(data, "visitor lost: " + v.name);
    return;
  }
  parcel->header = std::move(v.header);
  parcel->name = std::move(v.name);
  parcel->arrived_ms = v.arrived_ms;
  share_.post(data.worker, [link = data.link, tunnel, owner = worker_, parcel](ReverseHub& hub) {
    hub.carry_here(link, tunnel, owner, parcel);
  });
}

void ReverseHub::close(const RemoteData& data, const std::string& reason) {
  share_.post(data.worker,
              [link = data.link, reason](ReverseHub& hub) { hub.close_link(link, reason); });
}

void ReverseHub::carry_here(std::uint64_t link, std::uint32_t tunnel, unsigned owner,
                            const std::shared_ptr<Parcel>& parcel) {
  const auto it = links_.find(link);
  if (it == links_.end() || !it->second->pooled()) {
    // The data connection ended on its way here (its pool hears it before this comes back).
    share_.post(owner, [tunnel, parcel](ReverseHub& hub) { hub.visitor_back(tunnel, parcel); });
    return;
  }
  ServerTunnel& data = *it->second;
  auto tcp = io::open_tcp(loop_, std::move(parcel->fd));
  if (!tcp) {
    data.close(TunnelFailure::revoked, "visitor lost: " + std::string(tcp.message()));
    return;
  }
  data.attach_visitor(io::TcpStream::adopt(std::move(*tcp)), parcel->header,
                      std::move(parcel->name));
}

void ReverseHub::visitor_back(std::uint32_t tunnel, const std::shared_ptr<Parcel>& parcel) {
  const auto c = controls_.find(tunnel);
  if (c == controls_.end()) return;  // its socket closes with the parcel
  auto tcp = io::open_tcp(loop_, std::move(parcel->fd));
  if (!tcp) return;
  Visitor v;
  v.stream = io::TcpStream::adopt(std::move(*tcp));
  v.header = std::move(parcel->header);
  v.name = std::move(parcel->name);
  v.arrived_ms = parcel->arrived_ms;
  c->second.delivery->deliver(std::move(v));
}

void ReverseHub::close_link(std::uint64_t link, const std::string& reason) {
  if (const auto it = links_.find(link); it != links_.end()) {
    it->second->close(TunnelFailure::revoked, reason);
  }
}

}  // namespace mtop
