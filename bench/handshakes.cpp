// handshakes: the CPU one TLS tunnel costs inside MTop's TLS layer, without sockets.
//
// A client Engine and a server Engine are wired together in memory (as in
// tests/unit/tls/test_engine.cpp) and run what a tunnel does over TLS: make both engines,
// handshake, 64 bytes each way (so the client takes in the server's tickets), close_notify
// both ways, free both. Thread CPU time is charged to the side whose call ran, split into
// "new" (Engine::client / Engine::server), "handshake" (handshake() and the reads and writes
// around it) and "free". Resumption on (the default, as the climber runs) or off (--full).
//
//   handshakes [--count N] [--full] [--warmup N]
//
// Prints one line per side and one summary line:
//   client new_us=.. hs_us=.. free_us=.. total_us=..
//   server ...
//   handshakes count=N resumed=R hrr=H tickets_received=T group=NAME tickets_cached=C mode=M
// The figures are per tunnel and, like every CPU figure on a shared machine, best compared
// with another run made in the same minutes.
#include <openssl/ssl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "tls/cert_gen.hpp"
#include "tls/context.hpp"
#include "tls/engine.hpp"

using namespace mtop;
using namespace mtop::tls;

namespace {

double thread_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e6 + double(ts.tv_nsec) / 1e3;
}

struct Side {
  double new_us = 0, hs_us = 0, free_us = 0;
};

// Charges the time of `f` to `*acc`.
template <class F>
auto timed(double* acc, F&& f) {
  const double t0 = thread_cpu_us();
  if constexpr (std::is_void_v<decltype(f())>) {
    f();
    *acc += thread_cpu_us() - t0;
  } else {
    auto r = f();
    *acc += thread_cpu_us() - t0;
    return r;
  }
}

void pipe(Engine& from, Engine& to) {
  Bytes out = from.take_output();
  if (out.empty()) return;
  to.handle_ciphertext(ByteView(out.data(), out.size()));
  to.retain_input();
}

// Reads whatever plaintext is ready; returns bytes read.
std::size_t drain(Engine& e) {
  std::uint8_t buf[256];
  std::size_t total = 0;
  for (;;) {
    std::size_t n = 0;
    Engine::Status st = e.read(buf, &n);
    total += n;
    if (st != Engine::Status::ok) return total;
  }
}

// Handshake messages seen by the client: ClientHellos sent (2 = a HelloRetryRequest) and
// NewSessionTickets received.
struct MsgCount {
  int client_hellos = 0;
  int tickets = 0;
};
MsgCount g_msgs;

void on_msg(int write_p, int, int content_type, const void* buf, size_t len, SSL*, void*) {
  if (content_type != SSL3_RT_HANDSHAKE || len == 0) return;
  const int type = static_cast<const unsigned char*>(buf)[0];
  if (write_p && type == SSL3_MT_CLIENT_HELLO) ++g_msgs.client_hellos;
  if (!write_p && type == SSL3_MT_NEWSESSION_TICKET) ++g_msgs.tickets;
}

}  // namespace

