// The C API (mtop.h) as a C caller sees it: every function, its error paths (NULL arguments,
// misuse, bad peer bytes), the MTOP_ERR_* numbering, and a client and a server machine
// driven against each other. Wire bytes are written out by hand (docs/PROTOCOL.md).
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "mtop.h"

namespace {

using Bytes = std::vector<std::uint8_t>;

struct ClientFree {
  void operator()(mtop_client_handshake* h) const { mtop_client_handshake_free(h); }
};
struct ServerFree {
  void operator()(mtop_server_handshake* h) const { mtop_server_handshake_free(h); }
};
using ClientPtr = std::unique_ptr<mtop_client_handshake, ClientFree>;
using ServerPtr = std::unique_ptr<mtop_server_handshake, ServerFree>;

Bytes bytes(const std::string& s) {
  return Bytes(s.begin(), s.end());
}
Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// "alice" / "s3cret" to example.com:443.
struct Request {
  std::string user = "alice";
  std::string pass = "s3cret";
  std::string domain = "example.com";
  mtop_auth_message msg{};

  Request() { refresh(); }
  // Points msg at this object's strings (call again after changing them).
  void refresh() {
    msg.username = reinterpret_cast<const std::uint8_t*>(user.data());
    msg.username_len = user.size();
    msg.password = reinterpret_cast<const std::uint8_t*>(pass.data());
    msg.password_len = pass.size();
    msg.target.type = MTOP_ADDRESS_DOMAIN;
    msg.target.domain = domain.data();
    msg.target.domain_len = domain.size();
    msg.target.port = 443;
  }
};

const Bytes kDomainWire =
    cat(cat(Bytes{0x01, 0x01, 5}, bytes("alice")),
        cat(cat(Bytes{6}, bytes("s3cret")),
            cat(cat(Bytes{0x03, 11}, bytes("example.com")), Bytes{0x01, 0xbb})));

ClientPtr make_client(const mtop_auth_message& msg) {
  mtop_client_handshake* h = nullptr;
  REQUIRE(mtop_client_handshake_new(&h, &msg) == 0);
  REQUIRE(h != nullptr);
  return ClientPtr(h);
}

ServerPtr make_server(const mtop_server_settings* settings = nullptr) {
  mtop_server_handshake* h = nullptr;
  REQUIRE(mtop_server_handshake_new(&h, settings) == 0);
  REQUIRE(h != nullptr);
  return ServerPtr(h);
}

Bytes client_output(mtop_client_handshake* h) {
  const std::uint8_t* data = nullptr;
  std::size_t len = 0;
  REQUIRE(mtop_client_handshake_pending_output(h, &data, &len) == 0);
  Bytes out(data, data + len);
  REQUIRE(mtop_client_handshake_consume_output(h, len) == 0);
  return out;
}

Bytes server_output(mtop_server_handshake* h) {
  const std::uint8_t* data = nullptr;
  std::size_t len = 0;
  REQUIRE(mtop_server_handshake_pending_output(h, &data, &len) == 0);
  Bytes out(data, data + len);
  REQUIRE(mtop_server_handshake_consume_output(h, len) == 0);
  return out;
}

// Feeds `in` to the server in chunks of `step` bytes; every byte must be consumed.
void feed_server(mtop_server_handshake* h, const Bytes& in, std::size_t step) {
  for (std::size_t off = 0; off < in.size(); off += step) {
    const std::size_t n = std::min(step, in.size() - off);
    REQUIRE(mtop_server_handshake_feed(h, in.data() + off, n) == static_cast<int>(n));
  }
}

Bytes as_bytes(const std::uint8_t* p, std::size_t n) {
  return Bytes(p, p + n);
}

// Every MTOP_ERR_* constant of mtop.h and its mtop::Errc number (include/mtop/errc.hpp).
struct Code {
  int value;
  int errc;
  const char* name;
};
#define CODE(macro, number) \
  Code {                    \
    macro, number, #macro   \
  }
const Code kCodes[] = {
    CODE(MTOP_ERR_INVALID_ARGUMENT, 1),
    CODE(MTOP_ERR_INVALID_STATE, 2),
    CODE(MTOP_ERR_NO_MEMORY, 3),
    CODE(MTOP_ERR_BAD_VERSION, 10),
    CODE(MTOP_ERR_BAD_METHOD, 11),
    CODE(MTOP_ERR_BAD_USERNAME, 12),
    CODE(MTOP_ERR_BAD_PASSWORD, 13),
    CODE(MTOP_ERR_BAD_ADDRESS_TYPE, 14),
    CODE(MTOP_ERR_BAD_DOMAIN, 15),
    CODE(MTOP_ERR_BAD_PORT, 16),
    CODE(MTOP_ERR_BAD_STATUS, 17),
    CODE(MTOP_ERR_EARLY_DATA_LIMIT, 18),
    CODE(MTOP_ERR_PEER_CLOSED, 19),
    CODE(MTOP_ERR_BAD_FRAME, 20),
    CODE(MTOP_ERR_KEEPALIVE_TIMEOUT, 21),
    CODE(MTOP_ERR_SOCKS_BAD_VERSION, 30),
    CODE(MTOP_ERR_SOCKS_NO_METHODS, 31),
    CODE(MTOP_ERR_SOCKS_BAD_RESERVED, 32),
    CODE(MTOP_ERR_SOCKS_BAD_ADDRESS_TYPE, 33),
    CODE(MTOP_ERR_SOCKS_BAD_ADDRESS, 34),
    CODE(MTOP_ERR_SOCKS_BAD_CREDENTIALS, 35),
    CODE(MTOP_ERR_SOCKS_AUTH_FAILED, 36),
    CODE(MTOP_ERR_SOCKS_NO_ACCEPTABLE_METHOD, 37),
    CODE(MTOP_ERR_SOCKS_COMMAND_NOT_SUPPORTED, 38),
    CODE(MTOP_ERR_HTTP_BAD_REQUEST, 50),
    CODE(MTOP_ERR_HTTP_HEADER_TOO_LARGE, 51),
    CODE(MTOP_ERR_HTTP_TOO_MANY_HEADERS, 52),
    CODE(MTOP_ERR_HTTP_BAD_TARGET, 53),
    CODE(MTOP_ERR_HTTP_UNSUPPORTED, 54),
    CODE(MTOP_ERR_HTTP_BAD_VERSION, 55),
    CODE(MTOP_ERR_STORE_UNAVAILABLE, 70),
    CODE(MTOP_ERR_STORE_DUPLICATE_USER, 71),
    CODE(MTOP_ERR_STORE_NO_SUCH_USER, 72),
    CODE(MTOP_ERR_STORE_QUERY_FAILED, 73),
    CODE(MTOP_ERR_CONFIG_INVALID, 90),
    CODE(MTOP_ERR_LISTEN_FAILED, 91),
    CODE(MTOP_ERR_TLS_SETUP_FAILED, 92),
    CODE(MTOP_ERR_NOT_BUILT_IN, 93),
    CODE(MTOP_ERR_SYSTEM, 94),
    CODE(MTOP_ERR_TUNNEL_REFUSED, 95),
    CODE(MTOP_ERR_TUNNEL_FAILED, 96),
    CODE(MTOP_ERR_LIMIT_REACHED, 97),
    CODE(MTOP_ERR_CANCELLED, 98),
};
#undef CODE

}  // namespace

