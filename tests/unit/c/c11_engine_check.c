/*
 * Compiled as C11 with -pedantic-errors -Werror (tests/unit/c/CMakeLists.txt) whenever the
 * tests are built, like c11_compile_check.c: the version macros, the versioned forms and the
 * engine sections of mtop.h used the way C code would. Compiled only, never linked or run.
 */
#include "mtop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int mtop_c11_version_check(void);

int mtop_c11_version_check(void) {
  mtop_server_settings settings;
  mtop_server_event sev;
  mtop_client_event cev;
  bool failed = false;
  failed |= mtop_version_check(MTOP_VERSION_MAJOR, MTOP_VERSION_MINOR) != 1;
  failed |= mtop_version_num() != MTOP_VERSION_NUM;
  failed |= mtop_server_settings_default_versioned(1, &settings) < 0;
  failed |= (mtop_server_settings_default)(&settings) < 0;
  failed |= mtop_server_handshake_next_event_versioned(NULL, MTOP_SERVER_EVENT_VERSION, &sev) >= 0;
  failed |= mtop_client_handshake_next_event_versioned(NULL, MTOP_CLIENT_EVENT_VERSION, &cev) >= 0;
  failed |= (mtop_server_handshake_next_event)(NULL, &sev) >= 0;
  failed |= (mtop_client_handshake_next_event)(NULL, &cev) >= 0;
  failed |= settings.version != MTOP_SETTINGS_VERSION;
  return failed ? MTOP_ERR_INTERNAL : 0;
}

static int check_auth(mtop_auth_request *req, void *user_data) {
  size_t len = 0;
  mtop_user_grant grant = {NULL, 0, 0, NULL};
  (void)user_data;
  if (mtop_auth_request_username(req, &len) == NULL || mtop_auth_request_password(req, NULL) == NULL ||
      mtop_auth_request_source(req) == NULL || mtop_auth_request_target_host(req) == NULL ||
      mtop_auth_request_target_port(req) < 0) {
    return mtop_auth_request_deny(req);
  }
  if (len == 0) return mtop_auth_request_unavailable(req);
  grant.user = "someone";
  grant.publish = "127.0.0.1:8000-8099";
  return mtop_auth_request_allow(req, &grant);
}

static void on_log(int level, const char *message, void *user_data) {
  (void)level;
  (void)message;
  (void)user_data;
}

static void on_drained(mtop_server *server, void *user_data) {
  (void)server;
  (void)user_data;
}

static void on_tunnel(mtop_climber *climber, int status, int fd, const char *message,
                      void *user_data) {
  (void)climber;
  (void)status;
  (void)fd;
  (void)message;
  (void)user_data;
}

/* The operations section: reload, tunnels, metrics, users (compiled only). */
static int mtop_server_operations(mtop_server *server, mtop_server_config *config) {
  static const char *const deny[] = {"192.0.2.0/24"};
  static const uint16_t ports[] = {25, 465};
  mtop_reload_report *report = NULL;
  mtop_tunnel_list *tunnels = NULL;
  mtop_user_admin *admin = NULL;
  mtop_user_list *users = NULL;
  char *metrics = NULL;
  size_t len = 0, i;
  uint64_t quota = 1000000;
  uint32_t max_tunnels = 4;
  int64_t expires = 0;
  bool failed = false;

  config->admin_listen = "127.0.0.1:0";
  config->admin_token_file = "admin.token";
  config->access_log = "access.log";
  config->access_log_format = MTOP_ACCESS_LOG_LOGFMT;
  config->deny_sources = deny;
  config->deny_sources_count = 1;
  config->deny_target_ports = ports;
  config->deny_target_ports_count = sizeof ports / sizeof ports[0];
  config->source_rate = 2.5;
  failed |= mtop_server_reload(server, config, &report) < 0;
  for (i = 0; report != NULL && i < report->changed_count; ++i) failed |= !report->changed[i];
  failed |= report != NULL && report->summary == NULL;
  mtop_reload_report_free(report);
  failed |= mtop_server_reload_json(server, "{}", NULL, NULL) < 0;
  failed |= mtop_server_tunnels(server, &tunnels) < 0;
  for (i = 0; tunnels != NULL && i < tunnels->count; ++i) {
    const mtop_tunnel_info *t = tunnels->items[i];
    failed |= t->bytes_up + t->bytes_down + t->age_ms == 0 || !t->user || !t->stage;
    failed |= mtop_server_close_tunnel(server, t->id) < 0;
  }
  mtop_tunnel_list_free(tunnels);
  failed |= mtop_server_close_user_tunnels(server, "alice") < 0;
  failed |= mtop_server_metrics_text(server, &metrics, &len) < 0 || len == 0;
  mtop_string_free(metrics);
  failed |= mtop_server_admin_port(server) <= 0;

  failed |= mtop_user_admin_new(&admin, server) < 0;
  failed |= mtop_user_admin_add(admin, "alice", "password") < 0;
  failed |= mtop_user_admin_set_password(admin, "alice", "another") < 0;
  failed |= mtop_user_admin_set_enabled(admin, "alice", 0) < 0;
  failed |= mtop_user_admin_set_quota(admin, "alice", &quota, 1) < 0;
  failed |= mtop_user_admin_set_max_tunnels(admin, "alice", &max_tunnels) < 0;
  failed |= mtop_user_admin_set_rate_limit(admin, "alice", NULL) < 0;
  failed |= mtop_user_admin_set_expiry(admin, "alice", &expires) < 0;
  failed |= mtop_user_admin_set_publish(admin, "alice", "8000-8099") < 0;
  failed |= mtop_user_admin_list(admin, &users) < 0;
  for (i = 0; users != NULL && i < users->count; ++i) {
    const mtop_user_info *u = users->items[i];
    failed |= !u->username || (u->has_quota_bytes && u->quota_bytes < u->used_bytes);
    failed |= !u->publish || strcmp(u->publish, "8000-8099") != 0;
  }
  mtop_user_list_free(users);
  failed |= mtop_user_admin_delete(admin, "alice") < 0;
  mtop_user_admin_free(admin);
  return failed ? MTOP_ERR_INTERNAL : 0;
}

