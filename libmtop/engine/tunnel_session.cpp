#include "engine/tunnel_session.hpp"

#include <utility>
#include <variant>

#include "engine/server_metrics.hpp"
#include "uv/tcp_stream.hpp"

namespace mtop {

namespace {

/// How long a rejected client may take to go away after its status was sent. The status is
/// followed by our half-close; closing before the client has read it could turn into a TCP
/// reset that destroys the status on the way.
constexpr std::uint64_t kRejectLingerMs = 2'000;

/// Bound of client bytes kept outside the core: one read of any of our streams is far below
/// it. Reached only by a stream that goes on delivering after stop_read().
constexpr std::size_t kMaxHeld = 1024 * 1024;

}  // namespace

QuicAppError tunnel_abort_code(TunnelFailure failure) noexcept {
  switch (failure) {
    case TunnelFailure::handshake_timeout: return QuicAppError::handshake_timeout;
    case TunnelFailure::protocol_error: return QuicAppError::protocol_error;
    case TunnelFailure::target_failed: return QuicAppError::connect_failed;
    case TunnelFailure::client_closed:
    case TunnelFailure::revoked: return QuicAppError::aborted;
    case TunnelFailure::overloaded:
    case TunnelFailure::draining:
    case TunnelFailure::throttled:
    case TunnelFailure::auth_failed:
    case TunnelFailure::store_unavailable:
    case TunnelFailure::store_error:
    case TunnelFailure::account_refused:
    case TunnelFailure::user_tunnel_limit:
    case TunnelFailure::target_denied: return QuicAppError::refused;
  }
  return QuicAppError::aborted;
}

bool ends_on_fallback(TunnelFailure failure) noexcept {
  switch (failure) {
    case TunnelFailure::handshake_timeout:
    case TunnelFailure::protocol_error:
    case TunnelFailure::client_closed:
    case TunnelFailure::throttled:
    case TunnelFailure::auth_failed:
    case TunnelFailure::store_unavailable:
    case TunnelFailure::store_error:
      return true;
    case TunnelFailure::overloaded:
    case TunnelFailure::draining:
    case TunnelFailure::account_refused:
    case TunnelFailure::user_tunnel_limit:
    case TunnelFailure::target_denied:
    case TunnelFailure::target_failed:
    case TunnelFailure::revoked:
      return false;
  }
  return false;
}

std::string log_escape(std::string_view text, std::size_t max) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char ch : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

ServerTunnel::ServerTunnel(uv_loop_t* loop, TunnelHost& host,
                           std::shared_ptr<const TunnelSettings> settings, io::StreamPtr client)
    : loop_(loop),
      host_(host),
      settings_(std::move(settings)),
      options_(settings_->options),
      client_(std::move(client)),
      hs_(std::make_unique<ServerHandshake>(ServerHandshake::Options{
          .early_data_limit = options_.early_data_limit, .reverse = true})),
      timer_(loop) {
  summary_.source = client_ ? client_->peer_name() : "?";
  summary_.started_ms = uv_now(loop);
}

ServerTunnel::~ServerTunnel() {
  stage_ = Stage::done;
  secure_wipe(held_);
  secure_wipe(seen_);
  secure_wipe(first_);
  // Members close the relay, the streams, the connect and the auth attempt without callbacks.
}

void ServerTunnel::start() {
  if (stage_ != Stage::created) return;
  if (!client_) {
    fail(TunnelFailure::client_closed, "no stream");
    return;
  }
  stage_ = Stage::handshake;
  client_->set_handler(this);
  if (sink_) {
    recall_ = sink_->watch([this] {
      std::string reason = "the connection is HTTP/3";
      (void)fall_back(TunnelFailure::protocol_error, reason);
    });
  }
  timer_.start(options_.handshake_timeout_ms, [this] {
    std::string reason = stage_ == Stage::deciding
                             ? "handshake timed out waiting for the user check"
                             : "handshake timed out";
    if (fall_back(TunnelFailure::handshake_timeout, reason)) return;
    fail(TunnelFailure::handshake_timeout, std::move(reason));
  });
  client_->start_read();
}

void ServerTunnel::on_read(ByteView data) {
  switch (stage_) {
    case Stage::handshake:
    case Stage::deciding:
    case Stage::connecting:
      feed(data);
      return;
    case Stage::fallback_connecting:
      // Delivered after stop_read(): it goes to the backend after the kept bytes.
      if (seen_.size() + data.size() > kMaxHeld) {
        fail(TunnelFailure::protocol_error, "client stream read past its stop");
        return;
      }
      seen_.insert(seen_.end(), data.begin(), data.end());
      return;
    case Stage::pooled:
      fail(TunnelFailure::protocol_error, "data connection sent bytes before its visitor");
      return;
    default:
      return;  // rejecting: what the client still sends is dropped
  }
}

bool ServerTunnel::sort_first_bytes(ByteView& data) {
  // Only TLS carries data connections: QUIC visitors ride on server-initiated streams (9.5).
  if (summary_.transport != "tls") {
    sorted_ = true;
    return false;
  }
  first_.insert(first_.end(), data.begin(), data.end());
  if (first_.size() < 2) return true;
  sorted_ = true;
  if (first_[0] == kProtocolVersion && first_[1] == kMethodAttach) {
    role_ = ReverseRole::data;
    if (first_.size() >= kAttachMessageSize) attach(first_);
    return true;
  }
  data = first_;  // the auth message's first bytes: fed to the core by the caller
  return false;
}

void ServerTunnel::attach(ByteView message) {
  auto decoded = decode_attach(message);
  std::string reason;
  TunnelFailure failure = TunnelFailure::protocol_error;
  if (!decoded) {
    reason = "bad attach message: " + std::string(decoded.message());
  } else if (decoded->size != message.size()) {
    reason = "bytes after the attach message";
  } else if (host_.tunnel_attach(*this, *decoded->message)) {
    secure_wipe(first_);
    return;
  } else {
    failure = TunnelFailure::auth_failed;
    reason = "unknown, spent or expired attach token";
  }
  secure_wipe(first_);
  if (fall_back(failure, reason)) return;
  fail(failure, std::move(reason));
}

void ServerTunnel::feed(ByteView data) {
  if (fallback_) {
    // Everything the client sent, in order: what the backend gets should the login fail.
    if (seen_.size() + data.size() > kMaxHeld) {
      fail(TunnelFailure::protocol_error, "client stream read past its stop");
      return;
    }
    seen_.insert(seen_.end(), data.begin(), data.end());
  }
  if (stage_ == Stage::handshake && role_ == ReverseRole::data) {
    // The rest of an ATTACH message; a data connection sends nothing more before its visitor.
    first_.insert(first_.end(), data.begin(), data.end());
    if (first_.size() >= kAttachMessageSize) attach(first_);
    return;
  }
  if (!sorted_ && stage_ == Stage::handshake && sort_first_bytes(data)) return;
  if (!held_.empty()) {
    // The stream delivered after stop_read(); keep order, but never without bound.
    if (held_.size() + data.size() > kMaxHeld) {
      fail(TunnelFailure::protocol_error, "client stream read past its stop");
      return;
    }
    held_.insert(held_.end(), data.begin(), data.end());
    return;
  }
  if (!hs_) return;  // not reached: the stages that feed keep the core
  const auto r = hs_->feed(data);
  if (!r) {
    pump();  // the core failed earlier; its Error event says why
    return;
  }
  if (*r < data.size()) {
    // Early-data bound reached: the transport's flow control holds the client back now.
    held_.assign(data.begin() + static_cast<std::ptrdiff_t>(*r), data.end());
    client_->stop_read();
  }
  secure_wipe(first_);  // `data` may have been these bytes (an auth message's start)
  pump();
}

void ServerTunnel::on_eof() {
  client_eof_ = true;
  switch (stage_) {
    case Stage::handshake:
    case Stage::deciding:
    case Stage::connecting:
      // Reading had stopped if bytes were held, so no EOF can come before them.
      if (hs_) (void)hs_->feed_eof();
      pump();
      return;
    case Stage::rejecting:
      if (client_ && client_->write_queue_size() == 0) finish();
      return;
    case Stage::pooled:
      fail(TunnelFailure::client_closed, "data connection closed while pooled");
      return;
    default:
      return;  // fallback_connecting: the relay starts with the client's EOF already seen
  }
}

void ServerTunnel::on_error(std::string_view reason) {
  if (stage_ == Stage::rejecting) {
    finish();  // the reason for the tunnel is already set
    return;
  }
  fail(TunnelFailure::client_closed, "client: " + std::string(reason));
}

void ServerTunnel::pump() {
  while (hs_ &&
         (stage_ == Stage::handshake || stage_ == Stage::deciding || stage_ == Stage::connecting)) {
    ServerEvent ev = hs_->next_event();
    if (std::holds_alternative<event::NeedData>(ev)) return;
    if (auto* a = std::get_if<event::AuthRequest>(&ev)) {
      // The handshake timer keeps running: it bounds the user check too.
      stage_ = Stage::deciding;
      reverse_request_ = a->request.method == Method::reverse;
      target_ = a->request.target;
      summary_.target = a->request.target.to_string();
      summary_.user = log_escape(a->request.username);
      auth_ = host_.tunnel_auth(*this, std::move(a->request));
      a->request.wipe_password();
      continue;
    }
    if (auto* e = std::get_if<event::Error>(&ev)) {
      // Bytes that cannot be an auth message are decided at once (the core fails at the first
      // bad byte: "GET " at its first), so a slow browser request reaches the fallback at once.
      std::string reason = e->code == Errc::peer_closed
                               ? "client closed during the handshake"
                               : "bad auth message: " + std::string(errc_message(e->code));
      const TunnelFailure failure = e->code == Errc::peer_closed ? TunnelFailure::client_closed
                                                                 : TunnelFailure::protocol_error;
      if (fall_back(failure, reason)) return;
      if (e->code == Errc::bad_version) {
        reject(Status::version_not_supported, TunnelFailure::protocol_error,
               "unsupported protocol version");
      } else {
        fail(failure, std::move(reason));
      }
      return;
    }
    // Payload and EndOfInput come only after accept(), which drains them itself.
    return;
  }
}

void ServerTunnel::auth_passed(std::string username) {
  if (stage_ != Stage::deciding || !target_) return;
  auth_.reset();
  timer_.release();  // the connect has its own time-out, the relay its idle one
  username_ = std::move(username);
  stage_ = Stage::connecting;
  secure_wipe(seen_);  // a climber with the right password: no fallback from here on
  fallback_ = false;
  recall_.reset();
  if (sink_) sink_->passed();
  if (reverse_request_) {
    publish();
    return;
  }
  connect_ = host_.tunnel_connect(*this, *target_,
                                  [this](io::ConnectResult r) { on_connected(std::move(r)); });
}

void ServerTunnel::refuse(TunnelFailure failure, std::string reason) {
  if (stage_ != Stage::deciding) return;
  auth_.reset();
  if (fall_back(failure, reason)) return;
  reject(Status::auth_failed, failure, std::move(reason));
}

void ServerTunnel::deny_target(std::string reason) {
  if (stage_ != Stage::deciding) return;
  auth_.reset();
  reject(Status::connect_failed, TunnelFailure::target_denied, std::move(reason));
}

bool ServerTunnel::fall_back(TunnelFailure failure, std::string& reason) {
  if (!fallback_ || !client_ || !ends_on_fallback(failure)) return false;
  switch (stage_) {
    case Stage::handshake:
    case Stage::deciding:
      break;
    default:
      return false;
  }
  if (sink_ && !sink_->open()) return false;
  summary_.failure = failure;
  summary_.reason = std::move(reason);
  summary_.fallback = true;
  timer_.release();  // the connect has its own time-out, the relay its idle one
  auth_.reset();
  hs_.reset();         // the backend gets the kept bytes, not the core's view of them
  secure_wipe(held_);  // a suffix of seen_
  if (sink_) {
    hand_over();
    return true;
  }
  client_->stop_read();
  stage_ = Stage::fallback_connecting;
  connect_ = host_.tunnel_connect_fallback(
      *this, [this](io::ConnectResult r) { on_fallback_connected(std::move(r)); });
  return true;
}

void ServerTunnel::hand_over() {
  recall_.reset();
  Bytes kept = std::exchange(seen_, Bytes());
  const std::shared_ptr<io::StreamFallback> sink = sink_;
  sink->take(std::move(client_), std::move(kept), client_eof_);
  finish();
}

void ServerTunnel::on_fallback_connected(io::ConnectResult r) {
  if (stage_ != Stage::fallback_connecting) return;
  connect_.reset();
  if (!r.tcp) {
    summary_.reason += "; fallback backend: " + r.error;
    finish();
    return;
  }
  io::RelayOptions opts;
  opts.max_pending = options_.max_pending;
  opts.idle_timeout_ms = options_.idle_timeout_ms;
  opts.a_ended = client_eof_;
  stage_ = Stage::fallback_relaying;
  relay_ =
      std::make_unique<io::Relay>(loop_, std::move(client_), io::TcpStream::adopt(std::move(r.tcp)),
                                  std::move(opts), [this](const io::RelayStats& s) {
                                    summary_.up = s.bytes_a_to_b;
                                    summary_.down = s.bytes_b_to_a;
                                    finish();
                                  });
  relay_->start(seen_);  // written (copied) to the backend before anything else
  secure_wipe(seen_);
}

void ServerTunnel::publish() {
  TunnelHost::PublishAnswer answer = host_.tunnel_publish(*this, *target_);
  if (answer.status != Status::success) {
    reject(answer.status,
           answer.status == Status::not_permitted ? TunnelFailure::target_denied
                                                  : TunnelFailure::target_failed,
           std::move(answer.reason));
    return;
  }
  auto channel =
      ControlChannel::create(ControlChannel::Role::server, answer.grant.keepalive_s, uv_now(loop_));
  if (!channel || !hs_ || !hs_->accept_reverse(answer.grant)) {
    fail(TunnelFailure::protocol_error, "handshake refused the reverse grant");
    return;
  }
  Bytes initial;  // control frames that came with the request
  const bool client_ended = send_response(initial);
  hs_.reset();  // a control tunnel speaks ControlChannel from here on
  role_ = ReverseRole::control;
  stage_ = Stage::control;
  ControlLink::Events events;
  events.ended = [this](ControlLink::End end, std::string reason) {
    fail(end == ControlLink::End::protocol_error ? TunnelFailure::protocol_error
                                                 : TunnelFailure::client_closed,
         std::move(reason));
  };
  control_ = std::make_unique<ControlLink>(loop_, std::move(client_), std::move(*channel),
                                           std::move(events));
  host_.tunnel_published(*this);  // the first OPEN frames follow the response
  if (stage_ != Stage::control) return;
  if (client_ended) {
    fail(TunnelFailure::client_closed, "control tunnel closed by the climber");
    return;
  }
  control_->start(initial);
}

bool ServerTunnel::send_open(const AttachToken& token) {
  return stage_ == Stage::control && control_ && control_->send_open(token);
}

void ServerTunnel::start_visitor_stream() {
  if (stage_ != Stage::created || !client_) return;
  stage_ = Stage::handshake;
  role_ = ReverseRole::data;
  sorted_ = true;
  hs_.reset();                 // a data tunnel has no auth message
  client_->set_handler(this);  // no time-out: the visitor is attached right away
}

void ServerTunnel::make_pooled(std::string username, std::string bind) {
  if (stage_ != Stage::handshake || role_ != ReverseRole::data) return;
  timer_.release();  // a pooled connection lives as long as its control tunnel
  hs_.reset();       // a data connection has no auth message
  fallback_ = false;
  secure_wipe(seen_);
  username_ = std::move(username);
  summary_.user = log_escape(username_);
  summary_.target = std::move(bind);
  stage_ = Stage::pooled;
}

void ServerTunnel::attach_visitor(io::StreamPtr visitor, ByteView header,
                                  std::string visitor_name) {
  if (stage_ != Stage::pooled || !client_ || !visitor) return;
  summary_.target = std::move(visitor_name);
  summary_.accepted = true;
  client_->write(header);  // before any visitor byte: the relay writes after it
  relay(std::move(visitor), {}, false);
}

void ServerTunnel::on_connected(io::ConnectResult r) {
  if (stage_ != Stage::connecting) return;
  if (!r.tcp) {
    if (!r.denied) summary_.dial_failure = dial_failure_reason(r.uv_status);
    reject(Status::connect_failed,
           r.denied ? TunnelFailure::target_denied : TunnelFailure::target_failed,
           "target " + summary_.target + ": " + r.error);
    return;
  }
  io::StreamPtr target = io::TcpStream::adopt(std::move(r.tcp));
  accept(std::move(target));
}

void ServerTunnel::accept(io::StreamPtr target) {
  if (!hs_ || !hs_->accept()) {
    fail(TunnelFailure::protocol_error, "handshake refused accept");
    return;
  }
  secure_wipe(seen_);
  Bytes initial;
  const bool client_ended = send_response(initial);
  relay(std::move(target), initial, client_ended);
}

bool ServerTunnel::send_response(Bytes& initial) {
  const ByteView out = hs_->pending_output();
  client_->write(out);
  hs_->consume_output(out.size());
  if (!held_.empty()) {
    (void)hs_->feed(held_);  // taken whole once accepted
    secure_wipe(held_);
  }
  summary_.accepted = true;
  for (;;) {
    ServerEvent ev = hs_->next_event();
    if (auto* p = std::get_if<event::Payload>(&ev)) {
      initial.insert(initial.end(), p->data.begin(), p->data.end());
      continue;
    }
    return std::holds_alternative<event::EndOfInput>(ev);
  }
}

void ServerTunnel::relay(io::StreamPtr other, ByteView initial, bool client_ended) {
  io::RelayOptions opts = host_.tunnel_relay_options(*this);
  opts.max_pending = options_.max_pending;
  opts.idle_timeout_ms = options_.idle_timeout_ms;
  opts.a_ended = client_ended;
  if (role_ == ReverseRole::data) {
    // The climber aborting the data connection (a local service it cannot reach: CONNECT_FAILED)
    // resets the visitor, so it never takes the end for a clean one (docs/PROTOCOL.md 9.5, 9.6).
    opts.reset_b_when_a_fails = true;
    // The climber's first byte for the visitor: the pool's refill for this connection waited
    // for it (AttachPool). Told before the byte is written on, in the same loop turn, so the
    // climber's new connection for that OPEN cannot come in ahead of it.
    opts.on_traffic = [this, observe = std::move(opts.on_traffic), answered = false](
                          io::Direction dir, std::size_t bytes) mutable {
      if (observe) observe(dir, bytes);
      if (answered || dir != io::Direction::a_to_b) return;
      answered = true;
      host_.tunnel_answered(*this);
    };
  }
  stage_ = Stage::relaying;
  hs_.reset();  // its part is over: an idle tunnel should not keep it (264 bytes)
  relay_ = std::make_unique<io::Relay>(loop_, std::move(client_), std::move(other),
                                       std::move(opts), [this](const io::RelayStats& s) {
                                         summary_.up = s.bytes_a_to_b;
                                         summary_.down = s.bytes_b_to_a;
                                         if (summary_.reason.empty()) summary_.reason = s.reason;
                                         finish();
                                       });
  relay_->start(initial);
}

void ServerTunnel::reject(Status status, TunnelFailure failure, std::string reason) {
  summary_.failure = failure;
  summary_.reason = std::move(reason);
  timer_.stop();
  connect_.reset();
  secure_wipe(held_);
  secure_wipe(seen_);
  const RejectMode mode = options_.reply_status ? RejectMode::reply : RejectMode::stealth;
  if (!client_ || !hs_ || !hs_->reject(status, mode) || hs_->pending_output().empty()) {
    finish();
    return;
  }
  const ByteView out = hs_->pending_output();
  client_->write(out);
  hs_->consume_output(out.size());
  client_->shutdown();
  stage_ = Stage::rejecting;
  if (client_eof_ && client_->write_queue_size() == 0) {
    finish();
    return;
  }
  client_->start_read();  // read and drop until the client's EOF, so no reset eats the status
  timer_.start(kRejectLingerMs, [this] { finish(); });
}

void ServerTunnel::fail(TunnelFailure failure, std::string reason) {
  if (stage_ == Stage::done) return;
  summary_.failure = failure;
  summary_.reason = std::move(reason);
  finish();
}

void ServerTunnel::close(TunnelFailure failure, std::string reason) {
  if (stage_ == Stage::done) return;
  if ((stage_ == Stage::relaying || stage_ == Stage::fallback_relaying) && relay_) {
    if (summary_.reason.empty()) {
      summary_.failure = failure;
      summary_.reason = reason;
    }
    // A visitor's tunnel ended by the server (its control tunnel ended, its user revoked) is
    // an abort: the visitor is reset, never given a FIN it could take for the service's clean
    // end (docs/PROTOCOL.md 9.7). The done callback follows, then finish().
    if (role_ == ReverseRole::data) {
      relay_->abort_b(std::move(reason));
    } else {
      relay_->close(std::move(reason));
    }
    return;
  }
  fail(failure, std::move(reason));
}

void ServerTunnel::finish() {
  if (stage_ == Stage::done) return;
  stage_ = Stage::done;
  timer_.stop();
  auth_.reset();
  connect_.reset();
  if (client_) {
    // Not relaying (the relay owns the stream then): tell a QUIC climber why (stealth mode's
    // only answer; in reply mode the status and FIN are out, so this is the FIN if acked).
    const QuicAppError code =
        summary_.failure ? tunnel_abort_code(*summary_.failure) : QuicAppError::aborted;
    client_.release()->abort(static_cast<std::uint64_t>(code));
  }
  if (control_) {
    summary_.up = control_->bytes_in();
    summary_.down = control_->bytes_out();
    const QuicAppError code =
        summary_.failure ? tunnel_abort_code(*summary_.failure) : QuicAppError::aborted;
    control_->abort(static_cast<std::uint64_t>(code));
  }
  secure_wipe(held_);
  secure_wipe(seen_);
  secure_wipe(first_);
  if (relay_ && !relay_->finished()) relay_->close("closed");
  host_.tunnel_finished(*this);
}

std::pair<std::uint64_t, std::uint64_t> ServerTunnel::bytes() const noexcept {
  if (relay_ && (stage_ == Stage::relaying || stage_ == Stage::fallback_relaying)) {
    return {relay_->stats().bytes_a_to_b, relay_->stats().bytes_b_to_a};
  }
  if (control_ && stage_ == Stage::control) return {control_->bytes_in(), control_->bytes_out()};
  return {summary_.up, summary_.down};
}

std::string_view ServerTunnel::stage_name() const noexcept {
  switch (stage_) {
    case Stage::created:
    case Stage::handshake:
      return "handshake";
    case Stage::deciding:
      return "deciding";
    case Stage::connecting:
      return "connecting";
    case Stage::rejecting:
      return "rejecting";
    case Stage::relaying:
      return role_ == ReverseRole::data ? "visitor" : "relaying";
    case Stage::control:
      return "control";
    case Stage::pooled:
      return "pooled";
    case Stage::fallback_connecting:
    case Stage::fallback_relaying:
      return "fallback";
    case Stage::done:
      return "done";
  }
  return "done";
}

}  // namespace mtop