// ---------------------------------------------------------------------------------------
// Errors and version
// ---------------------------------------------------------------------------------------

TEST_CASE("every MTOP_ERR code is -(10000 + its Errc value) with its own message", "[c][errc]") {
  std::set<std::string> messages;
  for (const Code& c : kCodes) {
    INFO(c.name);
    CHECK(c.value == -(10000 + c.errc));
    const char* msg = mtop_strerror(c.value);
    REQUIRE(msg != nullptr);
    CHECK(std::strlen(msg) > 0);
    CHECK(std::string(msg) != "unknown error");
    CHECK(messages.insert(msg).second);  // distinct
  }
  CHECK(MTOP_ERR_NOMEM == MTOP_ERR_NO_MEMORY);
  const std::string internal = mtop_strerror(MTOP_ERR_INTERNAL);
  CHECK_FALSE(internal.empty());
  CHECK(messages.count(internal) == 0);
  CHECK(messages.count(mtop_strerror(0)) == 0);
}

TEST_CASE("every code the library knows has a name in mtop.h", "[c][errc]") {
  // A code added to mtop::Errc gets a message; if mtop.h lacks its MTOP_ERR_* this fails.
  std::set<int> named;
  for (const Code& c : kCodes) named.insert(c.errc);
  for (int e = 0; e < 10000; ++e) {
    const std::string msg = mtop_strerror(-(10000 + e));
    if (msg != "unknown error") {
      INFO("Errc value " << e << ": " << msg);
      CHECK(named.count(e) == 1);
    }
  }
}

TEST_CASE("mtop_strerror for success and foreign values", "[c][errc]") {
  CHECK(std::string(mtop_strerror(0)) == "success");
  CHECK(std::string(mtop_strerror(773)) == "success");
  CHECK(std::string(mtop_strerror(-1)) == "unknown error");  // a libuv -errno is not ours
  CHECK(std::string(mtop_strerror(-9999)) == "unknown error");
  CHECK(std::string(mtop_strerror(-10000)) == "unknown error");
  CHECK(std::string(mtop_strerror(-20001)) == "unknown error");
  CHECK(std::string(mtop_strerror(INT32_MIN)) == "unknown error");
}

TEST_CASE("mtop_version is MAJOR.MINOR.PATCH", "[c]") {
  const char* v = mtop_version();
  REQUIRE(v != nullptr);
  CHECK(std::regex_match(v, std::regex(R"(\d+\.\d+\.\d+)")));
}

// ---------------------------------------------------------------------------------------
// Codecs
// ---------------------------------------------------------------------------------------

TEST_CASE("mtop_encode_auth writes the wire bytes for each address type", "[c][codec]") {
  Request r;
  std::uint8_t out[MTOP_MAX_AUTH_MESSAGE_SIZE];
  SECTION("domain") {
    REQUIRE(mtop_encode_auth(&r.msg, out, sizeof out) == static_cast<int>(kDomainWire.size()));
    CHECK(as_bytes(out, kDomainWire.size()) == kDomainWire);
  }
  SECTION("IPv4") {
    r.msg.target.type = MTOP_ADDRESS_IPV4;
    r.msg.target.domain = nullptr;  // ignored for IP targets
    const std::uint8_t ip[4] = {192, 0, 2, 7};
    std::memcpy(r.msg.target.ip, ip, 4);
    r.msg.target.port = 8080;
    const Bytes want =
        cat(cat(Bytes{0x01, 0x01, 5}, bytes("alice")),
            cat(cat(Bytes{6}, bytes("s3cret")), Bytes{0x01, 192, 0, 2, 7, 0x1f, 0x90}));
    REQUIRE(mtop_encode_auth(&r.msg, out, sizeof out) == static_cast<int>(want.size()));
    CHECK(as_bytes(out, want.size()) == want);
  }
  SECTION("IPv6") {
    r.msg.target.type = MTOP_ADDRESS_IPV6;
    for (int i = 0; i < 16; ++i) r.msg.target.ip[i] = static_cast<std::uint8_t>(0xf0 + i);
    r.msg.target.port = 1;
    Bytes want = cat(cat(Bytes{0x01, 0x01, 5}, bytes("alice")), cat(Bytes{6}, bytes("s3cret")));
    want.push_back(0x04);
    for (int i = 0; i < 16; ++i) want.push_back(static_cast<std::uint8_t>(0xf0 + i));
    want.push_back(0x00);
    want.push_back(0x01);
    REQUIRE(mtop_encode_auth(&r.msg, out, sizeof out) == static_cast<int>(want.size()));
    CHECK(as_bytes(out, want.size()) == want);
  }
  SECTION("opaque bytes and the largest message") {
    r.user.assign(255, '\0');
    r.pass.assign(255, '\xff');
    r.domain.assign(255, 'a');
    r.refresh();
    r.msg.target.port = 65535;
    REQUIRE(mtop_encode_auth(&r.msg, out, sizeof out) == MTOP_MAX_AUTH_MESSAGE_SIZE);
    CHECK(out[2] == 255);
    CHECK(out[3] == 0x00);
    CHECK(out[MTOP_MAX_AUTH_MESSAGE_SIZE - 1] == 0xff);
  }
}

