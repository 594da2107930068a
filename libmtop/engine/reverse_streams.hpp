// ReverseStreams: the climber's end of QUIC visitors (docs/PROTOCOL.md 9.5). The server opens a
// stream per visitor on the connection that carries a control tunnel; this reads each one's
// visitor header and hands the stream to the reverse tunnel (ReverseClient) its TUNNEL names.
//
// Theory of operation
// - control_up(): a control tunnel is up on a QUIC connection: its TUNNEL is routed from now
//   on, and the connection lets the server open `grant` streams at once (the first control
//   tunnel on a connection raises the grant from 0; the QUIC layer gives a slot back whenever
//   a server stream closes). control_down(): the TUNNEL is refused from then on, and the last
//   control tunnel of a connection takes the grant back to 0 ("a climber without control
//   tunnels grants none").
// - accept(): a server-opened stream reads until its visitor header is complete (at most 44
//   bytes; bytes after it are kept for the service), then reading stops and the stream, the
//   header and those bytes go to the tunnel's Carry. A header that does not decode resets the
//   stream with PROTOCOL_ERROR; an unknown TUNNEL (its control tunnel ended) with REFUSED.
//   Streams still reading are bounded by the grant.
//
// Loop thread only. Destroying it resets the streams still reading their header.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "mtop/reverse_codec.hpp"
#include "mtop/stream.hpp"
#include "uv/poster.hpp"

namespace mtop {

namespace quic {
class ConnectionHandle;
}

class ReverseStreams {
 public:
  /// A visitor of the tunnel: its stream (reading stopped, no handler), its header, and the
  /// visitor's bytes read after the header.
  using Carry = std::function<void(io::StreamPtr stream, const VisitorHeader& header, Bytes held)>;

  /// Server streams granted per connection are at most this (and at most the climber's
  /// max_connections: each visitor is a local connection too).
  static constexpr std::uint64_t kMaxGrant = 1024;

  /// `grant`: how many visitor streams a connection with a control tunnel allows at once.
  ReverseStreams(uv_loop_t* loop, std::uint64_t grant);
  ~ReverseStreams();
  ReverseStreams(const ReverseStreams&) = delete;
  ReverseStreams& operator=(const ReverseStreams&) = delete;

  /// A stream the server opened (QuicClient::on_peer_stream).
  void accept(io::StreamPtr stream);
  /// Control tunnel `tunnel` is up on `control` (its stream, before the ControlLink takes it):
  /// its visitors go to `carry`. False (nothing done) when `control` is no QUIC stream.
  bool control_up(std::uint32_t tunnel, io::Stream& control, Carry carry);
  /// Control tunnel `tunnel` ended (no effect if it was not up).
  void control_down(std::uint32_t tunnel);

  /// Streams still reading their visitor header.
  std::size_t reading() const noexcept { return reading_.size(); }

 private:
  class HeaderReader;
  struct Route {
    Carry carry;
    std::shared_ptr<quic::ConnectionHandle> connection;
  };
  struct Granted {
    std::shared_ptr<quic::ConnectionHandle> connection;
    std::size_t controls = 0;
  };

  /// The entry of `connection`'s connection, or end().
  std::vector<Granted>::iterator granted(const quic::ConnectionHandle& connection);
  /// A header came in (or did not decode, `header` null): route the stream.
  void routed(HeaderReader* reader, io::StreamPtr stream, const VisitorHeader* header, Bytes held);

  std::uint64_t grant_;
  io::Poster reaper_;
  std::unordered_map<std::uint32_t, Route> routes_;
  std::vector<Granted> granted_;  ///< one per connection with control tunnels: a few
  std::unordered_map<HeaderReader*, std::unique_ptr<HeaderReader>> reading_;
};

}  // namespace mtop
