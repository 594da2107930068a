#include "engine/climber_tunnel.hpp"

#include <cstdio>
#include <utility>
#include <variant>

#include "mtop/codec.hpp"

namespace mtop {

namespace {

std::string_view status_name(Status s) {
  switch (s) {
    case Status::success:
      return "success";
    case Status::version_not_supported:
      return "version_not_supported";
    case Status::auth_failed:
      return "auth_failed";
    case Status::connect_failed:
      return "connect_failed";
    case Status::not_permitted:  // the REVERSE statuses: a CONNECT never gets them
      return "not_permitted";
    case Status::port_in_use:
      return "port_in_use";
    case Status::bad_request:
      return "bad_request";
  }
  return "unknown status";
}

}  // namespace

// --- TunnelOpen --------------------------------------------------------------------------------

TunnelOpen::TunnelOpen(ClimberShared& shared, Address target, DoneCallback done)
    : shared_(shared), target_(std::move(target)), done_(std::move(done)), timer_(shared.loop) {}

TunnelOpen::~TunnelOpen() = default;

void TunnelOpen::start() {
  AuthMessage msg;
  msg.username = shared_.username;
  msg.password = shared_.password;
  msg.target = target_;
  auto hs = ClientHandshake::create(msg);
  msg.wipe_password();
  if (!hs) {
    fail(Errc::invalid_argument,
         "target " + target_.to_string() + ": " + std::string(errc_message(hs.error())));
    return;
  }
  handshake_.emplace(std::move(*hs));
  phase_ = Phase::dialing;
  timer_.start(shared_.options.handshake_timeout_ms, [this] {
    fail(Errc::tunnel_failed, "tunnel set-up timed out (" +
                                  std::to_string(shared_.options.handshake_timeout_ms) + " ms)");
  });
  std::weak_ptr<bool> alive = alive_;
  shared_.dialer->open([this, alive](io::StreamPtr stream, const std::string& error) {
    if (alive.expired()) return;  // gone; dropping `stream` closes it
    on_open(std::move(stream), error);
  });
}

void TunnelOpen::on_open(io::StreamPtr stream, const std::string& error) {
  if (phase_ != Phase::dialing) return;  // timed out meanwhile
  if (!stream) {
    fail(Errc::tunnel_failed, "server unreachable: " + error);
    return;
  }
  tunnel_ = std::move(stream);
  tunnel_->set_handler(this);
  const ByteView out = handshake_->pending_output();
  tunnel_->write(out);
  handshake_->consume_output(out.size());
  phase_ = Phase::awaiting_response;
  tunnel_->start_read();
}

void TunnelOpen::on_read(ByteView data) {
  if (phase_ != Phase::awaiting_response) return;
  auto fed = handshake_->feed(data);
  if (!fed) {
    fail(Errc::tunnel_failed, non_mtop_answer(fed.error()));
    return;
  }
  drive();
}

void TunnelOpen::on_eof() {
  if (phase_ != Phase::awaiting_response) return;
  (void)handshake_->feed_eof();
  drive();
}

void TunnelOpen::on_error(std::string_view reason) {
  if (phase_ != Phase::awaiting_response) return;
  // A stealth refusal over TLS is the server dropping the TCP connection without close_notify:
  // before any response that is the same answer as a clean close without a status.
  if (reason.rfind("truncated", 0) == 0) {
    on_eof();
    return;
  }
  // A QUIC stream reset before any response is the server's stealth-mode refusal; its reason
  // names the code ("reset by peer: 0x3 (REFUSED)", docs/PROTOCOL.md 6.2).
  if (reason.rfind("reset by peer: ", 0) == 0) {
    fail(Errc::tunnel_refused, "server refused the tunnel (stealth mode): " + std::string(reason));
  } else {
    fail(Errc::tunnel_failed, "tunnel: " + std::string(reason));
  }
}

void TunnelOpen::drive() {
  Bytes payload;
  bool established = false;
  for (;;) {
    ClientEvent ev = handshake_->next_event();
    if (std::holds_alternative<event::NeedData>(ev) ||
        std::holds_alternative<event::EndOfInput>(ev)) {
      break;
    }
    if (std::holds_alternative<event::Established>(ev)) {
      established = true;
    } else if (auto* p = std::get_if<event::Payload>(&ev)) {
      payload.insert(payload.end(), p->data.begin(), p->data.end());
    } else if (auto* r = std::get_if<event::Rejected>(&ev)) {
      fail(Errc::tunnel_refused, "server refused: " + std::string(status_name(r->status)));
      return;
    } else if (std::holds_alternative<event::ClosedWithoutStatus>(ev)) {
      fail(Errc::tunnel_refused,
           "server closed without a status (wrong credentials in stealth mode?)");
      return;
    } else if (auto* e = std::get_if<event::Error>(&ev)) {
      fail(Errc::tunnel_failed, non_mtop_answer(e->code));
      return;
    }
  }
  if (!established) return;
  phase_ = Phase::done;
  timer_.stop();
  // What follows is the application's: it starts reading when it is ready for it.
  tunnel_->stop_read();
  handshake_.reset();  // wipes what is left of the auth message
  auto done = std::move(done_);
  done(Opened{std::move(tunnel_), std::move(payload)});  // last: may free *this later
}

// By value on purpose: tunnel_ and handshake_ are reset first, and a reason borrowed from
// either would dangle.
void TunnelOpen::fail(Errc code,
                      std::string message) {  // NOLINT(performance-unnecessary-value-param)
  phase_ = Phase::done;
  timer_.stop();
  tunnel_.reset();
  handshake_.reset();
  auto done = std::move(done_);
  done(Failure{code, std::move(message)});
}

// --- TunnelStream ------------------------------------------------------------------------------

TunnelStream::TunnelStream(uv_loop_t* loop, TunnelOpen::Opened opened, std::string target)
    : loop_(loop),
      inner_(std::move(opened.stream)),
      prefix_(std::move(opened.payload)),
      poster_(loop),
      target_(std::move(target)),
      started_ms_(uv_now(loop)) {
  peer_ = inner_->peer_name();
  inner_->set_handler(&forward_);
}

TunnelStream* TunnelStream::wrap(uv_loop_t* loop, TunnelOpen::Opened opened, std::string target) {
  return new TunnelStream(loop, std::move(opened), std::move(target));
}

void TunnelStream::attach(TunnelLedger& ledger) {
  ledger_ = &ledger;
  ledger.live.insert(this);
  // The payload that came with the response is the first download.
  ledger.shared.stats.bytes_down += prefix_.size();
  down_ += prefix_.size();
}

void TunnelStream::detach(std::string_view reason) {
  leave_ledger(reason);
  inner_.reset();
  prefix_.clear();
  if (error_.empty()) report_later(std::string(reason));  // else on_error was reported already
}

void TunnelStream::leave_ledger(std::string_view reason) {
  if (!ledger_) return;
  TunnelLedger* ledger = std::exchange(ledger_, nullptr);
  ledger->live.erase(this);
  if (ledger->shared.log.enabled(LogLevel::info)) ledger->shared.log.info(summary(reason));
  if (ledger->on_leave) ledger->on_leave();
}

std::string TunnelStream::summary(std::string_view reason) const {
  const double secs = static_cast<double>(uv_now(loop_) - started_ms_) / 1000.0;
  char tail[96];
  std::snprintf(tail, sizeof tail,
                " up=%llu down=%llu time=%.3fs: ", static_cast<unsigned long long>(up_),
                static_cast<unsigned long long>(down_), secs);
  std::string line = "tunnel api -> " + target_ + tail;
  line += reason;
  return line;
}

void TunnelStream::set_handler(Handler* handler) {
  handler_ = handler;
  if (handler_ && pending_error_) report_later(*pending_error_);
}

void TunnelStream::start_read() {
  reading_ = true;
  if (!prefix_.empty()) {
    // The raw stream starts once the payload it followed has been delivered.
    if (!prefix_posted_) {
      prefix_posted_ = true;
      poster_.post([this] { deliver_prefix(); });
    }
    return;
  }
  if (inner_) inner_->start_read();
}

void TunnelStream::deliver_prefix() {
  prefix_posted_ = false;
  if (!reading_ || prefix_.empty()) return;
  const Bytes prefix = std::move(prefix_);
  prefix_.clear();
  // Safe before the handler call: the raw stream never reports inside start_read().
  if (inner_) inner_->start_read();
  if (handler_) handler_->on_read(prefix);  // last: the handler may close us
}

void TunnelStream::stop_read() {
  reading_ = false;
  if (inner_) inner_->stop_read();
}

void TunnelStream::write(ByteView data) {
  if (!inner_) return;
  up_ += data.size();
  if (ledger_) ledger_->shared.stats.bytes_up += data.size();
  inner_->write(data);
}

std::size_t TunnelStream::write_queue_size() const {
  return inner_ ? inner_->write_queue_size() : 0;
}

void TunnelStream::shutdown() {
  if (inner_) inner_->shutdown();
}

void TunnelStream::close() {
  leave_ledger(error_.empty() ? "closed" : std::string_view(error_));
  inner_.reset();
  delete this;  // the poster's pending calls are discarded with it
}

void TunnelStream::abort(std::uint64_t app_error) {
  leave_ledger(error_.empty() ? "aborted" : std::string_view(error_));
  if (inner_) inner_.release()->abort(app_error);  // abort() frees it, like close()
  delete this;
}

void TunnelStream::on_inner_read(ByteView data) {
  down_ += data.size();
  if (ledger_) ledger_->shared.stats.bytes_down += data.size();
  if (handler_) handler_->on_read(data);
}

void TunnelStream::on_inner_eof() {
  if (handler_) handler_->on_eof();
}

void TunnelStream::on_inner_error(std::string_view reason) {
  error_ = "tunnel: " + std::string(reason);
  if (handler_) {
    handler_->on_error(reason);
  } else {
    pending_error_ = std::string(reason);
  }
}

void TunnelStream::on_inner_drain() {
  if (handler_) handler_->on_drain();
}

void TunnelStream::report_later(std::string reason) {
  if (error_.empty()) error_ = reason;
  pending_error_ = std::move(reason);
  if (!handler_) return;  // set_handler() posts it
  poster_.post([this] {
    if (!handler_ || !pending_error_) return;
    const std::string r = std::move(*pending_error_);
    pending_error_.reset();
    handler_->on_error(r);
  });
}

}  // namespace mtop
