// mtop_climber_*: the C handle over mtop::Climber (include/mtop/climber.hpp), on the caller's
// loop or on an EventThread of its own. mtop_climber_open_tunnel() hands the application a
// socket: one end of a socketpair whose other end is joined to the tunnel (fd_bridge.hpp).
#if MTOP_C_WITH_ENGINES

#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <utility>

#include "engine.hpp"
#include "fd_bridge.hpp"
#include "mtop/climber.hpp"
#include "mtop/protocol.hpp"

struct mtop_climber {
  mtop::capi::Host host;
  std::unique_ptr<mtop::Climber> climber;  // lives and dies on host's loop thread
  void* user_data = nullptr;
  std::size_t forward_count = 0;
  bool started = false;
  std::unique_ptr<mtop::capi::FdBridges> bridges;  // the fds of open tunnels; loop thread
};

namespace {

using mtop::capi::engine_call;
using mtop::capi::failed;
using mtop::capi::Outcome;
using mtop::capi::version_size;

constexpr std::size_t kConfigSize[] = {
    0, MTOP_FIELDS_END(mtop_climber_config, log_level),
    MTOP_FIELDS_END(mtop_climber_config, reverse_proxy_protocol)};
constexpr std::size_t kStatsSize[] = {0, MTOP_FIELDS_END(mtop_climber_stats, bytes_down),
                                      MTOP_FIELDS_END(mtop_climber_stats, reverse_visitors_total)};
constexpr std::size_t kReverseStateSize[] = {0,
                                             MTOP_FIELDS_END(mtop_reverse_state, visitors_total)};
static_assert(std::size(kConfigSize) == MTOP_CLIMBER_CONFIG_VERSION + 1);
static_assert(std::size(kStatsSize) == MTOP_CLIMBER_STATS_VERSION + 1);
static_assert(std::size(kReverseStateSize) == MTOP_REVERSE_STATE_VERSION + 1);
static_assert(MTOP_STATUS_NOT_PERMITTED == static_cast<int>(mtop::Status::not_permitted) &&
                  MTOP_STATUS_PORT_IN_USE == static_cast<int>(mtop::Status::port_in_use) &&
                  MTOP_STATUS_BAD_REQUEST == static_cast<int>(mtop::Status::bad_request),
              "MTOP_STATUS_* must be the values of mtop::Status");

// The reverse rules of version 2, each through the parser of climber -R and climber.json.
Outcome reverses_to_cpp(const mtop_climber_config& c, mtop::ClimberOptions& out) {
  if (c.reverse_count > 0 && c.reverses == nullptr) {
    return failed(MTOP_ERR_INVALID_ARGUMENT, "reverses: NULL array");
  }
  for (std::size_t i = 0; i < c.reverse_count; ++i) {
    if (c.reverses[i] == nullptr) return failed(MTOP_ERR_INVALID_ARGUMENT, "reverses: NULL entry");
    auto rule = mtop::parse_reverse_rule(c.reverses[i]);
    if (!rule) return failed(rule);
    rule->proxy_protocol = c.reverse_proxy_protocol != nullptr && c.reverse_proxy_protocol[i] != 0;
    out.reverses.push_back(std::move(*rule));
  }
  return Outcome{};
}

Outcome to_cpp(const mtop_climber_config& c, mtop::ClimberConfig& out) {
  if (c.server_uri == nullptr) return failed(MTOP_ERR_CONFIG_INVALID, "server_uri: missing");
  auto endpoint = mtop::parse_server_uri(c.server_uri);
  if (!endpoint) return failed(endpoint);
  out.server = std::move(*endpoint);
  if (c.password != nullptr) out.server.password = c.password;
  switch (c.transport) {
    case MTOP_TRANSPORT_DEFAULT:
      break;
    case MTOP_TRANSPORT_TLS:
      out.server.transport = mtop::TransportKind::tls;
      break;
    case MTOP_TRANSPORT_QUIC:
      out.server.transport = mtop::TransportKind::quic;
      break;
    case MTOP_TRANSPORT_AUTO:
      out.server.transport = mtop::TransportKind::auto_select;
      break;
    default:
      return failed(MTOP_ERR_INVALID_ARGUMENT, "transport: not an MTOP_TRANSPORT_* value");
  }
  if (c.ca_file != nullptr) out.server.ca_file = c.ca_file;
  if (c.pin != nullptr) out.server.pin = c.pin;
  if (c.insecure != 0) out.server.insecure = true;
  if (c.socks_listen != nullptr) out.engine.socks_listen = c.socks_listen;
  if (c.http_listen != nullptr) out.engine.http_listen = c.http_listen;
  if (c.forward_count > 0 && c.forwards == nullptr) {
    return failed(MTOP_ERR_INVALID_ARGUMENT, "forwards: NULL array");
  }
  for (std::size_t i = 0; i < c.forward_count; ++i) {
    if (c.forwards[i] == nullptr) return failed(MTOP_ERR_INVALID_ARGUMENT, "forwards: NULL entry");
    auto rule = mtop::parse_forward_rule(c.forwards[i]);
    if (!rule) return failed(rule);
    out.engine.forwards.push_back(std::move(*rule));
  }
  if (Outcome r = reverses_to_cpp(c, out.engine); r.code < 0) return r;
  out.engine.handshake_timeout_ms = c.handshake_timeout_ms;
  out.engine.connect_timeout_ms = c.connect_timeout_ms;
  out.engine.idle_timeout_ms = c.idle_timeout_ms;
  if (!mtop::capi::to_log_level(c.log_level, out.log_level)) {
    return failed(MTOP_ERR_INVALID_ARGUMENT, "log_level: not an MTOP_LOG_* value");
  }
  return Outcome{};
}

Outcome make_climber(mtop_climber** out, uv_loop_t* loop, mtop::ClimberConfig config,
                     mtop_log_callback log, void* user_data) {
  auto handle = std::make_unique<mtop_climber>();
  auto host = mtop::capi::Host::make(loop);
  if (!host) return failed(host);
  handle->host = std::move(*host);
  handle->user_data = user_data;
  handle->forward_count = config.engine.forwards.size();
  handle->bridges = std::make_unique<mtop::capi::FdBridges>(
      handle->host.loop(), config.engine.idle_timeout_ms, config.engine.max_pending);
  mtop::Logger logger = mtop::capi::c_logger(log, user_data, config.log_level);

  return mtop::capi::adopt_engine(
      std::move(handle), &mtop_climber::climber, out,
      [&](uv_loop_t* l) { return mtop::Climber::create(l, std::move(config), std::move(logger)); });
}

template <class F>
int on_loop(const mtop_climber* c, F&& fn) {
  return mtop::capi::on_handle_loop(c, "climber", std::forward<F>(fn));
}

}  // namespace

