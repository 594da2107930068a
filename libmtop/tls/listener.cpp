#include "tls/listener.hpp"

#include <utility>

#include "tls/engine.hpp"
#include "tls/tls_stream.hpp"
#include "uv/tcp_socket.hpp"

namespace mtop::tls {

TlsListener::TlsListener(uv_loop_t* loop, std::shared_ptr<ServerContext> ctx,
                         TlsListenerOptions options, AcceptCallback cb)
    : loop_(loop),
      ctx_(std::move(ctx)),
      options_(std::move(options)),
      cb_(std::move(cb)),
      buffers_(std::make_shared<TlsBuffers>()) {}

Result<std::unique_ptr<TlsListener>> TlsListener::create(
    uv_loop_t* loop, std::shared_ptr<ServerContext> ctx, const std::string& host,
    std::uint16_t port, const TlsListenerOptions& options, AcceptCallback cb) {
  if (!ctx || !cb) return Failure{Errc::invalid_argument, "tls listener: no context or callback"};
  std::unique_ptr<TlsListener> self(new TlsListener(loop, std::move(ctx), options, std::move(cb)));
  io::ListenOptions lo;
  lo.backlog = options.backlog;
  lo.reuse_port = options.reuse_port;
  TlsListener* raw = self.get();
  auto bound = io::TcpListener::listen_raw(
      loop, host, port, [raw](io::UvHandle<uv_tcp_t> tcp) { raw->on_tcp(std::move(tcp)); }, lo);
  if (!bound) return Failure{Errc::listen_failed, std::string(bound.message())};
  self->tcp_ = std::move(*bound);
  self->port_ = self->tcp_->port();
  self->local_ = self->tcp_->local_name();
  return self;
}

TlsListener::~TlsListener() {
  stop();
}

std::uint16_t TlsListener::port() const noexcept {
  return port_;
}
const std::string& TlsListener::local_name() const noexcept {
  return local_;
}

void TlsListener::reconfigure(std::shared_ptr<ServerContext> ctx,
                              std::uint64_t handshake_timeout_ms) {
  if (ctx) ctx_ = std::move(ctx);
  options_.handshake_timeout_ms = handshake_timeout_ms;
}

void TlsListener::stop() {
  tcp_.reset();
  // close() never calls back, so the set is not modified while we walk it.
  auto pending = std::move(handshaking_);
  handshaking_.clear();
  for (TlsStream* s : pending) s->close();
}

void TlsListener::report(std::string_view peer, std::string_view reason) {
  if (on_failure_) on_failure_(peer, reason);
}

void TlsListener::on_tcp(io::UvHandle<uv_tcp_t> tcp) {
  if (options_.admit) {
    sockaddr_storage peer{};
    int len = sizeof peer;
    if (uv_tcp_getpeername(tcp.get(), reinterpret_cast<sockaddr*>(&peer), &len) == 0 &&
        !options_.admit(reinterpret_cast<const sockaddr*>(&peer))) {
      return;  // `tcp` closes the socket as it goes
    }
  }
  if (handshaking_.size() >= options_.max_handshakes) {
    const std::string peer = io::tcp_peer_name(tcp.get());
    tcp.reset();  // closes the socket
    report(peer, "too many handshakes");
    return;
  }
  auto engine = Engine::server(ctx_);
  if (!engine) {
    report("?", engine.message());
    return;
  }
  TlsStream* s = TlsStream::start(
      loop_, std::move(tcp), std::move(*engine), buffers_, options_.handshake_timeout_ms,
      [this](TlsStream* stream, const std::string& err) { on_handshake(stream, err); });
  handshaking_.insert(s);
}

void TlsListener::on_handshake(TlsStream* stream, const std::string& error) {
  handshaking_.erase(stream);
  if (!error.empty()) {
    std::string peer = stream->peer_name();
    stream->close();
    report(peer, error);
    return;
  }
  // Last thing done: the callback may destroy this listener.
  cb_(io::StreamPtr(stream));
}

}  // namespace mtop::tls
