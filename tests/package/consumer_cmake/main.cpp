// A C++ program built against an installed libmtop (find_package(mtop)): the C API's codec and
// the C++ API's handshake pair, and, when built with MTOP_CONSUMER_EMBEDDING, an embedded
// server and climbers on loopback (embedding.cpp; arguments: CERT.pem KEY.pem). Every result is
// checked; exits non-zero on the first mismatch. Run by tests/package/consumers.sh.
#include <mtop.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <variant>

#include <mtop/client_handshake.hpp>
#include <mtop/server_handshake.hpp>

#ifdef MTOP_CONSUMER_EMBEDDING
#include "embedding.hpp"
#endif

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
      std::exit(EXIT_FAILURE);                                                         \
    }                                                                                  \
  } while (0)

namespace {

// The C API: encode an auth message, decode it, compare.
void c_codec_round_trip() {
  mtop_auth_message msg;
  std::memset(&msg, 0, sizeof msg);
  msg.username = reinterpret_cast<const uint8_t*>("alice");
  msg.username_len = 5;
  msg.password = reinterpret_cast<const uint8_t*>("s3cret");
  msg.password_len = 6;
  msg.target.type = MTOP_ADDRESS_DOMAIN;
  msg.target.domain = "example.com";
  msg.target.domain_len = 11;
  msg.target.port = 443;

  uint8_t buf[MTOP_MAX_AUTH_MESSAGE_SIZE];
  int n = mtop_encode_auth(&msg, buf, sizeof buf);
  CHECK(n > 0);
  CHECK(mtop_decode_auth(buf, static_cast<size_t>(n) - 1, &msg) == 0);  // a prefix: need more
  mtop_auth_message back;
  CHECK(mtop_decode_auth(buf, static_cast<size_t>(n), &back) == n);
  CHECK(back.username_len == 5 && std::memcmp(back.username, "alice", 5) == 0);
  CHECK(back.password_len == 6 && std::memcmp(back.password, "s3cret", 6) == 0);
  CHECK(back.target.type == MTOP_ADDRESS_DOMAIN && back.target.port == 443);
  CHECK(std::string(back.target.domain, back.target.domain_len) == "example.com");
  CHECK(std::strcmp(mtop_strerror(MTOP_ERR_BAD_VERSION), "unknown error") != 0);
  std::printf("C API %s: auth message of %d bytes encoded and decoded\n", mtop_version(), n);
}

// The C++ API: a client and a server machine wired together in memory.
void cpp_handshake_pair() {
  mtop::AuthMessage request;
  request.username = "alice";
  request.password = "s3cret";
  request.target = mtop::Address::from_domain("example.com", 80);

  auto client = mtop::ClientHandshake::create(request);
  CHECK(client.ok());
  mtop::ServerHandshake server;
  CHECK(client->send_payload(mtop::as_bytes("ping")).ok());

  mtop::ByteView out = client->pending_output();
  auto used = server.feed(out);
  CHECK(used.ok() && *used == out.size());
  client->consume_output(out.size());

  auto ev = server.next_event();
  auto* auth = std::get_if<mtop::event::AuthRequest>(&ev);
  CHECK(auth != nullptr);
  CHECK(auth->request.username == "alice" && auth->request.password == "s3cret");
  CHECK(auth->request.target.to_string() == "example.com:80");
  CHECK(server.accept().ok());
  ev = server.next_event();
  auto* early = std::get_if<mtop::event::Payload>(&ev);
  CHECK(early != nullptr && mtop::as_chars(early->data) == "ping");

  out = server.pending_output();
  auto fed = client->feed(out);
  CHECK(fed.ok() && *fed == out.size());
  server.consume_output(out.size());
  auto cev = client->next_event();
  CHECK(std::holds_alternative<mtop::event::Established>(cev));
  CHECK(client->state() == mtop::ClientHandshake::State::established);
  std::printf("C++ API: handshake established, early payload \"ping\" delivered\n");
}

}  // namespace

int main(int argc, char** argv) {
  c_codec_round_trip();
  cpp_handshake_pair();
#ifdef MTOP_CONSUMER_EMBEDDING
  CHECK(argc == 3);
  run_embedding(argv[1], argv[2]);
#else
  (void)argc;
  (void)argv;
#endif
  std::puts("consumer_cmake: ok");
  return 0;
}
