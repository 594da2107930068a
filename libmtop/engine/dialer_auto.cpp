#include "engine/dialer_auto.hpp"

#include <utility>

namespace mtop {

AutoDialer::AutoDialer(uv_loop_t* loop, std::unique_ptr<io::StreamDialer> quic,
                       std::unique_ptr<io::StreamDialer> tls, AutoDialerOptions options,
                       Logger log)
    : loop_(loop),
      quic_(std::move(quic)),
      tls_(std::move(tls)),
      options_(options),
      log_(std::move(log)) {}

AutoDialer::~AutoDialer() {
  // Callbacks still owed by the inner dialers check `alive_` and do nothing.
  alive_.reset();
  attempts_.clear();
}

bool AutoDialer::using_tls() const noexcept {
  return tls_chosen_ && uv_now(loop_) < tls_until_ms_;
}

void AutoDialer::open(OpenCallback cb) {
  if (using_tls()) {
    open_tls(std::move(cb));
    return;
  }
  if (tls_chosen_) {
    tls_chosen_ = false;
    log_.info("transport auto: trying QUIC again");
  }
  ++quic_opens_;
  attempts_.emplace_back(loop_);
  const AttemptIt it = std::prev(attempts_.end());
  it->cb = std::move(cb);
  std::weak_ptr<bool> alive = alive_;
  it->timer.start(options_.fallback_ms, [this, it] {
    fall_back(it, "no QUIC stream within " + std::to_string(options_.fallback_ms) + " ms");
  });
  quic_->open([this, it, alive](io::StreamPtr stream, const std::string& error) {
    if (alive.expired()) return;
    on_quic(it, std::move(stream), error);
  });
}

void AutoDialer::on_quic(AttemptIt it, io::StreamPtr stream, const std::string& error) {
  if (it->fell_back) {
    attempts_.erase(it);  // the TLS open answers this tunnel; a late stream is closed here
    return;
  }
  if (stream) {
    // Said once per choice, so an operator can tell from the log which transport carries the
    // tunnels (the fallback to TLS is logged in fall_back()).
    if (!quic_reported_) {
      quic_reported_ = true;
      log_.info("transport auto: using QUIC");
    }
    OpenCallback cb = std::move(it->cb);
    attempts_.erase(it);
    cb(std::move(stream), {});
    return;
  }
  if (io::is_at_limit_error(error)) {
    // QUIC works but its pool is full: only this tunnel goes over TLS, and QUIC stays the
    // choice for the next ones (a stream may have ended by then).
    log_.debug("transport auto: " + error + "; this tunnel goes over TLS");
    it->fell_back = true;
    it->timer.stop();
    OpenCallback cb = std::move(it->cb);
    attempts_.erase(it);
    open_tls(std::move(cb));
    return;
  }
  fall_back(it, "QUIC failed: " + error);
  attempts_.erase(it);
}

void AutoDialer::fall_back(AttemptIt it, const std::string& why) {
  if (it->fell_back) return;
  it->fell_back = true;
  it->timer.stop();
  if (!using_tls()) {
    log_.warn("transport auto: " + why + "; using TLS for the next " +
              std::to_string(options_.remember_ms / 1000) + " s");
  }
  tls_chosen_ = true;
  quic_reported_ = false;
  tls_until_ms_ = uv_now(loop_) + options_.remember_ms;
  open_tls(std::move(it->cb));
}

void AutoDialer::open_tls(OpenCallback cb) {
  ++tls_opens_;
  std::weak_ptr<bool> alive = alive_;
  tls_->open([alive, cb = std::move(cb)](io::StreamPtr stream, std::string error) {
    if (alive.expired()) return;
    cb(std::move(stream), std::move(error));
  });
}

}  // namespace mtop
