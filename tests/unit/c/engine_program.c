/*
 * The engine sections of mtop.h from a C11 program (-std=c11 -pedantic-errors), run by ctest:
 *   engine_program CERT.pem KEY.pem
 * A server and a climber, each on a thread of its own; the server's auth callback allows
 * "alice" (with a grant) and denies everyone else; a tunnel from the climber's fd to a target
 * socket this program listens on, bytes checked both ways with half-close; a denied tunnel; a
 * JSON error; and the old-caller promise: a version-1 stats struct (declared here, as an
 * older mtop.h had it) is filled without a byte written past it.
 * Exit status 0 when every check passed. Waits are bounded (30 s) and measure nothing.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "mtop.h"

static int failures = 0;

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__,   \
              __LINE__, #cond, mtop_last_error_message());                      \
      ++failures;                                                               \
    }                                                                           \
  } while (0)

#define REQUIRE(cond)                                                          \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: REQUIRE failed: %s (last error: %s)\n", __FILE__, \
              __LINE__, #cond, mtop_last_error_message());                     \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

/* --- the auth callback ------------------------------------------------------------------ */

static int auth_calls = 0; /* only touched on the server's thread, read after it is freed */

static int on_auth(mtop_auth_request *req, void *user_data) {
  size_t ulen = 0;
  const char *user = mtop_auth_request_username(req, &ulen);
  size_t plen = 0;
  const char *pass = mtop_auth_request_password(req, &plen);
  (void)user_data;
  ++auth_calls;
  if (ulen == 5 && memcmp(user, "alice", 5) == 0 && plen == 6 && memcmp(pass, "s3cret", 6) == 0) {
    mtop_user_grant grant;
    memset(&grant, 0, sizeof grant);
    grant.user = "alice";
    grant.max_tunnels = 4;
    return mtop_auth_request_allow(req, &grant);
  }
  return mtop_auth_request_deny(req);
}

/* --- waiting for a tunnel callback (it comes on the climber's thread) --------------------- */

struct tunnel_slot {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  int done;
  int status;
  int fd;
  char message[256];
};

static void on_tunnel(mtop_climber *climber, int status, int fd, const char *message,
                      void *user_data) {
  struct tunnel_slot *slot = user_data;
  (void)climber;
  pthread_mutex_lock(&slot->mutex);
  slot->done = 1;
  slot->status = status;
  slot->fd = fd;
  snprintf(slot->message, sizeof slot->message, "%s", message);
  pthread_cond_signal(&slot->cond);
  pthread_mutex_unlock(&slot->mutex);
}

static void open_and_wait(mtop_climber *climber, uint16_t port, struct tunnel_slot *slot) {
  struct timespec until;
  memset(slot, 0, sizeof *slot);
  slot->fd = -1;
  pthread_mutex_init(&slot->mutex, NULL);
  pthread_cond_init(&slot->cond, NULL);
  REQUIRE(mtop_climber_open_tunnel(climber, "127.0.0.1", port, on_tunnel, slot) == 0);
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 30;
  pthread_mutex_lock(&slot->mutex);
  while (!slot->done) {
    if (pthread_cond_timedwait(&slot->cond, &slot->mutex, &until) == ETIMEDOUT) break;
  }
  pthread_mutex_unlock(&slot->mutex);
  REQUIRE(slot->done);
  pthread_mutex_destroy(&slot->mutex);
  pthread_cond_destroy(&slot->cond);
}

/* --- sockets ------------------------------------------------------------------------------ */