extern "C" {

MTOP_API int mtop_climber_config_default_versioned(int version, mtop_climber_config* config) {
  return engine_call([&] {
    const std::size_t size = version_size(kConfigSize, version);
    if (config == nullptr || size == 0) {
      return failed(MTOP_ERR_INVALID_ARGUMENT, "mtop_climber_config: NULL or unknown version");
    }
    const mtop::ClimberOptions o;
    mtop_climber_config c{};
    c.transport = MTOP_TRANSPORT_DEFAULT;
    c.handshake_timeout_ms = o.handshake_timeout_ms;
    c.connect_timeout_ms = o.connect_timeout_ms;
    c.idle_timeout_ms = o.idle_timeout_ms;
    c.log_level = MTOP_LOG_INFO;
    mtop::capi::write_prefix(config, c, size);
    return Outcome{};
  });
}

MTOP_API int mtop_climber_new_versioned(mtop_climber** out, struct uv_loop_s* loop,
                                        int config_version, const mtop_climber_config* config,
                                        mtop_log_callback log, void* user_data) {
  return engine_call([&] {
    const std::size_t size = version_size(kConfigSize, config_version);
    if (out == nullptr || config == nullptr) {
      return failed(MTOP_ERR_INVALID_ARGUMENT, "mtop_climber_new: NULL out or config");
    }
    if (size == 0) {
      return failed(MTOP_ERR_INVALID_ARGUMENT,
                    "mtop_climber_config: unknown version " + mtop::capi::decimal(config_version));
    }
    mtop_climber_config full{};
    if (mtop_climber_config_default_versioned(MTOP_CLIMBER_CONFIG_VERSION, &full) != 0) {
      return failed(MTOP_ERR_INTERNAL);
    }
    mtop::capi::read_prefix(full, config, size);
    mtop::ClimberConfig cpp;
    Outcome o = to_cpp(full, cpp);
    if (o.code < 0) return o;
    return make_climber(out, loop, std::move(cpp), log, user_data);
  });
}

MTOP_API int mtop_climber_new_from_json(mtop_climber** out, struct uv_loop_s* loop,
                                        const char* json, const char* base_dir,
                                        mtop_log_callback log, void* user_data) {
  return engine_call([&] {
    if (out == nullptr || json == nullptr) {
      return failed(MTOP_ERR_INVALID_ARGUMENT, "mtop_climber_new_from_json: NULL out or json");
    }
    auto config = mtop::parse_climber_config(json, base_dir != nullptr ? base_dir : ".");
    if (!config) return failed(config);
    return make_climber(out, loop, std::move(*config), log, user_data);
  });
}

MTOP_API void mtop_climber_free(mtop_climber* climber) {
  if (climber == nullptr) return;
  std::unique_ptr<mtop_climber> owned(climber);
  (void)engine_call([&] {
    owned->host.run([&] {
      owned->bridges.reset();  // closes both ends' streams: the app's fd reads EOF
      owned->climber.reset();  // pending open_tunnel callbacks run with cancelled
    });
    owned->host.join();
    return Outcome{};
  });
}

MTOP_API void* mtop_climber_get_user_data(const mtop_climber* climber) {
  return climber == nullptr ? nullptr : climber->user_data;
}

MTOP_API int mtop_climber_start(mtop_climber* climber) {
  return on_loop(climber, [](mtop_climber& h) -> Outcome {
    if (h.started) return failed(MTOP_ERR_INVALID_STATE, "climber: started already");
    auto r = h.climber->start();
    if (!r) return failed(r);
    h.started = true;
    return Outcome{};
  });
}

MTOP_API int mtop_climber_stop(mtop_climber* climber) {
  return on_loop(climber, [](mtop_climber& h) -> Outcome {
    h.climber->stop();
    return Outcome{};
  });
}

MTOP_API int mtop_climber_socks_port(const mtop_climber* climber) {
  return on_loop(climber, [](mtop_climber& h) { return Outcome{h.climber->socks_port(), {}}; });
}

MTOP_API int mtop_climber_http_port(const mtop_climber* climber) {
  return on_loop(climber, [](mtop_climber& h) { return Outcome{h.climber->http_port(), {}}; });
}

MTOP_API int mtop_climber_forward_port(const mtop_climber* climber, size_t index) {
  return on_loop(climber, [&](mtop_climber& h) -> Outcome {
    if (index >= h.forward_count) {
      return failed(MTOP_ERR_INVALID_ARGUMENT,
                    "forward index " + mtop::capi::decimal(index) + " out of range");
    }
    const auto ports = h.climber->forward_ports();
    return Outcome{index < ports.size() ? ports[index] : 0, {}};
  });
}

MTOP_API int mtop_climber_reverse_port(const mtop_climber* climber, size_t index) {
  mtop_reverse_state state{};
  const int rc = mtop_climber_reverse_state_versioned(climber, index, 1, &state);
  return rc < 0 ? rc : state.port;
}

MTOP_API int mtop_climber_reverse_state_versioned(const mtop_climber* climber, size_t index,
                                                  int version, mtop_reverse_state* state) {
  const std::size_t size = version_size(kReverseStateSize, version);
  if (state == nullptr || size == 0) {
    return engine_call([&] {
      return failed(MTOP_ERR_INVALID_ARGUMENT, "mtop_reverse_state: NULL or unknown version");
    });
  }
  return on_loop(climber, [&](mtop_climber& h) -> Outcome {
    const auto states = h.climber->reverse_states();  // one per configured rule
    if (index >= states.size()) {
      return failed(MTOP_ERR_INVALID_ARGUMENT,
                    "reverse index " + mtop::capi::decimal(index) + " out of range");
    }
    const mtop::ReverseState& s = states[index];
    mtop_reverse_state full{};
    full.port = s.port;
    full.published = s.published ? 1 : 0;
    full.refusal = static_cast<int>(s.refusal);
    full.visitors_total = s.visitors_total;
    mtop::capi::write_prefix(state, full, size);
    return Outcome{};
  });
}

MTOP_API int mtop_climber_stats_versioned(const mtop_climber* climber, int version,
                                          mtop_climber_stats* stats) {
  const std::size_t size = version_size(kStatsSize, version);
  if (stats == nullptr || size == 0) {
    return engine_call([&] {
      return failed(MTOP_ERR_INVALID_ARGUMENT, "mtop_climber_stats: NULL or unknown version");
    });
  }
  return on_loop(climber, [&](mtop_climber& h) -> Outcome {
    const mtop::ClimberStats s = h.climber->stats();
    mtop_climber_stats full{};
    full.active_connections = s.active_connections;
    full.total_connections = s.total_connections;
    full.refused_connections = s.refused_connections;
    full.tunnels_opened = s.tunnels_opened;
    full.tunnels_failed = s.tunnels_failed;
    full.bytes_up = s.bytes_up;
    full.bytes_down = s.bytes_down;
    full.reverse_published = s.reverse_published;
    full.reverse_visitors_total = s.reverse_visitors_total;
    mtop::capi::write_prefix(stats, full, size);
    return Outcome{};
  });
}

MTOP_API int mtop_climber_open_tunnel(mtop_climber* climber, const char* host, uint16_t port,
                                      mtop_tunnel_callback cb, void* user_data) {
  if (host == nullptr || host[0] == '\0' || port == 0 || cb == nullptr) {
    return engine_call([&] {
      return failed(MTOP_ERR_INVALID_ARGUMENT,
                    "mtop_climber_open_tunnel: host, a port and a callback are required");
    });
  }
  return on_loop(climber, [&](mtop_climber& h) -> Outcome {
    mtop_climber* self = &h;
    h.climber->open_tunnel(
        host, port, [self, cb, user_data](mtop::Result<mtop::io::StreamPtr> tunnel) {
          int fd = -1;
          mtop::capi::Outcome o;
          try {
            if (!tunnel) {
              o = failed(tunnel);
            } else if (!self->bridges) {  // being freed
              o = failed(MTOP_ERR_CANCELLED, "climber freed");
            } else if (auto bridged = self->bridges->open(std::move(*tunnel)); !bridged) {
              o = failed(MTOP_ERR_SYSTEM, std::string(bridged.message()));
            } else {
              fd = *bridged;
            }
          } catch (const std::bad_alloc&) {
            o = mtop::capi::Outcome{MTOP_ERR_NOMEM, "out of memory"};
          } catch (...) {
            o = mtop::capi::Outcome{MTOP_ERR_INTERNAL, "internal error"};
          }
          if (o.code < 0 && o.message.empty()) o.message = mtop_strerror(o.code);
          cb(self, o.code < 0 ? o.code : 0, o.code < 0 ? -1 : fd,
             o.code < 0 ? o.message.c_str() : "", user_data);
        });
    return Outcome{};
  });
}

}  // extern "C"

#endif  // MTOP_C_WITH_ENGINES
