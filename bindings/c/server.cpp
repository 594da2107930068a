// mtop_server_*: the C handle over mtop::Server (include/mtop/server.hpp), on the caller's
// loop or on an EventThread of its own. The auth callback is an mtop::UserCheck that hands
// each check to C as an mtop_auth_request (auth_request.hpp).
#if MTOP_C_WITH_ENGINES

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "auth_request.hpp"
#include "engine.hpp"
#include "mtop/server.hpp"
#include "server_handle.hpp"

namespace {

using mtop::capi::engine_call;
using mtop::capi::failed;
using mtop::capi::Outcome;
using mtop::capi::version_size;

constexpr std::size_t kConfigSize[] = {0, MTOP_FIELDS_END(mtop_server_config, log_level),
                                       MTOP_FIELDS_END(mtop_server_config, deny_target_ports_count),
                                       MTOP_FIELDS_END(mtop_server_config, workers)};
// The default of deny_target_ports: ServerOptions's (a test compares them).
constexpr std::uint16_t kDefaultDeniedPorts[] = {25};
constexpr std::size_t kCallbacksSize[] = {0, MTOP_FIELDS_END(mtop_server_callbacks, log)};
constexpr std::size_t kStatsSize[] = {0, MTOP_FIELDS_END(mtop_server_stats, bytes_down),
                                      MTOP_FIELDS_END(mtop_server_stats, failures),
                                      MTOP_FIELDS_END(mtop_server_stats, rejections),
                                      MTOP_FIELDS_END(mtop_server_stats, reverse_visitors_refused)};
static_assert(std::size(kConfigSize) == MTOP_SERVER_CONFIG_VERSION + 1);
static_assert(std::size(kCallbacksSize) == MTOP_SERVER_CALLBACKS_VERSION + 1);
static_assert(std::size(kStatsSize) == MTOP_SERVER_STATS_VERSION + 1);
static_assert(MTOP_FAILURE_COUNT == mtop::kTunnelFailureCount);
static_assert(MTOP_FAILURE_AUTH_FAILED == static_cast<int>(mtop::TunnelFailure::auth_failed) &&
                  MTOP_FAILURE_TARGET_DENIED ==
                      static_cast<int>(mtop::TunnelFailure::target_denied) &&
                  MTOP_FAILURE_REVOKED == static_cast<int>(mtop::TunnelFailure::revoked) &&
                  MTOP_FAILURE_HANDSHAKE_TIMEOUT ==
                      static_cast<int>(mtop::TunnelFailure::handshake_timeout),
              "MTOP_FAILURE_* must be the values of mtop::TunnelFailure");
static_assert(MTOP_REJECTION_COUNT == mtop::kAdmissionRuleCount);
static_assert(MTOP_REJECTION_SOURCE_DENIED ==
                      static_cast<int>(mtop::AdmissionRule::source_denied) &&
                  MTOP_REJECTION_MAX_TUNNELS_PER_SOURCE ==
                      static_cast<int>(mtop::AdmissionRule::max_tunnels_per_source) &&
                  MTOP_REJECTION_SOURCE_RATE ==
                      static_cast<int>(mtop::AdmissionRule::source_rate) &&
                  MTOP_REJECTION_TARGET_PORT == static_cast<int>(mtop::AdmissionRule::target_port),
              "MTOP_REJECTION_* must be the values of mtop::AdmissionRule");
static_assert(MTOP_ACCESS_LOG_JSON == static_cast<int>(mtop::AccessLogFormat::json) &&
                  MTOP_ACCESS_LOG_LOGFMT == static_cast<int>(mtop::AccessLogFormat::logfmt),
              "MTOP_ACCESS_LOG_* must be the values of mtop::AccessLogFormat");

// The auth callback as the server's UserCheck. Holds only the C function and its user data,
// so it stays harmless if the server engine keeps it past the handle.
class CUserCheck final : public mtop::UserCheck {
 public:
  CUserCheck(mtop_auth_callback cb, void* user_data) : cb_(cb), user_data_(user_data) {}

  void check(const mtop::UserCheckRequest& request, mtop::UserCheckReply reply) override {
    mtop_auth_request* req = nullptr;
    try {
      req = new mtop_auth_request(request, mtop::UserCheckReply{});
    } catch (...) {
      reply.unavailable();
      return;
    }
    req->reply = std::move(reply);
    if (cb_(req, user_data_) < 0) {
      // The application did not take it: answer for it.
      req->reply.unavailable();
      delete req;
    }
  }

