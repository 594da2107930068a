/*
 * The embedding part of consumer_pkgconfig, through mtop.h only: an MTop server whose users
 * our auth callback decides, and climbers on threads of their own, each fetching bytes from
 * a local echo service through a tunnel - over TLS, then over QUIC; then a wrong password,
 * which our callback refuses. Everything on 127.0.0.1; every result is checked.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mtop.h>

#include "embed.h"

#define PAYLOAD_SIZE (256 * 1024)

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(EXIT_FAILURE);                                                       \
    }                                                                           \
  } while (0)

static void check_rc(int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %s (%s)\n", what, mtop_strerror(rc), mtop_last_error_message());
    exit(EXIT_FAILURE);
  }
}

/* --- the echo service: every connection gets its bytes back, then EOF after EOF ---------- */

struct service {
  int listener;
  int connections; /* accepted so far (read after the thread is joined) */
  int expected;    /* how many to serve before the thread ends */
};

static void *serve(void *arg) {
  struct service *s = arg;
  char buf[16384];
  while (s->connections < s->expected) {
    int conn = accept(s->listener, NULL, NULL);
    ssize_t n;
    if (conn < 0) break;
    ++s->connections;
    while ((n = read(conn, buf, sizeof buf)) > 0) {
      ssize_t off = 0;
      while (off < n) {
        ssize_t w = write(conn, buf + off, (size_t)(n - off));
        if (w <= 0) break;
        off += w;
      }
    }
    close(conn);
  }
  return NULL;
}

/* --- the auth callback: alice / s3cret, nobody else ------------------------------------- */

static atomic_int auth_calls;

static int on_auth(mtop_auth_request *req, void *user_data) {
  size_t user_len = 0, pass_len = 0;
  const char *user = mtop_auth_request_username(req, &user_len);
  const char *pass = mtop_auth_request_password(req, &pass_len);
  (void)user_data;
  atomic_fetch_add(&auth_calls, 1);
  if (user_len == 5 && memcmp(user, "alice", 5) == 0 && pass_len == 6 &&
      memcmp(pass, "s3cret", 6) == 0) {
    check_rc(mtop_auth_request_allow(req, NULL), "mtop_auth_request_allow");
  } else {
    check_rc(mtop_auth_request_deny(req), "mtop_auth_request_deny");
  }
  return 0;
}

/* --- one tunnel's result, handed from the climber's thread ----------------------------- */

struct tunnel {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  int done, status, fd;
};

static void on_tunnel(mtop_climber *climber, int status, int fd, const char *message,
                      void *user_data) {
  struct tunnel *t = user_data;
  (void)climber;
  (void)message;
  pthread_mutex_lock(&t->mutex);
  t->done = 1;
  t->status = status;
  t->fd = fd;
  pthread_cond_signal(&t->cond);
  pthread_mutex_unlock(&t->mutex);
}

/* Opens a tunnel to 127.0.0.1:target_port through a new climber; returns its status (and the
 * fd in *fd on success). */
static int open_tunnel(int server_port, int transport, const char *password, const char *cert,
                       int target_port, mtop_climber **climber, int *fd) {
  char uri[96];
  mtop_climber_config config;
  struct tunnel t;
  struct timespec until;

  snprintf(uri, sizeof uri, "mtop://alice@127.0.0.1:%d", server_port);
  check_rc(mtop_climber_config_default(&config), "mtop_climber_config_default");
  config.server_uri = uri;
  config.password = password;
  config.transport = transport;
  config.ca_file = cert; /* the server's self-signed certificate is the trust anchor */
  config.log_level = MTOP_LOG_OFF;
  check_rc(mtop_climber_new(climber, NULL /* own thread */, &config, NULL, NULL),
           "mtop_climber_new");
  check_rc(mtop_climber_start(*climber), "mtop_climber_start");

  memset(&t, 0, sizeof t);
  pthread_mutex_init(&t.mutex, NULL);
  pthread_cond_init(&t.cond, NULL);
  check_rc(mtop_climber_open_tunnel(*climber, "127.0.0.1", (uint16_t)target_port, on_tunnel, &t),
           "mtop_climber_open_tunnel");
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 30;
  pthread_mutex_lock(&t.mutex);
  while (!t.done && pthread_cond_timedwait(&t.cond, &t.mutex, &until) != ETIMEDOUT) {
  }
  pthread_mutex_unlock(&t.mutex);
  pthread_mutex_destroy(&t.mutex);
  pthread_cond_destroy(&t.cond);
  CHECK(t.done);
  *fd = t.fd;
  return t.status;
}

/* Sends `out` through the tunnel's socket, half-closes, reads until EOF into `in`; returns
 * the bytes read. Reads while writing, so neither side's buffers fill up. */
static size_t exchange(int fd, const char *out, size_t out_len, char *in, size_t in_cap) {
  size_t sent = 0, got = 0;
  int eof = 0;
  while (!eof) {
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN | (sent < out_len ? POLLOUT : 0);
    CHECK(poll(&p, 1, 30000) == 1);
    if (p.revents & POLLOUT) {
      ssize_t w = write(fd, out + sent, out_len - sent < 16384 ? out_len - sent : 16384);
      CHECK(w > 0);
      sent += (size_t)w;
      if (sent == out_len) CHECK(shutdown(fd, SHUT_WR) == 0);
    }
    if (p.revents & (POLLIN | POLLHUP)) {
      ssize_t r = read(fd, in + got, in_cap - got);
      CHECK(r >= 0);
      if (r == 0) eof = 1;
      got += (size_t)r;
      CHECK(got < in_cap);
    }
  }
  return got;
}

