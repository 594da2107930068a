// handshakes: the CPU one TLS tunnel costs inside MTop's TLS layer, without sockets.
//
// A client Engine and a server Engine are wired together in memory (as in
// tests/unit/tls/test_engine.cpp) and run what a tunnel does over TLS: make both engines,
// handshake, 64 bytes each way (so the client takes in the server's tickets), close_notify
// both ways, free both. Thread CPU time is charged to the side whose call ran, split into
// "new" (Engine::client / Engine::server), "handshake" (handshake() and the reads and writes
// around it) and "free". Resumption on (the default, as the climber runs) or off (--full).
//
//   handshakes [--count N] [--warmup N] [--full] [--variants base,stateful,...]
//
// --variants runs several settings interleaved (one tunnel each in turn; --help lists them).
// Prints per variant: the sum over both sides in µs per tunnel, each side's new / handshake /
// free / total µs, and the tunnels that resumed, HelloRetryRequests, tickets received, the
// key exchange group and the tickets left in the client's cache.
// The figures are per tunnel and, like every CPU figure on a shared machine, best compared
// with another run made in the same minutes.
#include <openssl/provider.h>
#include <openssl/ssl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

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
// A variant: the library's contexts with one setting changed afterwards on the SSL_CTX, to
// measure what a setting is worth. Variants run interleaved, one tunnel each in turn, so a
// change in the machine's load hits all of them alike.
struct Variant {
  const char* name;
  const char* what;
  void (*tweak)(SSL_CTX* server, SSL_CTX* client);
};

const Variant kVariants[] = {
    {"base", "the library's settings", [](SSL_CTX*, SSL_CTX*) {}},
    {"default-groups", "OpenSSL 3.0's default group list on both sides",
     [](SSL_CTX* s, SSL_CTX* c) {
       const char* d =
           "x25519:secp256r1:x448:secp521r1:secp384r1:ffdhe2048:ffdhe3072:ffdhe4096:"
           "ffdhe6144:ffdhe8192";
       SSL_CTX_set1_groups_list(s, d);
       SSL_CTX_set1_groups_list(c, d);
     }},
    {"p256-first", "P-256 before X25519 on both sides",
     [](SSL_CTX* s, SSL_CTX* c) {
       SSL_CTX_set1_groups_list(s, "P-256:X25519");
       SSL_CTX_set1_groups_list(c, "P-256:X25519");
     }},
    {"2-tickets", "the server sends OpenSSL's default 2 tickets",
     [](SSL_CTX* s, SSL_CTX*) { SSL_CTX_set_num_tickets(s, 2); }},
    {"stateful", "server-side session cache (stateful TLS 1.3 tickets) instead of stateless",
     [](SSL_CTX* s, SSL_CTX*) {
       SSL_CTX_set_options(s, SSL_OP_NO_TICKET);
       SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_SERVER);
     }},
    {"no-compat", "no middlebox compatibility mode (no CCS, no legacy session id)",
     [](SSL_CTX* s, SSL_CTX* c) {
       SSL_CTX_clear_options(s, SSL_OP_ENABLE_MIDDLEBOX_COMPAT);
       SSL_CTX_clear_options(c, SSL_OP_ENABLE_MIDDLEBOX_COMPAT);
     }},
    {"keep-buffers", "OpenSSL keeps its record buffers (no SSL_MODE_RELEASE_BUFFERS)",
     [](SSL_CTX* s, SSL_CTX* c) {
       SSL_CTX_clear_mode(s, SSL_MODE_RELEASE_BUFFERS);
       SSL_CTX_clear_mode(c, SSL_MODE_RELEASE_BUFFERS);
     }},
    {"own-libctx", "contexts and handshakes in a library context of their own (default provider)",
     [](SSL_CTX*, SSL_CTX*) {}},
};

struct Run {
  const Variant* v;
  OSSL_LIB_CTX* libctx = nullptr;  ///< own-libctx: made the thread's default while it runs
  std::shared_ptr<ServerContext> sctx;
  std::shared_ptr<ClientContext> cctx;
  Side cs, ss;
  int resumed = 0, hrr = 0, tickets = 0;
  std::string group;
};

// One tunnel; false (and a message on stderr) on failure.
bool tunnel(Run& r, const std::string& key, bool count) {
  static const std::uint8_t payload[64] = {};
  Side c1, s1;
  auto made_client = timed(&c1.new_us, [&] { return Engine::client(r.cctx, "localhost", key); });
  auto made_server = timed(&s1.new_us, [&] { return Engine::server(r.sctx); });
  if (!made_client || !made_server) {
    const std::string why(!made_client ? made_client.message() : made_server.message());
    std::fprintf(stderr, "engine: %s\n", why.c_str());
    return false;
  }
  auto client = std::move(*made_client);
  auto server = std::move(*made_server);
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
      return false;
    }
    ok = client->handshake_done() && server->handshake_done();
  }
  if (!ok) {
    std::fprintf(stderr, "handshake did not finish\n");
    return false;
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
  if (count) {
    r.resumed += client->resumed() ? 1 : 0;
    r.hrr += g_msgs.client_hellos - before.client_hellos - 1;
    r.tickets += g_msgs.tickets - before.tickets;
    if (r.group.empty()) {
      EVP_PKEY* peer = nullptr;  // the server's key share
      if (SSL_get_peer_tmp_key(client->native(), &peer) == 1) {
        char name[64] = "?";
        std::size_t len = 0;
        if (EVP_PKEY_get_group_name(peer, name, sizeof name, &len) != 1) {
          std::snprintf(name, sizeof name, "%s", EVP_PKEY_get0_type_name(peer));
        }
        r.group = name;
        EVP_PKEY_free(peer);
      }
    }
  }
  timed(&c1.free_us, [&] { client.reset(); });
  timed(&s1.free_us, [&] { server.reset(); });
  if (count) {
    r.cs.new_us += c1.new_us;
    r.cs.hs_us += c1.hs_us;
    r.cs.free_us += c1.free_us;
    r.ss.new_us += s1.new_us;
    r.ss.hs_us += s1.hs_us;
    r.ss.free_us += s1.free_us;
  }
  return true;
}

