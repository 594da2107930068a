/*
 * embed_server.c - an MTop server and a climber inside one C program, over loopback.
 *
 *   embed_server CERT.pem KEY.pem      (e.g. from `mtop-server gen-cert --name 127.0.0.1`)
 *
 * 1. A "service" listens on 127.0.0.1 (the tunnel's target).
 * 2. The server runs on a thread of its own, configured from JSON; its users are decided by
 *    our auth callback, which passes each request to a worker thread that answers it (the
 *    way a program would ask LDAP or its own database without blocking the server).
 * 3. The climber, also on its own thread, opens a tunnel to the service and hands us a plain
 *    socket: we write a request, half-close, and read the service's answer.
 * Exit status 0 if the answer came back intact.
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
#include <time.h>
#include <unistd.h>

#include "mtop.h"

static void die(const char *what, int rc) {
  fprintf(stderr, "%s: %s (%s)\n", what, mtop_strerror(rc), mtop_last_error_message());
  exit(1);
}

/* --- users: the auth callback and its worker ---------------------------------------------- */

/* Runs on a thread of its own: checks the credentials and answers the request. */
static void *decide(void *arg) {
  mtop_auth_request *req = arg;
  size_t user_len = 0, pass_len = 0;
  const char *user = mtop_auth_request_username(req, &user_len);
  const char *pass = mtop_auth_request_password(req, &pass_len);
  /* A real program compares against its directory, in constant time. */
  if (user_len == 5 && memcmp(user, "alice", 5) == 0 && pass_len == 6 &&
      memcmp(pass, "s3cret", 6) == 0) {
    mtop_user_grant grant;
    memset(&grant, 0, sizeof grant);
    grant.max_tunnels = 8;            /* live tunnels of alice */
    grant.rate_limit = 10 * 1000000;  /* 10 MB/s each way */
    mtop_auth_request_allow(req, &grant); /* frees req */
  } else {
    mtop_auth_request_deny(req); /* frees req */
  }
  return NULL;
}

/* Called on the server's thread: must not block. We take the request and answer later. */
static int on_auth(mtop_auth_request *req, void *user_data) {
  pthread_t worker;
  (void)user_data;
  printf("server: %s asks for %s:%d\n", mtop_auth_request_source(req),
         mtop_auth_request_target_host(req), mtop_auth_request_target_port(req));
  if (pthread_create(&worker, NULL, decide, req) != 0) return MTOP_ERR_SYSTEM; /* not taken */
  pthread_detach(worker);
  return 0; /* req is ours until decide() answers it */
}

static void on_log(int level, const char *message, void *user_data) {
  (void)user_data;
  if (level >= MTOP_LOG_INFO) printf("server log: %s\n", message);
}

/* --- the tunnel's callback (on the climber's thread) -------------------------------------- */

struct tunnel {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  int done, status, fd;
};

static void on_tunnel(mtop_climber *climber, int status, int fd, const char *message,
                      void *user_data) {
  struct tunnel *t = user_data;
  (void)climber;
  if (status < 0) fprintf(stderr, "climber: tunnel failed: %s\n", message);
  pthread_mutex_lock(&t->mutex);
  t->done = 1;
  t->status = status;
  t->fd = fd;
  pthread_cond_signal(&t->cond);
  pthread_mutex_unlock(&t->mutex);
}