static void set_timeout(int fd) {
  struct timeval tv;
  tv.tv_sec = 30;
  tv.tv_usec = 0;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* Reads until EOF into buf (at most cap bytes); returns the count. */
static size_t read_all(int fd, char *buf, size_t cap) {
  size_t got = 0;
  set_timeout(fd);
  while (got < cap) {
    ssize_t n = read(fd, buf + got, cap - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  return got;
}

static int listen_loopback(uint16_t *port) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
  REQUIRE(listen(fd, 8) == 0);
  REQUIRE(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
  *port = ntohs(a.sin_port);
  return fd;
}

/* The version-1 layout of mtop_server_stats, as a program built against an older mtop.h
 * declared it. */
typedef struct old_server_stats {
  uint64_t live, relaying, total, accepted, bytes_up, bytes_down;
} old_server_stats;

int main(int argc, char **argv) {
  static const char *const listen_addrs[] = {"127.0.0.1:0"};
  static const char *const allow[] = {"127.0.0.0/8"};
  static const char request[] = "ping from C11";
  static const char reply[] = "pong from the target";
  mtop_server_config config;
  mtop_server_callbacks callbacks;
  mtop_climber_config cconfig;
  mtop_server *server = NULL;
  mtop_climber *climber = NULL;
  struct tunnel_slot slot;
  char uri[128];
  char buf[256];
  uint16_t target_port = 0;
  int target_fd, conn, port;
  struct pollfd pfd;
  struct {
    old_server_stats stats;
    unsigned char guard[128];
  } old;
  size_t i, n;

  if (argc != 3) {
    fprintf(stderr, "usage: %s CERT.pem KEY.pem\n", argv[0]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  REQUIRE(mtop_version_check(MTOP_VERSION_MAJOR, MTOP_VERSION_MINOR) == 1);

  target_fd = listen_loopback(&target_port);

  /* The server, on its own thread, with our auth callback. */
  REQUIRE(mtop_server_config_default(&config) == 0);
  config.listen = listen_addrs;
  config.listen_count = 1;
  config.cert_file = argv[1];
  config.key_file = argv[2];
  config.quic = 0;
  config.reply_mode = MTOP_REJECT_REPLY;
  config.allow_targets = allow;
  config.allow_targets_count = 1;
  memset(&callbacks, 0, sizeof callbacks);
  callbacks.auth = on_auth;
  REQUIRE(mtop_server_new(&server, NULL, &config, &callbacks, NULL) == 0);
  REQUIRE(mtop_server_start(server) == 0);
  port = mtop_server_port(server, 0, 0);
  REQUIRE(port > 0);

  /* The climber, on its own thread, trusting the server's self-signed certificate. */
  snprintf(uri, sizeof uri, "mtop://alice@127.0.0.1:%d", port);
  REQUIRE(mtop_climber_config_default(&cconfig) == 0);
  cconfig.server_uri = uri;
  cconfig.password = "s3cret";
  cconfig.transport = MTOP_TRANSPORT_TLS;
  cconfig.ca_file = argv[1];
  REQUIRE(mtop_climber_new(&climber, NULL, &cconfig, NULL, NULL) == 0);
  REQUIRE(mtop_climber_start(climber) == 0);

  /* A tunnel: bytes both ways, EOF both ways. */
  open_and_wait(climber, target_port, &slot);
  if (slot.status != 0) fprintf(stderr, "tunnel: %s\n", slot.message);
  REQUIRE(slot.status == 0 && slot.fd >= 0);
  REQUIRE(write(slot.fd, request, sizeof request - 1) == (ssize_t)(sizeof request - 1));
  REQUIRE(shutdown(slot.fd, SHUT_WR) == 0);
  pfd.fd = target_fd;
  pfd.events = POLLIN;
  REQUIRE(poll(&pfd, 1, 30000) == 1);
  conn = accept(target_fd, NULL, NULL);
  REQUIRE(conn >= 0);
  n = read_all(conn, buf, sizeof buf); /* until the climber's EOF arrives */
  CHECK(n == sizeof request - 1 && memcmp(buf, request, n) == 0);
  REQUIRE(write(conn, reply, sizeof reply - 1) == (ssize_t)(sizeof reply - 1));
  close(conn); /* the target's EOF */
  n = read_all(slot.fd, buf, sizeof buf);
  CHECK(n == sizeof reply - 1 && memcmp(buf, reply, n) == 0);
  close(slot.fd);

  /* The old caller: version 1 of a struct that has grown; nothing past it is written. */
  memset(&old, 0xAB, sizeof old);
  REQUIRE(MTOP_SERVER_STATS_VERSION > 1 && sizeof(mtop_server_stats) > sizeof(old_server_stats));
  REQUIRE(mtop_server_stats_versioned(server, 1, (mtop_server_stats *)(void *)&old.stats) == 0);
  for (i = 0; i < sizeof old.guard; ++i) CHECK(old.guard[i] == 0xAB);
  CHECK(old.stats.accepted == 1);
  CHECK(old.stats.bytes_up >= sizeof request - 1);

  mtop_climber_free(climber);

  /* A wrong password: the auth callback denies, the tunnel is refused. */
  cconfig.password = "wrong";
  REQUIRE(mtop_climber_new(&climber, NULL, &cconfig, NULL, NULL) == 0);
  open_and_wait(climber, target_port, &slot);
  CHECK(slot.status == MTOP_ERR_TUNNEL_REFUSED);
  CHECK(slot.fd == -1 && slot.message[0] != '\0');
  mtop_climber_free(climber);

  mtop_server_free(server);
  CHECK(auth_calls == 2);

  /* A JSON typo names the key. */
  CHECK(mtop_server_new_from_json(&server, NULL, "{\"listen\": \"127.0.0.1:0\", \"kee\": 1}",
                                  NULL, &callbacks, NULL) == MTOP_ERR_CONFIG_INVALID);
  CHECK(strstr(mtop_last_error_message(), "kee") != NULL);

  close(target_fd);
  if (failures == 0) puts("engine_program: all checks passed");
  return failures == 0 ? 0 : 1;
}