int main(int argc, char** argv) {
  int count = 2000, warmup = 200;
  bool full = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--count") && i + 1 < argc) count = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--full")) full = true;
    else {
      std::fprintf(stderr, "usage: handshakes [--count N] [--warmup N] [--full]\n");
      return 2;
    }
  }
  char tmpl[] = "/tmp/mtop-handshakes-XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  const std::string dir = tmpl;
  CertGenOptions g;
  g.name = "localhost";
  g.ips = {"127.0.0.1"};
  g.cert_path = dir + "/cert.pem";
  g.key_path = dir + "/key.pem";
  if (auto r = generate_self_signed(g); !r.ok()) {
    std::fprintf(stderr, "gen-cert: %s\n", r.error.c_str());
    return 1;
  }
  std::string err;
  auto sctx = ServerContext::create({g.cert_path, g.key_path}, &err);
  TlsClientConfig cc;
  cc.ca_file = g.cert_path;
  cc.server_name = "localhost";
  auto cctx = sctx ? ClientContext::create(cc, &err) : nullptr;
  std::filesystem::remove_all(dir);
  if (!sctx || !cctx) {
    std::fprintf(stderr, "context: %s\n", err.c_str());
    return 1;
  }
  cctx->set_resumption(!full);
  const std::string key = "localhost|127.0.0.1|443";
  const std::uint8_t payload[64] = {};

  Side cs, ss;
  int resumed = 0, hrr = 0, tickets = 0;
  std::string group;
  for (int i = -warmup; i < count; ++i) {
    Side c1, s1;
    auto client = timed(&c1.new_us, [&] { return Engine::client(cctx, "localhost", key, &err); });
    auto server = timed(&s1.new_us, [&] { return Engine::server(sctx, &err); });
    if (!client || !server) {
      std::fprintf(stderr, "engine: %s\n", err.c_str());
      return 1;
    }
    SSL_set_msg_callback(client->native(), on_msg);
    const MsgCount before = g_msgs;
    bool ok = false;
    for (int step = 0; step < 10 && !ok; ++step) {
      auto c = timed(&c1.hs_us, [&] { return client->handshake(); });
      pipe(*client, *server);
      auto s = timed(&s1.hs_us, [&] { return server->handshake(); });
      pipe(*server, *client);
      if (c == Engine::Status::failed || s == Engine::Status::failed) {
        std::fprintf(stderr, "handshake failed: %s %s\n", client->error().c_str(),
                     server->error().c_str());
        return 1;
      }
      ok = client->handshake_done() && server->handshake_done();
    }
    if (!ok) {
      std::fprintf(stderr, "handshake did not finish\n");
      return 1;
    }
    // A tunnel: the client's request, the server's answer (with it the client takes in the
    // tickets), then close_notify both ways.
    timed(&c1.hs_us, [&] { client->write(ByteView(payload, sizeof payload)); });
    pipe(*client, *server);
    timed(&s1.hs_us, [&] {
      drain(*server);
      server->write(ByteView(payload, sizeof payload));
      server->close_notify();
    });
    pipe(*server, *client);
    timed(&c1.hs_us, [&] {
      drain(*client);
      client->close_notify();
    });
    pipe(*client, *server);
    timed(&s1.hs_us, [&] { drain(*server); });
    if (i >= 0) {
      resumed += client->resumed() ? 1 : 0;
      hrr += g_msgs.client_hellos - before.client_hellos - 1;
      tickets += g_msgs.tickets - before.tickets;
      if (group.empty()) {
        EVP_PKEY* peer = nullptr;  // the server's key share
        if (SSL_get_peer_tmp_key(client->native(), &peer) == 1) {
          char name[64] = "?";
          std::size_t len = 0;
          if (EVP_PKEY_get_group_name(peer, name, sizeof name, &len) != 1) {
            std::snprintf(name, sizeof name, "%s", EVP_PKEY_get0_type_name(peer));
          }
          group = name;
          EVP_PKEY_free(peer);
        }
      }
    }
    timed(&c1.free_us, [&] { client.reset(); });
    timed(&s1.free_us, [&] { server.reset(); });
    if (i >= 0) {
      cs.new_us += c1.new_us;
      cs.hs_us += c1.hs_us;
      cs.free_us += c1.free_us;
      ss.new_us += s1.new_us;
      ss.hs_us += s1.hs_us;
      ss.free_us += s1.free_us;
    }
  }
  auto line = [&](const char* who, const Side& s) {
    std::printf("%s new_us=%.1f hs_us=%.1f free_us=%.1f total_us=%.1f\n", who, s.new_us / count,
                s.hs_us / count, s.free_us / count, (s.new_us + s.hs_us + s.free_us) / count);
  };
  line("client", cs);
  line("server", ss);
  std::printf("handshakes count=%d resumed=%d hrr=%d tickets_received=%d group=%s "
              "tickets_cached=%zu mode=%s\n",
              count, resumed, hrr, tickets, group.c_str(), cctx->cached_sessions(),
              full ? "full" : "resume");
  return 0;
}