static size_t read_until_eof(int fd, char *buf, size_t cap) {
  size_t got = 0;
  struct pollfd p;
  p.fd = fd;
  p.events = POLLIN;
  while (got < cap && poll(&p, 1, 30000) == 1) {
    ssize_t n = read(fd, buf + got, cap - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  return got;
}

int main(int argc, char **argv) {
  static const char question[] = "HELLO service";
  static const char answer[] = "hello, climber";
  char json[2048], uri[128], buf[256];
  struct sockaddr_in addr;
  socklen_t addr_len = sizeof addr;
  int service, conn, rc, port;
  mtop_server_callbacks callbacks;
  mtop_server *server = NULL;
  mtop_climber_config cconfig;
  mtop_climber *climber = NULL;
  mtop_server_stats stats;
  struct tunnel t;
  struct timespec until;
  struct pollfd p;
  size_t n;

  if (argc != 3) {
    fprintf(stderr, "usage: %s CERT.pem KEY.pem\n", argv[0]);
    return 2;
  }
  if (!mtop_version_check(MTOP_VERSION_MAJOR, MTOP_VERSION_MINOR)) {
    fprintf(stderr, "libmtop %s cannot serve a program built for %d.%d\n", mtop_version(),
            MTOP_VERSION_MAJOR, MTOP_VERSION_MINOR);
    return 1;
  }
  signal(SIGPIPE, SIG_IGN); /* the engines write to sockets */

  /* 1. The service. */
  service = socket(AF_INET, SOCK_STREAM, 0);
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (service < 0 || bind(service, (struct sockaddr *)&addr, sizeof addr) != 0 ||
      listen(service, 4) != 0 || getsockname(service, (struct sockaddr *)&addr, &addr_len) != 0) {
    perror("service");
    return 1;
  }

  /* 2. The server: mtop-server's JSON config; loopback targets allowed for this demo. The
   * "users" entry is not opened, since the auth callback decides. */
  snprintf(json, sizeof json,
           "{\"listen\": \"127.0.0.1:0\", \"cert\": \"%s\", \"key\": \"%s\", \"quic\": false,"
           " \"reply_status\": true, \"allow_targets\": [\"127.0.0.0/8\"],"
           " \"users\": {\"type\": \"file\", \"path\": \"unused-users.json\"}}",
           argv[1], argv[2]);
  memset(&callbacks, 0, sizeof callbacks);
  callbacks.auth = on_auth;
  callbacks.log = on_log;
  rc = mtop_server_new_from_json(&server, NULL /* own thread */, json, NULL, &callbacks, NULL);
  if (rc < 0) die("server", rc);
  if ((rc = mtop_server_start(server)) < 0) die("server start", rc);
  port = mtop_server_port(server, 0, 0);
  printf("server: listening on 127.0.0.1:%d (TLS)\n", port);

  /* 3. The climber, and one tunnel to the service. */
  snprintf(uri, sizeof uri, "mtop://alice@127.0.0.1:%d", port);
  mtop_climber_config_default(&cconfig);
  cconfig.server_uri = uri;
  cconfig.password = "s3cret";
  cconfig.ca_file = argv[1]; /* trust the self-signed certificate */
  if ((rc = mtop_climber_new(&climber, NULL /* own thread */, &cconfig, NULL, NULL)) < 0)
    die("climber", rc);
  if ((rc = mtop_climber_start(climber)) < 0) die("climber start", rc);

  memset(&t, 0, sizeof t);
  pthread_mutex_init(&t.mutex, NULL);
  pthread_cond_init(&t.cond, NULL);
  rc = mtop_climber_open_tunnel(climber, "127.0.0.1", ntohs(addr.sin_port), on_tunnel, &t);
  if (rc < 0) die("open_tunnel", rc);
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 30;
  pthread_mutex_lock(&t.mutex);
  while (!t.done && pthread_cond_timedwait(&t.cond, &t.mutex, &until) != ETIMEDOUT) {
  }
  pthread_mutex_unlock(&t.mutex);
  if (!t.done || t.status < 0) return 1;

  /* The tunnel is a socket: talk to the service through it. */
  if (write(t.fd, question, sizeof question - 1) != (ssize_t)(sizeof question - 1)) return 1;
  shutdown(t.fd, SHUT_WR); /* the service sees EOF */

  p.fd = service;
  p.events = POLLIN;
  if (poll(&p, 1, 30000) != 1 || (conn = accept(service, NULL, NULL)) < 0) return 1;
  n = read_until_eof(conn, buf, sizeof buf);
  printf("service: got \"%.*s\"\n", (int)n, buf);
  if (n != sizeof question - 1 || memcmp(buf, question, n) != 0) return 1;
  if (write(conn, answer, sizeof answer - 1) != (ssize_t)(sizeof answer - 1)) return 1;
  close(conn); /* the climber's fd reads EOF after the answer */

  n = read_until_eof(t.fd, buf, sizeof buf);
  printf("climber: got \"%.*s\"\n", (int)n, buf);
  close(t.fd);

  mtop_server_stats(server, &stats);
  printf("server: %llu tunnel(s) accepted, %llu bytes up, %llu down\n",
         (unsigned long long)stats.accepted, (unsigned long long)stats.bytes_up,
         (unsigned long long)stats.bytes_down);

  mtop_climber_free(climber);
  mtop_server_free(server);
  close(service);
  pthread_mutex_destroy(&t.mutex);
  pthread_cond_destroy(&t.cond);

  if (n != sizeof answer - 1 || memcmp(buf, answer, n) != 0 || stats.accepted != 1) return 1;
  puts("embed_server: ok");
  return 0;
}
