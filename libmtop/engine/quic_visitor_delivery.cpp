#include "engine/quic_visitor_delivery.hpp"

#include <utility>
#include <vector>

#include "engine/tunnel_session.hpp"
#ifdef MTOP_HAVE_QUIC
#include "quic/connection_handle.hpp"
#endif

namespace mtop {

#ifdef MTOP_HAVE_QUIC

QuicVisitorDelivery::QuicVisitorDelivery(std::shared_ptr<quic::ConnectionHandle> connection,
                                         MakeTunnel make, std::uint64_t wait_ms)
    : connection_(std::move(connection)), make_(std::move(make)), wait_ms_(wait_ms) {
  // Runs on a later loop turn whenever the climber gives stream slots back.
  connection_->on_credit([this] { serve_waiting(); });
}

QuicVisitorDelivery::~QuicVisitorDelivery() {
  connection_->on_credit({});
  // The engine destroys its tunnels itself; waiting visitors close with their streams.
}

void QuicVisitorDelivery::deliver(Visitor v) {
  if (closed_) return;  // `v` closes here
  waiting_.push_back(std::move(v));
  serve_waiting();
}

void QuicVisitorDelivery::serve_waiting() {
  if (serving_) return;
  serving_ = true;
  while (!closed_ && !waiting_.empty()) {
    auto stream = connection_->open_stream();
    if (!stream) {
      // limit_reached: wait for on_credit. Anything else: the connection has gone, and the
      // control tunnel ends with it; nobody can carry these visitors.
      if (stream.error() != Errc::limit_reached) waiting_.clear();
      break;
    }
    Visitor v = std::move(waiting_.front());
    waiting_.pop_front();
    ServerTunnel* t = make_(std::move(*stream));
    if (!t) continue;     // the server is full: `v` is reset here
    carrying_.insert(t);  // before the relay starts: its end calls tunnel_ended()
    t->attach_visitor(std::move(v.stream), v.header, std::move(v.name));
  }
  serving_ = false;
}

void QuicVisitorDelivery::tick(std::uint64_t now_ms) {
  // Visitors waited for stream credit as long as a handshake may take: reset them.
  while (!waiting_.empty() && now_ms - waiting_.front().arrived_ms >= wait_ms_) {
    waiting_.pop_front();  // the visitor's stream closes here
  }
}

void QuicVisitorDelivery::close(const std::string& reason, bool keep_carried) {
  if (closed_) return;
  closed_ = true;
  connection_->on_credit({});
  waiting_.clear();  // reset: their streams close
  if (keep_carried) return;
  // Closing a tunnel calls back into tunnel_ended: work on a copy.
  const std::vector<ServerTunnel*> tunnels(carrying_.begin(), carrying_.end());
  carrying_.clear();
  for (ServerTunnel* t : tunnels) t->close(TunnelFailure::revoked, reason);
}

std::unique_ptr<VisitorDelivery> make_quic_delivery(ServerTunnel& control,
                                                    QuicVisitorDelivery::MakeTunnel make,
                                                    std::uint64_t wait_ms) {
  io::Stream* stream = control.client_stream();
  auto connection = stream ? quic::ConnectionHandle::of(*stream) : nullptr;
  if (!connection || !connection->usable()) return nullptr;
  return std::make_unique<QuicVisitorDelivery>(std::move(connection), std::move(make), wait_ms);
}

#else  // QUIC not built in: no stream can be a QUIC stream.

std::unique_ptr<VisitorDelivery> make_quic_delivery(ServerTunnel&, QuicVisitorDelivery::MakeTunnel,
                                                    std::uint64_t) {
  return nullptr;
}

#endif

}  // namespace mtop
