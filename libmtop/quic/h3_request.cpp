#include "quic/h3_request.hpp"

#include <charconv>
#include <utility>

#include "uv/tcp_stream.hpp"

namespace mtop::quic::h3 {
namespace {

// HTTP/3 error codes (RFC 9114 section 8.1) used here.
constexpr std::uint64_t kH3InternalError = 0x102;

}  // namespace

H3Request::H3Request(uv_loop_t* loop, RequestSink& sink, std::int64_t id, const SiteOptions& site)
    : loop_(loop), sink_(sink), id_(id), site_(site), backend_timer_(loop) {}

H3Request::~H3Request() {
  if (backend_) backend_->set_handler(nullptr);
}

void H3Request::field(std::string_view name, std::string_view value) {
  if (name == ":method") {
    method_ = value;
  } else if (name == ":path") {
    path_ = value;
  } else if (name == ":authority") {
    authority_ = value;
  } else if (!name.empty() && name.front() == ':') {
    return;  // :scheme, :protocol: nothing to say over HTTP/1.1
  } else {
    if (name == "host" && authority_.empty()) authority_ = value;
    if (name == "content-length") {
      std::uint64_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec == std::errc() && end == value.data() + value.size()) content_length_ = n;
    }
    fields_.emplace_back(std::string(name), std::string(value));
  }
}

void H3Request::fields_done(bool fin) {
  if (fields_done_) return;
  fields_done_ = true;
  body_done_ = fin;
  if (method_ == "CONNECT" || path_.empty()) {
    // Nothing to forward a tunnel or an origin-less request to.
    respond_status(501);
    return;
  }
  parser_.emplace(method_ == "HEAD");
  // Without a content-length, whether a body follows is known only from the stream: a
  // browser's GET ends its stream after the HEADERS frame, often in a later packet. The head
  // waits for the first body bytes (chunked) or the end (no body); the connection does not.
  if (fin || content_length_) send_head(false);
  connect();
}

void H3Request::send_head(bool chunked) {
  head_sent_ = true;
  chunked_ = chunked;
  const std::string head = request_head(method_, path_, authority_, fields_, chunked_);
  send_up(ByteView(reinterpret_cast<const std::uint8_t*>(head.data()), head.size()));
}

void H3Request::send_up(ByteView data) {
  if (backend_) {
    backend_->write(data);
  } else {
    pending_up_.insert(pending_up_.end(), data.begin(), data.end());
  }
}

void H3Request::connect() {
  io::ConnectOptions opts;
  opts.timeout_ms = site_.connect_timeout_ms;
  connect_ = io::connect_tcp(loop_, site_.backend_host, site_.backend_port, opts,
                             [this](io::ConnectResult r) { on_connected(std::move(r)); });
}

void H3Request::on_connected(io::ConnectResult r) {
  connect_.reset();
  if (!r.tcp) {
    backend_failed(502);  // the client learns nothing of the backend beyond the status
    return;
  }
  backend_ = io::TcpStream::adopt(std::move(r.tcp));
  backend_->set_handler(this);
  if (!pending_up_.empty()) backend_->write(pending_up_);
  Bytes().swap(pending_up_);
  sink_.read_client(id_, backend_->write_queue_size() <= kMaxBody);
  backend_->start_read();
  expect_backend();
}

void H3Request::expect_backend() {
  backend_timer_.start(site_.backend_timeout_ms, [this] { backend_failed(504); });
}

void H3Request::body(ByteView data) {
  if (!fields_done_ || failed_ || data.empty()) return;
  if (!head_sent_) send_head(true);
  if (chunked_) {
    Bytes chunk;
    append_chunk(chunk, data);
    send_up(chunk);
  } else {
    send_up(data);
  }
  if (!backend_) {
    if (pending_up_.size() > kMaxBody) sink_.read_client(id_, false);
    return;
  }
  if (!finished_ && !backend_paused_) expect_backend();  // bytes towards it: not idle
  if (backend_->write_queue_size() > kMaxBody) sink_.read_client(id_, false);
}

