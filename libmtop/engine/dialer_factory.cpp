#include "engine/dialer_factory.hpp"

#include "tls/config.hpp"
#include "tls/context.hpp"
#include "tls/dialer.hpp"
#ifdef MTOP_HAVE_QUIC
#include "quic/client.hpp"
#endif

namespace mtop {

namespace {

std::unique_ptr<io::StreamDialer> make_tls(uv_loop_t* loop, const ServerEndpoint& server,
                                           const DialerSettings& settings, std::string& error) {
  tls::TlsClientConfig config;
  config.ca_file = server.ca_file;
  config.server_name = server.server_name();
  config.spki_pin = server.pin;
  config.insecure = server.insecure;
  std::string e;
  auto ctx = tls::ClientContext::create(config, &e);
  if (!ctx) {
    error = "tls: " + e;
    return nullptr;
  }
  tls::TlsDialOptions options;
  options.connect.timeout_ms = settings.connect_timeout_ms;
  options.handshake_timeout_ms = settings.connect_timeout_ms;
  return std::make_unique<tls::TlsDialer>(loop, std::move(ctx), server.host, server.port, options);
}

std::unique_ptr<io::StreamDialer> make_quic(uv_loop_t* loop, const ServerEndpoint& server,
                                            const DialerSettings& settings, std::string& error) {
#ifdef MTOP_HAVE_QUIC
  quic::QuicClientOptions options;
  options.max_connections = settings.quic_connections;
  options.max_connections_name = "limits.quic_connections";
  options.host = server.host;
  options.port = server.port;
  options.tls.server_name = server.server_name();
  options.tls.ca_file = server.ca_file;
  options.tls.spki_pin = server.pin;
  options.tls.insecure = server.insecure;
  std::string e;
  auto client = quic::QuicClient::create(loop, std::move(options), e);
  if (!client) {
    error = "quic: " + e;
    return nullptr;
  }
  return client;
#else
  (void)loop;
  (void)server;
  (void)settings;
  error = "QUIC is not built into this climber (MTOP_WITH_QUIC=OFF); use transport tls";
  return nullptr;
#endif
}

}  // namespace

std::unique_ptr<io::StreamDialer> make_server_dialer(uv_loop_t* loop, const ServerEndpoint& server,
                                                     const DialerSettings& settings,
                                                     const Logger& log, std::string& error) {
  switch (server.transport) {
    case TransportKind::tls: return make_tls(loop, server, settings, error);
    case TransportKind::quic: return make_quic(loop, server, settings, error);
    case TransportKind::auto_select: {
      auto tls = make_tls(loop, server, settings, error);
      if (!tls) return nullptr;
      auto quic = make_quic(loop, server, settings, error);
      if (!quic) return nullptr;
      return std::make_unique<AutoDialer>(loop, std::move(quic), std::move(tls),
                                          settings.auto_select, log);
    }
  }
  error = "unknown transport";
  return nullptr;
}

}  // namespace mtop
