#include "engine/server_engine.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <optional>
#include <tuple>
#include <utility>

#include "auth/ip_prefix.hpp"
#include "auth/target_policy.hpp"
#include "mtop/codec.hpp"
#include "mtop/host_port.hpp"

namespace mtop {

namespace {

/// How often at most the "max_tunnels reached" warning is repeated while it goes on.
constexpr std::uint64_t kOverloadLogEveryMs = 10'000;

/// The client's address from the stream's "ip:port" / "[v6]:port", for the failure throttle.
std::optional<auth::IpAddress> source_address(const std::string& peer) {
  HostPortOptions any_port;
  any_port.port_zero = true;  // a peer name, not an address we would connect to
  const auto hp = parse_host_port(peer, any_port);
  if (!hp) return std::nullopt;
  return auth::IpAddress::parse(hp->host);
}

/// An operator-configured "host:port" (fallback, fixed_target), or nothing when empty or
/// malformed (logged; Server::create validates them before).
std::optional<HostPort> operator_address(const std::string& text, std::string_view key,
                                         const Logger& log) {
  if (text.empty()) return std::nullopt;
  auto hp = parse_host_port(text);
  if (!hp) {
    log.error(std::string(key) + " ignored: " + std::string(hp.message()));
    return std::nullopt;
  }
  return *hp;
}

std::shared_ptr<const TunnelSettings> make_settings(ServerOptions options, const Logger& log) {
  auth::TargetPolicy policy;
  if (auto r = policy.allow_cidrs(options.allow_targets); !r) {
    log.error("allow_targets ignored: " + std::string(r.message()));
  }
  policy.deny_ports(options.deny_target_ports);
  auto s = std::make_shared<TunnelSettings>();
  s->connect.timeout_ms = options.connect_timeout_ms;
  s->connect.nodelay = true;
  s->connect.refuse = policy.hook();
  s->target_policy = std::move(policy);
  s->operator_connect = {.timeout_ms = options.connect_timeout_ms, .nodelay = true, .refuse = {}};
  s->fallback = operator_address(options.fallback, "fallback", log);
  s->fixed_target = operator_address(options.fixed_target, "fixed_target", log);
  s->options = std::move(options);
  return s;
}

}  // namespace

/// The tunnel's wait for answer number `id`; dropping it forgets the wait (and a delayed
/// answer of our own with it).
class ServerEngine::PendingCheck final : public PendingDecision {
 public:
  PendingCheck(ServerEngine& engine, std::uint64_t id)
      : engine_(engine), id_(id), delay_(engine.loop_) {}
  ~PendingCheck() override { engine_.checks_.erase(id_); }
  PendingCheck(const PendingCheck&) = delete;
  PendingCheck& operator=(const PendingCheck&) = delete;
  /// Answers `a` after `ms` (0: on the next loop turn).
  void answer_later(std::uint64_t ms, CheckAnswer a) {
    delay_.start(ms, [this, a = std::move(a)]() mutable { engine_.on_answer(id_, std::move(a)); });
  }

