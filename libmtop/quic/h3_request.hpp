// H3Request: one HTTP/3 request of the QUIC port's site, forwarded to the fallback backend over
// HTTP/1.1 on a TCP connection of its own (docs/PROTOCOL.md section 10).
//
// Theory of operation. The session feeds it the request (fields, body bytes, end); once the
// fields are complete it connects to the backend and sends the head (h3_http1.hpp) and the
// body, chunked when the client gave no content-length and the stream did not end right after
// its fields (a stream that ends without a body gets a head without one). The backend's response
// goes through Http1ResponseParser: the final head becomes the HTTP/3 response
// (RequestSink::respond), the decoded body waits in `body_` until nghttp3 takes it (read_data) and
// acknowledges it (acked). Bounds: at most kMaxBody response bytes are held (the backend is not
// read beyond it), and the client's request body is not read while the backend's write queue is
// above kMaxBody. A backend that cannot be reached or answers no parsable head gives 502; a body
// cut short resets the request stream. A backend that stays silent for `backend_timeout_ms` while
// the request waits on it (no byte either way; not while the client holds the response back)
// gives 504, or resets the stream once the response head was sent, and its connection is
// closed at once.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mtop/bytes.hpp"
#include "mtop/stream.hpp"
#include "quic/h3_http1.hpp"
#include "uv/connector.hpp"
#include "uv/timer.hpp"

namespace mtop::quic::h3 {

/// Where the site's requests go.
struct SiteOptions {
  std::string backend_host;  ///< the fallback backend (docs/CONFIG.md `fallback.backend`)
  std::uint16_t backend_port = 0;
  std::uint64_t connect_timeout_ms = 10'000;
  /// Silence of a connected backend after which the request gives up (docs/CONFIG.md
  /// `timeouts.idle`, as for the TLS port's fallback relay).
  std::uint64_t backend_timeout_ms = 300'000;
};

/// What a request needs from its HTTP/3 session; every call on the loop's thread.
class RequestSink {
 public:
  virtual ~RequestSink() = default;
  /// Submits the response head; `body`: a body follows through read_body().
  virtual void respond(std::int64_t id, int status, const std::vector<Field>& fields,
                       bool body) = 0;
  /// More body (or its end) is ready for a stream whose read_body() said "would block".
  virtual void resume(std::int64_t id) = 0;
  /// Resets the request stream (a body cut short).
  virtual void abort(std::int64_t id, std::uint64_t h3_error) = 0;
  /// Stops or resumes reading the client's stream (request body back-pressure).
  virtual void read_client(std::int64_t id, bool on) = 0;
};

class H3Request final : private io::Stream::Handler {
 public:
  /// Response bytes held at most, and request bytes queued towards the backend at most.
  static constexpr std::size_t kMaxBody = 256 * 1024;

  H3Request(uv_loop_t* loop, RequestSink& sink, std::int64_t id, const SiteOptions& site);
  ~H3Request() override;
  H3Request(const H3Request&) = delete;
  H3Request& operator=(const H3Request&) = delete;

  /// One request field (pseudo-fields included), in order.
  void field(std::string_view name, std::string_view value);
  /// The fields are complete; `fin`: no body follows.
  void fields_done(bool fin);
  void body(ByteView data);
  void body_done();

  /// nghttp3's read_data: fills `vecs` with body bytes not yet handed over; returns how many,
  /// or -1 for "would block" (resume() follows). `eof` is set with the last bytes.
  int read_body(std::span<std::pair<const std::uint8_t*, std::size_t>> vecs, bool& eof);
  /// nghttp3 is done with `n` more body bytes: they may be freed.
  void acked(std::uint64_t n);

 private:
  void on_read(ByteView data) override;
  void on_eof() override;
  void on_error(std::string_view reason) override;
  void on_drain() override;

  void connect();
  void on_connected(io::ConnectResult r);
  /// The request head, with `Transfer-Encoding: chunked` when `chunked`.
  void send_head(bool chunked);
  /// Bytes towards the backend: written, or kept until it is connected.
  void send_up(ByteView data);
  /// Drops the backend; the client gets `status` or, once the head was sent, a reset stream.
  void backend_failed(int status);
  /// (Re)starts the wait for the backend's next byte.
  void expect_backend();
  void after_parse(Http1ResponseParser::State st);
  void respond_status(int status);
  std::size_t held() const noexcept;

  uv_loop_t* loop_;
  RequestSink& sink_;
  std::int64_t id_;
  const SiteOptions& site_;
  std::string method_, path_, authority_;
  std::vector<Field> fields_;
  std::optional<std::uint64_t> content_length_;
  bool chunked_ = false;
  bool head_sent_ = false;
  bool fields_done_ = false;
  bool body_done_ = false;
  Bytes pending_up_;  ///< request bytes (head, body) waiting for the backend connection
  std::unique_ptr<io::ConnectAttempt> connect_;
  io::StreamPtr backend_;
  std::optional<Http1ResponseParser> parser_;
  bool responded_ = false;
  bool finished_ = false;  ///< the response body is complete (or there is none)
  bool failed_ = false;
  bool wants_resume_ = false;
  std::deque<Bytes> body_;          ///< decoded response body, in pieces
  std::size_t handed_ = 0;          ///< pieces of body_ given to nghttp3 (from the front)
  std::size_t acked_in_front_ = 0;  ///< bytes of body_.front() nghttp3 is done with
  io::Timer backend_timer_;         ///< the backend's silence (SiteOptions::backend_timeout_ms)
  bool backend_paused_ = false;     ///< not read: the client holds the response back
};

}  // namespace mtop::quic::h3
