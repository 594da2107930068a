#include "engine/dialer_factory.hpp"

#include "tls/config.hpp"
#include "tls/context.hpp"
#include "tls/dialer.hpp"
#ifdef MTOP_HAVE_QUIC
#include "quic/client.hpp"
#endif

namespace mtop {

namespace {

using DialerResult = Result<std::unique_ptr<io::StreamDialer>>;

DialerResult make_tls(uv_loop_t* loop, const ServerEndpoint& server,
                      const DialerSettings& settings) {
  tls::TlsClientConfig config;
  config.ca_file = server.ca_file;
  config.server_name = server.server_name();
  config.spki_pin = server.pin;
  config.insecure = server.insecure;
  config.groups = server.tls_groups;
  auto ctx = tls::ClientContext::create(config);
  if (!ctx) return Failure{ctx.error(), "tls: " + std::string(ctx.message())};
  tls::TlsDialOptions options;
  options.connect.timeout_ms = settings.connect_timeout_ms;
  options.handshake_timeout_ms = settings.connect_timeout_ms;
  return std::unique_ptr<io::StreamDialer>(
      std::make_unique<tls::TlsDialer>(loop, std::move(*ctx), server.host, server.port, options));
}

DialerResult make_quic(uv_loop_t* loop, const ServerEndpoint& server,
                       const DialerSettings& settings) {
#ifdef MTOP_HAVE_QUIC
  quic::QuicClientOptions options;
  options.max_connections = settings.quic_connections;
  options.max_connections_name = "limits.quic_connections";
  options.alpn = settings.quic_alpn;
  options.host = server.host;
  options.port = server.port;
  options.tls.server_name = server.server_name();
  options.tls.ca_file = server.ca_file;
  options.tls.spki_pin = server.pin;
  options.tls.insecure = server.insecure;
  options.tls.groups = server.tls_groups;
  auto client = quic::QuicClient::create(loop, std::move(options));
  if (!client) return Failure{client.error(), "quic: " + std::string(client.message())};
  return std::unique_ptr<io::StreamDialer>(std::move(*client));
#else
  (void)loop;
  (void)server;
  (void)settings;
  return Failure{Errc::not_built_in,
                 "QUIC is not built into this climber (MTOP_WITH_QUIC=OFF); use transport tls"};
#endif
}

}  // namespace

DialerResult make_server_dialer(uv_loop_t* loop, const ServerEndpoint& server,
                                const DialerSettings& settings, const Logger& log) {
  switch (server.transport) {
    case TransportKind::tls:
      return make_tls(loop, server, settings);
    case TransportKind::quic:
      return make_quic(loop, server, settings);
    case TransportKind::auto_select: {
      auto tls = make_tls(loop, server, settings);
      if (!tls) return tls;
      auto quic = make_quic(loop, server, settings);
      if (!quic) return quic;
      return std::unique_ptr<io::StreamDialer>(std::make_unique<AutoDialer>(
          loop, std::move(*quic), std::move(*tls), settings.auto_select, log));
    }
  }
  return Failure{Errc::config_invalid, "unknown transport"};
}

}  // namespace mtop
