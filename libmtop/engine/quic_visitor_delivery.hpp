// QuicVisitorDelivery: the VisitorDelivery of a control tunnel that came over QUIC
// (docs/PROTOCOL.md 9.5): each visitor rides on a stream the server opens on the climber's
// QUIC connection, so no climber round trip comes before its first bytes.
//
// Theory of operation
// - deliver(): the visitor queues, then every queued visitor (oldest first) gets a stream at
//   once while the climber's stream credit lasts: the stream becomes a data tunnel of the
//   publishing user (MakeTunnel: the hub asks the engine, which counts it among the user's
//   tunnels for quota, rate and revoke), and the tunnel writes the visitor header and relays.
// - No credit (every stream the climber allows is carrying a visitor): the visitor waits; the
//   connection's on_credit wakes the queue when the climber gives slots back. The queue is
//   bounded by the port's visitor limit (visitors() counts the waiting too) and by time: tick()
//   resets visitors that waited wait_ms (the handshake time-out), as the TLS pool does.
// - The connection gone (open_stream fails with invalid_state): waiting visitors are reset;
//   the control tunnel ends with its connection and close() follows.
// - close(): waiting visitors are reset, carried ones closed unless the server drains.
//
// Loop thread only. The engine owns the data tunnels; the delivery holds them by pointer until
// tunnel_ended().
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>

#include "engine/visitor_delivery.hpp"

namespace mtop {

namespace quic {
class ConnectionHandle;
}

class QuicVisitorDelivery final : public VisitorDelivery {
 public:
  /// Makes a data tunnel, pooled and owned by the engine, of `stream` (a stream just opened to
  /// the climber); null when the server takes no more tunnels (it has reset the stream).
  using MakeTunnel = std::function<ServerTunnel*(io::StreamPtr stream)>;

  /// `connection`: the connection of the control tunnel's stream (not null). A visitor waits
  /// at most `wait_ms` for stream credit.
  QuicVisitorDelivery(std::shared_ptr<quic::ConnectionHandle> connection, MakeTunnel make,
                      std::uint64_t wait_ms);
  ~QuicVisitorDelivery() override;
  QuicVisitorDelivery(const QuicVisitorDelivery&) = delete;
  QuicVisitorDelivery& operator=(const QuicVisitorDelivery&) = delete;

  void start() override {}  // nothing to ask for ahead: a stream is opened per visitor
  void deliver(Visitor v) override;
  std::size_t visitors() const override { return waiting_.size() + carrying_.size(); }
  void tick(std::uint64_t now_ms) override;
  void tunnel_ended(ServerTunnel& t) override { carrying_.erase(&t); }
  void close(const std::string& reason, bool keep_carried) override;

  /// Visitors waiting for stream credit right now.
  std::size_t waiting() const noexcept { return waiting_.size(); }

 private:
  /// Opens streams for waiting visitors while the credit lasts.
  void serve_waiting();

  std::shared_ptr<quic::ConnectionHandle> connection_;
  MakeTunnel make_;
  std::uint64_t wait_ms_;
  std::deque<Visitor> waiting_;
  std::unordered_set<ServerTunnel*> carrying_;
  bool closed_ = false;
  bool serving_ = false;  ///< inside serve_waiting(): a re-entrant call returns at once
};

/// The delivery for a control tunnel whose stream (`control.client_stream()`, before the
/// response) is a QUIC stream on an established connection; null otherwise (TLS, a test pair,
/// a connection already closing, or QUIC not built in).
std::unique_ptr<VisitorDelivery> make_quic_delivery(ServerTunnel& control,
                                                    QuicVisitorDelivery::MakeTunnel make,
                                                    std::uint64_t wait_ms);

}  // namespace mtop
