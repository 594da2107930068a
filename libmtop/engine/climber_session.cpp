#include "engine/climber_session.hpp"

#include <cstdio>
#include <utility>
#include <variant>

#include "engine/climber_eof_replay.hpp"
#include "mtop/codec.hpp"

namespace mtop {

namespace {

/// How long a failed session waits for the client to close after our answer and half-close.
constexpr std::uint64_t kLingerMs = 2'000;

/// Compares without an early exit, so the time taken does not tell how much of a guess was right.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  const std::size_t n = a.size() < b.size() ? a.size() : b.size();
  for (std::size_t i = 0; i < n; ++i) {
    diff |= static_cast<unsigned>(static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

}  // namespace

ClimberSession::ClimberSession(ClimberShared& shared, io::StreamPtr local, LocalMode mode,
                               std::optional<Address> forward_target, DoneCallback done)
    : shared_(shared),
      local_(std::move(local)),
      mode_(mode),
      done_(std::move(done)),
      target_(std::move(forward_target)),
      timer_(shared.loop) {
  peer_ = local_ ? local_->peer_name() : "?";
  if (mode_ == LocalMode::socks) {
    socks5::ServerSettings s =
        socks5::ServerSettings::for_credentials(!shared_.options.local_username.empty());
    s.max_payload = shared_.options.early_data_limit;
    socks_.emplace(s);
  } else if (mode_ == LocalMode::http) {
    http_.emplace();
  }
}

ClimberSession::~ClimberSession() {
  // The relay (if any) closes both streams; otherwise the StreamPtrs do.
  relay_.reset();
}

void ClimberSession::start() {
  started_ms_ = uv_now(shared_.loop);
  local_->set_handler(this);
  local_->start_read();
  timer_.start(shared_.options.handshake_timeout_ms, [this] { on_timeout(); });
  if (mode_ == LocalMode::forward) begin_tunnel();
}

void ClimberSession::abort(std::string_view reason) {
  if (phase_ == Phase::finished) return;
  if (relay_ && !relay_->finished()) {
    relay_->close(std::string(reason));  // the done callback logs and finishes
    return;
  }
  if (!logged_ && target_) log_close(reason, early_sent_, 0);
  finish();
}

std::string ClimberSession::mode_name() const {
  switch (mode_) {
    case LocalMode::socks: return "socks";
    case LocalMode::http: return http_connect_ ? "http-connect" : "http";
    case LocalMode::mixed: return "mixed";
    case LocalMode::forward: return "forward";
  }
  return "?";
}

// --- local side, before the relay ------------------------------------------------------------

void ClimberSession::on_read(ByteView data) {
  switch (phase_) {
    case Phase::request: on_request_bytes(data); break;
    case Phase::dialing: hold_early(data); break;
    case Phase::awaiting_response:
      // Reads are stopped while the server decides; bytes already on their way still count as
      // early data and go behind the auth message.
      if (handshake_ && handshake_->send_payload(data)) {
        early_sent_ += data.size();
        shared_.stats.bytes_up += data.size();
        const ByteView out = handshake_->pending_output();
        if (tunnel_ && !out.empty()) {
          tunnel_->write(out);
          handshake_->consume_output(out.size());
        }
      }
      break;
    case Phase::relaying:
    case Phase::lingering:  // discarded: the answer is out, we only wait for the close
    case Phase::finished: break;
  }
}

void ClimberSession::on_eof() {
  local_eof_ = true;
  if (phase_ == Phase::request || phase_ == Phase::lingering) {
    if (phase_ == Phase::request) shared_.log.debug("local " + peer_ + ": closed before a request");
    finish();
  }
  // dialing / awaiting_response: the EOF is replayed to the relay (climber_eof_replay.hpp).
}

void ClimberSession::on_error(std::string_view reason) {
  if (phase_ == Phase::finished) return;
  if (phase_ != Phase::lingering && target_ && !logged_) {
    log_close("client: " + std::string(reason), early_sent_, 0);
  } else if (phase_ == Phase::request) {
    shared_.log.debug("local " + peer_ + ": " + std::string(reason));
  }
  finish();
}

void ClimberSession::on_request_bytes(ByteView data) {
  if (data.empty()) return;
  if (mode_ == LocalMode::mixed) {
    // SOCKS5 always opens with VER 0x05; no HTTP method starts with that byte.
    if (data[0] == 0x05) {
      mode_ = LocalMode::socks;
      socks5::ServerSettings s =
          socks5::ServerSettings::for_credentials(!shared_.options.local_username.empty());
      s.max_payload = shared_.options.early_data_limit;
      socks_.emplace(s);
    } else {
      mode_ = LocalMode::http;
      http_.emplace();
    }
  }
  if (mode_ == LocalMode::socks) {
    on_socks_bytes(data);
  } else if (mode_ == LocalMode::http) {
    on_http_bytes(data);
  }
}

void ClimberSession::flush_socks() {
  const ByteView out = socks_->pending_output();
  if (!out.empty() && local_) {
    local_->write(out);
    socks_->consume_output(out.size());
  }
}

bool ClimberSession::credentials_match(std::string_view user, std::string_view pass) const {
  const bool u = constant_time_equal(user, shared_.options.local_username);
  const bool p = constant_time_equal(pass, shared_.options.local_password);
  return u && p;
}

void ClimberSession::on_socks_bytes(ByteView data) {
  while (phase_ == Phase::request) {
    auto fed = socks_->feed(data);
    if (!fed) {
      flush_socks();
      shared_.log.debug("local " + peer_ + ": socks: " + std::string(errc_message(fed.error())));
      linger();
      return;
    }
    data = data.subspan(*fed);
    flush_socks();
    bool progressed = false;
    for (;;) {
      auto ev = socks_->next_event();
      if (!ev) {
        flush_socks();
        shared_.log.debug("local " + peer_ + ": socks: " + std::string(errc_message(ev.error())));
        linger();
        return;
      }
      if (auto* c = std::get_if<socks5::Credentials>(&*ev)) {
        const bool ok = credentials_match(c->username, c->password);
        secure_wipe(c->password);
        (void)socks_->accept_credentials(ok);
        flush_socks();
        progressed = true;
        if (!ok) {
          shared_.log.info("local " + peer_ + ": socks: wrong local username or password");
          linger();
          return;
        }
        continue;
      }
      if (auto* r = std::get_if<socks5::ConnectRequest>(&*ev)) {
        target_ = r->target;
        early_ = socks_->take_payload();
        hold_early(data);  // what followed the request in this read is early data as well
        begin_tunnel();
        return;
      }
      break;  // NeedData (Paused and Finished cannot happen: decisions are made at once)
    }
    if (data.empty()) return;
    if (*fed == 0 && !progressed) {
      // The machine holds a full handshake buffer without a complete message: cannot happen
      // with valid SOCKS5 (every message fits), so the client is not speaking it.
      shared_.log.debug("local " + peer_ + ": socks: request does not fit the buffer");
      linger();
      return;
    }
  }
}

void ClimberSession::on_http_bytes(ByteView data) {
  auto fed = http_->feed(data);
  if (!fed) {
    shared_.log.debug("local " + peer_ + ": http: " + std::string(errc_message(fed.error())));
    local_->write(as_bytes(http::proxy_response(http::ProxyStatus::bad_request)));
    linger();
    return;
  }
  if (!http_->done()) return;
  const http::ProxyRequest& req = http_->request();
  http_connect_ = req.is_connect();
  if (!shared_.options.local_username.empty()) {
    const bool ok = req.credentials.state == http::AuthState::basic &&
                    credentials_match(req.credentials.user, req.credentials.password);
    if (!ok) {
      shared_.log.info("local " + peer_ + ": http: " +
                       (req.credentials.state == http::AuthState::absent
                            ? "no Proxy-Authorization"
                            : "wrong or malformed Proxy-Authorization"));
      local_->write(as_bytes(http::proxy_response(http::ProxyStatus::proxy_auth_required)));
      linger();
      return;
    }
  }
  target_ = req.target.address;
  early_.assign(req.forward_head.begin(), req.forward_head.end());
  hold_early(data.subspan(*fed));
  begin_tunnel();
}

void ClimberSession::hold_early(ByteView data) {
  early_.insert(early_.end(), data.begin(), data.end());
  // Past the bound the application waits (TCP back-pressure) until the tunnel is up.
  if (early_.size() >= shared_.options.early_data_limit && local_) local_->stop_read();
}

// --- the tunnel ------------------------------------------------------------------------------

void ClimberSession::begin_tunnel() {
  phase_ = Phase::dialing;
  AuthMessage msg;
  msg.username = shared_.username;
  msg.password = shared_.password;
  msg.target = *target_;
  auto hs = ClientHandshake::create(msg);
  msg.wipe_password();
  if (!hs) {
    fail(socks5::ReplyCode::host_unreachable, http::ProxyStatus::bad_request,
         "target refused: " + std::string(errc_message(hs.error())));
    return;
  }
  handshake_.emplace(std::move(*hs));
  if (early_.size() >= shared_.options.early_data_limit) local_->stop_read();
  std::weak_ptr<bool> alive = alive_;
  shared_.dialer->open([this, alive](io::StreamPtr stream, const std::string& error) {
    if (alive.expired()) return;  // the session is gone; dropping `stream` closes it
    on_tunnel_open(std::move(stream), error);
  });
}

void ClimberSession::on_tunnel_open(io::StreamPtr stream, const std::string& error) {
  if (phase_ != Phase::dialing) return;  // timed out or failed meanwhile
  if (!stream && io::is_at_limit_error(error)) {
    // The dialer refused on a limit of ours (a full QUIC pool): the server was not asked, so
    // this is "unavailable", not "bad gateway"; the reason names the limit.
    fail(socks5::ReplyCode::general_failure, http::ProxyStatus::service_unavailable, error);
    return;
  }
  if (!stream) {
    fail(socks5::ReplyCode::general_failure, http::ProxyStatus::bad_gateway,
         "server unreachable: " + error);
    return;
  }
  tunnel_ = std::move(stream);
  tunnel_->set_handler(&tunnel_handler_);
  if (!early_.empty()) (void)handshake_->send_payload(early_);
  early_sent_ = early_.size();
  shared_.stats.bytes_up += early_.size();
  early_.clear();
  early_.shrink_to_fit();
  // The auth message and the early data leave in one write, so they share packets.
  const ByteView out = handshake_->pending_output();
  tunnel_->write(out);
  handshake_->consume_output(out.size());
  phase_ = Phase::awaiting_response;
  if (local_) local_->stop_read();
  tunnel_->start_read();
}

void ClimberSession::on_tunnel_read(ByteView data) {
  if (phase_ != Phase::awaiting_response) return;
  auto fed = handshake_->feed(data);
  if (!fed) {
    fail(socks5::ReplyCode::general_failure, http::ProxyStatus::bad_gateway,
         non_mtop_answer(fed.error()));
    return;
  }
  drive_handshake();
}

void ClimberSession::on_tunnel_eof() {
  if (phase_ != Phase::awaiting_response) return;
  (void)handshake_->feed_eof();
  drive_handshake();
}

void ClimberSession::on_tunnel_error(std::string_view reason) {
  if (phase_ != Phase::awaiting_response) return;
  // A QUIC stream reset before any response is the server's stealth-mode refusal; its reason
  // names the code ("reset by peer: 0x3 (REFUSED)", docs/PROTOCOL.md 6.2), which is what the
  // user needs to tell a wrong password from an unreachable target. Locally it is answered
  // like a close without status (SOCKS5 0x01, HTTP 502).
  const bool reset = reason.rfind("reset by peer: ", 0) == 0;
  fail(socks5::ReplyCode::general_failure, http::ProxyStatus::bad_gateway,
       (reset ? "tunnel refused by the server (stealth mode): " : "tunnel: ") +
           std::string(reason));
}

void ClimberSession::drive_handshake() {
  Bytes to_local;
  bool established = false;
  for (;;) {
    ClientEvent ev = handshake_->next_event();
    if (std::holds_alternative<event::NeedData>(ev) || std::holds_alternative<event::EndOfInput>(ev)) {
      break;
    }
    if (std::holds_alternative<event::Established>(ev)) {
      established = true;
      continue;
    }
    if (auto* p = std::get_if<event::Payload>(&ev)) {
      to_local.insert(to_local.end(), p->data.begin(), p->data.end());
      continue;
    }
    if (auto* r = std::get_if<event::Rejected>(&ev)) {
      switch (r->status) {
        case Status::auth_failed:
          fail(socks5::ReplyCode::not_allowed, http::ProxyStatus::bad_gateway,
               "rejected: authentication failed");
          return;
        case Status::connect_failed:
          fail(socks5::ReplyCode::connection_refused, http::ProxyStatus::bad_gateway,
               "rejected: connect failed");
          return;
        default:
          fail(socks5::ReplyCode::general_failure, http::ProxyStatus::bad_gateway,
               "rejected: version not supported");
          return;
      }
    }
    if (std::holds_alternative<event::ClosedWithoutStatus>(ev)) {
      fail(socks5::ReplyCode::general_failure, http::ProxyStatus::bad_gateway,
           "server closed without a status (refused, stealth mode)");
      return;
    }
    if (auto* e = std::get_if<event::Error>(&ev)) {
      fail(socks5::ReplyCode::general_failure, http::ProxyStatus::bad_gateway,
           non_mtop_answer(e->code));
      return;
    }
  }
  if (established) start_relay(std::move(to_local));
}

void ClimberSession::start_relay(Bytes to_local) {
  timer_.stop();
  ++shared_.stats.tunnels_opened;
  shared_.stats.bytes_down += to_local.size();
  if (mode_ == LocalMode::socks) {
    (void)socks_->reply(socks5::ReplyCode::succeeded, Address{});
    flush_socks();
  } else if (mode_ == LocalMode::http && http_connect_) {
    local_->write(as_bytes(http::proxy_response(http::ProxyStatus::connection_established)));
  }
  // Payload that came with the response goes out first; the relay's writes queue behind it.
  if (!to_local.empty()) local_->write(to_local);
  const std::uint64_t down_before = to_local.size();
  phase_ = Phase::relaying;
  handshake_.reset();  // wipes what is left of the auth message
  io::StreamPtr local = std::move(local_);
  if (local_eof_) local = EofReplayStream::wrap(shared_.loop, std::move(local));
  io::RelayOptions ro;
  ro.max_pending = shared_.options.max_pending;
  ro.idle_timeout_ms = shared_.options.idle_timeout_ms;
  // Live totals for ClimberEngine::stats(); the shared state outlives every relay.
  ro.on_traffic = [&stats = shared_.stats](io::Direction d, std::size_t n) {
    (d == io::Direction::a_to_b ? stats.bytes_up : stats.bytes_down) += n;
  };
  relay_ = std::make_unique<io::Relay>(
      shared_.loop, std::move(local), std::move(tunnel_), std::move(ro),
      [this, down_before](const io::RelayStats& stats) {
        log_close(stats.reason, early_sent_ + stats.bytes_a_to_b, down_before + stats.bytes_b_to_a);
        finish();
      });
  relay_->start();
}

void ClimberSession::on_timeout() {
  switch (phase_) {
    case Phase::request:
      shared_.log.debug("local " + peer_ + ": no complete request in time");
      finish();
      break;
    case Phase::dialing:
    case Phase::awaiting_response:
      fail(socks5::ReplyCode::ttl_expired, http::ProxyStatus::gateway_timeout,
           "tunnel set-up timed out");
      break;
    case Phase::lingering: finish(); break;
    case Phase::relaying:
    case Phase::finished: break;
  }
}

// --- endings -----------------------------------------------------------------------------------

// By value on purpose: tunnel_ and handshake_ are reset first, so a reason borrowed from either
// would dangle.
void ClimberSession::fail(socks5::ReplyCode socks, http::ProxyStatus http_status,
                          std::string reason) {  // NOLINT(performance-unnecessary-value-param)
  ++shared_.stats.tunnels_failed;
  tunnel_.reset();
  handshake_.reset();
  log_close(reason, early_sent_, 0);
  if (!local_) {
    finish();
    return;
  }
  if (mode_ == LocalMode::socks) {
    if (socks_->state() == socks5::State::reply_decision) {
      (void)socks_->reply(socks, Address{});
      flush_socks();
    }
  } else if (mode_ == LocalMode::http) {
    if (http_->done()) local_->write(as_bytes(http::proxy_response(http_status)));
  }
  linger();
}

void ClimberSession::linger() {
  phase_ = Phase::lingering;
  early_.clear();
  if (!local_ || local_eof_) {
    finish();
    return;
  }
  local_->shutdown();
  local_->start_read();
  timer_.start(kLingerMs, [this] { finish(); });
}

void ClimberSession::finish() {
  if (phase_ == Phase::finished) return;
  phase_ = Phase::finished;
  timer_.stop();
  tunnel_.reset();
  local_.reset();
  handshake_.reset();
  if (done_) done_(this);
}

void ClimberSession::log_close(std::string_view reason, std::uint64_t up, std::uint64_t down) {
  if (logged_) return;
  logged_ = true;
  if (!shared_.log.enabled(LogLevel::info)) return;
  const double secs = static_cast<double>(uv_now(shared_.loop) - started_ms_) / 1000.0;
  char tail[96];
  std::snprintf(tail, sizeof tail, " up=%llu down=%llu time=%.3fs: ",
                static_cast<unsigned long long>(up), static_cast<unsigned long long>(down), secs);
  std::string line = "tunnel " + mode_name() + " " + peer_ + " -> " +
                     (target_ ? target_->to_string() : std::string("?")) + tail;
  line += reason;
  shared_.log.info(line);
}

std::string non_mtop_answer(Errc code) {
  return "server sent bytes that are not MTop (" + std::string(errc_message(code)) +
         "): wrong credentials on a server in fallback mode, or not an MTop server";
}

}  // namespace mtop
