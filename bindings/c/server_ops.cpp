// Operations on a running mtop_server (mtop.h, "Operating a running server"): reload, the
// live tunnels, metrics and the admin listener's port, each a call of the public
// mtop::Server on the server's loop. What is handed out is a snapshot the caller owns: a
// C struct at the front of a holder that keeps its strings (freed with the struct's _free).
#if MTOP_C_WITH_ENGINES

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine.hpp"
#include "mtop/server.hpp"
#include "server_handle.hpp"

namespace {

using mtop::capi::engine_call;
using mtop::capi::failed;
using mtop::capi::on_server_loop;
using mtop::capi::Outcome;

/// A list of C strings over std::strings that it owns (their c_str() stay put: the strings
/// are not touched once the pointers are taken).
struct CStrings {
  std::vector<std::string> strings;
  std::vector<const char*> pointers;
  void set(std::vector<std::string> s) {
    strings = std::move(s);
    pointers.clear();
    for (const auto& x : strings) pointers.push_back(x.c_str());
  }
};

struct ReloadReportHolder : mtop_reload_report {
  CStrings changed_strings, not_applied_strings;
  std::string summary_string;
};

struct TunnelListHolder : mtop_tunnel_list {
  std::vector<mtop::LiveTunnel> tunnels;
  std::vector<mtop_tunnel_info> infos;
  std::vector<const mtop_tunnel_info*> pointers;
};

/// Applies `next` on the loop and hands out the report.
Outcome reload_with(mtop_server& h, mtop::ServerConfig next, mtop_reload_report** report) {
  auto r = h.server->reload(std::move(next));
  if (!r) return failed(r);
  if (report != nullptr) {
    auto holder = std::make_unique<ReloadReportHolder>();
    holder->summary_string = mtop::reload_summary(*r);
    holder->changed_strings.set(std::move(r->changed));
    holder->not_applied_strings.set(std::move(r->warnings));
    mtop_reload_report& c = *holder;
    c = mtop_reload_report{};
    c.changed = holder->changed_strings.pointers.data();
    c.changed_count = holder->changed_strings.pointers.size();
    c.not_applied = holder->not_applied_strings.pointers.data();
    c.not_applied_count = holder->not_applied_strings.pointers.size();
    c.summary = holder->summary_string.c_str();
    *report = holder.release();
  }
  return Outcome{};
}

}  // namespace

extern "C" {

MTOP_API int mtop_server_reload_versioned(mtop_server* server, int config_version,
                                          const mtop_server_config* config,
                                          mtop_reload_report** report) {
  return on_server_loop(server, [&](mtop_server& h) {
    mtop::ServerConfig next;
    Outcome o = mtop::capi::read_server_config(config_version, config, next);
    if (o.code < 0) return o;
    return reload_with(h, std::move(next), report);
  });
}

MTOP_API int mtop_server_reload_json(mtop_server* server, const char* json, const char* base_dir,
                                     mtop_reload_report** report) {
  if (json == nullptr) {
    return engine_call([] { return failed(MTOP_ERR_INVALID_ARGUMENT, "reload: NULL json"); });
  }
  return on_server_loop(server, [&](mtop_server& h) {
    auto next = mtop::parse_server_config(json, base_dir != nullptr ? base_dir : ".");
    if (!next) return failed(next);
    return reload_with(h, std::move(*next), report);
  });
}

MTOP_API void mtop_reload_report_free(mtop_reload_report* report) {
  delete static_cast<ReloadReportHolder*>(report);
}

MTOP_API int mtop_server_tunnels(const mtop_server* server, mtop_tunnel_list** out) {
  if (out == nullptr) {
    return engine_call([] { return failed(MTOP_ERR_INVALID_ARGUMENT, "tunnels: NULL out"); });
  }
  return on_server_loop(server, [&](mtop_server& h) {
    auto holder = std::make_unique<TunnelListHolder>();
    holder->tunnels = h.server->tunnels();
    holder->infos.reserve(holder->tunnels.size());
    for (const auto& t : holder->tunnels) {
      mtop_tunnel_info i{};
      i.id = t.id;
      i.transport = t.transport.c_str();
      i.listener = t.listener.c_str();
      i.source = t.source.c_str();
      i.user = t.user.c_str();
      i.target = t.target.c_str();
      i.stage = t.stage.c_str();
      i.bytes_up = t.up;
      i.bytes_down = t.down;
      i.age_ms = t.age_ms;
      holder->infos.push_back(i);
    }
    for (const auto& i : holder->infos) holder->pointers.push_back(&i);
    mtop_tunnel_list& c = *holder;
    c.items = holder->pointers.data();
    c.count = holder->pointers.size();
    const int n = mtop::capi::count_of(c.count);
    *out = holder.release();
    return Outcome{n, {}};
  });
}

MTOP_API void mtop_tunnel_list_free(mtop_tunnel_list* list) {
  delete static_cast<TunnelListHolder*>(list);
}

MTOP_API int mtop_server_close_tunnel(mtop_server* server, uint64_t id) {
  return on_server_loop(server, [&](mtop_server& h) {
    if (h.server->close_tunnel(id)) return Outcome{};
    return failed(MTOP_ERR_INVALID_ARGUMENT,
                  "no live tunnel " + mtop::capi::decimal(static_cast<unsigned long long>(id)));
  });
}

MTOP_API int mtop_server_close_user_tunnels(mtop_server* server, const char* user) {
  if (user == nullptr) {
    return engine_call([] { return failed(MTOP_ERR_INVALID_ARGUMENT, "user: NULL"); });
  }
  return on_server_loop(server, [&](mtop_server& h) {
    return Outcome{mtop::capi::count_of(h.server->revoke_user(user)), {}};
  });
}

MTOP_API int mtop_server_metrics_text(const mtop_server* server, char** text, size_t* len) {
  if (text == nullptr) {
    return engine_call([] { return failed(MTOP_ERR_INVALID_ARGUMENT, "metrics: NULL text"); });
  }
  return on_server_loop(server, [&](mtop_server& h) {
    const std::string metrics = h.server->metrics_text();
    auto* copy = static_cast<char*>(std::malloc(metrics.size() + 1));
    if (copy == nullptr) return failed(MTOP_ERR_NOMEM, "metrics: out of memory");
    std::memcpy(copy, metrics.c_str(), metrics.size() + 1);
    *text = copy;
    if (len != nullptr) *len = metrics.size();
    return Outcome{};
  });
}

MTOP_API void mtop_string_free(char* text) {
  std::free(text);
}

MTOP_API int mtop_server_admin_port(const mtop_server* server) {
  return on_server_loop(server, [](mtop_server& h) {
    if (!h.started) return failed(MTOP_ERR_INVALID_STATE, "server: not started");
    return Outcome{h.server->admin_port(), {}};
  });
}

}  // extern "C"

#endif  // MTOP_C_WITH_ENGINES
