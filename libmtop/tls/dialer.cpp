#include "tls/dialer.hpp"

#include <utility>

#include "tls/engine.hpp"
#include "tls/tls_stream.hpp"

namespace mtop::tls {

TlsDialer::TlsDialer(uv_loop_t* loop, std::shared_ptr<ClientContext> ctx, std::string host,
                     std::uint16_t port, TlsDialOptions options)
    : loop_(loop),
      ctx_(std::move(ctx)),
      host_(std::move(host)),
      port_(port),
      options_(std::move(options)),
      buffers_(std::make_shared<TlsBuffers>()) {
  server_name_ = ctx_->config().server_name.empty() ? host_ : ctx_->config().server_name;
  // A ticket is only good for the server that issued it: key by what we verify and where.
  session_key_ = server_name_ + "|" + host_ + "|" + std::to_string(port_);
}

TlsDialer::~TlsDialer() {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, p] : pending) {
    p.connect.reset();
    if (p.stream) p.stream->close();
  }
}

void TlsDialer::open(OpenCallback cb) {
  const std::uint64_t id = next_id_++;
  Pending& p = pending_[id];
  p.cb = std::move(cb);
  // connect_tcp never calls back from inside itself, so `p` is complete before it can run.
  p.connect = io::connect_tcp(loop_, host_, port_, options_.connect,
                              [this, id](io::ConnectResult r) { on_connected(id, std::move(r)); });
}

void TlsDialer::on_connected(std::uint64_t id, io::ConnectResult result) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  if (!result.tcp) {
    OpenCallback cb = std::move(it->second.cb);
    pending_.erase(it);  // the connector allows dropping the attempt from its callback
    cb(nullptr, "connect: " + (result.error.empty() ? std::string("failed") : result.error));
    return;
  }
  auto engine = Engine::client(ctx_, server_name_, session_key_);
  if (!engine) {
    OpenCallback cb = std::move(it->second.cb);
    pending_.erase(it);
    cb(nullptr, std::string(engine.message()));  // result.tcp closes with `result`
    return;
  }
  it->second.stream = TlsStream::start(
      loop_, std::move(result.tcp), std::move(*engine), buffers_, options_.handshake_timeout_ms,
      [this, id](TlsStream* s, std::string err) { on_handshake(id, s, std::move(err)); });
}

void TlsDialer::on_handshake(std::uint64_t id, TlsStream* stream, std::string error) {
  auto it = pending_.find(id);
  OpenCallback cb;
  if (it != pending_.end()) {
    cb = std::move(it->second.cb);
    pending_.erase(it);
  }
  if (!error.empty()) {
    stream->close();
    if (cb) cb(nullptr, std::move(error));
    return;
  }
  io::StreamPtr s(stream);
  if (cb) cb(std::move(s), std::string());  // last thing: the callback may destroy the dialer
}

}  // namespace mtop::tls
