/*
 * Compiled as C11 with -pedantic-errors -Werror (bindings/c/CMakeLists.txt) whenever libmtop
 * is built, so that mtop.h stays pure C: no C++ constructs, no extensions, full prototypes.
 * It is compiled only, never linked or run; it uses every declaration the way C code would.
 */
#include "mtop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int mtop_c11_header_check(void);

int mtop_c11_header_check(void) {
  static const uint8_t user[] = {'u'};
  static const uint8_t pass[] = {'p'};
  mtop_auth_message msg = {user, sizeof user, pass, sizeof pass,
                           {MTOP_ADDRESS_DOMAIN, {0}, "example.com", 11, 443}};
  uint8_t wire[MTOP_MAX_AUTH_MESSAGE_SIZE];
  uint8_t response[MTOP_RESPONSE_SIZE];
  mtop_auth_message decoded;
  mtop_client_handshake *client = NULL;
  mtop_server_handshake *server = NULL;
  mtop_server_settings settings;
  mtop_client_event cev;
  mtop_server_event sev;
  const uint8_t *out = NULL;
  size_t out_len = 0;
  size_t held = 0;
  int status = MTOP_STATUS_SUCCESS;
  int n = 0;
  bool failed = false;

  n = mtop_encode_auth(&msg, wire, sizeof wire);
  failed |= n < 0 || mtop_decode_auth(wire, (size_t)n, &decoded) != n;
  failed |= mtop_encode_response(MTOP_STATUS_AUTH_FAILED, response, sizeof response) < 0;
  failed |= mtop_decode_response(response, sizeof response, &status) < 0;

  failed |= mtop_client_handshake_new(&client, &msg) < 0;
  failed |= mtop_client_handshake_set_user_data(client, &status) < 0;
  failed |= mtop_client_handshake_get_user_data(client) != &status;
  failed |= mtop_client_handshake_send_payload(client, user, sizeof user) < 0;
  failed |= mtop_client_handshake_pending_output(client, &out, &out_len) < 0;
  failed |= mtop_client_handshake_consume_output(client, out_len) < 0;
  failed |= mtop_client_handshake_feed(client, response, sizeof response) < 0;
  failed |= mtop_client_handshake_feed_eof(client) == 0;
  failed |= mtop_client_handshake_next_event(client, &cev) != MTOP_EVENT_REJECTED;
  failed |= cev.status != MTOP_STATUS_AUTH_FAILED || cev.error != 0 || cev.data != NULL ||
            cev.len != 0;
  mtop_client_handshake_free(client);

  failed |= mtop_server_settings_default(&settings) < 0;
  settings.version = MTOP_SETTINGS_VERSION;
  settings.early_data_limit = MTOP_DEFAULT_EARLY_DATA_LIMIT;
  failed |= mtop_server_handshake_new(&server, &settings) < 0;
  failed |= mtop_server_handshake_set_user_data(server, NULL) < 0;
  failed |= mtop_server_handshake_get_user_data(server) != NULL;
  failed |= mtop_server_handshake_feed(server, wire, (size_t)n) < 0;
  failed |= mtop_server_handshake_feed_eof(server) < 0;
  failed |= mtop_server_handshake_next_event(server, &sev) != MTOP_EVENT_AUTH_REQUEST;
  failed |= sev.request.target.port != 443 || sev.error != 0 || sev.len != 0 || sev.data;
  failed |= mtop_server_handshake_wipe_password(server) < 0;
  failed |= mtop_server_handshake_early_data_size(server, &held) < 0;
  failed |= mtop_server_handshake_reject(server, MTOP_STATUS_AUTH_FAILED, MTOP_REJECT_REPLY) < 0;
  failed |= mtop_server_handshake_accept(server) != MTOP_ERR_INVALID_STATE;
  failed |= mtop_server_handshake_pending_output(server, &out, &out_len) < 0;
  failed |= mtop_server_handshake_consume_output(server, out_len) < 0;
  mtop_server_handshake_free(server);
  (void)MTOP_REJECT_STEALTH;

  failed |= mtop_strerror(MTOP_ERR_NOMEM)[0] == '\0' || mtop_version()[0] == '\0';
  return failed ? MTOP_ERR_INTERNAL : 0;
}
