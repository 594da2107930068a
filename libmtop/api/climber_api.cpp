// mtop::Climber (include/mtop/climber.hpp): the dialer for the configured transport and the
// ClimberEngine over it, behind a pimpl so that the public header names no internal type.
#include <fstream>
#include <utility>

#include "engine/climber_engine.hpp"
#include "engine/dialer_factory.hpp"
#include "engine/reverse_client.hpp"
#include "engine/reverse_streams.hpp"
#include "mtop/climber.hpp"
#include "mtop/codec.hpp"
#ifdef MTOP_HAVE_QUIC
#include "quic/client.hpp"
#endif

namespace mtop {

struct Climber::Impl {
  // The dialer is declared first so that it outlives the engine, which closes the tunnels it
  // carries (and cancels the opens waiting on it) before it goes.
  std::unique_ptr<io::StreamDialer> dialer;
  std::unique_ptr<ClimberEngine> engine;
  // Reverse tunnels. Over QUIC they share the tunnels' QUIC client, whose server-opened
  // streams (visitors, 9.5) go to `streams`; otherwise they have a TLS dialer of their own
  // (data connections are TLS connections, 9.6).
  ClimberOptions options;
  std::unique_ptr<io::StreamDialer> reverse_dialer;
  std::shared_ptr<ReverseStreams> streams;
  Logger log;
  std::vector<std::unique_ptr<ReverseClient>> reverses;

  void stop_reverses() {
    for (auto& r : reverses) r->stop();
  }
};

namespace {

/// Wipes the secrets of the config copy create() was given, whichever way it returns.
struct WipeSecrets {
  ClimberConfig& config;
  ~WipeSecrets() {
    secure_wipe(config.server.password);
    secure_wipe(config.engine.local_password);
  }
};

}  // namespace

Climber::Climber(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Climber::~Climber() = default;

Result<std::unique_ptr<Climber>> Climber::create(uv_loop_t* loop, ClimberConfig config,
                                                 Logger log) {
  WipeSecrets wipe{config};
  if (!loop) return Failure{Errc::invalid_argument, "no loop"};
  const ServerEndpoint& server = config.server;
  if (server.host.empty()) return Failure{Errc::config_invalid, "server: no host"};
  if (server.port == 0) return Failure{Errc::config_invalid, "server: port 0"};
  if (config.engine.connect_timeout_ms == 0) {
    return Failure{Errc::config_invalid, "the connect time-out must be above 0"};
  }
  if (auto ok = ClimberEngine::check(config.engine, server.username, server.password); !ok) {
    return ok.failure();
  }
  // Checked here so that the error names the file whatever the transport; the TLS and QUIC
  // stacks then load it.
  if (!server.ca_file.empty() && !std::ifstream(server.ca_file)) {
    return Failure{Errc::tls_setup_failed, "ca file '" + server.ca_file + "': cannot read"};
  }
  DialerSettings settings;
  settings.connect_timeout_ms = config.engine.connect_timeout_ms;
  // By default the QUIC pool may grow as far as the local connections could need (one stream
  // per connection in the worst case), so limits.max_connections is the limit that binds.
  settings.quic_connections =
      config.quic_connections > 0 ? config.quic_connections : config.engine.max_connections;
  settings.quic_alpn = config.quic_alpn;
  auto dialer = make_server_dialer(loop, server, settings, log);
  if (!dialer) return dialer.failure();
  auto impl = std::make_unique<Impl>();
  if (!config.engine.reverses.empty()) {
    io::StreamDialer* reverse_dialer = nullptr;
#ifdef MTOP_HAVE_QUIC
    if (auto* quic = dynamic_cast<quic::QuicClient*>(dialer->get())) {
      // Each visitor is a local connection too: the grant stays within max_connections.
      impl->streams = std::make_shared<ReverseStreams>(loop, config.engine.max_connections);
      quic->on_peer_stream([weak = std::weak_ptr(impl->streams)](io::StreamPtr s) {
        if (auto streams = weak.lock()) streams->accept(std::move(s));
      });
      reverse_dialer = quic;
    }
#endif
    if (!reverse_dialer) {  // TLS, or auto: the ATTACH pool of 9.6 over TLS
      ServerEndpoint tls = server;
      tls.transport = TransportKind::tls;
      auto tls_dialer = make_server_dialer(loop, tls, settings, log);
      if (!tls_dialer) return tls_dialer.failure();
      impl->reverse_dialer = std::move(*tls_dialer);
      reverse_dialer = impl->reverse_dialer.get();
    }
    impl->options = config.engine;
    impl->log = log;
    for (const ReverseRule& rule : config.engine.reverses) {
      impl->reverses.push_back(std::make_unique<ReverseClient>(
          loop, rule, impl->options, server.username, server.password, *reverse_dialer, impl->log,
          impl->streams.get()));
    }
  }
  impl->dialer = std::move(*dialer);
  impl->engine = std::make_unique<ClimberEngine>(loop, config.engine, server.username,
                                                 server.password, *impl->dialer, std::move(log));
  return std::unique_ptr<Climber>(new Climber(std::move(impl)));
}

Result<void> Climber::start() {
  if (auto r = impl_->engine->start(); !r) return r;
  for (auto& r : impl_->reverses) r->start();
  return {};
}

void Climber::open_tunnel(std::string host, std::uint16_t port, TunnelCallback cb) {
  impl_->engine->open_tunnel(host, port, std::move(cb));
}

std::uint16_t Climber::socks_port() const noexcept {
  return impl_->engine->socks_port();
}
std::uint16_t Climber::http_port() const noexcept {
  return impl_->engine->http_port();
}
std::vector<std::uint16_t> Climber::forward_ports() const {
  return impl_->engine->forward_ports();
}

std::vector<ReverseState> Climber::reverse_states() const {
  std::vector<ReverseState> states;
  states.reserve(impl_->reverses.size());
  for (const auto& r : impl_->reverses) states.push_back(r->state());
  return states;
}

void Climber::stop() {
  impl_->engine->stop();
  impl_->stop_reverses();
}
void Climber::drain(std::function<void()> done) {
  impl_->stop_reverses();
  impl_->engine->drain(std::move(done));
}
void Climber::abort_all(std::string_view reason) {
  impl_->stop_reverses();
  impl_->engine->abort_all(reason);
}
ClimberStats Climber::stats() const {
  ClimberStats s = impl_->engine->stats();
  for (const auto& r : impl_->reverses) {
    const ReverseState state = r->state();
    if (state.published) ++s.reverse_published;
    s.reverse_visitors_total += state.visitors_total;
  }
  return s;
}

}  // namespace mtop
