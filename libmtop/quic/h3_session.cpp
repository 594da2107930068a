#include "quic/h3_session.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include "mtop/codec.hpp"
#include "quic/connection.hpp"
#include "quic/quic_stream.hpp"

namespace mtop::quic::h3 {
namespace {

/// Largest request field section accepted (SETTINGS_MAX_FIELD_SECTION_SIZE).
constexpr std::uint64_t kMaxFieldSection = 64 * 1024;
/// How often lingering streams are looked at, and how long one may linger at most.
constexpr std::uint64_t kLingerPollMs = 20;
constexpr std::uint64_t kMaxLingerMs = 10'000;
/// Guard against a writev loop that makes no progress.
constexpr int kMaxWritesPerFlush = 4096;
constexpr std::uint64_t kH3RequestCancelled = 0x10c;
/// Shutdown: time between the shutdown notice and the final GOAWAY, for requests the client
/// sent before it saw the notice (RFC 9114 section 5.2 asks for at least one round trip).
constexpr std::uint64_t kGoawayGraceMs = 200;

std::int64_t stream_id(const io::StreamPtr& s) {
  // Every stream a Connection hands out is a QuicStream.
  return static_cast<const QuicStream*>(s.get())->id();
}

std::string_view view(nghttp3_rcbuf* buf) {
  const nghttp3_vec v = nghttp3_rcbuf_get_buf(buf);
  return {reinterpret_cast<const char*>(v.base), v.len};
}

}  // namespace

struct H3Session::Stream final : io::Stream::Handler {
  Stream(H3Session& s, std::int64_t i, io::StreamPtr qs)
      : session(s), id(i), stream(std::move(qs)) {}
  void on_read(ByteView data) override {
    if (!retired) session.read(*this, data, false);
  }
  void on_eof() override {
    if (!retired) session.read(*this, {}, true);
  }
  void on_error(std::string_view) override { session.stream_failed(*this); }
  void on_drain() override {
    if (!retired) session.drained(*this);
  }

  H3Session& session;
  std::int64_t id;
  io::StreamPtr stream;
  std::unique_ptr<H3Request> request;
  bool blocked = false;      ///< blocked in nghttp3 while our send queue is above kHighWater
  bool fin_read = false;     ///< a request stream: the client's end was read
  bool fin_written = false;  ///< a request stream: the response's end was written
  bool retired = false;
  std::uint64_t retired_ms = 0;
};

// nghttp3 callbacks: conn_user_data is the session.
struct H3Session::Callbacks {
  static H3Session& self(void* ud) { return *static_cast<H3Session*>(ud); }