int run_embedding(const char *cert, const char *key) {
  static char payload[PAYLOAD_SIZE], back[PAYLOAD_SIZE + 1];
  static const char *const listen_addrs[] = {"127.0.0.1:0"};
  static const char *const allow[] = {"127.0.0.0/8"}; /* the service is on loopback */
  static const int transports[] = {MTOP_TRANSPORT_TLS, MTOP_TRANSPORT_QUIC};
  static const char *const names[] = {"TLS", "QUIC"};
  struct service service;
  struct sockaddr_in addr;
  socklen_t addr_len = sizeof addr;
  pthread_t service_thread;
  mtop_server_config config;
  mtop_server_callbacks callbacks;
  mtop_server *server = NULL;
  mtop_server_stats stats;
  int rc, port, i, fd;
  size_t n;

  signal(SIGPIPE, SIG_IGN); /* the engines write to sockets */
  for (n = 0; n < sizeof payload; ++n) payload[n] = (char)('a' + n % 23);

  /* The echo service on 127.0.0.1:<any>, serving the two tunnels that reach it. */
  memset(&service, 0, sizeof service);
  service.expected = 2;
  service.listener = socket(AF_INET, SOCK_STREAM, 0);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(service.listener >= 0);
  CHECK(bind(service.listener, (struct sockaddr *)&addr, sizeof addr) == 0);
  CHECK(listen(service.listener, 4) == 0);
  CHECK(getsockname(service.listener, (struct sockaddr *)&addr, &addr_len) == 0);
  CHECK(pthread_create(&service_thread, NULL, serve, &service) == 0);

  /* The server, on a thread of its own; our callback decides the users. */
  check_rc(mtop_server_config_default(&config), "mtop_server_config_default");
  config.listen = listen_addrs;
  config.listen_count = 1;
  config.cert_file = cert;
  config.key_file = key;
  config.quic = 1;
  config.reply_mode = MTOP_REJECT_REPLY;
  config.allow_targets = allow;
  config.allow_targets_count = 1;
  config.log_level = MTOP_LOG_WARN;
  memset(&callbacks, 0, sizeof callbacks);
  callbacks.auth = on_auth;
  rc = mtop_server_new(&server, NULL, &config, &callbacks, NULL);
  if (rc == MTOP_ERR_NOT_BUILT_IN) {
    printf("NOTE: this libmtop has no server engine (%s): embedding part skipped\n",
           mtop_last_error_message());
    shutdown(service.listener, SHUT_RDWR);
    close(service.listener);
    pthread_join(service_thread, NULL);
    return 0;
  }
  check_rc(rc, "mtop_server_new");
  check_rc(mtop_server_start(server), "mtop_server_start");
  port = mtop_server_port(server, 0, 0);
  check_rc(port, "mtop_server_port (TLS)");
  CHECK(mtop_server_port(server, 0, 1) == port); /* QUIC on the same port number */

  for (i = 0; i < 2; ++i) {
    mtop_climber *climber = NULL;
    rc = open_tunnel(port, transports[i], "s3cret", cert, ntohs(addr.sin_port), &climber, &fd);
    if (rc < 0) {
      fprintf(stderr, "tunnel over %s: %s\n", names[i], mtop_strerror(rc));
      return 1;
    }
    n = exchange(fd, payload, sizeof payload, back, sizeof back);
    CHECK(n == sizeof payload && memcmp(back, payload, n) == 0);
    close(fd);
    mtop_climber_free(climber);
    printf("C API: %zu bytes through a tunnel over %s and back\n", n, names[i]);
  }

  {
    mtop_climber *climber = NULL;
    rc = open_tunnel(port, MTOP_TRANSPORT_TLS, "wrong", cert, ntohs(addr.sin_port), &climber,
                     &fd);
    CHECK(rc == MTOP_ERR_TUNNEL_REFUSED && fd == -1);
    mtop_climber_free(climber);
    printf("C API: a wrong password is refused by our auth callback\n");
  }

  /* The server counts a refused tunnel when it has ended on its side, which can be a moment
     after the climber read the refusal: wait for it, bounded (5 s). */
  for (i = 0; i < 500; ++i) {
    const struct timespec tick = {0, 10 * 1000 * 1000};
    check_rc(mtop_server_stats(server, &stats), "mtop_server_stats");
    if (stats.failures[MTOP_FAILURE_AUTH_FAILED] >= 1) break;
    nanosleep(&tick, NULL);
  }
  CHECK(stats.accepted == 2);
  CHECK(stats.failures[MTOP_FAILURE_AUTH_FAILED] == 1);
  CHECK(atomic_load(&auth_calls) == 3);
  mtop_server_free(server);
  pthread_join(service_thread, NULL);
  close(service.listener);
  CHECK(service.connections == 2);
  return 0;
}