TEST_CASE("mtop_encode_auth refuses bad arguments and writes nothing", "[c][codec]") {
  Request r;
  std::uint8_t out[MTOP_MAX_AUTH_MESSAGE_SIZE];
  std::memset(out, 0xaa, sizeof out);
  auto check_refused = [&](const mtop_auth_message& m, std::size_t cap) {
    CHECK(mtop_encode_auth(&m, out, cap) == MTOP_ERR_INVALID_ARGUMENT);
    CHECK(out[0] == 0xaa);
  };
  CHECK(mtop_encode_auth(nullptr, out, sizeof out) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_encode_auth(&r.msg, nullptr, sizeof out) == MTOP_ERR_INVALID_ARGUMENT);
  check_refused(r.msg, kDomainWire.size() - 1);  // too small
  check_refused(r.msg, 0);
  mtop_auth_message m = r.msg;
  m.username_len = 0;
  check_refused(m, sizeof out);
  m = r.msg;
  m.username_len = 256;
  check_refused(m, sizeof out);
  m = r.msg;
  m.username = nullptr;
  check_refused(m, sizeof out);
  m = r.msg;
  m.password_len = 0;
  check_refused(m, sizeof out);
  m = r.msg;
  m.password_len = SIZE_MAX;  // never read: the length is checked first
  check_refused(m, sizeof out);
  m = r.msg;
  m.password = nullptr;
  check_refused(m, sizeof out);
  for (int type : {0, 2, 5, 257, -1}) {
    m = r.msg;
    m.target.type = type;
    check_refused(m, sizeof out);
  }
  m = r.msg;
  m.target.domain = nullptr;
  check_refused(m, sizeof out);
  m = r.msg;
  m.target.domain_len = 0;
  check_refused(m, sizeof out);
  m = r.msg;
  m.target.domain_len = 256;
  check_refused(m, sizeof out);
  m = r.msg;
  m.target.domain = "exa mple";
  m.target.domain_len = 8;
  check_refused(m, sizeof out);
  m = r.msg;
  m.target.port = 0;
  check_refused(m, sizeof out);
}

TEST_CASE("mtop_encode_response", "[c][codec]") {
  std::uint8_t out[4] = {0xaa, 0xaa, 0xaa, 0xaa};
  for (int s : {MTOP_STATUS_SUCCESS, MTOP_STATUS_VERSION_NOT_SUPPORTED, MTOP_STATUS_AUTH_FAILED,
                MTOP_STATUS_CONNECT_FAILED}) {
    REQUIRE(mtop_encode_response(s, out, sizeof out) == MTOP_RESPONSE_SIZE);
    CHECK(out[0] == 0x01);
    CHECK(out[1] == s);
    CHECK(out[2] == 0xaa);
  }
  out[0] = 0xaa;
  for (int s : {-1, 4, 255, 256, 0x101}) {
    CHECK(mtop_encode_response(s, out, sizeof out) == MTOP_ERR_INVALID_ARGUMENT);
  }
  CHECK(out[0] == 0xaa);
  CHECK(mtop_encode_response(0, nullptr, 2) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_encode_response(0, out, 1) == MTOP_ERR_INVALID_ARGUMENT);
}

TEST_CASE("mtop_decode_auth whole, byte by byte and with trailing bytes", "[c][codec]") {
  const Bytes wire = cat(kDomainWire, bytes("GET / HTTP/1.1\r\n"));
  // Every strict prefix asks for more; the fields point into the caller's buffer.
  for (std::size_t n = 0; n < kDomainWire.size(); ++n) {
    mtop_auth_message m{};
    INFO("prefix " << n);
    CHECK(mtop_decode_auth(n == 0 ? nullptr : wire.data(), n, &m) == 0);
  }
  for (std::size_t n : {kDomainWire.size(), wire.size()}) {
    mtop_auth_message m{};
    REQUIRE(mtop_decode_auth(wire.data(), n, &m) == static_cast<int>(kDomainWire.size()));
    CHECK(m.username == wire.data() + 3);
    CHECK(as_bytes(m.username, m.username_len) == bytes("alice"));
    CHECK(as_bytes(m.password, m.password_len) == bytes("s3cret"));
    CHECK(m.target.type == MTOP_ADDRESS_DOMAIN);
    CHECK(std::string(m.target.domain, m.target.domain_len) == "example.com");
    CHECK(m.target.port == 443);
  }
}

TEST_CASE("mtop_decode_auth IP targets and opaque credentials", "[c][codec]") {
  const Bytes v4 = {0x01, 0x01, 2, 0x00, 'x', 1, 0x00, 0x01, 10, 0, 0, 1, 0x00, 0x50};
  mtop_auth_message m{};
  REQUIRE(mtop_decode_auth(v4.data(), v4.size(), &m) == static_cast<int>(v4.size()));
  CHECK(as_bytes(m.username, m.username_len) == Bytes{0x00, 'x'});
  CHECK(as_bytes(m.password, m.password_len) == Bytes{0x00});
  CHECK(m.target.type == MTOP_ADDRESS_IPV4);
  CHECK(as_bytes(m.target.ip, 4) == Bytes{10, 0, 0, 1});
  CHECK(m.target.domain == nullptr);
  CHECK(m.target.domain_len == 0);
  CHECK(m.target.port == 80);

  Bytes v6 = {0x01, 0x01, 1, 'u', 1, 'p', 0x04};
  for (int i = 0; i < 16; ++i) v6.push_back(static_cast<std::uint8_t>(i));
  v6.push_back(0xff);
  v6.push_back(0xff);
  REQUIRE(mtop_decode_auth(v6.data(), v6.size(), &m) == static_cast<int>(v6.size()));
  CHECK(m.target.type == MTOP_ADDRESS_IPV6);
  CHECK(m.target.ip[15] == 15);
  CHECK(m.target.port == 65535);
}

