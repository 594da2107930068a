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

ReverseHub::ReverseHub(uv_loop_t* loop, Host& host, const Logger& log)
    : loop_(loop), host_(host), log_(log), ticker_(loop) {}

ReverseHub::~ReverseHub() {
  ticker_.stop();
  // Deliveries drop their pointers; the engine destroys the tunnels itself.
  controls_.clear();
}

std::uint32_t ReverseHub::new_tunnel_id() {
  while (next_id_ == 0 || controls_.contains(next_id_)) ++next_id_;
  return next_id_++;
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

Status ReverseHub::listen(const PublicBind& bind, Listening& out, std::string& reason) {
  auto l = io::TcpListener::listen_raw(
      loop_, bind.address.to_string(), bind.port,
      [this, bind](io::UvHandle<uv_tcp_t> tcp) { on_visitor(bind, std::move(tcp)); });
  if (l) {
    out.listener = std::move(*l);
    return Status::success;
  }
  reason = std::string(l.message());
  // listen_failed messages end with libuv's reason; EADDRINUSE is the one that means "taken".
  if (reason.ends_with(io::uv_reason(UV_EADDRINUSE))) return Status::port_in_use;
  return Status::bad_request;
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
    const auto verdict = ports_.check(pb, user);
    if (verdict == PortRegistry<Listening>::Verdict::in_use) continue;
    Listening fresh;
    if (verdict == PortRegistry<Listening>::Verdict::free) {
      std::string why;
      const Status s = listen(pb, fresh, why);
      if (s == Status::port_in_use) {
        answer.reason = "port in use: " + why;
        continue;
      }
      if (s != Status::success) {
        answer.status = s;
        answer.reason = why;
        return answer;
      }
    }
    const std::uint32_t id = new_tunnel_id();
    auto& entry = ports_.hold(pb, user, id, std::move(fresh));
    apply_rule(settings, port, entry.payload);
    Control& c = controls_[id];
    c.tunnel = &control;
    c.bind = pb;
    if (quic) {
      c.delivery = std::move(quic);
    } else {
      auto pool = std::make_unique<AttachPool>(control, id, tokens_, settings.options.reverse.pool,
                                               settings.options.handshake_timeout_ms, loop_);
      c.pool = pool.get();
      c.delivery = std::move(pool);
    }
    tunnels_[&control] = id;
    tokens_.set_lifetime(settings.options.handshake_timeout_ms);
    answer.status = Status::success;
    answer.reason.clear();
    // An embedder's options are not checked elsewhere: keep K on the wire's range.
    const auto k =
        std::clamp<std::uint16_t>(settings.options.reverse.keepalive_s, 1, kMaxKeepaliveSeconds);
    answer.grant = ReverseGrant{port, id, k};
    log_.info(
        "reverse tunnel user=" + log_escape(user) + " source=" + control.summary().source +
        " published " + pb.to_string() + " tunnel=" + std::to_string(id) +
        (verdict == PortRegistry<Listening>::Verdict::reclaim ? " (taken back in grace)" : ""));
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
  const auto id = tokens_.redeem(token, uv_now(loop_));
  if (!id) return false;
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
  ++visitors_total_;
  sockaddr_storage peer{};
  sockaddr_storage local{};
  int len = sizeof peer;
  const bool named = uv_tcp_getpeername(tcp.get(), reinterpret_cast<sockaddr*>(&peer), &len) == 0;
  len = sizeof local;
  const bool local_named =
      uv_tcp_getsockname(tcp.get(), reinterpret_cast<sockaddr*>(&local), &len) == 0;
  io::StreamPtr stream = io::TcpStream::adopt(std::move(tcp));
  auto* entry = ports_.find(bind);
  const auto source = named ? to_address(peer) : std::nullopt;
  const auto destination = local_named ? to_address(local) : std::nullopt;
  auto refuse = [&] {
    ++visitors_refused_;
    if (stream) stream.release()->abort(0);
  };
  if (!entry || !entry->tunnel || !source || !destination) {
    refuse();  // no climber (grace): reset at once
    return;
  }
  const auto c = controls_.find(*entry->tunnel);
  if (c == controls_.end()) {
    refuse();
    return;
  }
  const Listening& rule = entry->payload;
  const auto ip = auth::IpAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&peer));
  const auth::IpAddress visitor_ip = ip ? ip->unmapped() : auth::IpAddress{};
  if (any_contains(rule.deny, visitor_ip) ||
      (!rule.allow.empty() && !any_contains(rule.allow, visitor_ip)) ||
      c->second.delivery->visitors() >= rule.max_visitors) {
    refuse();
    return;
  }
  Visitor v;
  if (!encode_visitor_header(VisitorHeader{c->first, *source, *destination}, v.header)) {
    refuse();
    return;
  }
  v.stream = std::move(stream);
  v.name = source->to_string();
  v.arrived_ms = uv_now(loop_);
  c->second.delivery->deliver(std::move(v));
}

void ReverseHub::tunnel_ended(ServerTunnel& t) {
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
  const ServerTunnel::Summary& s = t.summary();
  control.delivery->close("control tunnel ended", draining_);
  const bool revoked = s.failure == TunnelFailure::revoked || draining_;
  const std::uint64_t grace = revoked ? 0 : t.settings().options.reverse.grace_ms;
  if (grace == 0) {
    ports_.erase(control.bind);
  } else {
    ports_.release(control.bind, uv_now(loop_) + grace);
  }
  log_.info(
      "reverse tunnel user=" + s.user + " " + control.bind.to_string() +
      " tunnel=" + std::to_string(id) + " ended (" + s.reason + ")" +
      (grace > 0 ? ", port kept " + std::to_string(grace) + " ms for the user" : ", port closed"));
}

void ReverseHub::close_all() {
  std::vector<ServerTunnel*> controls;
  for (auto& [id, c] : controls_) controls.push_back(c.tunnel);
  for (ServerTunnel* t : controls) t->close(TunnelFailure::revoked, "server stopped");
  ports_.expire(UINT64_MAX);
  ticker_.stop();
}

void ReverseHub::drain() {
  draining_ = true;
  std::vector<ServerTunnel*> controls;
  for (auto& [id, c] : controls_) controls.push_back(c.tunnel);
  for (ServerTunnel* t : controls) t->close(TunnelFailure::draining, "server draining");
  ports_.expire(UINT64_MAX);  // ports in grace close too
}

std::size_t ReverseHub::visitors() const {
  std::size_t n = 0;
  for (const auto& [id, c] : controls_) n += c.delivery->visitors();
  return n;
}

void ReverseHub::arm() {
  if (!ticker_.active()) ticker_.start(kTickMs, [this] { tick(); });
}

void ReverseHub::tick() {
  const std::uint64_t now = uv_now(loop_);
  for (const PublicBind& b : ports_.expire(now)) {
    log_.info("reverse port " + b.to_string() + " released after its grace period");
  }
  (void)tokens_.expire(now);
  for (auto& [id, c] : controls_) c.delivery->tick(now);
  if (!ports_.empty()) arm();
}

}  // namespace mtop
