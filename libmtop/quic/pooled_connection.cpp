#include "quic/pooled_connection.hpp"

#include <cstring>

namespace mtop::quic {

Result<std::unique_ptr<PooledConnection>> PooledConnection::start(
    uv_loop_t* loop, Host& host, const ClientTlsContext& tls, const ConnectionLimits& limits,
    ByteView ticket, std::function<void(ByteView)> on_ticket, const sockaddr* peer) {
  std::unique_ptr<PooledConnection> m(new PooledConnection(host));
  std::memcpy(&m->peer_, peer, address_length(peer));
  sockaddr_storage any{};
  any.ss_family = peer->sa_family;
  PooledConnection* self = m.get();
  auto socket = UdpSocket::open(
      loop, reinterpret_cast<const sockaddr*>(&any), peer,
      [self](const sockaddr* from, ByteView data) {
        if (self->conn_) {
          self->conn_->receive(reinterpret_cast<const sockaddr*>(&self->socket_->local_address()),
                               from, data);
        }
      },
      [self] { self->wake(); });  // the socket takes packets again
  if (!socket) return socket.failure();
  m->socket_ = std::move(*socket);
  m->socket_->set_unreachable_handler([self](int uv_error) {
    self->unreachable_ = uv_error;  // acted on by the client's check: this may run in a flush
    self->host_.wake();
  });
  ConnectionOwner& owner = *m;
  m->conn_ = std::make_unique<Connection>(owner, loop, limits);
  if (auto r = m->conn_->start_client(
          tls, ticket, std::move(on_ticket),
          reinterpret_cast<const sockaddr*>(&m->socket_->local_address()), peer);
      !r) {
    return r.failure();
  }
  return m;
}

PooledConnection::~PooledConnection() {
  conn_.reset();  // before the socket its callbacks use
  socket_.reset();
}

void PooledConnection::send_packets(const sockaddr*, const std::uint8_t* data, std::size_t len,
                                    std::size_t segment) {
  if (socket_) socket_->send(nullptr, data, len, segment);
}

bool PooledConnection::send_blocked() const {
  return socket_ && socket_->blocked();
}

}  // namespace mtop::quic