 private:
  mtop_auth_callback cb_;
  void* user_data_;
};

// Reads the caller's callbacks (NULL: none) at its version.
bool read_callbacks(int version, const mtop_server_callbacks* in, mtop_server_callbacks& out) {
  out = mtop_server_callbacks{};
  if (in == nullptr) return true;
  const std::size_t size = version_size(kCallbacksSize, version);
  if (size == 0) return false;
  mtop::capi::read_prefix(out, in, size);
  return true;
}

// The fields of version 2: the admin listener, the access log, admission control.
Outcome admission_and_admin_to_cpp(const mtop_server_config& c, mtop::ServerConfig& out) {
  using mtop::capi::copy_strings;
  mtop::ServerOptions& e = out.engine;
  if (!copy_strings(c.allow_sources, c.allow_sources_count, e.allow_sources)) {
    return failed(MTOP_ERR_INVALID_ARGUMENT, "allow_sources: NULL entry");
  }
  if (!copy_strings(c.deny_sources, c.deny_sources_count, e.deny_sources)) {
    return failed(MTOP_ERR_INVALID_ARGUMENT, "deny_sources: NULL entry");
  }
  if (c.deny_target_ports_count > 0 && c.deny_target_ports == nullptr) {
    return failed(MTOP_ERR_INVALID_ARGUMENT, "deny_target_ports: NULL with a count");
  }
  e.deny_target_ports.assign(c.deny_target_ports, c.deny_target_ports + c.deny_target_ports_count);
  e.max_tunnels_per_source = static_cast<std::size_t>(c.max_tunnels_per_source);
  e.max_tunnels_per_subnet = static_cast<std::size_t>(c.max_tunnels_per_subnet);
  e.subnet_prefix_v4 = c.subnet_prefix_v4;
  e.subnet_prefix_v6 = c.subnet_prefix_v6;
  e.source_rate = c.source_rate;
  e.source_burst = c.source_burst;
  if (c.access_log_format != MTOP_ACCESS_LOG_JSON &&
      c.access_log_format != MTOP_ACCESS_LOG_LOGFMT) {
    return failed(MTOP_ERR_INVALID_ARGUMENT,
                  "access_log_format: MTOP_ACCESS_LOG_JSON or MTOP_ACCESS_LOG_LOGFMT");
  }
  out.access_log_path = c.access_log != nullptr ? c.access_log : "";
  out.access_log_format = static_cast<mtop::AccessLogFormat>(c.access_log_format);
  out.admin.listen = c.admin_listen != nullptr ? c.admin_listen : "";
  out.admin.token_file = c.admin_token_file != nullptr ? c.admin_token_file : "";
  out.admin.metrics_token_file =
      c.admin_metrics_token_file != nullptr ? c.admin_metrics_token_file : "";
  out.admin.per_user_metrics = c.admin_per_user_metrics != 0;
  return Outcome{};
}

Outcome to_cpp(const mtop_server_config& c, mtop::ServerConfig& out) {
  using mtop::capi::copy_strings;
  if (c.listen_count == 0) return failed(MTOP_ERR_CONFIG_INVALID, "listen: no address given");
  if (!copy_strings(c.listen, c.listen_count, out.listen)) {
    return failed(MTOP_ERR_INVALID_ARGUMENT, "listen: NULL address");
  }
  if (!copy_strings(c.allow_targets, c.allow_targets_count, out.engine.allow_targets)) {
    return failed(MTOP_ERR_INVALID_ARGUMENT, "allow_targets: NULL entry");
  }
  out.cert_file = c.cert_file != nullptr ? c.cert_file : "";
  out.key_file = c.key_file != nullptr ? c.key_file : "";
  out.quic = c.quic != 0;
  if (c.reply_mode != MTOP_REJECT_STEALTH && c.reply_mode != MTOP_REJECT_REPLY) {
    return failed(MTOP_ERR_INVALID_ARGUMENT,
                  "reply_mode: MTOP_REJECT_STEALTH or MTOP_REJECT_REPLY");
  }
  out.engine.reply_status = c.reply_mode == MTOP_REJECT_REPLY;
  out.engine.handshake_timeout_ms = c.handshake_timeout_ms;
  out.engine.connect_timeout_ms = c.connect_timeout_ms;
  out.engine.idle_timeout_ms = c.idle_timeout_ms;
  out.engine.drain_timeout_ms = c.drain_timeout_ms;
  out.engine.max_tunnels = static_cast<std::size_t>(c.max_tunnels);
  if (c.users_file != nullptr) {
    out.users.type = "file";
    out.users.path = c.users_file;
  }
  if (!mtop::capi::to_log_level(c.log_level, out.log_level)) {
    return failed(MTOP_ERR_INVALID_ARGUMENT, "log_level: not an MTOP_LOG_* value");
  }
  if (c.workers > mtop::kMaxWorkers) {
    return failed(MTOP_ERR_CONFIG_INVALID,
                  "workers: at most " +
                      mtop::capi::decimal(static_cast<unsigned long long>(mtop::kMaxWorkers)));
  }
  out.workers = c.workers;
  return admission_and_admin_to_cpp(c, out);
}

// Builds the handle around `config` (the common end of both _new functions).
Outcome make_server(mtop_server** out, uv_loop_t* loop, mtop::ServerConfig config,
                    const mtop_server_callbacks& cb, void* user_data) {
  auto handle = std::make_unique<mtop_server>();
  auto host = mtop::capi::Host::make(loop);
  if (!host) return failed(host);
  handle->host = std::move(*host);
  handle->user_data = user_data;
  handle->listen_count = config.listen.size();
  handle->auth_callback = cb.auth != nullptr;

  mtop::ServerHooks hooks;
  if (cb.auth != nullptr)
    hooks.user_check = std::shared_ptr<CUserCheck>(new CUserCheck(cb.auth, user_data));
  hooks.log = mtop::capi::c_logger(cb.log, user_data, config.log_level);

  return mtop::capi::adopt_engine(std::move(handle), &mtop_server::server, out, [&](uv_loop_t* l) {
    return mtop::Server::create(l, std::move(config), std::move(hooks));
  });
}

template <class F>
int on_loop(const mtop_server* s, F&& fn) {
  return mtop::capi::on_server_loop(s, std::forward<F>(fn));
}

}  // namespace