  static int acked_stream_data(nghttp3_conn*, std::int64_t id, std::uint64_t n, void* ud, void*) {
    if (H3Request* r = self(ud).request_of(id)) r->acked(n);
    return 0;
  }
  static int stream_close(nghttp3_conn*, std::int64_t id, std::uint64_t, void* ud, void*) {
    self(ud).retire(id);
    return 0;
  }
  static int recv_data(nghttp3_conn*, std::int64_t id, const std::uint8_t* data, std::size_t len,
                       void* ud, void*) {
    if (H3Request* r = self(ud).request_of(id)) r->body(ByteView(data, len));
    return 0;
  }
  static int begin_headers(nghttp3_conn*, std::int64_t id, void* ud, void*) {
    H3Session& s = self(ud);
    Stream* st = s.find(id);
    if (st && !st->request) {
      RequestSink& sink = s;
      st->request = std::make_unique<H3Request>(s.loop_, sink, id, s.site_);
    }
    return 0;
  }
  static int recv_header(nghttp3_conn*, std::int64_t id, std::int32_t, nghttp3_rcbuf* name,
                         nghttp3_rcbuf* value, std::uint8_t, void* ud, void*) {
    if (H3Request* r = self(ud).request_of(id)) r->field(view(name), view(value));
    return 0;
  }
  static int end_headers(nghttp3_conn*, std::int64_t id, int fin, void* ud, void*) {
    if (H3Request* r = self(ud).request_of(id)) r->fields_done(fin != 0);
    return 0;
  }
  static int end_stream(nghttp3_conn*, std::int64_t id, void* ud, void*) {
    if (H3Request* r = self(ud).request_of(id)) r->body_done();
    return 0;
  }
  static int reset_stream(nghttp3_conn*, std::int64_t id, std::uint64_t code, void* ud, void*) {
    H3Session& s = self(ud);
    if (Stream* st = s.find(id); st && st->stream) st->stream.release()->abort(code);
    s.retire(id);
    return 0;
  }
  static nghttp3_ssize read_data(nghttp3_conn*, std::int64_t id, nghttp3_vec* vec,
                                 std::size_t veccnt, std::uint32_t* pflags, void* ud, void*) {
    H3Request* r = self(ud).request_of(id);
    if (!r) {
      *pflags |= NGHTTP3_DATA_FLAG_EOF;
      return 0;
    }
    std::array<std::pair<const std::uint8_t*, std::size_t>, 16> pieces{};
    bool eof = false;
    const int n = r->read_body(std::span(pieces.data(), std::min(veccnt, pieces.size())), eof);
    if (n < 0) return NGHTTP3_ERR_WOULDBLOCK;
    for (int i = 0; i < n; ++i) {
      vec[i].base = const_cast<std::uint8_t*>(pieces[static_cast<std::size_t>(i)].first);
      vec[i].len = pieces[static_cast<std::size_t>(i)].second;
    }
    if (eof) *pflags |= NGHTTP3_DATA_FLAG_EOF;
    return n;
  }
};

H3Session::H3Session(uv_loop_t* loop, Connection& conn, SiteOptions site)
    : loop_(loop),
      conn_(&conn),
      site_(std::move(site)),
      reaper_(loop),
      linger_timer_(loop),
      shutdown_timer_(loop) {}

H3Session::~H3Session() {
  graveyard_.clear();
  lingering_.clear();
  streams_.clear();  // requests first: they point at the session
  if (h3_) nghttp3_conn_del(h3_);
}

bool H3Session::start() {
  nghttp3_callbacks cb{};
  cb.acked_stream_data = Callbacks::acked_stream_data;
  cb.stream_close = Callbacks::stream_close;
  cb.recv_data = Callbacks::recv_data;
  cb.begin_headers = Callbacks::begin_headers;
  cb.recv_header = Callbacks::recv_header;
  cb.end_headers = Callbacks::end_headers;
  cb.end_stream = Callbacks::end_stream;
  cb.reset_stream = Callbacks::reset_stream;
  nghttp3_settings settings;
  nghttp3_settings_default(&settings);
  settings.max_field_section_size = kMaxFieldSection;
  settings.qpack_max_dtable_capacity = 0;  // what clients send: static table and literals only
  settings.qpack_blocked_streams = 0;
  if (int rv = nghttp3_conn_server_new(&h3_, &cb, &settings, nghttp3_mem_default(), this);
      rv != 0) {
    h3_ = nullptr;
    fatal(rv);
    return false;
  }
  // The QUIC layer bounds client streams at once and gives credit back as they close; nghttp3
  // uses this only for GOAWAY, so no tighter figure is needed.
  nghttp3_conn_set_max_client_streams_bidi(h3_, std::uint64_t{1} << 60);
  std::array<io::StreamPtr, 3> ours;
  for (io::StreamPtr& s : ours) {
    s = conn_->open_uni_stream();
    if (!s) {
      fatal(NGHTTP3_ERR_H3_STREAM_CREATION_ERROR);
      return false;
    }
  }
  const std::int64_t ctrl = stream_id(ours[0]), qenc = stream_id(ours[1]),
                     qdec = stream_id(ours[2]);
  if (int rv = nghttp3_conn_bind_control_stream(h3_, ctrl); rv != 0) {
    fatal(rv);
    return false;
  }
  if (int rv = nghttp3_conn_bind_qpack_streams(h3_, qenc, qdec); rv != 0) {
    fatal(rv);
    return false;
  }
  for (io::StreamPtr& s : ours) {
    const std::int64_t id = stream_id(s);
    auto st = std::make_unique<Stream>(*this, id, std::move(s));
    st->stream->set_handler(st.get());
    streams_.emplace(id, std::move(st));
  }
  write_out();
  return true;
}

void H3Session::add_stream(io::StreamPtr stream, Bytes kept, bool eof) {
  if (!stream) return;
  const std::int64_t id = stream_id(stream);
  if (failed_ || id < 0 || streams_.count(id)) {
    secure_wipe(kept);
    return;  // dropping it resets it
  }
  auto owned = std::make_unique<Stream>(*this, id, std::move(stream));
  Stream& st = *owned;
  st.stream->set_handler(&st);
  streams_.emplace(id, std::move(owned));
  if (!kept.empty() || eof) read(st, kept, eof);
  secure_wipe(kept);
  if (!st.retired && st.stream) st.stream->start_read();
}

H3Session::Stream* H3Session::find(std::int64_t id) {
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

H3Request* H3Session::request_of(std::int64_t id) {
  Stream* st = find(id);
  return st ? st->request.get() : nullptr;
}

void H3Session::read(Stream& s, ByteView data, bool fin) {
  if (failed_ || !h3_) return;
  const std::int64_t id = s.id;
  const nghttp3_ssize n = nghttp3_conn_read_stream(h3_, id, data.data(), data.size(), fin);
  if (n < 0) {
    fatal(static_cast<int>(n));
    return;
  }
  write_out();
  if (Stream* st = find(id); st && fin) {
    st->fin_read = true;
    close_if_done(*st);
  }
}

void H3Session::close_if_done(Stream& s) {
  if (!s.fin_read || !s.fin_written || failed_ || !h3_) return;
  // Both ends are done: nghttp3 forgets the request (its stream_close retires ours).
  const std::int64_t id = s.id;
  if (int rv = nghttp3_conn_close_stream(h3_, id, NGHTTP3_H3_NO_ERROR);
      rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) {
    fatal(rv);
    return;
  }
  retire(id);
}

void H3Session::stream_failed(Stream& s) {
  if (s.stream) s.stream.reset();  // closing it from inside its own callback is allowed
  if (failed_ || !h3_ || s.retired) return;
  const std::int64_t id = s.id;
  const int rv = nghttp3_conn_close_stream(h3_, id, kH3RequestCancelled);
  if (rv == NGHTTP3_ERR_H3_CLOSED_CRITICAL_STREAM) {
    fatal(rv);
    return;
  }
  retire(id);
}

void H3Session::drained(Stream& s) {
  if (!s.blocked || failed_ || !h3_) return;
  s.blocked = false;
  if (int rv = nghttp3_conn_unblock_stream(h3_, s.id); rv != 0) {
    fatal(rv);
    return;
  }
  write_out();
}

void H3Session::write_out() {
  if (failed_ || !h3_ || writing_) return;
  writing_ = true;
  for (int round = 0; round < kMaxWritesPerFlush && !failed_; ++round) {
    std::int64_t id = -1;
    int fin = 0;
    std::array<nghttp3_vec, 16> vec{};
    const nghttp3_ssize n = nghttp3_conn_writev_stream(h3_, &id, &fin, vec.data(), vec.size());
    if (n < 0) {
      fatal(static_cast<int>(n));
      break;
    }
    if (id < 0) break;
    Stream* st = find(id);
    std::size_t total = 0;
    for (nghttp3_ssize i = 0; i < n; ++i) {
      const nghttp3_vec& v = vec[static_cast<std::size_t>(i)];
      if (st && st->stream) st->stream->write(ByteView(v.base, v.len));
      total += v.len;
    }
    if (fin && st && st->stream) st->stream->shutdown();
    // The QUIC stream holds its own copy until the peer acknowledges it.
    if (int rv = nghttp3_conn_add_write_offset(h3_, id, total); rv != 0) {
      fatal(rv);
      break;
    }
    if (int rv = nghttp3_conn_add_ack_offset(h3_, id, total); rv != 0) {
      fatal(rv);
      break;
    }
    st = find(id);  // the acknowledgement may have closed it
    if (st && st->stream && st->stream->write_queue_size() > kHighWater) {
      st->blocked = true;
      nghttp3_conn_block_stream(h3_, id);
    }
    if (st && fin && ngtcp2_is_bidi_stream(id)) {
      st->fin_written = true;
      close_if_done(*st);
    }
    if (total == 0 && !fin) break;
  }
  writing_ = false;
}

void H3Session::respond(std::int64_t id, int status, const std::vector<Field>& fields, bool body) {
  if (failed_ || !h3_) return;
  const std::string code = std::to_string(status);
  std::vector<nghttp3_nv> nva;
  nva.reserve(fields.size() + 1);
  auto add = [&](std::string_view n, std::string_view v) {
    nva.push_back(nghttp3_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                             reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(),
                             v.size(), NGHTTP3_NV_FLAG_NONE});
  };
  add(":status", code);
  for (const auto& [n, v] : fields) add(n, v);
  nghttp3_data_reader dr{Callbacks::read_data};
  if (int rv = nghttp3_conn_submit_response(h3_, id, nva.data(), nva.size(), body ? &dr : nullptr);
      rv != 0) {
    abort(id, NGHTTP3_H3_INTERNAL_ERROR);
    return;
  }
  write_out();
}

void H3Session::resume(std::int64_t id) {
  if (failed_ || !h3_) return;
  if (int rv = nghttp3_conn_resume_stream(h3_, id); rv != 0) {
    fatal(rv);
    return;
  }
  write_out();
}

void H3Session::abort(std::int64_t id, std::uint64_t h3_error) {
  Stream* st = find(id);
  if (!st) return;
  if (h3_ && !failed_) nghttp3_conn_shutdown_stream_write(h3_, id);
  if (st->stream) st->stream.release()->abort(h3_error);
  retire(id);
}

void H3Session::read_client(std::int64_t id, bool on) {
  Stream* st = find(id);
  if (!st || !st->stream) return;
  if (on) {
    st->stream->start_read();
  } else {
    st->stream->stop_read();
  }
}

void H3Session::retire(std::int64_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  std::unique_ptr<Stream> st = std::move(it->second);
  streams_.erase(it);
  st->retired = true;
  st->retired_ms = uv_now(loop_);
  if (st->request) {
    // Never destroyed inside a call of its own or of nghttp3: on a later loop turn.
    graveyard_.push_back(std::move(st->request));
    reaper_.post([this] { graveyard_.clear(); });
  }
  if (st->stream) st->stream->stop_read();
  lingering_.push_back(std::move(st));
  if (!linger_timer_.active()) linger_timer_.start(kLingerPollMs, [this] { check_lingering(); });
}

void H3Session::check_lingering() {
  const std::uint64_t now = uv_now(loop_);
  std::erase_if(lingering_, [&](const std::unique_ptr<Stream>& st) {
    return !st->stream || st->stream->write_queue_size() == 0 ||
           now - st->retired_ms >= kMaxLingerMs;
  });
  if (!lingering_.empty()) linger_timer_.start(kLingerPollMs, [this] { check_lingering(); });
}

void H3Session::shutdown() {
  if (shutting_down_ || failed_ || !h3_) return;
  shutting_down_ = true;
  if (int rv = nghttp3_conn_submit_shutdown_notice(h3_); rv != 0) {
    fatal(rv);
    return;
  }
  write_out();
  shutdown_timer_.start(kGoawayGraceMs, [this] { final_goaway(); });
}

void H3Session::final_goaway() {
  if (failed_ || !h3_) return;
  if (int rv = nghttp3_conn_shutdown(h3_); rv != 0) {
    fatal(rv);
    return;
  }
  write_out();
  close_when_idle();
}

void H3Session::close_when_idle() {
  if (failed_ || !conn_) return;
  const bool requests = std::any_of(streams_.begin(), streams_.end(), [](const auto& kv) {
    return ngtcp2_is_bidi_stream(kv.first) != 0;
  });
  if (requests || !lingering_.empty()) {
    shutdown_timer_.start(kLingerPollMs, [this] { close_when_idle(); });
    return;
  }
  failed_ = true;  // nothing more is read or written
  conn_->close(NGHTTP3_H3_NO_ERROR, "");
}

void H3Session::fatal(int liberr) {
  if (failed_) return;
  failed_ = true;
  if (!conn_) return;
  const std::uint64_t code =
      h3_ ? nghttp3_err_infer_quic_app_error_code(liberr) : NGHTTP3_H3_INTERNAL_ERROR;
  conn_->close(code, "");  // no reason phrase on the wire, as from a web server
}

}  // namespace mtop::quic::h3
