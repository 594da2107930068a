/*
 * Compiled as C11 with -pedantic-errors -Werror (tests/unit/c/CMakeLists.txt) whenever the
 * tests are built, like c11_compile_check.c: the version macros, the versioned forms and the
 * engine sections of mtop.h used the way C code would. Compiled only, never linked or run.
 */
#include "mtop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
  mtop_user_grant grant = {NULL, 0, 0};
  (void)user_data;
  if (mtop_auth_request_username(req, &len) == NULL || mtop_auth_request_password(req, NULL) == NULL ||
      mtop_auth_request_source(req) == NULL || mtop_auth_request_target_host(req) == NULL ||
      mtop_auth_request_target_port(req) < 0) {
    return mtop_auth_request_deny(req);
  }
  if (len == 0) return mtop_auth_request_unavailable(req);
  grant.user = "someone";
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

int mtop_c11_engine_check(struct uv_loop_s *loop);

/* The engine sections, used the way C code would (compiled only). */
int mtop_c11_engine_check(struct uv_loop_s *loop) {
  static const char *const listen[] = {"127.0.0.1:0"};
  mtop_server_config config;
  mtop_server_callbacks callbacks = {check_auth, on_log};
  mtop_server_stats stats;
  mtop_climber_config cconfig;
  mtop_climber_stats cstats;
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
  failed |= mtop_server_drain(server, on_drained, NULL) < 0;
  failed |= mtop_server_stop(server) < 0;
  mtop_server_free(server);

  failed |= mtop_climber_config_default(&cconfig) < 0;
  cconfig.server_uri = "mtop://alice@127.0.0.1:1";
  cconfig.transport = MTOP_TRANSPORT_QUIC;
  failed |= mtop_climber_new(&climber, loop, &cconfig, on_log, NULL) < 0;
  failed |= mtop_climber_new_from_json(&climber, loop, "{}", ".", NULL, NULL) < 0;
  failed |= mtop_climber_get_user_data(climber) != NULL;
  failed |= mtop_climber_start(climber) < 0 || mtop_climber_stop(climber) < 0;
  failed |= mtop_climber_socks_port(climber) < 0 || mtop_climber_http_port(climber) < 0 ||
            mtop_climber_forward_port(climber, 0) < 0;
  failed |= mtop_climber_stats(climber, &cstats) < 0;
  failed |= mtop_climber_open_tunnel(climber, "example.org", 80, on_tunnel, NULL) < 0;
  mtop_climber_free(climber);
  (void)MTOP_TRANSPORT_TLS;
  (void)MTOP_TRANSPORT_AUTO;
  (void)MTOP_TRANSPORT_DEFAULT;
  return failed ? MTOP_ERR_INTERNAL : 0;
}
