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

/* The SOCKS5 and HTTP proxy machines, through the macro wrappers and the _versioned names. */
int mtop_c11_proxy_check(void);

int mtop_c11_proxy_check(void) {
  static const uint8_t greeting[] = {0x05, 0x01, 0x00};
  static const uint8_t head[] = "CONNECT example.com:443 HTTP/1.1\r\n\r\n";
  mtop_socks5_settings socks_settings;
  mtop_socks5_server *socks = NULL;
  mtop_socks5_event sev;
  mtop_http_proxy_settings http_settings;
  mtop_http_proxy *http = NULL;
  mtop_http_proxy_event hev;
  mtop_address bound = {MTOP_ADDRESS_IPV4, {127, 0, 0, 1}, NULL, 0, 1080};
  const uint8_t *out = NULL;
  size_t out_len = 0;
  bool failed = false;

  failed |= mtop_socks5_settings_default(&socks_settings) < 0;
  failed |= mtop_socks5_settings_default_versioned(MTOP_SOCKS5_SETTINGS_VERSION,
                                                   &socks_settings) < 0;
  socks_settings.no_auth = 1;
  socks_settings.username_password = 0;
  socks_settings.max_payload = MTOP_DEFAULT_PROXY_MAX_PAYLOAD;
  failed |= mtop_socks5_server_new(&socks, &socks_settings) < 0;
  failed |= mtop_socks5_server_set_user_data(socks, &bound) < 0;
  failed |= mtop_socks5_server_get_user_data(socks) != &bound;
  failed |= mtop_socks5_server_feed(socks, greeting, sizeof greeting) < 0;
  failed |= mtop_socks5_server_next_event(socks, &sev) != MTOP_PROXY_EVENT_NEED_DATA;
  failed |= mtop_socks5_server_next_event_versioned(socks, MTOP_SOCKS5_EVENT_VERSION, &sev) < 0;
  failed |= sev.error != 0 || sev.data != NULL || sev.len != 0 || sev.username != NULL ||
            sev.username_len != 0 || sev.password != NULL || sev.password_len != 0 ||
            sev.target.port != 0;
  failed |= mtop_socks5_server_accept_credentials(socks) != MTOP_ERR_INVALID_STATE;
  failed |= mtop_socks5_server_reject_credentials(socks) != MTOP_ERR_INVALID_STATE;
  failed |= mtop_socks5_server_accept(socks, &bound) != MTOP_ERR_INVALID_STATE;
  failed |= mtop_socks5_server_reject(socks, MTOP_SOCKS5_REPLY_GENERAL_FAILURE) !=
            MTOP_ERR_INVALID_STATE;
  failed |= mtop_socks5_server_pending_output(socks, &out, &out_len) < 0;
  failed |= mtop_socks5_server_consume_output(socks, out_len) < 0;
  failed |= mtop_socks5_server_feed_eof(socks) < 0;
  failed |= mtop_socks5_server_next_event(socks, &sev) != MTOP_PROXY_EVENT_ERROR;
  failed |= sev.error != MTOP_ERR_PEER_CLOSED;
  mtop_socks5_server_free(socks);
  (void)MTOP_SOCKS5_REPLY_NOT_ALLOWED;
  (void)MTOP_SOCKS5_REPLY_NETWORK_UNREACHABLE;
  (void)MTOP_SOCKS5_REPLY_HOST_UNREACHABLE;
  (void)MTOP_SOCKS5_REPLY_CONNECTION_REFUSED;
  (void)MTOP_SOCKS5_REPLY_TTL_EXPIRED;
  (void)MTOP_SOCKS5_REPLY_COMMAND_NOT_SUPPORTED;
  (void)MTOP_SOCKS5_REPLY_ADDRESS_TYPE_NOT_SUPPORTED;

  failed |= mtop_http_proxy_settings_default(&http_settings) < 0;
  failed |= mtop_http_proxy_settings_default_versioned(MTOP_HTTP_PROXY_SETTINGS_VERSION,
                                                       &http_settings) < 0;
  http_settings.max_head_size = MTOP_DEFAULT_HTTP_MAX_HEAD_SIZE;
  http_settings.max_header_lines = MTOP_DEFAULT_HTTP_MAX_HEADER_LINES;
  http_settings.max_payload = MTOP_DEFAULT_PROXY_MAX_PAYLOAD;
  failed |= mtop_http_proxy_new(&http, &http_settings) < 0;
  failed |= mtop_http_proxy_new_versioned(NULL, MTOP_HTTP_PROXY_SETTINGS_VERSION, NULL) !=
            MTOP_ERR_INVALID_ARGUMENT;
  failed |= mtop_http_proxy_set_user_data(http, NULL) < 0;
  failed |= mtop_http_proxy_get_user_data(http) != NULL;
  failed |= mtop_http_proxy_feed(http, head, sizeof head - 1) < 0;
  failed |= mtop_http_proxy_next_event(http, &hev) != MTOP_PROXY_EVENT_REQUEST;
  failed |= hev.connect != 1 || hev.http_minor != 1 || hev.auth != MTOP_HTTP_AUTH_ABSENT ||
            hev.method_len != 7 || hev.method == NULL || hev.forward_head != NULL ||
            hev.forward_head_len != 0 || hev.username != NULL || hev.username_len != 0 ||
            hev.password != NULL || hev.password_len != 0 || hev.target.port != 443;
  failed |= mtop_http_proxy_next_event_versioned(http, MTOP_HTTP_PROXY_EVENT_VERSION, &hev) !=
            MTOP_PROXY_EVENT_NEED_DATA;
  failed |= hev.error != 0 || hev.data != NULL || hev.len != 0;
  failed |= mtop_http_proxy_reject(http, MTOP_HTTP_STATUS_FORBIDDEN) < 0;
  failed |= mtop_http_proxy_accept(http) != MTOP_ERR_INVALID_STATE;
  failed |= mtop_http_proxy_pending_output(http, &out, &out_len) < 0;
  failed |= mtop_http_proxy_consume_output(http, out_len) < 0;
  failed |= mtop_http_proxy_feed_eof(http) != MTOP_ERR_INVALID_STATE;
  mtop_http_proxy_free(http);
  (void)MTOP_PROXY_EVENT_AUTH;
  (void)MTOP_PROXY_EVENT_PAYLOAD;
  (void)MTOP_PROXY_EVENT_END_OF_INPUT;
  (void)MTOP_HTTP_STATUS_BAD_REQUEST;
  (void)MTOP_HTTP_STATUS_PROXY_AUTH_REQUIRED;
  (void)MTOP_HTTP_STATUS_BAD_GATEWAY;
  (void)MTOP_HTTP_STATUS_GATEWAY_TIMEOUT;
  (void)MTOP_HTTP_AUTH_BASIC;
  (void)MTOP_HTTP_AUTH_MALFORMED;
  return failed ? MTOP_ERR_INTERNAL : 0;
}
