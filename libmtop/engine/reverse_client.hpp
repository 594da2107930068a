// ReverseClient: the climber's side of one reverse tunnel (-R, docs/PROTOCOL.md section 9).
//
// Theory of operation
//   connecting --stream--> requesting --Established--> published --control ends--> back-off
//        ^                     '--refused / closed / time-out-------------------------'  |
//        '-----------------------------------------(1 s, doubling to 60 s)---------------'
// - requesting: a TLS tunnel with the REVERSE request for the rule's bind (ClientHandshake)
//   under the handshake time-out. A refusal is logged once in words (not permitted, port in
//   use, ...) and retried after the back-off, like a lost server.
// - published: a ControlLink keeps the control tunnel alive. Over TLS it answers every OPEN
//   frame with a new data connection (DataConnection): a TLS tunnel whose first bytes are the
//   ATTACH message, which then waits for the visitor header. Over QUIC (a ReverseStreams
//   given, and the control tunnel a QUIC stream) the server opens a stream per visitor
//   instead: ReverseStreams reads its header and hands it here (carry). Either way the data
//   connection connects to the local service, writes the PROXY v2 header first when the rule
//   asks for it, and relays; one log line per visitor. A service that cannot be reached
//   aborts the data connection with CONNECT_FAILED (the server resets the visitor).
// - The port the server gave is asked for again on every reconnect (a rule with port 0 keeps
//   its port through a server's grace period). The back-off starts again at 1 s after a
//   success.
//
// Loop thread only. Destroying it closes the control tunnel and every data connection.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "engine/control_link.hpp"
#include "engine/retry_backoff.hpp"
#include "engine/reverse_streams.hpp"
#include "mtop/client_handshake.hpp"
#include "mtop/climber.hpp"
#include "mtop/log.hpp"
#include "mtop/stream.hpp"
#include "uv/poster.hpp"
#include "uv/timer.hpp"

namespace mtop {

class ReverseClient final : private io::Stream::Handler {
 public:
  static constexpr std::uint64_t kFirstRetryMs = 1'000;
  static constexpr std::uint64_t kMaxRetryMs = 60'000;

  /// `dialer`, `log` and `streams` outlive the client. `bind` must be an IP literal
  /// (parse_reverse_rule). `streams`: where the visitors of a control tunnel opened over QUIC
  /// come from (the dialer is the QUIC client that feeds it); null for TLS.
  ReverseClient(uv_loop_t* loop, ReverseRule rule, const ClimberOptions& options,
                std::string username, std::string password, io::StreamDialer& dialer,
                const Logger& log, ReverseStreams* streams = nullptr);
  ~ReverseClient() override;
  ReverseClient(const ReverseClient&) = delete;
  ReverseClient& operator=(const ReverseClient&) = delete;

  void start();
  /// Closes the control tunnel and the data connections waiting; visitors being relayed end
  /// with it too. No reconnect follows.
  void stop();

  /// The granted port, whether it is published now, the last refusal, the visitors.
  ReverseState state() const noexcept;

 private:
  class DataConnection;

  void connect();
  void on_open(io::StreamPtr stream, const std::string& error);
  void on_read(ByteView data) override;
  void on_eof() override;
  void on_error(std::string_view reason) override;
  void on_drain() override {}
  void drive();
  void published(const ReverseGrant& grant);
  void retry(const std::string& why);
  void open_data(const AttachToken& token);
  /// QUIC: a visitor's stream, its header read by ReverseStreams.
  void carry(io::StreamPtr stream, const VisitorHeader& header, Bytes held);
  /// The control tunnel is gone: its TUNNEL is no longer routed here.
  void unroute();
  void data_done(DataConnection* d);
  std::string bind_text() const;

  uv_loop_t* loop_;
  ReverseRule rule_;
  const ClimberOptions& options_;
  std::string username_;
  std::string password_;
  io::StreamDialer& dialer_;
  const Logger& log_;
  ReverseStreams* streams_;
  bool routed_ = false;     ///< the control tunnel's TUNNEL is routed here by streams_
  std::uint16_t port_ = 0;  ///< given by the server; asked for again on reconnect
  bool granted_ = false;    ///< the server gave port_ at least once
  Status refusal_ = Status::success;  ///< the last refusal since the last grant
  std::uint32_t tunnel_ = 0;
  RetryBackoff backoff_{kFirstRetryMs, kMaxRetryMs};
  bool stopped_ = true;
  std::optional<ClientHandshake> handshake_;
  io::StreamPtr stream_;  ///< while requesting
  std::unique_ptr<ControlLink> control_;
  std::unique_ptr<ControlLink> ended_control_;  ///< freed from the loop, not in its callback
  io::Timer timer_;                             ///< handshake time-out, then the back-off
  io::Poster reaper_;
  std::unordered_map<DataConnection*, std::unique_ptr<DataConnection>> data_;
  std::uint64_t visitors_total_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mtop
