/*
 * tunnel_in_memory.c - a climber (client) and a server machine of libmtop talking to each
 * other through two in-memory "wires", the way a real program drives them over TLS or QUIC.
 *
 *   1. success: the auth message with early payload, the server accepts, payload both ways,
 *      both sides half-close;
 *   2. the server rejects a wrong password in reply mode: the client sees the status;
 *   3. the same in stealth mode: the client only sees the connection close.
 *
 * Every result is checked; the program prints what happened and exits non-zero on the first
 * mismatch. Run by ctest (examples/CMakeLists.txt).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtop.h"

/* Exits with a message when a condition fails (assert() would vanish under NDEBUG). */
#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) {                                                          \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(EXIT_FAILURE);                                                   \
    }                                                                       \
  } while (0)

/* Exits when an mtop_* call returns an error, printing mtop_strerror(). */
#define CHECK_OK(call)                                                       \
  do {                                                                       \
    int rc_ = (call);                                                        \
    if (rc_ < 0) {                                                           \
      fprintf(stderr, "%s:%d: %s failed: %s (%d)\n", __FILE__, __LINE__, #call, \
              mtop_strerror(rc_), rc_);                                      \
      exit(EXIT_FAILURE);                                                    \
    }                                                                        \
  } while (0)

/* One direction of the transport: bytes written and not yet read. */
typedef struct wire {
  unsigned char data[4096];
  size_t len;
} wire;

static void wire_write(wire *w, const uint8_t *data, size_t len) {
  if (len == 0) return; /* empty pending output may be a NULL pointer: no memcpy from it */
  CHECK(len <= sizeof w->data - w->len);
  memcpy(w->data + w->len, data, len);
  w->len += len;
}

static void wire_drop(wire *w, size_t n) {
  CHECK(n <= w->len);
  memmove(w->data, w->data + n, w->len - n);
  w->len -= n;
}

/* Moves the client's pending output onto the client-to-server wire. */
static void client_send(mtop_client_handshake *client, wire *to_server) {
  const uint8_t *out = NULL;
  size_t len = 0;
  CHECK_OK(mtop_client_handshake_pending_output(client, &out, &len));
  wire_write(to_server, out, len);
  CHECK_OK(mtop_client_handshake_consume_output(client, len));
}

/* Moves the server's pending output onto the server-to-client wire. */
static void server_send(mtop_server_handshake *server, wire *to_client) {
  const uint8_t *out = NULL;
  size_t len = 0;
  CHECK_OK(mtop_server_handshake_pending_output(server, &out, &len));
  wire_write(to_client, out, len);
  CHECK_OK(mtop_server_handshake_consume_output(server, len));
}

/* The server reads what is on its wire; what it does not consume stays there. */
static void server_receive(mtop_server_handshake *server, wire *from_client) {
  int n = mtop_server_handshake_feed(server, from_client->data, from_client->len);
  CHECK_OK(n);
  wire_drop(from_client, (size_t)n);
}

static void client_receive(mtop_client_handshake *client, wire *from_server) {
  int n = mtop_client_handshake_feed(client, from_server->data, from_server->len);
  CHECK_OK(n);
  wire_drop(from_server, (size_t)n);
}

static int bytes_equal(const uint8_t *a, size_t alen, const char *b) {
  return alen == strlen(b) && memcmp(a, b, alen) == 0;
}

/* The auth message of the climber's user "alice" for example.com:80. */
static mtop_auth_message make_request(const char *password) {
  mtop_auth_message msg;
  memset(&msg, 0, sizeof msg);
  msg.username = (const uint8_t *)"alice";
  msg.username_len = 5;
  msg.password = (const uint8_t *)password;
  msg.password_len = strlen(password);
  msg.target.type = MTOP_ADDRESS_DOMAIN;
  msg.target.domain = "example.com";
  msg.target.domain_len = strlen("example.com");
  msg.target.port = 80;
  return msg;
}

/* The server side of the example: reads events until it has the auth request, then checks
 * the password against "s3cret". Returns 1 if the credentials are good. */
static int server_check_request(mtop_server_handshake *server) {
  mtop_server_event ev;
  int good;
  CHECK(mtop_server_handshake_next_event(server, &ev) == MTOP_EVENT_AUTH_REQUEST);
  printf("  server: auth request from \"%.*s\" for %.*s:%u\n", (int)ev.request.username_len,
         (const char *)ev.request.username, (int)ev.request.target.domain_len,
         ev.request.target.domain, (unsigned)ev.request.target.port);
  CHECK(bytes_equal(ev.request.username, ev.request.username_len, "alice"));
  CHECK(ev.request.target.type == MTOP_ADDRESS_DOMAIN);
  CHECK(ev.request.target.port == 80);
  good = bytes_equal(ev.request.password, ev.request.password_len, "s3cret");
  /* The password is not needed any more: zero it inside the handle. */
  CHECK_OK(mtop_server_handshake_wipe_password(server));
  return good;
}