namespace mtop::capi {

Outcome read_server_config(int version, const mtop_server_config* config, ServerConfig& out) {
  const std::size_t size = version_size(kConfigSize, version);
  if (config == nullptr) return failed(MTOP_ERR_INVALID_ARGUMENT, "mtop_server_config: NULL");
  if (size == 0) {
    return failed(MTOP_ERR_INVALID_ARGUMENT,
                  "mtop_server_config: unknown version " + decimal(version));
  }
  mtop_server_config full{};
  if (mtop_server_config_default_versioned(MTOP_SERVER_CONFIG_VERSION, &full) != 0) {
    return failed(MTOP_ERR_INTERNAL);
  }
  read_prefix(full, config, size);
  return to_cpp(full, out);
}

}  // namespace mtop::capi

extern "C" {

MTOP_API int mtop_server_config_default_versioned(int version, mtop_server_config* config) {
  return engine_call([&] {
    const std::size_t size = version_size(kConfigSize, version);
    if (config == nullptr || size == 0) {
      return failed(MTOP_ERR_INVALID_ARGUMENT, "mtop_server_config: NULL or unknown version");
    }
    const mtop::ServerOptions o;
    mtop_server_config c{};
    c.quic = 1;
    c.reply_mode = o.reply_status ? MTOP_REJECT_REPLY : MTOP_REJECT_STEALTH;
    c.handshake_timeout_ms = o.handshake_timeout_ms;
    c.connect_timeout_ms = o.connect_timeout_ms;
    c.idle_timeout_ms = o.idle_timeout_ms;
    c.drain_timeout_ms = o.drain_timeout_ms;
    c.max_tunnels = o.max_tunnels;
    c.log_level = MTOP_LOG_INFO;
    c.access_log_format = MTOP_ACCESS_LOG_JSON;
    c.subnet_prefix_v4 = o.subnet_prefix_v4;
    c.subnet_prefix_v6 = o.subnet_prefix_v6;
    c.source_rate = o.source_rate;
    c.source_burst = o.source_burst;
    c.deny_target_ports = kDefaultDeniedPorts;
    c.deny_target_ports_count = std::size(kDefaultDeniedPorts);
    c.workers = mtop::ServerConfig{}.workers;
    mtop::capi::write_prefix(config, c, size);
    return Outcome{};
  });
}

MTOP_API int mtop_server_new_versioned(mtop_server** out, struct uv_loop_s* loop,
                                       int config_version, const mtop_server_config* config,
                                       int callbacks_version,
                                       const mtop_server_callbacks* callbacks, void* user_data) {
  return engine_call([&] {
    if (out == nullptr || config == nullptr) {
      return failed(MTOP_ERR_INVALID_ARGUMENT, "mtop_server_new: NULL out or config");
    }
    mtop_server_callbacks cb;
    if (!read_callbacks(callbacks_version, callbacks, cb)) {
      return failed(MTOP_ERR_INVALID_ARGUMENT, "mtop_server_callbacks: unknown version " +
                                                   mtop::capi::decimal(callbacks_version));
    }
    mtop::ServerConfig cpp;
    Outcome o = mtop::capi::read_server_config(config_version, config, cpp);
    if (o.code < 0) return o;
    return make_server(out, loop, std::move(cpp), cb, user_data);
  });
}

MTOP_API int mtop_server_new_from_json_versioned(mtop_server** out, struct uv_loop_s* loop,
                                                 const char* json, const char* base_dir,
                                                 int callbacks_version,
                                                 const mtop_server_callbacks* callbacks,
                                                 void* user_data) {
  return engine_call([&] {
    if (out == nullptr || json == nullptr) {
      return failed(MTOP_ERR_INVALID_ARGUMENT, "mtop_server_new_from_json: NULL out or json");
    }
    mtop_server_callbacks cb;
    if (!read_callbacks(callbacks_version, callbacks, cb)) {
      return failed(MTOP_ERR_INVALID_ARGUMENT, "mtop_server_callbacks: unknown version " +
                                                   mtop::capi::decimal(callbacks_version));
    }
    auto config = mtop::parse_server_config(json, base_dir != nullptr ? base_dir : ".");
    if (!config) return failed(config);
    return make_server(out, loop, std::move(*config), cb, user_data);
  });
}

MTOP_API void mtop_server_free(mtop_server* server) {
  if (server == nullptr) return;
  std::unique_ptr<mtop_server> owned(server);
  (void)engine_call([&] {
    owned->host.run([&] { owned->server.reset(); });
    owned->host.join();
    return Outcome{};
  });
}

MTOP_API void* mtop_server_get_user_data(const mtop_server* server) {
  return server == nullptr ? nullptr : server->user_data;
}

MTOP_API int mtop_server_start(mtop_server* server) {
  return on_loop(server, [](mtop_server& h) -> Outcome {
    if (h.started) return failed(MTOP_ERR_INVALID_STATE, "server: started already");
    auto r = h.server->start();
    if (!r) return failed(r);
    h.started = true;
    h.listening = h.server->listening();
    return Outcome{};
  });
}

MTOP_API int mtop_server_port(const mtop_server* server, size_t index, int quic) {
  return on_loop(server, [&](mtop_server& h) -> Outcome {
    if (!h.started) return failed(MTOP_ERR_INVALID_STATE, "server: not started");
    if (index >= h.listen_count) {
      return failed(MTOP_ERR_INVALID_ARGUMENT,
                    "listen index " + mtop::capi::decimal(index) + " out of range");
    }
    // listening() is in config order, TLS before QUIC for each address: count TLS entries
    // to find the address, then take the entry of the asked transport.
    std::size_t address = 0;
    for (std::size_t i = 0; i < h.listening.size(); ++i) {
      const auto& l = h.listening[i];
      if (!l.quic && i > 0) ++address;
      if (address == index && l.quic == (quic != 0)) return Outcome{l.port, {}};
    }
    return failed(MTOP_ERR_INVALID_ARGUMENT, std::string("no ") + (quic != 0 ? "QUIC" : "TLS") +
                                                 " listener for index " +
                                                 mtop::capi::decimal(index));
  });
}

MTOP_API int mtop_server_stop(mtop_server* server) {
  return on_loop(server, [](mtop_server& h) -> Outcome {
    h.server->stop();
    return Outcome{};
  });
}

MTOP_API int mtop_server_drain(mtop_server* server, mtop_server_drain_callback done,
                               void* user_data) {
  return on_loop(server, [&](mtop_server& h) -> Outcome {
    if (h.draining) return failed(MTOP_ERR_INVALID_STATE, "server: draining already");
    mtop_server* self = &h;
    h.server->drain([self, done, user_data] {
      if (done != nullptr) done(self, user_data);
    });
    h.draining = true;
    return Outcome{};
  });
}

MTOP_API int mtop_server_stats_versioned(const mtop_server* server, int version,
                                         mtop_server_stats* stats) {
  const std::size_t size = version_size(kStatsSize, version);
  if (stats == nullptr || size == 0) {
    return engine_call([&] {
      return failed(MTOP_ERR_INVALID_ARGUMENT, "mtop_server_stats: NULL or unknown version");
    });
  }
  return on_loop(server, [&](mtop_server& h) -> Outcome {
    const mtop::ServerStats s = h.server->stats();
    mtop_server_stats full{};
    full.live = s.live;
    full.relaying = s.relaying;
    full.total = s.total;
    full.accepted = s.accepted;
    full.bytes_up = s.bytes_up;
    full.bytes_down = s.bytes_down;
    full.active_users = s.active_users;
    for (std::size_t i = 0; i < MTOP_FAILURE_COUNT; ++i) full.failures[i] = s.failures[i];
    for (std::size_t i = 0; i < MTOP_REJECTION_COUNT; ++i) full.rejections[i] = s.rejections[i];
    full.reverse_ports = s.reverse_ports;
    full.reverse_ports_grace = s.reverse_ports_grace;
    full.reverse_visitors = s.reverse_visitors;
    full.reverse_visitors_total = s.reverse_visitors_total;
    full.reverse_visitors_refused = s.reverse_visitors_refused;
    mtop::capi::write_prefix(stats, full, size);
    return Outcome{};
  });
}

}  // extern "C"

#endif  // MTOP_C_WITH_ENGINES
