#include "engine/climber_engine.hpp"

#include <utility>

#include "mtop/codec.hpp"
#include "mtop/host_port.hpp"

namespace mtop {

namespace {

bool is_ip_literal(const std::string& host) {
  return parse_ipv4(host).has_value() || parse_ipv6(host).has_value();
}

}  // namespace

std::optional<Address> target_address(const std::string& host, std::uint16_t port) {
  if (port == 0) return std::nullopt;
  if (auto v4 = parse_ipv4(host)) return Address::from_ipv4(*v4, port);
  if (auto v6 = parse_ipv6(host)) return Address::from_ipv6(*v6, port);
  if (!is_valid_domain(host)) return std::nullopt;
  return Address::from_domain(host, port);
}

ClimberEngine::ClimberEngine(uv_loop_t* loop, ClimberOptions options, std::string username,
                             std::string password, io::StreamDialer& dialer, Logger log)
    : reaper_(loop), drain_timer_(loop) {
  tunnels_.on_leave = [this] { check_drained(); };
  shared_.loop = loop;
  shared_.options = std::move(options);
  shared_.username = std::move(username);
  shared_.password = std::move(password);
  shared_.dialer = &dialer;
  shared_.log = std::move(log);
}

ClimberEngine::~ClimberEngine() {
  drain_done_ = nullptr;  // what follows ends every connection: no drain callback for that
  tunnels_.on_leave = nullptr;
  stop();
  reaper_.cancel();
  sessions_.clear();
  while (!tunnels_.live.empty()) (*tunnels_.live.begin())->detach("climber closed");
  // The opens' callbacks run last, with nothing of ours left for them to reach; what was
  // decided already (a failure, say limit_reached) is told as it was, the rest is cancelled.
  auto opens = std::move(opens_);
  opens_.clear();
  for (auto& [raw, p] : opens) {
    p->open.reset();
    Result<io::StreamPtr> outcome = p->outcome && !*p->outcome
                                        ? std::move(*p->outcome)
                                        : Result<io::StreamPtr>(Errc::cancelled, "climber closed");
    p->outcome.reset();  // a stream not yet handed out is dropped, and closes
    auto cb = std::move(p->cb);
    cb(std::move(outcome));
  }
  secure_wipe(shared_.password);
  secure_wipe(shared_.options.local_password);
}

Result<void> ClimberEngine::check(const ClimberOptions& o, std::string_view username,
                                  std::string_view password) {
  auto bad = [](std::string message) { return Failure{Errc::config_invalid, std::move(message)}; };
  if (username.empty() || username.size() > 255) return bad("server username must be 1-255 bytes");
  if (password.empty() || password.size() > 255) return bad("server password must be 1-255 bytes");
  if (o.local_username.size() > 255 || o.local_password.size() > 255 ||
      (o.local_username.empty() != o.local_password.empty())) {
    return bad("local proxy auth needs a username and a password of 1-255 bytes each");
  }
  if (o.max_connections == 0 || o.handshake_timeout_ms == 0) {
    return bad("max_connections and the handshake time-out must be above 0");
  }
  // Listeners bind IP literals only (a name could resolve to several addresses, or none).
  for (const auto& [what, address] :
       {std::pair{"socks", &o.socks_listen}, std::pair{"http", &o.http_listen}}) {
    if (address->empty()) continue;
    auto parsed = parse_host_port(*address, kListenAddress);
    if (!parsed) {
      return bad(std::string(what) + ": \"" + *address + "\": " + std::string(parsed.message()));
    }
    if (!is_ip_literal(parsed->host)) {
      return bad(std::string(what) + ": \"" + *address + "\": the host must be an IP address");
    }
  }
  for (const ForwardRule& rule : o.forwards) {
    if (!is_ip_literal(rule.bind_host)) {
      return bad("forward from " + rule.bind_host + ": the host must be an IP address");
    }
  }
  for (const ForwardRule& rule : o.forwards) {
    if (!target_address(rule.target_host, rule.target_port)) {
      return bad("forward to " + rule.target_host + ":" + std::to_string(rule.target_port) +
                 ": not an IP address or a valid domain name");
    }
  }
  return {};
}

Result<void> ClimberEngine::start() {
  if (started_) return Failure{Errc::invalid_state, "the engine is started already"};
  const ClimberOptions& o = shared_.options;
  if (auto ok = check(o, shared_.username, shared_.password); !ok) return ok;
  started_ = true;
  Result<void> ok;
  if (!o.socks_listen.empty() && o.socks_listen == o.http_listen) {
    ok = listen("socks+http", o.socks_listen, LocalMode::mixed, std::nullopt, socks_port_);
    http_port_ = socks_port_;
  } else {
    if (!o.socks_listen.empty()) {
      ok = listen("socks", o.socks_listen, LocalMode::socks, std::nullopt, socks_port_);
    }
    if (ok && !o.http_listen.empty()) {
      ok = listen("http", o.http_listen, LocalMode::http, std::nullopt, http_port_);
    }
  }
  for (std::size_t i = 0; ok && i < o.forwards.size(); ++i) {
    const ForwardRule& r = o.forwards[i];
    std::uint16_t port = 0;
    const std::string bind = HostPort{r.bind_host, r.bind_port}.to_string();
    ok = listen("forward " + bind, bind, LocalMode::forward,
                target_address(r.target_host, r.target_port), port);
    forward_ports_.push_back(port);
  }
  if (!ok) {
    stop();
    socks_port_ = http_port_ = 0;
    forward_ports_.clear();
  }
  return ok;
}

Result<void> ClimberEngine::listen(const std::string& what, const std::string& address,
                                   LocalMode mode, const std::optional<Address>& forward_target,
                                   std::uint16_t& port) {
  auto parsed = parse_host_port(address, kListenAddress);
  if (!parsed) {
    return Failure{Errc::config_invalid,
                   what + ": \"" + address + "\": " + std::string(parsed.message())};
  }
  auto listener = io::TcpListener::listen(shared_.loop, parsed->host, parsed->port,
                                         [this, mode, forward_target](io::StreamPtr s) {
                                           on_accept(std::move(s), mode, forward_target);
                                         });
  if (!listener) {
    return Failure{Errc::listen_failed, what + ": " + std::string(listener.message())};
  }
  port = (*listener)->port();
  shared_.log.info("listening (" + what + ") on " + (*listener)->local_name());
  listeners_.push_back(std::move(*listener));
  return {};
}

void ClimberEngine::stop() {
  for (auto& l : listeners_) l->stop();
  listeners_.clear();
}

void ClimberEngine::drain(std::function<void()> done) {
  drain_done_ = std::move(done);
  if (!draining_) {
    draining_ = true;
    stop();
    const std::size_t active = active_connections();
    shared_.log.info("draining: " + std::to_string(active) + " connection(s), closing them in " +
                     std::to_string(shared_.options.drain_timeout_ms) + " ms");
    if (active > 0) {
      drain_timer_.start(shared_.options.drain_timeout_ms, [this] {
        shared_.log.warn("drain time over: closing " + std::to_string(active_connections()) +
                         " connection(s)");
        abort_all("drain timeout");
      });
    }
  }
  check_drained();
}

void ClimberEngine::check_drained() {
  if (!draining_ || active_connections() > 0 || !drain_done_) return;
  drain_timer_.stop();
  reaper_.post([done = std::move(drain_done_)] { done(); });
  drain_done_ = nullptr;
}

void ClimberEngine::abort_all(std::string_view reason) {
  std::vector<ClimberSession*> live;
  live.reserve(sessions_.size());
  for (auto& [ptr, owned] : sessions_) live.push_back(ptr);
  for (ClimberSession* s : live) {
    if (sessions_.count(s)) s->abort(reason);
  }
  while (!tunnels_.live.empty()) (*tunnels_.live.begin())->detach(reason);
  for (auto& [raw, p] : opens_) {
    if (p->outcome && !*p->outcome) continue;  // a failure already on its way is told as is
    // Still opening, or a tunnel not yet handed out (dropping it closes it).
    p->open.reset();
    decide(raw, Failure{Errc::cancelled, std::string(reason)});
  }
}

ClimberStats ClimberEngine::stats() const {
  ClimberStats s = shared_.stats;
  s.active_connections = active_connections();
  return s;
}

bool ClimberEngine::refuse_if_full(std::size_t others, const std::string& who) {
  if (others < shared_.options.max_connections) return false;
  ++shared_.stats.refused_connections;
  shared_.log.warn(who + ": refused, " + std::to_string(shared_.options.max_connections) +
                   " connections already (limits.max_connections)");
  return true;
}

void ClimberEngine::on_accept(io::StreamPtr stream, LocalMode mode,
                              const std::optional<Address>& target) {
  // Dropping the stream closes it.
  if (refuse_if_full(active_connections(), "local " + stream->peer_name())) return;
  ++shared_.stats.total_connections;
  auto session = std::make_unique<ClimberSession>(
      shared_, std::move(stream), mode, target,
      [this](ClimberSession* s) { on_session_done(s); });
  ClimberSession* raw = session.get();
  sessions_.emplace(raw, std::move(session));
  raw->start();
}

void ClimberEngine::on_session_done(ClimberSession* session) {
  // Called from inside the session's own callbacks: free it on a later loop turn.
  reaper_.post([this, session] {
    sessions_.erase(session);
    check_drained();
  });
}

void ClimberEngine::open_tunnel(const std::string& host, std::uint16_t port, TunnelCallback cb) {
  auto owned = std::make_unique<PendingOpen>();
  PendingOpen* p = owned.get();
  p->cb = std::move(cb);
  opens_.emplace(p, std::move(owned));  // held until its callback has run
  std::optional<Address> target = target_address(host, port);
  if (!target) {
    decide(p, Failure{Errc::invalid_argument,
                      "open_tunnel to " + host + ":" + std::to_string(port) +
                          ": not an IP address or a valid domain name, or port 0"});
    return;
  }
  const std::string name = target->to_string();
  // This open is in opens_ already: the limit is reached when the others fill it.
  if (refuse_if_full(active_connections() - 1, "open_tunnel to " + name)) {
    decide(p, Failure{Errc::limit_reached, "max_connections (" +
                                               std::to_string(shared_.options.max_connections) +
                                               ") reached"});
    return;
  }
  ++shared_.stats.total_connections;
  p->open = std::make_unique<TunnelOpen>(
      shared_, std::move(*target), [this, p, name](Result<TunnelOpen::Opened> r) {
        if (!r) {
          ++shared_.stats.tunnels_failed;
          shared_.log.info("tunnel api -> " + name + ": " + std::string(r.message()));
          decide(p, r.failure());
          return;
        }
        ++shared_.stats.tunnels_opened;
        decide(p, io::StreamPtr(TunnelStream::wrap(shared_.loop, std::move(*r), name)));
      });
  p->open->start();
}

void ClimberEngine::decide(PendingOpen* p, Result<io::StreamPtr> outcome) {
  // Called from inside the TunnelOpen (or open_tunnel): the app hears of it on a later turn.
  p->outcome.emplace(std::move(outcome));
  reaper_.post([this, p] { deliver(p); });
}

void ClimberEngine::deliver(PendingOpen* p) {
  auto it = opens_.find(p);
  if (it == opens_.end()) return;
  std::unique_ptr<PendingOpen> owned = std::move(it->second);
  opens_.erase(it);
  owned->open.reset();
  Result<io::StreamPtr> outcome = std::move(*owned->outcome);
  if (outcome) static_cast<TunnelStream*>(outcome->get())->attach(tunnels_);
  auto cb = std::move(owned->cb);
  owned.reset();
  check_drained();         // a failed open was the last connection (its callback is posted later)
  cb(std::move(outcome));  // last: the callback may destroy the engine
}

}  // namespace mtop
