/*
 * A C11 program built against an installed libmtop with pkg-config: the C API's codec and
 * its two handshake machines and, given CERT.pem KEY.pem, an embedded server and climbers on
 * loopback (embed.c). Every result is checked; exits non-zero on the first mismatch. Run by
 * tests/package/consumers.sh.
 */
#include <mtop.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"

#define CHECK(cond)                                                               \
  do {                                                                            \
    if (!(cond)) {                                                                \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
      exit(EXIT_FAILURE);                                                         \
    }                                                                             \
  } while (0)

#define CHECK_OK(call)                                                            \
  do {                                                                            \
    int rc_ = (call);                                                             \
    if (rc_ < 0) {                                                                \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, mtop_strerror(rc_)); \
      exit(EXIT_FAILURE);                                                         \
    }                                                                             \
  } while (0)

static mtop_auth_message make_request(void) {
  mtop_auth_message msg;
  memset(&msg, 0, sizeof msg);
  msg.username = (const uint8_t *)"alice";
  msg.username_len = 5;
  msg.password = (const uint8_t *)"s3cret";
  msg.password_len = 6;
  msg.target.type = MTOP_ADDRESS_IPV4;
  msg.target.ip[0] = 127;
  msg.target.ip[3] = 1;
  msg.target.port = 8080;
  return msg;
}

/* Encode an auth message, decode it byte by byte, compare. */
static void codec_round_trip(void) {
  mtop_auth_message msg = make_request(), back;
  uint8_t buf[MTOP_MAX_AUTH_MESSAGE_SIZE];
  int n = mtop_encode_auth(&msg, buf, sizeof buf);
  size_t len;
  CHECK_OK(n);
  for (len = 0; len < (size_t)n; ++len) CHECK(mtop_decode_auth(buf, len, &back) == 0);
  CHECK(mtop_decode_auth(buf, (size_t)n, &back) == n);
  CHECK(back.username_len == 5 && memcmp(back.username, "alice", 5) == 0);
  CHECK(back.password_len == 6 && memcmp(back.password, "s3cret", 6) == 0);
  CHECK(back.target.type == MTOP_ADDRESS_IPV4 && back.target.port == 8080);
  CHECK(memcmp(back.target.ip, msg.target.ip, 4) == 0);
  printf("libmtop %s: auth message of %d bytes encoded and decoded\n", mtop_version(), n);
}

/* A client and a server machine: request + early payload, accept, the response. */
static void handshake_pair(void) {
  mtop_auth_message msg = make_request();
  mtop_client_handshake *client = NULL;
  mtop_server_handshake *server = NULL;
  mtop_server_settings settings;
  mtop_server_event sev;
  mtop_client_event cev;
  const uint8_t *out = NULL;
  size_t len = 0;

  CHECK_OK(mtop_client_handshake_new(&client, &msg));
  CHECK_OK(mtop_server_settings_default(&settings));
  CHECK_OK(mtop_server_handshake_new(&server, &settings));
  CHECK_OK(mtop_client_handshake_send_payload(client, (const uint8_t *)"ping", 4));

  CHECK_OK(mtop_client_handshake_pending_output(client, &out, &len));
  CHECK(mtop_server_handshake_feed(server, out, len) == (int)len);
  CHECK_OK(mtop_client_handshake_consume_output(client, len));

  CHECK(mtop_server_handshake_next_event(server, &sev) == MTOP_EVENT_AUTH_REQUEST);
  CHECK(sev.request.password_len == 6 && memcmp(sev.request.password, "s3cret", 6) == 0);
  CHECK_OK(mtop_server_handshake_wipe_password(server));
  CHECK_OK(mtop_server_handshake_accept(server));
  CHECK(mtop_server_handshake_next_event(server, &sev) == MTOP_EVENT_PAYLOAD);
  CHECK(sev.len == 4 && memcmp(sev.data, "ping", 4) == 0);

  CHECK_OK(mtop_server_handshake_pending_output(server, &out, &len));
  CHECK(mtop_client_handshake_feed(client, out, len) == (int)len);
  CHECK_OK(mtop_server_handshake_consume_output(server, len));
  CHECK_OK(mtop_client_handshake_next_event(client, &cev));
  CHECK(cev.type == MTOP_EVENT_ESTABLISHED);

  mtop_client_handshake_free(client);
  mtop_server_handshake_free(server);
  puts("handshake established, early payload \"ping\" delivered");
}

int main(int argc, char **argv) {
  codec_round_trip();
  handshake_pair();
  if (argc == 3 && run_embedding(argv[1], argv[2]) != 0) return EXIT_FAILURE;
  puts("consumer_pkgconfig: ok");
  return 0;
}
