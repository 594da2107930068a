#include "quic/connection_handle.hpp"

#include <ngtcp2/ngtcp2.h>

#include "quic/connection.hpp"
#include "quic/quic_stream.hpp"

namespace mtop::quic {

std::shared_ptr<ConnectionHandle> ConnectionHandle::of(io::Stream& stream) {
  auto* qs = dynamic_cast<QuicStream*>(&stream);
  if (!qs || !qs->connection()) return nullptr;
  return qs->connection()->handle();
}

bool ConnectionHandle::usable() const {
  Connection* c = live();
  return c && c->usable() && c->handshake_done();
}

Result<io::StreamPtr> ConnectionHandle::open_stream() {
  if (!usable()) return Failure{Errc::invalid_state, "quic: the connection has ended"};
  io::StreamPtr s = conn_->open_stream();
  if (!s) return Failure{Errc::limit_reached, "quic: no stream credit from the peer"};
  return s;
}

std::uint64_t ConnectionHandle::streams_left() const {
  return usable() ? ngtcp2_conn_get_streams_bidi_left(conn_->raw()) : 0;
}

void ConnectionHandle::on_credit(std::function<void()> cb) {
  on_credit_ = std::move(cb);
  Connection* c = live();
  if (on_credit_ && c && !watching_) {
    watching_ = true;
    c->watch_credit(weak_from_this());
  }
}

void ConnectionHandle::credit_arrived() {
  if (!on_credit_) return;
  auto keep = shared_from_this();  // the callback may drop the caller's last reference
  auto cb = on_credit_;            // and may replace the callback
  cb();
}

void ConnectionHandle::set_peer_stream_grant(std::uint64_t n) {
  if (Connection* c = live()) c->set_peer_stream_grant(n);
}

std::uint64_t ConnectionHandle::peer_stream_grant() const {
  Connection* c = live();
  return c ? c->peer_stream_grant() : 0;
}

std::uint64_t ConnectionHandle::peer_streams_open() const {
  Connection* c = live();
  return c ? c->peer_streams_open() : 0;
}

}  // namespace mtop::quic
