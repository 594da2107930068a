// H3Gate: what one QUIC connection that negotiated ALPN "h3" is: a climber's (MTop) or a web
// client's (HTTP/3). docs/PROTOCOL.md section 10 is the normative text.
//
// Theory of operation. The gate starts undecided and sees every client stream of its
// connection (on_stream):
// - a unidirectional stream: HTTP/3 at once when there is a site; otherwise, or on an MTop
//   connection, the connection is closed (REFUSED);
// - a bidirectional stream on an undecided or MTop connection is a tunnel: it goes to the
//   engine (`on_tunnel`) with the gate as its io::StreamFallback. The tunnel reports a right
//   password (passed(): MTop) or hands its stream over after a failure (take(): HTTP/3, the
//   kept bytes replayed into nghttp3);
// - on an HTTP/3 connection every stream goes to the H3Session.
// Becoming HTTP/3 recalls every tunnel still waiting on the connection (their watch()), which
// hand their streams over at once. The gate lives as long as anybody holds it (tunnels do);
// detach() when the connection goes away turns it inert.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "quic/h3_request.hpp"
#include "quic/h3_session.hpp"
#include "uv/stream_fallback.hpp"

namespace mtop::quic {

class Connection;

class H3Gate final : public io::StreamFallback, public std::enable_shared_from_this<H3Gate> {
 public:
  using TunnelCallback = std::function<void(io::StreamPtr, std::shared_ptr<io::StreamFallback>)>;

  /// `site`: the HTTP/3 site (none: stealth, docs/PROTOCOL.md section 10); `on_tunnel`
  /// receives the bidirectional streams that may be tunnels.
  H3Gate(uv_loop_t* loop, Connection& conn, std::optional<h3::SiteOptions> site,
         TunnelCallback on_tunnel);
  ~H3Gate() override;
  H3Gate(const H3Gate&) = delete;
  H3Gate& operator=(const H3Gate&) = delete;

  /// A stream the client opened on the connection.
  void on_stream(io::StreamPtr stream);
  /// The connection is going away: drop the HTTP/3 session, refuse what comes later.
  void detach();
  /// The server stops (a drain): an HTTP/3 session, now or later, shuts down gracefully
  /// (H3Session::shutdown: GOAWAY, its requests finish, then the connection closes).
  void shutdown();
  /// The connection is HTTP/3 (its new streams belong to the session, also while stopping).
  bool http3() const noexcept { return kind_ == Kind::http3; }
  /// An HTTP/3 session that has not closed its connection yet.
  bool serving() const noexcept { return conn_ && session_ && !session_->ended(); }

  // io::StreamFallback
  bool open() const override;
  void passed() override;
  void take(io::StreamPtr stream, Bytes kept, bool eof) override;
  std::unique_ptr<Watch> watch(std::function<void()> recall) override;

 private:
  enum class Kind { undecided, mtop, http3 };
  class WatchToken;

  void become_http3();
  void refuse();

  uv_loop_t* loop_;
  Connection* conn_;
  std::optional<h3::SiteOptions> site_;
  TunnelCallback on_tunnel_;
  Kind kind_ = Kind::undecided;
  std::unique_ptr<h3::H3Session> session_;
  std::map<std::uint64_t, std::function<void()>> watchers_;
  std::uint64_t next_watch_ = 1;
  bool shutting_down_ = false;
};

}  // namespace mtop::quic