static void run_success(void) {
  static const char early[] = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
  static const char answer[] = "HTTP/1.1 204 No Content\r\n\r\n";
  static const char upload[] = "second request";
  mtop_auth_message request = make_request("s3cret");
  mtop_client_handshake *client = NULL;
  mtop_server_handshake *server = NULL;
  mtop_server_settings settings;
  mtop_client_event cev;
  mtop_server_event sev;
  wire to_server = {{0}, 0};
  wire to_client = {{0}, 0};
  int tunnel_id = 1;

  printf("case 1: accepted tunnel with early data\n");
  CHECK_OK(mtop_client_handshake_new(&client, &request));
  CHECK_OK(mtop_client_handshake_set_user_data(client, &tunnel_id));
  CHECK_OK(mtop_server_settings_default(&settings));
  settings.early_data_limit = 1024;
  CHECK_OK(mtop_server_handshake_new(&server, &settings));

  /* The climber sends the auth message and, without waiting, its early payload. */
  CHECK_OK(mtop_client_handshake_send_payload(client, (const uint8_t *)early, strlen(early)));
  client_send(client, &to_server);
  server_receive(server, &to_server);
  CHECK(to_server.len == 0);

  CHECK(server_check_request(server));
  CHECK_OK(mtop_server_handshake_accept(server));  /* (a real server dials the target first) */
  CHECK(mtop_server_handshake_next_event(server, &sev) == MTOP_EVENT_PAYLOAD);
  CHECK(bytes_equal(sev.data, sev.len, early));
  printf("  server: early payload, %zu bytes, forwarded to the target\n", sev.len);

  /* The response, then the target's answer relayed straight onto the wire. */
  server_send(server, &to_client);
  wire_write(&to_client, (const uint8_t *)answer, strlen(answer));
  client_receive(client, &to_client);
  CHECK(mtop_client_handshake_next_event(client, &cev) == MTOP_EVENT_ESTABLISHED);
  printf("  client: established (tunnel %d)\n",
         *(int *)mtop_client_handshake_get_user_data(client));
  CHECK(mtop_client_handshake_next_event(client, &cev) == MTOP_EVENT_PAYLOAD);
  CHECK(bytes_equal(cev.data, cev.len, answer));
  printf("  client: payload \"%.*s\"\n", (int)strcspn(answer, "\r"), (const char *)cev.data);
  CHECK(mtop_client_handshake_next_event(client, &cev) == MTOP_EVENT_NEED_DATA);

  /* More payload from the climber, then both sides half-close. */
  CHECK_OK(mtop_client_handshake_send_payload(client, (const uint8_t *)upload, strlen(upload)));
  client_send(client, &to_server);
  server_receive(server, &to_server);
  CHECK_OK(mtop_server_handshake_feed_eof(server));
  CHECK(mtop_server_handshake_next_event(server, &sev) == MTOP_EVENT_PAYLOAD);
  CHECK(bytes_equal(sev.data, sev.len, upload));
  printf("  server: payload \"%.*s\"", (int)sev.len, (const char *)sev.data);
  CHECK(mtop_server_handshake_next_event(server, &sev) == MTOP_EVENT_END_OF_INPUT);
  printf(", then end of input\n");

  CHECK_OK(mtop_client_handshake_feed_eof(client));
  CHECK(mtop_client_handshake_next_event(client, &cev) == MTOP_EVENT_END_OF_INPUT);
  printf("  client: end of input\n");

  mtop_client_handshake_free(client);
  mtop_server_handshake_free(server);
}

static void run_rejected(int mode) {
  mtop_auth_message request = make_request("wrong password");
  mtop_client_handshake *client = NULL;
  mtop_server_handshake *server = NULL;
  mtop_client_event cev;
  wire to_server = {{0}, 0};
  wire to_client = {{0}, 0};

  printf("case %d: wrong password, %s mode\n", mode == MTOP_REJECT_REPLY ? 2 : 3,
         mode == MTOP_REJECT_REPLY ? "reply" : "stealth");
  CHECK_OK(mtop_client_handshake_new(&client, &request));
  CHECK_OK(mtop_server_handshake_new(&server, NULL));
  client_send(client, &to_server);
  server_receive(server, &to_server);
  CHECK(!server_check_request(server));
  CHECK_OK(mtop_server_handshake_reject(server, MTOP_STATUS_AUTH_FAILED, mode));
  server_send(server, &to_client);
  CHECK(to_client.len == (mode == MTOP_REJECT_REPLY ? MTOP_RESPONSE_SIZE : 0));

  /* The server closes after its answer (if any). A status ends the handshake by itself;
   * without one, only the close tells the client. */
  client_receive(client, &to_client);
  CHECK_OK(mtop_client_handshake_next_event(client, &cev));
  if (cev.type == MTOP_EVENT_NEED_DATA) {
    CHECK_OK(mtop_client_handshake_feed_eof(client));
    CHECK_OK(mtop_client_handshake_next_event(client, &cev));
  }
  if (mode == MTOP_REJECT_REPLY) {
    CHECK(cev.type == MTOP_EVENT_REJECTED);
    CHECK(cev.status == MTOP_STATUS_AUTH_FAILED);
    printf("  client: rejected, status %d\n", cev.status);
  } else {
    CHECK(cev.type == MTOP_EVENT_CLOSED_WITHOUT_STATUS);
    CHECK(cev.error == MTOP_ERR_PEER_CLOSED);
    printf("  client: closed without a status (%s)\n", mtop_strerror(cev.error));
  }
  mtop_client_handshake_free(client);
  mtop_server_handshake_free(server);
}

int main(void) {
  printf("libmtop %s\n", mtop_version());
  run_success();
  run_rejected(MTOP_REJECT_REPLY);
  run_rejected(MTOP_REJECT_STEALTH);
  printf("all cases passed\n");
  return EXIT_SUCCESS;
}