TEST_CASE("mtop_decode_auth reports each peer error at the offending byte", "[c][codec]") {
  struct Case {
    Bytes wire;
    int error;
  };
  const Case cases[] = {
      {{0x02}, MTOP_ERR_BAD_VERSION},
      {{0x05, 0x01}, MTOP_ERR_BAD_VERSION},
      {{0x01, 0x02}, MTOP_ERR_BAD_METHOD},  // reserved for reverse tunnels
      {{0x01, 0x00}, MTOP_ERR_BAD_METHOD},
      {{0x01, 0x01, 0x00}, MTOP_ERR_BAD_USERNAME},
      {{0x01, 0x01, 1, 'u', 0x00}, MTOP_ERR_BAD_PASSWORD},
      {{0x01, 0x01, 1, 'u', 1, 'p', 0x02}, MTOP_ERR_BAD_ADDRESS_TYPE},
      {{0x01, 0x01, 1, 'u', 1, 'p', 0x03, 0x00}, MTOP_ERR_BAD_DOMAIN},
      {{0x01, 0x01, 1, 'u', 1, 'p', 0x03, 5, 'a', '/'}, MTOP_ERR_BAD_DOMAIN},
      {{0x01, 0x01, 1, 'u', 1, 'p', 0x01, 1, 2, 3, 4, 0x00, 0x00}, MTOP_ERR_BAD_PORT},
  };
  for (const Case& c : cases) {
    mtop_auth_message m{};
    m.username_len = 99;
    INFO("bytes " << c.wire.size() << " want " << mtop_strerror(c.error));
    CHECK(mtop_decode_auth(c.wire.data(), c.wire.size(), &m) == c.error);
    CHECK(m.username_len == 99);  // untouched on error
    Bytes longer = cat(c.wire, Bytes(20, 'z'));
    CHECK(mtop_decode_auth(longer.data(), longer.size(), &m) == c.error);
  }
}

TEST_CASE("mtop_decode_auth argument checks", "[c][codec]") {
  mtop_auth_message m{};
  CHECK(mtop_decode_auth(kDomainWire.data(), kDomainWire.size(), nullptr) ==
        MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_decode_auth(nullptr, 3, &m) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_decode_auth(nullptr, 0, &m) == 0);
}

