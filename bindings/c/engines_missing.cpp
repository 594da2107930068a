// The engine sections of mtop.h in a build without the engines (MTOP_CORE_ONLY, or no
// mtop_api target): every entry point exists, so the ABI is the same in every build, and
// says MTOP_ERR_NOT_BUILT_IN. With the engines, server.cpp, climber.cpp and auth_request.cpp
// define them instead.
#if !MTOP_C_WITH_ENGINES

#include "shim.hpp"

namespace {
int not_built_in() noexcept {
  try {
    mtop::capi::set_last_error("the server and climber engines are not built into this libmtop");
  } catch (...) {
  }
  return MTOP_ERR_NOT_BUILT_IN;
}
}  // namespace

extern "C" {

MTOP_API int mtop_server_config_default_versioned(int, mtop_server_config*) {
  return not_built_in();
}
MTOP_API int mtop_server_new_versioned(mtop_server**, struct uv_loop_s*, int,
                                       const mtop_server_config*, int, const mtop_server_callbacks*,
                                       void*) {
  return not_built_in();
}
MTOP_API int mtop_server_new_from_json_versioned(mtop_server**, struct uv_loop_s*, const char*,
                                                 const char*, int, const mtop_server_callbacks*,
                                                 void*) {
  return not_built_in();
}
MTOP_API void mtop_server_free(mtop_server*) {}
MTOP_API void* mtop_server_get_user_data(const mtop_server*) {
  return nullptr;
}
MTOP_API int mtop_server_start(mtop_server*) {
  return not_built_in();
}
MTOP_API int mtop_server_port(const mtop_server*, size_t, int) {
  return not_built_in();
}
MTOP_API int mtop_server_stop(mtop_server*) {
  return not_built_in();
}
MTOP_API int mtop_server_drain(mtop_server*, mtop_server_drain_callback, void*) {
  return not_built_in();
}
MTOP_API int mtop_server_stats_versioned(const mtop_server*, int, mtop_server_stats*) {
  return not_built_in();
}

// Operations (server_ops.cpp, user_admin.cpp): nothing is ever handed out, so the _free
// functions have nothing to free.
MTOP_API int mtop_server_reload_versioned(mtop_server*, int, const mtop_server_config*,
                                          mtop_reload_report**) {
  return not_built_in();
}
MTOP_API int mtop_server_reload_json(mtop_server*, const char*, const char*, mtop_reload_report**) {
  return not_built_in();
}
MTOP_API void mtop_reload_report_free(mtop_reload_report*) {}
MTOP_API int mtop_server_tunnels(const mtop_server*, mtop_tunnel_list**) {
  return not_built_in();
}
MTOP_API void mtop_tunnel_list_free(mtop_tunnel_list*) {}
MTOP_API int mtop_server_close_tunnel(mtop_server*, uint64_t) {
  return not_built_in();
}
MTOP_API int mtop_server_close_user_tunnels(mtop_server*, const char*) {
  return not_built_in();
}
MTOP_API int mtop_server_metrics_text(const mtop_server*, char**, size_t*) {
  return not_built_in();
}
MTOP_API void mtop_string_free(char*) {}
MTOP_API int mtop_server_admin_port(const mtop_server*) {
  return not_built_in();
}
MTOP_API int mtop_user_admin_new(mtop_user_admin**, mtop_server*) {
  return not_built_in();
}
MTOP_API void mtop_user_admin_free(mtop_user_admin*) {}
MTOP_API int mtop_user_admin_list(mtop_user_admin*, mtop_user_list**) {
  return not_built_in();
}
MTOP_API void mtop_user_list_free(mtop_user_list*) {}
MTOP_API int mtop_user_admin_add(mtop_user_admin*, const char*, const char*) {
  return not_built_in();
}
MTOP_API int mtop_user_admin_delete(mtop_user_admin*, const char*) {
  return not_built_in();
}
MTOP_API int mtop_user_admin_set_password(mtop_user_admin*, const char*, const char*) {
  return not_built_in();
}
MTOP_API int mtop_user_admin_set_enabled(mtop_user_admin*, const char*, int) {
  return not_built_in();
}
MTOP_API int mtop_user_admin_set_quota(mtop_user_admin*, const char*, const uint64_t*, int) {
  return not_built_in();
}
MTOP_API int mtop_user_admin_set_max_tunnels(mtop_user_admin*, const char*, const uint32_t*) {
  return not_built_in();
}
MTOP_API int mtop_user_admin_set_rate_limit(mtop_user_admin*, const char*, const uint64_t*) {
  return not_built_in();
}
MTOP_API int mtop_user_admin_set_expiry(mtop_user_admin*, const char*, const int64_t*) {
  return not_built_in();
}
MTOP_API int mtop_user_admin_set_publish(mtop_user_admin*, const char*, const char*) {
  return not_built_in();
}

MTOP_API const char* mtop_auth_request_username(const mtop_auth_request*, size_t*) {
  return nullptr;
}
MTOP_API const char* mtop_auth_request_password(const mtop_auth_request*, size_t*) {
  return nullptr;
}
MTOP_API const char* mtop_auth_request_source(const mtop_auth_request*) {
  return nullptr;
}
MTOP_API const char* mtop_auth_request_target_host(const mtop_auth_request*) {
  return nullptr;
}
MTOP_API int mtop_auth_request_target_port(const mtop_auth_request*) {
  return not_built_in();
}
MTOP_API int mtop_auth_request_allow_versioned(mtop_auth_request*, int, const mtop_user_grant*) {
  return not_built_in();
}
MTOP_API int mtop_auth_request_deny(mtop_auth_request*) {
  return not_built_in();
}
MTOP_API int mtop_auth_request_unavailable(mtop_auth_request*) {
  return not_built_in();
}

MTOP_API int mtop_climber_config_default_versioned(int, mtop_climber_config*) {
  return not_built_in();
}
MTOP_API int mtop_climber_new_versioned(mtop_climber**, struct uv_loop_s*, int,
                                        const mtop_climber_config*, mtop_log_callback, void*) {
  return not_built_in();
}
MTOP_API int mtop_climber_new_from_json(mtop_climber**, struct uv_loop_s*, const char*, const char*,
                                        mtop_log_callback, void*) {
  return not_built_in();
}
MTOP_API void mtop_climber_free(mtop_climber*) {}
MTOP_API void* mtop_climber_get_user_data(const mtop_climber*) {
  return nullptr;
}
MTOP_API int mtop_climber_start(mtop_climber*) {
  return not_built_in();
}
MTOP_API int mtop_climber_stop(mtop_climber*) {
  return not_built_in();
}
MTOP_API int mtop_climber_socks_port(const mtop_climber*) {
  return not_built_in();
}
MTOP_API int mtop_climber_http_port(const mtop_climber*) {
  return not_built_in();
}
MTOP_API int mtop_climber_forward_port(const mtop_climber*, size_t) {
  return not_built_in();
}
MTOP_API int mtop_climber_reverse_port(const mtop_climber*, size_t) {
  return not_built_in();
}
MTOP_API int mtop_climber_reverse_state_versioned(const mtop_climber*, size_t, int,
                                                  mtop_reverse_state*) {
  return not_built_in();
}
MTOP_API int mtop_climber_stats_versioned(const mtop_climber*, int, mtop_climber_stats*) {
  return not_built_in();
}
MTOP_API int mtop_climber_open_tunnel(mtop_climber*, const char*, uint16_t, mtop_tunnel_callback,
                                      void*) {
  return not_built_in();
}

}  // extern "C"

#endif  // !MTOP_C_WITH_ENGINES