 private:
  ServerEngine& engine_;
  std::uint64_t id_;
  io::Timer delay_;
};

Result<std::unique_ptr<ServerEngine>> ServerEngine::create(uv_loop_t* loop, ServerOptions options,
                                                           std::shared_ptr<UserCheck> check,
                                                           Logger log,
                                                           std::shared_ptr<SharedLimits> limits) {
  if (!loop || !check) return Errc::invalid_argument;
  if (!limits) limits = std::make_shared<SharedLimits>(options);
  std::unique_ptr<ServerEngine> engine(new ServerEngine(loop, std::move(options), std::move(check),
                                                        std::move(log), std::move(limits)));
  if (auto r = engine->limits_->configure(engine->settings_->options); !r) return r.failure();
  ServerEngine* e = engine.get();
  auto inbox = CheckInbox::open(
      loop, [e](std::uint64_t id, CheckAnswer answer) { e->on_answer(id, std::move(answer)); });
  if (!inbox) return inbox.failure();
  engine->inbox_ = std::move(*inbox);
  if (auto r = engine->reverse_->open(); !r) return r.failure();
  return engine;
}

ServerEngine::ServerEngine(uv_loop_t* loop, ServerOptions options, std::shared_ptr<UserCheck> check,
                           Logger log, std::shared_ptr<SharedLimits> limits)
    : loop_(loop),
      check_(std::move(check)),
      accounts_(dynamic_cast<AccountSource*>(check_.get())),
      log_(std::move(log)),
      settings_(make_settings(std::move(options), log_)),
      limits_(std::move(limits)),
      reaper_(loop),
      recheck_timer_(loop),
      drain_timer_(loop),
      retire_timer_(loop),
      reverse_(std::make_unique<ReverseHub>(loop, static_cast<ReverseHub::Host&>(*this), log_,
                                            limits_->reverse())) {}

ServerEngine::~ServerEngine() {
  inbox_.reset();  // answers from now on are dropped in the mailbox
  reverse_.reset();  // public ports close; it never touches a tunnel on its way out
  // Tunnels go next; nothing may call back into the engine meanwhile.
  tunnels_.clear();
  users_.clear();
}

void ServerEngine::serve(io::StreamPtr stream, std::string_view transport,
                         std::string_view listener, std::shared_ptr<io::StreamFallback> fallback) {
  if (!stream) return;
  ++stats_.total;
  ListenerCounts& counts = metrics_.listeners[{std::string(listener), std::string(transport)}];
  ++counts.total;
  if (draining_) {
    count(TunnelFailure::draining);
    log_.debug("tunnel refused source=" + stream->peer_name() + " reason=draining");
    stream.release()->abort(
        static_cast<std::uint64_t>(tunnel_abort_code(TunnelFailure::draining)));
    return;
  }
  const ServerOptions& options = settings_->options;
  if (!limits_->take_tunnel(options.max_tunnels)) {  // max_tunnels live on all workers
    count(TunnelFailure::overloaded);
    limits_->count(AdmissionRule::max_tunnels);
    const std::uint64_t now = uv_now(loop_);
    if (!overload_logged_ || now - overload_logged_ms_ >= kOverloadLogEveryMs) {
      overload_logged_ = true;
      overload_logged_ms_ = now;
      log_.warn("max_tunnels (" + std::to_string(options.max_tunnels) +
                ") live tunnels: closing new streams at once");
    }
    stream.release()->abort(
        static_cast<std::uint64_t>(tunnel_abort_code(TunnelFailure::overloaded)));
    return;
  }
  Admitted admitted;
  admitted.source = source_address(stream->peer_name());
  if (admitted.source) {
    AdmissionPolicy::Ticket ticket;
    if (auto refusal = limits_->admit(*admitted.source, uv_now(loop_), ticket)) {
      reject(admitted.source, *refusal);
      if (!options.reply_status) {
        limits_->release_tunnel();
        count(TunnelFailure::overloaded);
        stream.release()->abort(
            static_cast<std::uint64_t>(tunnel_abort_code(TunnelFailure::overloaded)));
        return;
      }
      // Reply mode: the status goes out once the auth message is in (tunnel_auth).
      admitted.refused = std::move(refusal);
      admitted.reported = true;
    } else {
      admitted.ticket = ticket;
    }
  }
  ServerTunnel& t = add_tunnel(std::move(stream), transport, listener, std::move(admitted));
  if (fallback) {
    t.set_fallback_sink(std::move(fallback));  // QUIC: the connection's HTTP/3 site
  } else {
    t.set_fallback(settings_->fallback.has_value() && transport == "tls");
  }
  t.start();
}

ServerTunnel& ServerEngine::add_tunnel(io::StreamPtr stream, std::string_view transport,
                                       std::string_view listener, Admitted admitted) {
  TunnelHost& host = *this;
  auto owned = std::make_unique<ServerTunnel>(loop_, host, settings_, std::move(stream));
  ServerTunnel* t = owned.get();
  t->set_transport(transport);
  t->set_origin(next_tunnel_id_, listener);
  next_tunnel_id_ += tunnel_id_step_;
  tunnels_.emplace(t, std::move(owned));
  admitted_.emplace(t, std::move(admitted));
  ++live_;
  ++metrics_.listeners[{std::string(listener), std::string(transport)}].live;
  return *t;
}

bool ServerEngine::admit_connection(const struct sockaddr* peer) {
  const auto source = auth::IpAddress::from_sockaddr(peer);
  if (!source) return true;
  const auto refusal = limits_->check_source(*source);
  if (!refusal) return true;
  reject(source, *refusal);
  return false;
}

void ServerEngine::reject(const std::optional<auth::IpAddress>& source,
                          const AdmissionPolicy::Refusal& refusal) {
  limits_->count(refusal.rule);
  if (source) limits_->report(*source, refusal, uv_now(loop_), log_);
}

void ServerEngine::note_refusal(const ServerTunnel& t, const std::optional<auth::IpAddress>& source,
                                const AdmissionPolicy::Refusal& refusal) {
  reject(source, refusal);
  if (auto it = admitted_.find(&t); it != admitted_.end()) it->second.reported = true;
}

std::unique_ptr<PendingDecision> ServerEngine::tunnel_auth(ServerTunnel& t, AuthMessage request) {
  const std::uint64_t id = next_check_++;
  const std::string& peer = t.summary().source;
  Waiting& w = checks_[id];
  w.tunnel = &t;
  const auto admitted = admitted_.find(&t);
  w.source = admitted != admitted_.end() ? admitted->second.source : source_address(peer);
  w.username = request.username;
  w.target_port = request.target.port;
  w.reverse = request.method == Method::reverse;
  w.asked_ms = uv_now(loop_);
  auto pending = std::make_unique<PendingCheck>(*this, id);
  if (admitted != admitted_.end() && admitted->second.refused) {
    // Refused by admission in serve(); reply mode answers now, without a user check.
    request.wipe_password();
    CheckAnswer a;
    a.failure = TunnelFailure::overloaded;
    a.reason = admitted->second.refused->detail;
    pending->answer_later(0, std::move(a));
    return pending;
  }
  if (w.source && !limits_->allowed(*w.source, uv_now(loop_))) {
    request.wipe_password();
    CheckAnswer a;
    a.failure = TunnelFailure::throttled;
    a.reason = "source locked out after failed logins";
    // With a fallback the lock-out must not be told apart from a wrong password by its speed.
    pending->answer_later(t.settings().fallback ? deny_check_ms_ : 0, std::move(a));
    return pending;
  }
  UserCheckRequest r;
  r.username = std::move(request.username);
  r.password = std::move(request.password);
  request.wipe_password();  // moved-from strings may keep their bytes (small-string buffer)
  r.source = peer;
  r.target_host = request.target.host_string();
  r.target_port = request.target.port;
  // The check is the embedding program's code: nothing it throws may unwind through the loop.
  // Its reply, dropped on the way out, answers deny.
  try {
    check_->check(r, inbox_->reply(id));
  } catch (const std::exception& e) {
    log_.error(std::string("user check threw: ") + e.what());
  } catch (...) {
    log_.error("user check threw");
  }
  secure_wipe(r.password);
  return pending;
}

void ServerEngine::on_answer(std::uint64_t id, CheckAnswer answer) {
  auto it = checks_.find(id);
  if (it == checks_.end()) return;  // the tunnel is gone (closed, timed out, stopped)
  Waiting w = std::move(it->second);
  checks_.erase(it);
  ServerTunnel& t = *w.tunnel;
  if (answer.failure) {
    if (*answer.failure == TunnelFailure::auth_failed) {
      const std::uint64_t took = uv_now(loop_) - w.asked_ms;
      deny_check_ms_ = deny_check_ms_ == 0 ? took : (deny_check_ms_ * 7 + took) / 8;
    }
    if (w.source && *answer.failure == TunnelFailure::auth_failed) {
      limits_->record_failure(*w.source, uv_now(loop_));
    } else if (w.source && *answer.failure == TunnelFailure::account_refused) {
      limits_->record_success(*w.source);  // the password was right
    }
    t.refuse(*answer.failure, std::move(answer.reason));
    return;
  }
  if (w.source) limits_->record_success(*w.source);
  // The tunnel's own settings, as its connect hook has: one answer whatever a reload did since.
  if (std::string why = w.reverse ? "" : t.settings().target_policy.port_refusal(w.target_port);
      !why.empty()) {
    // Before any DNS: a denied port is denied whatever the name resolves to.
    note_refusal(t, w.source, {AdmissionRule::target_port, "target " + why});
    t.deny_target("denied by policy: " + why);
    return;
  }
  const std::string name = answer.grant.user.empty() ? w.username : answer.grant.user;
  UserState& u = user_state(name);
  if (accounts_ && answer.account) {
    apply_record(u, std::move(*answer.account));
  } else {
    apply_grant(u, answer.grant);
  }
  // The user's tunnels on every worker count.
  std::size_t live = 0;
  auto gate = limits_->take_user_tunnel(name, u.max_tunnels, live);
  if (!gate) {
    note_refusal(
        t, w.source,
        {AdmissionRule::max_tunnels_per_user, "max_tunnels " + std::to_string(*u.max_tunnels) +
                                                  " of user " + log_escape(name) + " reached"});
    t.refuse(TunnelFailure::user_tunnel_limit,
             "user has " + std::to_string(live) + " tunnels (max_tunnels)");
    forget_if_idle(name);
    return;
  }
  hold_tunnel(u, t, std::move(gate));
  arm_recheck();
  t.auth_passed(name);
}

ServerEngine::UserState& ServerEngine::user_state(const std::string& name) {
  auto& slot = users_[name];
  if (!slot) {
    slot = std::make_unique<UserState>();
    slot->name = name;
  }
  return *slot;
}

void ServerEngine::hold_tunnel(UserState& u, ServerTunnel& t, std::shared_ptr<RateGate> gate) {
  // SharedLimits gives the same gate with every tunnel of the user for as long as one of them
  // lives on any worker; a user state lives only while it has tunnels here. So the gate is
  // new only with the user's first tunnel on this worker.
  if (!u.gate) {
    u.gate = std::make_shared<WorkerRateGate>(
        std::move(gate), [this](std::uint64_t ms) { stats_.rate_limit_delay_ms += ms; });
  }
  // This worker's newest answer; none yet for a reverse data connection that is the user's
  // first tunnel here (its look-up is on its way): the gate keeps the other workers' rate.
  if (u.limits_known) u.gate->shared().set_rate(u.rate_limit);
  u.tunnels.push_back(&t);
}

void ServerEngine::apply_grant(UserState& u, const UserGrant& grant) {
  // The newest answer decides the user's limits (on every worker: the gate is shared).
  u.max_tunnels = grant.max_tunnels;
  u.rate_limit = grant.rate_limit.value_or(0);
  u.limits_known = true;
  u.publish = grant.publish;
  if (u.gate) u.gate->shared().set_rate(u.rate_limit);
}

void ServerEngine::apply_record(UserState& u, auth::UserRecord record) {
  secure_wipe(record.password_hash);
  u.account = std::move(record);
  // The store's used_bytes now includes what it was told so far (at least what it flushed):
  // count again from here. A batching store may lag a little; it never counts twice.
  u.bytes_since_lookup = 0;
  u.max_tunnels = u.account->max_tunnels;
  u.rate_limit = u.account->rate_limit.value_or(0);
  u.limits_known = true;
  if (u.gate) u.gate->shared().set_rate(u.rate_limit);
}

std::string ServerEngine::account_problem(const UserState& u) const {
  if (!u.account) return {};
  return mtop::account_problem(*u.account, u.bytes_since_lookup, unix_now());
}

// Both connect with the tunnel's own settings (those of when it came in: a reload changes
// new tunnels only).
std::unique_ptr<io::ConnectAttempt> ServerEngine::tunnel_connect(ServerTunnel& t,
                                                                 const Address& requested,
                                                                 io::ConnectCallback cb) {
  const TunnelSettings& s = t.settings();
  if (s.fixed_target) {
    return io::connect_tcp(loop_, s.fixed_target->host, s.fixed_target->port, s.operator_connect,
                           std::move(cb));
  }
  return io::connect_tcp(loop_, requested.host_string(), requested.port, s.connect, std::move(cb));
}

std::unique_ptr<io::ConnectAttempt> ServerEngine::tunnel_connect_fallback(ServerTunnel& t,
                                                                          io::ConnectCallback cb) {
  // set_fallback(true) is given only with a fallback in the tunnel's settings.
  const TunnelSettings& s = t.settings();
  return io::connect_tcp(loop_, s.fallback->host, s.fallback->port, s.operator_connect,
                         std::move(cb));
}

io::RelayOptions ServerEngine::tunnel_relay_options(ServerTunnel& t) {
  ++stats_.accepted;
  metrics_.handshake.observe(uv_now(loop_) - t.summary().started_ms);
  io::RelayOptions o;
  auto it = users_.find(t.username());
  if (it == users_.end()) return o;  // cannot happen: an accepted tunnel has its user
  UserState* u = it->second.get();
  o.gate = u->gate;
  // The user state lives as long as one of its tunnels does, and the relay calls this only
  // while its tunnel is live.
  o.on_traffic = [this, u](io::Direction dir, std::size_t n) { on_traffic(*u, dir, n); };
  return o;
}

void ServerEngine::on_traffic(UserState& u, io::Direction dir, std::size_t bytes) {
  (dir == io::Direction::a_to_b ? stats_.bytes_up : stats_.bytes_down) += bytes;
  if (metrics_.per_user) metrics_.add_user_bytes(u.name, dir == io::Direction::a_to_b, bytes);
  if (!accounts_ || !u.account) return;
  accounts_->account_store().add_usage(u.name, bytes);
  u.bytes_since_lookup += bytes;
  const auth::UserRecord& r = *u.account;
  if (r.quota_bytes && r.used_bytes + u.bytes_since_lookup > *r.quota_bytes) {
    revoke(u, "quota exceeded");  // u may be gone now
  }
}

void ServerEngine::revoke(UserState& u, const std::string& reason) {
  const std::vector<ServerTunnel*> tunnels = u.tunnels;  // closing edits the list
  for (ServerTunnel* t : tunnels) t->close(TunnelFailure::revoked, reason);
}

void ServerEngine::arm_recheck() {
  const std::uint64_t interval = settings_->options.recheck_interval_ms;
  if (!accounts_ || interval == 0 || recheck_timer_.active()) return;
  recheck_timer_.start(interval, [this] { recheck(); });
}

void ServerEngine::recheck() {
  std::weak_ptr<char> alive = alive_;
  for (auto& [name, u] : users_) {
    if (!u->account || u->lookup_in_flight) continue;  // a slow store: do not pile lookups up
    u->lookup_in_flight = true;
    accounts_->account_store().lookup(name, [this, alive, name = name](auth::LookupResult r) {
      if (alive.expired()) return;
      on_recheck(name, std::move(r));
    });
  }
  if (!users_.empty()) arm_recheck();
}

void ServerEngine::on_recheck(const std::string& name, auth::LookupResult r) {
  auto it = users_.find(name);
  if (it == users_.end()) return;  // the user's tunnels ended meanwhile
  UserState& u = *it->second;
  u.lookup_in_flight = false;
  switch (r.status) {
    case auth::LookupStatus::unavailable:
      return;  // keep what we know; the store's own grace rules apply to new tunnels
    case auth::LookupStatus::not_found:
      log_.info("user " + log_escape(name) + " deleted: closing " +
                std::to_string(u.tunnels.size()) + " tunnel(s)");
      revoke(u, "user deleted");
      return;
    case auth::LookupStatus::found:
      break;
  }
  apply_record(u, std::move(r.user));
  if (std::string problem = account_problem(u); !problem.empty()) {
    log_.info(problem + " (" + log_escape(name) + "): closing " +
              std::to_string(u.tunnels.size()) + " tunnel(s)");
    revoke(u, problem);
    return;  // u may be gone
  }
  // A narrowed or removed grant closes the control tunnels it no longer covers, at once like
  // a disabled user's (u may be gone afterwards).
  if (reverse_->publishing(name)) reverse_->withdraw(name, publish_grants(name));
}

void ServerEngine::forget_if_idle(const std::string& name) {
  auto it = users_.find(name);
  if (it == users_.end() || !it->second->tunnels.empty()) return;
  users_.erase(it);
  if (users_.empty()) recheck_timer_.stop();
}

void ServerEngine::tunnel_finished(ServerTunnel& t) {
  --live_;
  limits_->release_tunnel();
  const ServerTunnel::Summary& s = t.summary();
  if (s.failure) count(*s.failure);
  bool reported = false;
  if (auto it = admitted_.find(&t); it != admitted_.end()) {
    if (it->second.ticket) limits_->release(*it->second.ticket);
    reported = it->second.reported;
    admitted_.erase(it);
  }
  if (auto it = metrics_.listeners.find({s.listener, s.transport});
      it != metrics_.listeners.end()) {
    --it->second.live;
  }
  if (!s.dial_failure.empty()) ++metrics_.dial_failures[s.dial_failure];
  if (!t.username().empty()) {
    if (auto it = users_.find(t.username()); it != users_.end()) {
      auto& list = it->second->tunnels;
      if (auto held = std::find(list.begin(), list.end(), &t); held != list.end()) {
        list.erase(held);
        limits_->release_user_tunnel(t.username());
      }
      forget_if_idle(t.username());
    }
  }
  reverse_->tunnel_ended(t);  // may close more tunnels (a control tunnel's visitors)
  const std::uint64_t duration = uv_now(loop_) - s.started_ms;
  std::string line;
  if (s.accepted) {
    line = "tunnel user=" + s.user + " source=" + s.source + " target=" + s.target +
           " up=" + std::to_string(s.up) + " down=" + std::to_string(s.down) +
           " duration_ms=" + std::to_string(duration) + " reason=\"" + s.reason + "\"";
  } else {
    line = "tunnel refused source=" + s.source;
    if (!s.user.empty()) line += " user=" + s.user + " target=" + s.target;
    line += " failure=" + std::string(tunnel_failure_name(s.failure.value_or(
                              TunnelFailure::client_closed))) +
            " reason=\"" + s.reason + "\" duration_ms=" + std::to_string(duration);
    if (s.fallback) {
      line += " fallback up=" + std::to_string(s.up) + " down=" + std::to_string(s.down);
    }
  }
  const bool operator_problem =
      s.failure == TunnelFailure::store_error || s.failure == TunnelFailure::store_unavailable;
  // A tunnel refused by an admission rule was logged once per source already.
  log_.log(operator_problem ? LogLevel::warn : reported ? LogLevel::debug : LogLevel::info, line);
  if (tunnel_end_) {
    TunnelRecord r;
    r.end_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    r.transport = s.transport;
    r.source = s.source;
    r.user = s.user;
    r.target = s.target;
    r.accepted = s.accepted;
    if (s.failure || !s.accepted) {
      r.failure = tunnel_failure_name(s.failure.value_or(TunnelFailure::client_closed));
    }
    r.reason = s.reason;
    r.up = s.up;
    r.down = s.down;
    r.duration_ms = duration;
    tunnel_end_(r);
  }
  reaper_.post([this, p = &t] { tunnels_.erase(p); });
  check_drained();
}

TunnelHost::PublishAnswer ServerEngine::tunnel_publish(ServerTunnel& t, const Address& bind) {
  return reverse_->publish(t, publish_grants(t.username()), bind);
}

auth::PublishGrants ServerEngine::publish_grants(const std::string& user) const {
  std::string publish;
  if (auto it = users_.find(user); it != users_.end()) {
    // A store's account, or what a custom UserCheck granted (UserGrant::publish) in the
    // answer to this very request.
    const UserState& u = *it->second;
    publish = u.account ? u.account->publish : u.publish;
  }
  auto grants = auth::PublishGrants::parse(publish);
  if (!grants) {
    log_.warn("user " + log_escape(user) + ": publish ignored: " + std::string(grants.message()));
    return {};
  }
  return std::move(*grants);
}

void ServerEngine::tunnel_published(ServerTunnel& t) {
  reverse_->published(t);
}

bool ServerEngine::tunnel_attach(ServerTunnel& t, const AttachToken& token) {
  return reverse_->attach(t, token);
}

void ServerEngine::tunnel_answered(ServerTunnel& t) {
  reverse_->tunnel_answered(t);
}

void ServerEngine::reverse_attached(ServerTunnel& data, const std::string& user) {
  // The control tunnel of `user` lives, so its user state does — on its own worker. The data
  // connection is one of the user's tunnels on every worker like any other (tunnel_finished
  // releases it; a user's max_tunnels counts it, docs/CONFIG.md), never refused here: the
  // pool needs it. A data connection that landed on another worker may be the user's first
  // tunnel here: look the account up, as a re-check would, so its limits apply here too.
  std::size_t live = 0;
  UserState& u = user_state(user);
  hold_tunnel(u, data, limits_->take_user_tunnel(user, std::nullopt, live));
  if (u.account || u.lookup_in_flight || !accounts_) return;
  u.lookup_in_flight = true;
  arm_recheck();
  accounts_->account_store().lookup(
      user, [this, alive = std::weak_ptr<char>(alive_), user](auth::LookupResult r) {
        if (alive.expired()) return;
        on_recheck(user, std::move(r));
      });
}

void ServerEngine::visitor_refused(VisitorRefusal why) {
  ++metrics_.visitor_refusals[static_cast<std::size_t>(why)];
}

ServerTunnel* ServerEngine::reverse_stream(io::StreamPtr stream, const ServerTunnel& control) {
  // A visitor's stream is a tunnel like an accepted one: max_tunnels and the drain apply.
  if (draining_ || !limits_->take_tunnel(settings_->options.max_tunnels)) {
    count(draining_ ? TunnelFailure::draining : TunnelFailure::overloaded);
    stream.release()->abort(static_cast<std::uint64_t>(QuicAppError::refused));
    return nullptr;
  }
  ++stats_.total;
  const ServerTunnel::Summary& s = control.summary();
  ++metrics_.listeners[{s.listener, s.transport}].total;
  ServerTunnel& t = add_tunnel(std::move(stream), s.transport, s.listener, Admitted{});
  t.start_visitor_stream();
  return &t;
}

void ServerEngine::drain(std::function<void()> done) {
  drain_done_ = std::move(done);
  if (!draining_) {
    draining_ = true;
    reverse_->drain();  // control tunnels would hold the drain open until its time-out
    log_.info("draining: " + std::to_string(live_) + " live tunnel(s), closing them in " +
              std::to_string(settings_->options.drain_timeout_ms) + " ms");
    if (live_ > 0) {
      drain_timer_.start(settings_->options.drain_timeout_ms,
                         [this] { close_all(TunnelFailure::revoked, "drain timeout"); });
    }
  }
  check_drained();
}

Result<void> ServerEngine::set_options(ServerOptions options) {
  // Admission first: it is the part that can refuse, and then nothing has changed. Its
  // counters, live counts and log gate carry over; a changed throttle starts afresh.
  if (auto r = limits_->configure(options); !r) return r;
  const ServerOptions& old = settings_->options;
  const bool recheck_changed = old.recheck_interval_ms != options.recheck_interval_ms;
  settings_ = make_settings(std::move(options), log_);
  if (recheck_changed && !users_.empty()) {
    recheck_timer_.stop();
    arm_recheck();
  }
  return {};
}

void ServerEngine::set_check(std::shared_ptr<UserCheck> check) {
  if (!check || check == check_) return;
  if (accounts_) accounts_->account_store().flush();  // usage counted so far
  // Checks already asked are answered by the old check: it stays alive until they have timed
  // out (the handshake time-out bounds every wait); dropping it now would answer them deny.
  retired_checks_.push_back(std::move(check_));
  retire_timer_.start(settings_->options.handshake_timeout_ms + 1'000,
                      [this] { retired_checks_.clear(); });
  check_ = std::move(check);
  accounts_ = dynamic_cast<AccountSource*>(check_.get());
  // Re-checks go to the new check from now on; one still in flight at the old one must not
  // keep its user from being looked up again.
  for (auto& [name, u] : users_) {
    u->lookup_in_flight = false;
    if (!accounts_) u->account.reset();
  }
  if (!users_.empty()) arm_recheck();
}

void ServerEngine::stop() {
  draining_ = true;
  close_all(TunnelFailure::revoked, "server stopped");
  reverse_->close_all();
}

std::size_t ServerEngine::revoke_user(std::string_view user) {
  auto it = users_.find(std::string(user));
  if (it == users_.end()) return 0;
  const std::size_t n = it->second->tunnels.size();
  revoke(*it->second, "revoked");  // the user state may be gone afterwards
  return n;
}

bool ServerEngine::close_tunnel(std::uint64_t id) {
  for (auto& [p, t] : tunnels_) {
    if (t->summary().id == id && !t->done()) {
      t->close(TunnelFailure::revoked, "closed by the admin");
      return true;
    }
  }
  return false;
}

std::vector<LiveTunnel> ServerEngine::live_tunnels() const {
  const std::uint64_t now = uv_now(loop_);
  std::vector<LiveTunnel> out;
  out.reserve(live_);
  for (const auto& [p, t] : tunnels_) {
    if (t->done()) continue;
    const ServerTunnel::Summary& s = t->summary();
    LiveTunnel l;
    l.id = s.id;
    l.transport = s.transport;
    l.listener = s.listener;
    l.source = s.source;
    l.user = s.user;
    l.target = s.target;
    l.stage = t->stage_name();
    std::tie(l.up, l.down) = t->bytes();
    l.age_ms = now - s.started_ms;
    l.worker = worker_;
    out.push_back(std::move(l));
  }
  std::sort(out.begin(), out.end(),
            [](const LiveTunnel& a, const LiveTunnel& b) { return a.id < b.id; });
  return out;
}

void ServerEngine::set_worker(unsigned index, unsigned count) {
  worker_ = index;
  next_tunnel_id_ = index + 1;
  tunnel_id_step_ = count == 0 ? 1 : count;
  reverse_->join(index);
}

void ServerEngine::count_user_bytes(bool on) {
  metrics_.per_user = on;
  if (!on) metrics_.user_bytes.clear();
}

void ServerEngine::close_all(TunnelFailure failure, const std::string& reason) {
  std::vector<ServerTunnel*> live;
  for (auto& [p, t] : tunnels_) {
    if (!t->done()) live.push_back(p);
  }
  for (ServerTunnel* t : live) t->close(failure, reason);
}

void ServerEngine::check_drained() {
  if (!draining_ || live_ > 0 || !drain_done_) return;
  drain_timer_.stop();
  recheck_timer_.stop();
  reaper_.post([done = std::move(drain_done_)] { done(); });
  drain_done_ = nullptr;
}

ServerStats ServerEngine::stats() const {
  ServerStats s = stats_;
  s.rejections = limits_->counts();
  s.live = live_;
  s.active_users = limits_->active_users();
  s.reverse_ports = reverse_->ports_held();
  s.reverse_visitors = reverse_->visitors();
  s.reverse_visitors_total = reverse_->visitors_total();
  s.reverse_visitors_refused = reverse_->visitors_refused();
  s.reverse_ports_grace = reverse_->ports_in_grace();
  if (accounts_) {
    const AccountSource::Counters c = accounts_->counters();
    s.password_checks = c.password_checks;
    s.cache_hits = c.cache_hits;
  }
  s.relaying = static_cast<std::size_t>(std::count_if(
      tunnels_.begin(), tunnels_.end(), [](const auto& e) { return e.second->relaying(); }));
  return s;
}

}  // namespace mtop