TEST_CASE("mtop_decode_response", "[c][codec]") {
  int status = -1;
  const Bytes ok = {0x01, 0x00, 'p', 'a', 'y'};
  CHECK(mtop_decode_response(nullptr, 0, &status) == 0);
  CHECK(mtop_decode_response(ok.data(), 1, &status) == 0);
  CHECK(status == -1);
  CHECK(mtop_decode_response(ok.data(), ok.size(), &status) == MTOP_RESPONSE_SIZE);
  CHECK(status == MTOP_STATUS_SUCCESS);
  const Bytes denied = {0x01, 0x03};
  CHECK(mtop_decode_response(denied.data(), 2, &status) == 2);
  CHECK(status == MTOP_STATUS_CONNECT_FAILED);
  status = -1;
  const Bytes bad_ver = {0x05};
  CHECK(mtop_decode_response(bad_ver.data(), 1, &status) == MTOP_ERR_BAD_VERSION);
  const Bytes bad_status = {0x01, 0x04};
  CHECK(mtop_decode_response(bad_status.data(), 2, &status) == MTOP_ERR_BAD_STATUS);
  CHECK(status == -1);
  CHECK(mtop_decode_response(ok.data(), 2, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_decode_response(nullptr, 2, &status) == MTOP_ERR_INVALID_ARGUMENT);
}

// ---------------------------------------------------------------------------------------
// Client machine
// ---------------------------------------------------------------------------------------

TEST_CASE("client: NULL arguments are refused by every function", "[c][client]") {
  Request r;
  mtop_client_handshake* h = nullptr;
  CHECK(mtop_client_handshake_new(nullptr, &r.msg) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_client_handshake_new(&h, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(h == nullptr);
  mtop_client_handshake_free(nullptr);  // a no-op

  auto c = make_client(r.msg);
  const std::uint8_t* data = nullptr;
  std::size_t len = 0;
  mtop_client_event ev{};
  const std::uint8_t byte = 1;
  CHECK(mtop_client_handshake_set_user_data(nullptr, &len) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_client_handshake_get_user_data(nullptr) == nullptr);
  CHECK(mtop_client_handshake_send_payload(nullptr, &byte, 1) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_client_handshake_send_payload(c.get(), nullptr, 1) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_client_handshake_pending_output(nullptr, &data, &len) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_client_handshake_pending_output(c.get(), nullptr, &len) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_client_handshake_pending_output(c.get(), &data, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_client_handshake_consume_output(nullptr, 0) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_client_handshake_feed(nullptr, &byte, 1) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_client_handshake_feed(c.get(), nullptr, 1) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_client_handshake_feed_eof(nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_client_handshake_next_event(nullptr, &ev) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_client_handshake_next_event(c.get(), nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  // Refused calls changed nothing: the auth message is still all there is to send.
  CHECK(client_output(c.get()) == kDomainWire);
}

TEST_CASE("client: an invalid request is refused at creation", "[c][client]") {
  Request r;
  r.msg.target.port = 0;
  mtop_client_handshake* h = nullptr;
  CHECK(mtop_client_handshake_new(&h, &r.msg) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(h == nullptr);
  r.refresh();
  r.msg.target.type = 7;
  CHECK(mtop_client_handshake_new(&h, &r.msg) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(h == nullptr);
}

TEST_CASE("client: user data", "[c][client]") {
  Request r;
  auto c = make_client(r.msg);
  CHECK(mtop_client_handshake_get_user_data(c.get()) == nullptr);
  int marker = 0;
  CHECK(mtop_client_handshake_set_user_data(c.get(), &marker) == 0);
  CHECK(mtop_client_handshake_get_user_data(c.get()) == &marker);
}

TEST_CASE("client: output, early payload, success, payload, end of input", "[c][client]") {
  Request r;
  auto c = make_client(r.msg);
  mtop_client_event ev{};
  CHECK(mtop_client_handshake_next_event(c.get(), &ev) == MTOP_EVENT_NEED_DATA);

  const Bytes early = bytes("hello");
  REQUIRE(mtop_client_handshake_send_payload(c.get(), early.data(), early.size()) == 0);
  REQUIRE(mtop_client_handshake_send_payload(c.get(), nullptr, 0) == 0);
  const std::uint8_t* data = nullptr;
  std::size_t len = 0;
  REQUIRE(mtop_client_handshake_pending_output(c.get(), &data, &len) == 0);
  REQUIRE(as_bytes(data, len) == cat(kDomainWire, early));
  // Partial consumption, then more than is left is refused and changes nothing.
  REQUIRE(mtop_client_handshake_consume_output(c.get(), 3) == 0);
  REQUIRE(mtop_client_handshake_pending_output(c.get(), &data, &len) == 0);
  CHECK(len == kDomainWire.size() + early.size() - 3);
  CHECK(mtop_client_handshake_consume_output(c.get(), len + 1) == MTOP_ERR_INVALID_ARGUMENT);
  REQUIRE(mtop_client_handshake_consume_output(c.get(), len) == 0);
  REQUIRE(mtop_client_handshake_pending_output(c.get(), &data, &len) == 0);
  CHECK(len == 0);

  // The response in two pieces, with payload behind it.
  const Bytes from_server = {0x01, 0x00, 'w', 'o', 'r', 'l', 'd'};
  REQUIRE(mtop_client_handshake_feed(c.get(), from_server.data(), 1) == 1);
  CHECK(mtop_client_handshake_next_event(c.get(), &ev) == MTOP_EVENT_NEED_DATA);
  REQUIRE(mtop_client_handshake_feed(c.get(), from_server.data() + 1, 6) == 6);
  REQUIRE(mtop_client_handshake_next_event(c.get(), &ev) == MTOP_EVENT_ESTABLISHED);
  CHECK(ev.status == 0);
  CHECK(ev.error == 0);
  CHECK(ev.data == nullptr);
  REQUIRE(mtop_client_handshake_next_event(c.get(), &ev) == MTOP_EVENT_PAYLOAD);
  CHECK(ev.type == MTOP_EVENT_PAYLOAD);
  CHECK(as_bytes(ev.data, ev.len) == bytes("world"));
  CHECK(mtop_client_handshake_next_event(c.get(), &ev) == MTOP_EVENT_NEED_DATA);
  CHECK(ev.len == 0);

  // Payload both ways after the handshake; an empty feed is fine.
  const Bytes more = bytes("more");
  REQUIRE(mtop_client_handshake_send_payload(c.get(), more.data(), more.size()) == 0);
  CHECK(client_output(c.get()) == more);
  CHECK(mtop_client_handshake_feed(c.get(), nullptr, 0) == 0);
  REQUIRE(mtop_client_handshake_feed(c.get(), more.data(), more.size()) == 4);
  REQUIRE(mtop_client_handshake_feed_eof(c.get()) == 0);
  REQUIRE(mtop_client_handshake_next_event(c.get(), &ev) == MTOP_EVENT_PAYLOAD);
  CHECK(as_bytes(ev.data, ev.len) == more);
  CHECK(mtop_client_handshake_next_event(c.get(), &ev) == MTOP_EVENT_END_OF_INPUT);
  CHECK(mtop_client_handshake_next_event(c.get(), &ev) == MTOP_EVENT_END_OF_INPUT);

  // Misuse after the server's EOF.
  CHECK(mtop_client_handshake_feed(c.get(), more.data(), 1) == MTOP_ERR_INVALID_STATE);
  CHECK(mtop_client_handshake_feed_eof(c.get()) == MTOP_ERR_INVALID_STATE);
  // Our own side may still send.
  CHECK(mtop_client_handshake_send_payload(c.get(), more.data(), 1) == 0);
}

TEST_CASE("client: a failure status is a terminal REJECTED", "[c][client]") {
  Request r;
  auto c = make_client(r.msg);
  (void)client_output(c.get());
  const Bytes answer = {0x01, MTOP_STATUS_AUTH_FAILED, 'x', 'y'};
  CHECK(mtop_client_handshake_feed(c.get(), answer.data(), answer.size()) == 2);
  mtop_client_event ev{};
  for (int i = 0; i < 2; ++i) {
    REQUIRE(mtop_client_handshake_next_event(c.get(), &ev) == MTOP_EVENT_REJECTED);
    CHECK(ev.status == MTOP_STATUS_AUTH_FAILED);
    CHECK(ev.error == 0);
  }
  CHECK(mtop_client_handshake_feed(c.get(), answer.data(), 1) == MTOP_ERR_INVALID_STATE);
  CHECK(mtop_client_handshake_feed_eof(c.get()) == MTOP_ERR_INVALID_STATE);
  CHECK(mtop_client_handshake_send_payload(c.get(), answer.data(), 1) == MTOP_ERR_INVALID_STATE);
}

TEST_CASE("client: EOF before the response is CLOSED_WITHOUT_STATUS (peer_closed)", "[c][client]") {
  Request r;
  auto c = make_client(r.msg);
  const std::uint8_t ver = 0x01;
  SECTION("nothing received") {}
  SECTION("only VER received") {
    REQUIRE(mtop_client_handshake_feed(c.get(), &ver, 1) == 1);
  }
  REQUIRE(mtop_client_handshake_feed_eof(c.get()) == 0);
  mtop_client_event ev{};
  REQUIRE(mtop_client_handshake_next_event(c.get(), &ev) == MTOP_EVENT_CLOSED_WITHOUT_STATUS);
  CHECK(ev.error == MTOP_ERR_PEER_CLOSED);
  CHECK(ev.status == 0);
  // The unsent auth message (with the password) is dropped.
  const std::uint8_t* data = nullptr;
  std::size_t len = 1;
  REQUIRE(mtop_client_handshake_pending_output(c.get(), &data, &len) == 0);
  CHECK(len == 0);
  CHECK(mtop_client_handshake_feed_eof(c.get()) == MTOP_ERR_INVALID_STATE);
}

TEST_CASE("client: bad response bytes are a terminal ERROR with the peer code", "[c][client]") {
  Request r;
  auto c = make_client(r.msg);
  Bytes answer;
  int want = 0;
  SECTION("version") {
    answer = {0x02, 0x00};
    want = MTOP_ERR_BAD_VERSION;
  }
  SECTION("status") {
    answer = {0x01, 0x09};
    want = MTOP_ERR_BAD_STATUS;
  }
  CHECK(mtop_client_handshake_feed(c.get(), answer.data(), answer.size()) >= 1);
  mtop_client_event ev{};
  REQUIRE(mtop_client_handshake_next_event(c.get(), &ev) == MTOP_EVENT_ERROR);
  CHECK(ev.error == want);
  REQUIRE(mtop_client_handshake_next_event(c.get(), &ev) == MTOP_EVENT_ERROR);
  CHECK(mtop_client_handshake_feed(c.get(), answer.data(), 1) == MTOP_ERR_INVALID_STATE);
  CHECK(mtop_client_handshake_feed_eof(c.get()) == MTOP_ERR_INVALID_STATE);
}

// ---------------------------------------------------------------------------------------
// Server machine
// ---------------------------------------------------------------------------------------

TEST_CASE("server: settings", "[c][server]") {
  mtop_server_settings s{};
  CHECK(mtop_server_settings_default(nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  REQUIRE(mtop_server_settings_default(&s) == 0);
  CHECK(s.version == MTOP_SETTINGS_VERSION);
  CHECK(s.early_data_limit == MTOP_DEFAULT_EARLY_DATA_LIMIT);

  mtop_server_handshake* h = nullptr;
  CHECK(mtop_server_handshake_new(nullptr, &s) == MTOP_ERR_INVALID_ARGUMENT);
  s.version = 0;
  CHECK(mtop_server_handshake_new(&h, &s) == MTOP_ERR_INVALID_ARGUMENT);
  s.version = MTOP_SETTINGS_VERSION + 1;
  CHECK(mtop_server_handshake_new(&h, &s) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(h == nullptr);
  mtop_server_handshake_free(nullptr);  // a no-op
}

TEST_CASE("server: NULL arguments are refused by every function", "[c][server]") {
  auto s = make_server();
  const std::uint8_t* data = nullptr;
  std::size_t len = 0;
  mtop_server_event ev{};
  const std::uint8_t byte = 1;
  CHECK(mtop_server_handshake_set_user_data(nullptr, &len) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_handshake_get_user_data(nullptr) == nullptr);
  CHECK(mtop_server_handshake_feed(nullptr, &byte, 1) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_handshake_feed(s.get(), nullptr, 1) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_handshake_feed_eof(nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_handshake_next_event(nullptr, &ev) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_handshake_next_event(s.get(), nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_handshake_accept(nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_handshake_reject(nullptr, MTOP_STATUS_AUTH_FAILED, MTOP_REJECT_REPLY) ==
        MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_handshake_wipe_password(nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_handshake_pending_output(nullptr, &data, &len) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_handshake_pending_output(s.get(), nullptr, &len) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_handshake_pending_output(s.get(), &data, nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_handshake_consume_output(nullptr, 0) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_handshake_early_data_size(nullptr, &len) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_handshake_early_data_size(s.get(), nullptr) == MTOP_ERR_INVALID_ARGUMENT);
  // Nothing was taken: the machine still reads the auth message.
  feed_server(s.get(), kDomainWire, kDomainWire.size());
  CHECK(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_AUTH_REQUEST);
}

TEST_CASE("server: user data", "[c][server]") {
  auto s = make_server();
  CHECK(mtop_server_handshake_get_user_data(s.get()) == nullptr);
  int marker = 0;
  CHECK(mtop_server_handshake_set_user_data(s.get(), &marker) == 0);
  CHECK(mtop_server_handshake_get_user_data(s.get()) == &marker);
}

TEST_CASE("server: auth request, accept, early payload, payload, end of input", "[c][server]") {
  const std::size_t step = GENERATE(std::size_t{1}, std::size_t{5}, std::size_t{1000});
  INFO("chunk " << step);
  auto s = make_server();
  mtop_server_event ev{};
  // Misuse before the request.
  CHECK(mtop_server_handshake_accept(s.get()) == MTOP_ERR_INVALID_STATE);
  CHECK(mtop_server_handshake_reject(s.get(), MTOP_STATUS_AUTH_FAILED, MTOP_REJECT_REPLY) ==
        MTOP_ERR_INVALID_STATE);
  CHECK(mtop_server_handshake_wipe_password(s.get()) == 0);  // nothing to wipe yet

  feed_server(s.get(), cat(kDomainWire, bytes("early")), step);
  std::size_t held = 0;
  REQUIRE(mtop_server_handshake_early_data_size(s.get(), &held) == 0);
  CHECK(held == 5);
  REQUIRE(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_AUTH_REQUEST);
  CHECK(ev.error == 0);
  CHECK(ev.data == nullptr);
  CHECK(as_bytes(ev.request.username, ev.request.username_len) == bytes("alice"));
  CHECK(as_bytes(ev.request.password, ev.request.password_len) == bytes("s3cret"));
  CHECK(ev.request.target.type == MTOP_ADDRESS_DOMAIN);
  CHECK(std::string(ev.request.target.domain, ev.request.target.domain_len) == "example.com");
  CHECK(ev.request.target.port == 443);
  const mtop_auth_message request = ev.request;
  CHECK(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_NEED_DATA);
  CHECK(ev.request.username == nullptr);

  // The request's fields outlive later calls; the password reads as zeros once wiped.
  REQUIRE(mtop_server_handshake_wipe_password(s.get()) == 0);
  CHECK(as_bytes(request.username, request.username_len) == bytes("alice"));
  CHECK(as_bytes(request.password, request.password_len) == Bytes(6, 0));
  CHECK(mtop_server_handshake_wipe_password(s.get()) == 0);

  REQUIRE(mtop_server_handshake_accept(s.get()) == 0);
  CHECK(mtop_server_handshake_accept(s.get()) == MTOP_ERR_INVALID_STATE);
  CHECK(mtop_server_handshake_reject(s.get(), MTOP_STATUS_AUTH_FAILED, MTOP_REJECT_REPLY) ==
        MTOP_ERR_INVALID_STATE);
  const std::uint8_t* data = nullptr;
  std::size_t len = 0;
  REQUIRE(mtop_server_handshake_pending_output(s.get(), &data, &len) == 0);
  REQUIRE(as_bytes(data, len) == (Bytes{0x01, 0x00}));
  CHECK(mtop_server_handshake_consume_output(s.get(), 3) == MTOP_ERR_INVALID_ARGUMENT);
  REQUIRE(mtop_server_handshake_consume_output(s.get(), 1) == 0);
  REQUIRE(mtop_server_handshake_pending_output(s.get(), &data, &len) == 0);
  CHECK(as_bytes(data, len) == Bytes{0x00});
  REQUIRE(mtop_server_handshake_consume_output(s.get(), 1) == 0);

  REQUIRE(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_PAYLOAD);
  CHECK(as_bytes(ev.data, ev.len) == bytes("early"));
  CHECK(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_NEED_DATA);
  feed_server(s.get(), bytes("later"), step);
  REQUIRE(mtop_server_handshake_feed_eof(s.get()) == 0);
  CHECK(mtop_server_handshake_feed_eof(s.get()) == MTOP_ERR_INVALID_STATE);
  REQUIRE(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_PAYLOAD);
  CHECK(as_bytes(ev.data, ev.len) == bytes("later"));
  CHECK(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_END_OF_INPUT);
  CHECK(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_END_OF_INPUT);
  const std::uint8_t byte = 0;
  CHECK(mtop_server_handshake_feed(s.get(), &byte, 1) == MTOP_ERR_INVALID_STATE);
}

TEST_CASE("server: early payload is bounded by back-pressure", "[c][server]") {
  mtop_server_settings settings;
  REQUIRE(mtop_server_settings_default(&settings) == 0);
  settings.early_data_limit = 4;
  auto s = make_server(&settings);
  const Bytes in = cat(kDomainWire, bytes("0123456789"));
  REQUIRE(mtop_server_handshake_feed(s.get(), in.data(), in.size()) ==
          static_cast<int>(kDomainWire.size() + 4));
  const std::uint8_t* rest = in.data() + kDomainWire.size() + 4;
  CHECK(mtop_server_handshake_feed(s.get(), rest, 6) == 0);  // full: stop reading
  std::size_t held = 0;
  REQUIRE(mtop_server_handshake_early_data_size(s.get(), &held) == 0);
  CHECK(held == 4);
  mtop_server_event ev{};
  REQUIRE(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_AUTH_REQUEST);
  REQUIRE(mtop_server_handshake_accept(s.get()) == 0);
  CHECK(mtop_server_handshake_feed(s.get(), rest, 6) == 6);
  REQUIRE(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_PAYLOAD);
  CHECK(as_bytes(ev.data, ev.len) == bytes("0123456789"));
}

TEST_CASE("server: reject in reply and stealth mode", "[c][server]") {
  auto s = make_server();
  feed_server(s.get(), cat(kDomainWire, bytes("early")), 1000);
  mtop_server_event ev{};
  // No decision before the request was reported.
  CHECK(mtop_server_handshake_reject(s.get(), MTOP_STATUS_AUTH_FAILED, MTOP_REJECT_STEALTH) ==
        MTOP_ERR_INVALID_STATE);
  REQUIRE(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_AUTH_REQUEST);
  CHECK(mtop_server_handshake_reject(s.get(), MTOP_STATUS_SUCCESS, MTOP_REJECT_REPLY) ==
        MTOP_ERR_INVALID_ARGUMENT);
  for (int bad : {-1, 4, 256}) {
    CHECK(mtop_server_handshake_reject(s.get(), bad, MTOP_REJECT_REPLY) ==
          MTOP_ERR_INVALID_ARGUMENT);
  }
  CHECK(mtop_server_handshake_reject(s.get(), MTOP_STATUS_AUTH_FAILED, 2) ==
        MTOP_ERR_INVALID_ARGUMENT);
  Bytes want;
  SECTION("reply") {
    REQUIRE(mtop_server_handshake_reject(s.get(), MTOP_STATUS_CONNECT_FAILED, MTOP_REJECT_REPLY) ==
            0);
    want = {0x01, 0x03};
  }
  SECTION("stealth") {
    REQUIRE(mtop_server_handshake_reject(s.get(), MTOP_STATUS_AUTH_FAILED, MTOP_REJECT_STEALTH) ==
            0);
  }
  CHECK(server_output(s.get()) == want);
  std::size_t held = 1;
  REQUIRE(mtop_server_handshake_early_data_size(s.get(), &held) == 0);
  CHECK(held == 0);  // early payload dropped
  CHECK(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_NEED_DATA);
  const std::uint8_t byte = 0;
  CHECK(mtop_server_handshake_feed(s.get(), &byte, 1) == MTOP_ERR_INVALID_STATE);
  CHECK(mtop_server_handshake_feed_eof(s.get()) == MTOP_ERR_INVALID_STATE);
  CHECK(mtop_server_handshake_accept(s.get()) == MTOP_ERR_INVALID_STATE);
  CHECK(mtop_server_handshake_reject(s.get(), MTOP_STATUS_AUTH_FAILED, MTOP_REJECT_REPLY) ==
        MTOP_ERR_INVALID_STATE);
}

TEST_CASE("server: bad auth bytes are a terminal ERROR with the peer code", "[c][server]") {
  struct Case {
    Bytes wire;
    int error;
  };
  const Case cases[] = {
      {{0x02}, MTOP_ERR_BAD_VERSION},
      {{0x01, 0x02}, MTOP_ERR_BAD_METHOD},
      {{0x01, 0x01, 0x00}, MTOP_ERR_BAD_USERNAME},
      {{0x01, 0x01, 1, 'u', 0x00}, MTOP_ERR_BAD_PASSWORD},
      {{0x01, 0x01, 1, 'u', 1, 'p', 0x05}, MTOP_ERR_BAD_ADDRESS_TYPE},
      {{0x01, 0x01, 1, 'u', 1, 'p', 0x03, 3, 'a', '@'}, MTOP_ERR_BAD_DOMAIN},
      {{0x01, 0x01, 1, 'u', 1, 'p', 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0},
       MTOP_ERR_BAD_PORT},
  };
  for (const Case& c : cases) {
    INFO(mtop_strerror(c.error));
    auto s = make_server();
    CHECK(mtop_server_handshake_feed(s.get(), c.wire.data(), c.wire.size()) ==
          static_cast<int>(c.wire.size()));
    mtop_server_event ev{};
    REQUIRE(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_ERROR);
    CHECK(ev.error == c.error);
    CHECK(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_ERROR);
    CHECK(mtop_server_handshake_feed(s.get(), c.wire.data(), 1) == MTOP_ERR_INVALID_STATE);
    CHECK(mtop_server_handshake_feed_eof(s.get()) == MTOP_ERR_INVALID_STATE);
    CHECK(mtop_server_handshake_accept(s.get()) == MTOP_ERR_INVALID_STATE);
  }
}

TEST_CASE("server: a bad version may still be answered with version_not_supported", "[c][server]") {
  auto s = make_server();
  const std::uint8_t ver = 0x02;
  REQUIRE(mtop_server_handshake_feed(s.get(), &ver, 1) == 1);
  mtop_server_event ev{};
  REQUIRE(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_ERROR);
  CHECK(ev.error == MTOP_ERR_BAD_VERSION);
  REQUIRE(mtop_server_handshake_reject(s.get(), MTOP_STATUS_VERSION_NOT_SUPPORTED,
                                       MTOP_REJECT_REPLY) == 0);
  CHECK(server_output(s.get()) == (Bytes{0x01, 0x01}));
}

TEST_CASE("server: EOF before a complete auth message is ERROR peer_closed", "[c][server]") {
  auto s = make_server();
  feed_server(s.get(), Bytes(kDomainWire.begin(), kDomainWire.begin() + 10), 3);
  REQUIRE(mtop_server_handshake_feed_eof(s.get()) == 0);
  mtop_server_event ev{};
  REQUIRE(mtop_server_handshake_next_event(s.get(), &ev) == MTOP_EVENT_ERROR);
  CHECK(ev.error == MTOP_ERR_PEER_CLOSED);
  CHECK(mtop_server_handshake_feed_eof(s.get()) == MTOP_ERR_INVALID_STATE);
}

// ---------------------------------------------------------------------------------------
// Both machines together
// ---------------------------------------------------------------------------------------

TEST_CASE("client and server handles wired together", "[c][pair]") {
  const std::size_t step =
      GENERATE(std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{4096});
  INFO("chunk " << step);
  Request r;
  auto c = make_client(r.msg);
  auto s = make_server();
  const Bytes early = bytes("GET / HTTP/1.1\r\n\r\n");
  REQUIRE(mtop_client_handshake_send_payload(c.get(), early.data(), early.size()) == 0);

  // Client -> server in chunks.
  feed_server(s.get(), client_output(c.get()), step);
  mtop_server_event sev{};
  REQUIRE(mtop_server_handshake_next_event(s.get(), &sev) == MTOP_EVENT_AUTH_REQUEST);
  CHECK(as_bytes(sev.request.password, sev.request.password_len) == bytes("s3cret"));
  REQUIRE(mtop_server_handshake_wipe_password(s.get()) == 0);
  REQUIRE(mtop_server_handshake_accept(s.get()) == 0);
  REQUIRE(mtop_server_handshake_next_event(s.get(), &sev) == MTOP_EVENT_PAYLOAD);
  CHECK(as_bytes(sev.data, sev.len) == early);

  // Server -> client: the response, then payload written by the app directly.
  const Bytes reply = cat(server_output(s.get()), bytes("HTTP/1.1 200 OK\r\n\r\n"));
  for (std::size_t off = 0; off < reply.size(); off += step) {
    const std::size_t n = std::min(step, reply.size() - off);
    REQUIRE(mtop_client_handshake_feed(c.get(), reply.data() + off, n) == static_cast<int>(n));
  }
  REQUIRE(mtop_client_handshake_feed_eof(c.get()) == 0);
  mtop_client_event cev{};
  REQUIRE(mtop_client_handshake_next_event(c.get(), &cev) == MTOP_EVENT_ESTABLISHED);
  Bytes got;
  while (mtop_client_handshake_next_event(c.get(), &cev) == MTOP_EVENT_PAYLOAD)
    got.insert(got.end(), cev.data, cev.data + cev.len);
  CHECK(got == bytes("HTTP/1.1 200 OK\r\n\r\n"));
  CHECK(cev.type == MTOP_EVENT_END_OF_INPUT);
}
