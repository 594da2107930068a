#include "engine/reverse_streams.hpp"

#include <algorithm>
#include <utility>

#include "mtop/protocol.hpp"
#ifdef MTOP_HAVE_QUIC
#include "quic/connection_handle.hpp"
#endif

namespace mtop {

/// One server-opened stream until its visitor header is in.
class ReverseStreams::HeaderReader final : private io::Stream::Handler {
 public:
  HeaderReader(ReverseStreams& owner, io::StreamPtr stream)
      : owner_(owner), stream_(std::move(stream)) {}
  ~HeaderReader() override = default;
  HeaderReader(const HeaderReader&) = delete;
  HeaderReader& operator=(const HeaderReader&) = delete;

  void start() {
    stream_->set_handler(this);
    stream_->start_read();
  }

 private:
  void on_read(ByteView data) override {
    if (!stream_) return;
    buf_.insert(buf_.end(), data.begin(), data.end());
    auto h = decode_visitor_header(buf_);
    if (!h) {
      owner_.routed(this, std::move(stream_), nullptr, {});
      return;
    }
    if (!h->complete()) return;  // at most kMaxVisitorHeaderSize bytes are needed
    stream_->stop_read();
    Bytes held(buf_.begin() + static_cast<std::ptrdiff_t>(h->size), buf_.end());
    const VisitorHeader header = *h->message;
    owner_.routed(this, std::move(stream_), &header, std::move(held));
  }
  void on_eof() override { drop(); }  // the visitor left before its header was complete
  void on_error(std::string_view) override { drop(); }
  void on_drain() override {}

  void drop() {
    if (stream_) stream_.release()->abort(static_cast<std::uint64_t>(QuicAppError::aborted));
    owner_.routed(this, nullptr, nullptr, {});
  }

  ReverseStreams& owner_;
  io::StreamPtr stream_;
  Bytes buf_;
};

ReverseStreams::ReverseStreams(uv_loop_t* loop, std::uint64_t grant)
    : grant_(std::min(grant, kMaxGrant)), reaper_(loop) {}

ReverseStreams::~ReverseStreams() {
  reading_.clear();  // their streams close
#ifdef MTOP_HAVE_QUIC
  for (Granted& g : granted_) g.connection->set_peer_stream_grant(0);
#endif
}

void ReverseStreams::accept(io::StreamPtr stream) {
  if (!stream) return;
  auto r = std::make_unique<HeaderReader>(*this, std::move(stream));
  HeaderReader* p = r.get();
  reading_.emplace(p, std::move(r));
  p->start();
}

void ReverseStreams::routed(HeaderReader* reader, io::StreamPtr stream, const VisitorHeader* header,
                            Bytes held) {
  // Inside the reader's stream callback: free it from the loop.
  reaper_.post([this, reader] { reading_.erase(reader); });
  if (!stream) return;
  if (!header) {
    stream.release()->abort(static_cast<std::uint64_t>(QuicAppError::protocol_error));
    return;
  }
  const auto it = routes_.find(header->tunnel);
  if (it == routes_.end()) {
    stream.release()->abort(static_cast<std::uint64_t>(QuicAppError::refused));
    return;
  }
  it->second.carry(std::move(stream), *header, std::move(held));
}

std::vector<ReverseStreams::Granted>::iterator ReverseStreams::granted(
    const quic::ConnectionHandle& connection) {
#ifdef MTOP_HAVE_QUIC
  return std::find_if(granted_.begin(), granted_.end(),
                      [&](const Granted& g) { return g.connection->same_connection(connection); });
#else
  (void)connection;
  return granted_.end();
#endif
}

bool ReverseStreams::control_up(std::uint32_t tunnel, io::Stream& control, Carry carry) {
#ifdef MTOP_HAVE_QUIC
  auto connection = quic::ConnectionHandle::of(control);
  if (!connection) return false;
  control_down(tunnel);  // a TUNNEL is unique among live control tunnels: a stale route goes
  auto g = granted(*connection);
  if (g == granted_.end()) {
    connection->set_peer_stream_grant(grant_);
    granted_.push_back(Granted{connection, 1});
  } else {
    ++g->controls;
  }
  routes_[tunnel] = Route{std::move(carry), std::move(connection)};
  return true;
#else
  (void)tunnel;
  (void)control;
  (void)carry;
  return false;
#endif
}

void ReverseStreams::control_down(std::uint32_t tunnel) {
  const auto it = routes_.find(tunnel);
  if (it == routes_.end()) return;
  const auto g = granted(*it->second.connection);
  routes_.erase(it);
  if (g == granted_.end() || --g->controls > 0) return;
#ifdef MTOP_HAVE_QUIC
  g->connection->set_peer_stream_grant(0);
#endif
  granted_.erase(g);
}

}  // namespace mtop