int mtop_c11_engine_check(struct uv_loop_s *loop);

/* The engine sections, used the way C code would (compiled only). */
int mtop_c11_engine_check(struct uv_loop_s *loop) {
  static const char *const listen[] = {"127.0.0.1:0"};
  mtop_server_config config;
  mtop_server_callbacks callbacks = {check_auth, on_log};
  mtop_server_stats stats;
  mtop_climber_config cconfig;
  mtop_climber_stats cstats;
  mtop_reverse_state rstate;
  static const char *const reverses[] = {"127.0.0.1:8000:127.0.0.1:22", "0:[::1]:80"};
  static const int proxy_protocol[] = {0, 1};
  mtop_server *server = NULL;
  mtop_climber *climber = NULL;
  bool failed = false;

  failed |= mtop_server_config_default(&config) < 0;
  config.listen = listen;
  config.listen_count = 1;
  config.reply_mode = MTOP_REJECT_REPLY;
  config.log_level = MTOP_LOG_DEBUG;
  failed |= mtop_server_new(&server, loop, &config, &callbacks, NULL) < 0;
  failed |= mtop_server_new_from_json(&server, NULL, "{}", NULL, &callbacks, NULL) < 0;
  failed |= mtop_last_error_message() == NULL;
  failed |= mtop_server_get_user_data(server) != NULL;
  failed |= mtop_server_start(server) < 0;
  failed |= mtop_server_port(server, 0, 1) < 0;
  failed |= mtop_server_stats(server, &stats) < 0 || stats.failures[MTOP_FAILURE_AUTH_FAILED];
  failed |= stats.rejections[MTOP_REJECTION_SOURCE_RATE] != 0;
  failed |= stats.reverse_ports + stats.reverse_ports_grace + stats.reverse_visitors +
                stats.reverse_visitors_total + stats.reverse_visitors_refused !=
            0;
  failed |= mtop_server_operations(server, &config) < 0;
  failed |= mtop_server_drain(server, on_drained, NULL) < 0;
  failed |= mtop_server_stop(server) < 0;
  mtop_server_free(server);

  failed |= mtop_climber_config_default(&cconfig) < 0;
  cconfig.server_uri = "mtop://alice@127.0.0.1:1";
  cconfig.transport = MTOP_TRANSPORT_QUIC;
  cconfig.reverses = reverses;
  cconfig.reverse_count = sizeof reverses / sizeof reverses[0];
  cconfig.reverse_proxy_protocol = proxy_protocol;
  failed |= mtop_climber_new(&climber, loop, &cconfig, on_log, NULL) < 0;
  failed |= mtop_climber_new_from_json(&climber, loop, "{}", ".", NULL, NULL) < 0;
  failed |= mtop_climber_get_user_data(climber) != NULL;
  failed |= mtop_climber_start(climber) < 0 || mtop_climber_stop(climber) < 0;
  failed |= mtop_climber_socks_port(climber) < 0 || mtop_climber_http_port(climber) < 0 ||
            mtop_climber_forward_port(climber, 0) < 0;
  failed |= mtop_climber_stats(climber, &cstats) < 0 || cstats.reverse_published > 2;
  failed |= mtop_climber_reverse_port(climber, 1) < 0;
  failed |= mtop_climber_reverse_state(climber, 0, &rstate) < 0 || rstate.published != 0 ||
            rstate.refusal == MTOP_STATUS_NOT_PERMITTED || rstate.port != 8000 ||
            rstate.visitors_total != 0;
  (void)MTOP_STATUS_PORT_IN_USE;
  (void)MTOP_STATUS_BAD_REQUEST;
  failed |= mtop_climber_open_tunnel(climber, "example.org", 80, on_tunnel, NULL) < 0;
  mtop_climber_free(climber);
  (void)MTOP_TRANSPORT_TLS;
  (void)MTOP_TRANSPORT_AUTO;
  (void)MTOP_TRANSPORT_DEFAULT;
  return failed ? MTOP_ERR_INTERNAL : 0;
}
