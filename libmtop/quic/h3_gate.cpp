#include "quic/h3_gate.hpp"

#include <utility>
#include <vector>

#include "mtop/codec.hpp"
#include "quic/app_error.hpp"
#include "quic/connection.hpp"
#include "quic/quic_stream.hpp"

namespace mtop::quic {

/// A tunnel's registration for recall; unregisters when dropped (the gate may be gone).
class H3Gate::WatchToken final : public io::StreamFallback::Watch {
 public:
  WatchToken(std::weak_ptr<H3Gate> gate, std::uint64_t id) : gate_(std::move(gate)), id_(id) {}
  ~WatchToken() override {
    if (auto g = gate_.lock()) g->watchers_.erase(id_);
  }
  WatchToken(const WatchToken&) = delete;
  WatchToken& operator=(const WatchToken&) = delete;

 private:
  std::weak_ptr<H3Gate> gate_;
  std::uint64_t id_;
};

H3Gate::H3Gate(uv_loop_t* loop, Connection& conn, std::optional<h3::SiteOptions> site,
               TunnelCallback on_tunnel)
    : loop_(loop), conn_(&conn), site_(std::move(site)), on_tunnel_(std::move(on_tunnel)) {}

H3Gate::~H3Gate() = default;

void H3Gate::detach() {
  conn_ = nullptr;
  watchers_.clear();
  if (session_) session_->detach();
  session_.reset();
}

void H3Gate::shutdown() {
  shutting_down_ = true;
  if (session_) session_->shutdown();
}

void H3Gate::refuse() {
  // No reason phrase: nothing on the wire says what this server is.
  if (conn_) conn_->close(kRefused, "");
}

void H3Gate::on_stream(io::StreamPtr stream) {
  if (!stream || !conn_) return;
  const std::int64_t id = static_cast<const QuicStream*>(stream.get())->id();
  if (kind_ == Kind::http3) {
    if (session_) session_->add_stream(std::move(stream), {}, false);
    return;
  }
  if (!ngtcp2_is_bidi_stream(id)) {
    if (kind_ == Kind::mtop || !site_) {
      refuse();  // a unidirectional stream on an MTop connection, or no site
      return;    // dropping the stream resets it
    }
    become_http3();
    if (session_) session_->add_stream(std::move(stream), {}, false);
    return;
  }
  if (on_tunnel_) {
    on_tunnel_(std::move(stream), shared_from_this());
  } else {
    stream.release()->abort(kRefused);
  }
}

bool H3Gate::open() const {
  return conn_ && site_ && kind_ != Kind::mtop;
}

void H3Gate::passed() {
  if (kind_ == Kind::undecided) kind_ = Kind::mtop;
}

void H3Gate::take(io::StreamPtr stream, Bytes kept, bool eof) {
  if (kind_ == Kind::undecided && open()) become_http3();
  if (kind_ == Kind::http3 && session_) {
    session_->add_stream(std::move(stream), std::move(kept), eof);
    return;
  }
  secure_wipe(kept);
  if (stream) stream.release()->abort(kRefused);
}

std::unique_ptr<io::StreamFallback::Watch> H3Gate::watch(std::function<void()> recall) {
  const std::uint64_t id = next_watch_++;
  if (kind_ != Kind::mtop) watchers_.emplace(id, std::move(recall));
  return std::make_unique<WatchToken>(weak_from_this(), id);
}

void H3Gate::become_http3() {
  if (kind_ != Kind::undecided || !conn_ || !site_) return;
  kind_ = Kind::http3;
  session_ = std::make_unique<h3::H3Session>(loop_, *conn_, *site_);
  if (!session_->start()) return;  // it closed the connection
  if (shutting_down_) session_->shutdown();
  // Every tunnel still in its handshake on this connection is an HTTP/3 request after all.
  auto recalls = std::exchange(watchers_, {});
  for (auto& [id, recall] : recalls) {
    if (recall) recall();
  }
}

}  // namespace mtop::quic