void H3Request::body_done() {
  if (body_done_ || !fields_done_) return;
  body_done_ = true;
  if (failed_) return;
  if (!head_sent_) {
    send_head(false);  // the stream ended without a body
    return;
  }
  if (!chunked_) return;
  Bytes last;
  append_chunk(last, {});
  send_up(last);
}

void H3Request::on_drain() {
  if (backend_ && backend_->write_queue_size() <= kMaxBody) sink_.read_client(id_, true);
}

void H3Request::on_read(ByteView data) {
  if (!parser_ || failed_) return;
  expect_backend();
  Bytes decoded;
  const auto st = parser_->feed(data, decoded);
  if (!decoded.empty() && st != Http1ResponseParser::State::error) {
    body_.push_back(std::move(decoded));
  }
  after_parse(st);
}

void H3Request::on_eof() {
  if (!parser_ || failed_) return;
  after_parse(parser_->feed_eof());
}

void H3Request::on_error(std::string_view reason) {
  (void)reason;  // the client learns nothing of the backend beyond a 502
  if (!parser_ || failed_) return;
  backend_failed(502);
}

void H3Request::after_parse(Http1ResponseParser::State st) {
  using State = Http1ResponseParser::State;
  if (st == State::error) {
    backend_failed(502);
    return;
  }
  if (st == State::head) return;
  if (!responded_) {
    responded_ = true;
    std::vector<Field> fields;
    for (const auto& f : parser_->fields()) {
      if (!is_connection_field(f.first)) fields.push_back(f);
    }
    sink_.respond(id_, parser_->status(), fields, parser_->has_body());
  }
  if (st == State::done) {
    finished_ = true;
    backend_timer_.stop();
    if (backend_) {
      backend_->set_handler(nullptr);
      backend_.reset();  // the response is complete: nothing more to read or send
    }
  } else if (backend_ && held() > kMaxBody) {
    // The client holds the response back: the backend's silence is ours now.
    backend_->stop_read();
    backend_paused_ = true;
    backend_timer_.stop();
  }
  if (wants_resume_ && (finished_ || handed_ < body_.size())) {
    wants_resume_ = false;
    sink_.resume(id_);
  }
}

void H3Request::backend_failed(int status) {
  if (failed_) return;
  failed_ = true;
  backend_timer_.stop();
  connect_.reset();
  if (backend_) {
    backend_->set_handler(nullptr);
    backend_.reset();
  }
  if (!responded_) {
    respond_status(status);
    return;
  }
  sink_.abort(id_, kH3InternalError);
}

void H3Request::respond_status(int status) {
  responded_ = true;
  finished_ = true;
  body_.clear();
  handed_ = 0;
  sink_.respond(id_, status, {{"content-length", "0"}}, false);
}

std::size_t H3Request::held() const noexcept {
  std::size_t n = 0;
  for (const Bytes& b : body_) n += b.size();
  return n - acked_in_front_;
}

int H3Request::read_body(std::span<std::pair<const std::uint8_t*, std::size_t>> vecs, bool& eof) {
  std::size_t n = 0;
  while (n < vecs.size() && handed_ < body_.size()) {
    const Bytes& piece = body_[handed_++];
    vecs[n++] = {piece.data(), piece.size()};
  }
  eof = finished_ && handed_ == body_.size();
  if (n == 0 && !eof) {
    wants_resume_ = true;
    return -1;
  }
  return static_cast<int>(n);
}

void H3Request::acked(std::uint64_t n) {
  while (n > 0 && !body_.empty() && handed_ > 0) {
    const std::size_t left = body_.front().size() - acked_in_front_;
    if (n < left) {
      acked_in_front_ += static_cast<std::size_t>(n);
      break;
    }
    n -= left;
    body_.pop_front();
    --handed_;
    acked_in_front_ = 0;
  }
  if (backend_ && backend_paused_ && !finished_ && !failed_ && held() <= kMaxBody / 2) {
    backend_paused_ = false;
    backend_->start_read();
    expect_backend();
  }
}

}  // namespace mtop::quic::h3