void usage() {
  std::fprintf(stderr,
               "usage: handshakes [--count N] [--warmup N] [--full] [--variants A,B,..]\n"
               "variants (default: base):\n");
  for (const Variant& v : kVariants) std::fprintf(stderr, "  %-15s %s\n", v.name, v.what);
}

}  // namespace

int main(int argc, char** argv) {
  int count = 2000, warmup = 200;
  bool full = false;
  std::string variants = "base";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--count") && i + 1 < argc)
      count = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--warmup") && i + 1 < argc)
      warmup = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--variants") && i + 1 < argc)
      variants = argv[++i];
    else if (!std::strcmp(argv[i], "--full"))
      full = true;
    else {
      usage();
      return 2;
    }
  }
  if (count <= 0 || warmup < 0) {
    usage();
    return 2;
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
    std::fprintf(stderr, "gen-cert: %s\n", std::string(r.message()).c_str());
    return 1;
  }
  std::vector<Run> runs;
  for (std::size_t pos = 0; pos <= variants.size();) {
    std::size_t end = variants.find(',', pos);
    if (end == std::string::npos) end = variants.size();
    const std::string name = variants.substr(pos, end - pos);
    pos = end + 1;
    const Variant* v = nullptr;
    for (const Variant& k : kVariants) {
      if (name == k.name) v = &k;
    }
    if (!v) {
      std::fprintf(stderr, "unknown variant '%s'\n", name.c_str());
      usage();
      return 2;
    }
    Run r;
    r.v = v;
    OSSL_LIB_CTX* previous = nullptr;
    if (!std::strcmp(v->name, "own-libctx")) {
      r.libctx = OSSL_LIB_CTX_new();
      if (!r.libctx || !OSSL_PROVIDER_load(r.libctx, "default")) {
        std::fprintf(stderr, "own-libctx: cannot make a library context\n");
        return 1;
      }
      previous = OSSL_LIB_CTX_set0_default(r.libctx);
    }
    auto sctx = ServerContext::create({g.cert_path, g.key_path});
    TlsClientConfig cc;
    cc.ca_file = g.cert_path;
    cc.server_name = "localhost";
    auto cctx = ClientContext::create(cc);
    if (!sctx || !cctx) {
      const std::string why(!sctx ? sctx.message() : cctx.message());
      std::fprintf(stderr, "context: %s\n", why.c_str());
      return 1;
    }
    r.sctx = std::move(*sctx);
    r.cctx = std::move(*cctx);
    r.cctx->set_resumption(!full);
    v->tweak(r.sctx->native(), r.cctx->native());
    if (previous) OSSL_LIB_CTX_set0_default(previous);
    runs.push_back(std::move(r));
  }
  std::filesystem::remove_all(dir);
  const std::string key = "localhost|127.0.0.1|443";
  for (int i = -warmup; i < count; ++i) {
    for (Run& r : runs) {
      OSSL_LIB_CTX* previous = r.libctx ? OSSL_LIB_CTX_set0_default(r.libctx) : nullptr;
      const bool ok = tunnel(r, key, i >= 0);
      if (previous) OSSL_LIB_CTX_set0_default(previous);
      if (!ok) return 1;
    }
  }
  for (const Run& r : runs) {
    auto side = [&](const Side& s) {
      std::printf(" new_us=%.1f hs_us=%.1f free_us=%.1f total_us=%.1f", s.new_us / count,
                  s.hs_us / count, s.free_us / count, (s.new_us + s.hs_us + s.free_us) / count);
    };
    const double sum =
        (r.cs.new_us + r.cs.hs_us + r.cs.free_us + r.ss.new_us + r.ss.hs_us + r.ss.free_us) / count;
    std::printf("variant=%s mode=%s sum_us=%.1f\n  client", r.v->name, full ? "full" : "resume",
                sum);
    side(r.cs);
    std::printf("\n  server");
    side(r.ss);
    std::printf("\n  count=%d resumed=%d hrr=%d tickets_received=%d group=%s tickets_cached=%zu\n",
                count, r.resumed, r.hrr, r.tickets, r.group.c_str(), r.cctx->cached_sessions());
  }
  return 0;
}
