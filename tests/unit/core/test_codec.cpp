// MTop auth message and response codecs: every field and every error, each case decoded
// whole, at every prefix length (the byte-at-a-time view of a stateless decoder), and with
// trailing bytes. Vectors are written out by hand, independent of the encoder.
#include <catch2/catch.hpp>

#include <array>
#include <optional>
#include <string>

#include "mtop/codec.hpp"

using mtop::AddressType;
using mtop::AuthMessage;
using mtop::Bytes;
using mtop::Errc;
using mtop::Status;

namespace {

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Bytes str(const std::string& s) { return Bytes(s.begin(), s.end()); }
Bytes field(const std::string& s) { return cat({{static_cast<std::uint8_t>(s.size())}, str(s)}); }

// VER METHOD ULEN "bob" PLEN "pw"
Bytes head() { return cat({{0x01, 0x01}, field("bob"), field("pw")}); }

AuthMessage msg_ipv4() {
  return {mtop::Method::connect, "bob", "pw", mtop::Address::from_ipv4({192, 0, 2, 7}, 80)};
}
Bytes bytes_ipv4() { return cat({head(), {0x01, 192, 0, 2, 7, 0x00, 0x50}}); }

using AuthDecoder = mtop::Result<mtop::Decoded<AuthMessage>> (*)(mtop::ByteView);

// Decodes `in` at every prefix length and then with trailing bytes. Before `decisive` bytes
// the answer must be "need more"; from there on, `expect_error` or the message `expect`.
void check_auth(const Bytes& in, std::size_t decisive, std::optional<Errc> expect_error,
                const std::optional<AuthMessage>& expect = std::nullopt,
                AuthDecoder decode = mtop::decode_auth) {
  REQUIRE(decisive <= in.size());
  for (std::size_t len = 0; len <= in.size(); ++len) {
    INFO("prefix length " << len);
    auto r = decode(mtop::ByteView(in).first(len));
    if (len < decisive) {
      REQUIRE(r);
      CHECK_FALSE(r->complete());
      CHECK(r->size == 0);
    } else if (expect_error) {
      REQUIRE_FALSE(r);
      CHECK(r.error() == *expect_error);
    } else {
      REQUIRE(r);
      REQUIRE(r->complete());
      CHECK(r->size == decisive);
      CHECK(*r->message == *expect);
    }
  }
  Bytes trailing = cat({in, {0x00, 0xff, 0x01, 0x02}});
  auto r = decode(trailing);
  if (expect_error) {
    REQUIRE_FALSE(r);
    CHECK(r.error() == *expect_error);
  } else {
    REQUIRE(r);
    REQUIRE(r->complete());
    CHECK(r->size == decisive);  // the trailing bytes are left for the caller
    CHECK(*r->message == *expect);
  }
}

void check_auth_ok(const Bytes& in, const AuthMessage& expect,
                   AuthDecoder decode = mtop::decode_auth) {
  check_auth(in, in.size(), std::nullopt, expect, decode);
  Bytes encoded;
  REQUIRE(mtop::encode_auth(expect, encoded));
  CHECK(encoded == in);
}

}  // namespace

TEST_CASE("auth message: IPv4 target", "[codec]") {
  check_auth_ok(bytes_ipv4(), msg_ipv4());
}

TEST_CASE("auth message: IPv6 target", "[codec]") {
  std::array<std::uint8_t, 16> ip{0x20, 0x01, 0x0d, 0xb8};
  ip[15] = 0x01;
  AuthMessage m{mtop::Method::connect, "bob", "pw", mtop::Address::from_ipv6(ip, 443)};
  Bytes in = cat({head(), {0x04}, Bytes(ip.begin(), ip.end()), {0x01, 0xbb}});
  check_auth_ok(in, m);
}

TEST_CASE("auth message: domain targets", "[codec]") {
  for (std::string name : {std::string("example.com"), std::string("example.com."),
                           std::string("_sip._tcp.x-1.org"), std::string("a"),
                           std::string(255, 'z')}) {
    INFO(name);
    AuthMessage m{mtop::Method::connect, "bob", "pw", mtop::Address::from_domain(name, 8080)};
    check_auth_ok(cat({head(), {0x03}, field(name), {0x1f, 0x90}}), m);
  }
}

TEST_CASE("auth message: opaque credentials and boundary lengths", "[codec]") {
  std::string user("\x00\xff\x01 :@", 6);
  std::string pass("\x00", 1);
  AuthMessage m{mtop::Method::connect, user, pass, mtop::Address::from_ipv4({10, 0, 0, 1}, 1)};
  check_auth_ok(cat({{0x01, 0x01}, field(user), field(pass), {0x01, 10, 0, 0, 1, 0x00, 0x01}}),
                m);

  // The largest message: 255-byte username, password and domain = kMaxAuthMessageSize.
  AuthMessage big{mtop::Method::connect, std::string(255, 'u'), std::string(255, '\xfe'),
                  mtop::Address::from_domain(std::string(255, 'd'), 65535)};
  Bytes in = cat({{0x01, 0x01}, field(big.username), field(big.password), {0x03},
                  field(big.target.domain), {0xff, 0xff}});
  REQUIRE(in.size() == mtop::kMaxAuthMessageSize);
  check_auth_ok(in, big);

  AuthMessage small{mtop::Method::connect, "u", "p", mtop::Address::from_domain("a", 9)};
  Bytes encoded;
  REQUIRE(mtop::encode_auth(small, encoded));
  CHECK(encoded.size() == mtop::kMinAuthMessageSize);
  check_auth_ok(encoded, small);
}

TEST_CASE("auth message: VER errors at the first byte", "[codec]") {
  for (std::uint8_t v : {0x00, 0x02, 0x05, 0xff}) {
    Bytes in = bytes_ipv4();
    in[0] = v;
    check_auth(in, 1, Errc::bad_version);
  }
}

TEST_CASE("auth message: METHOD errors at the second byte, reverse (0x02) included", "[codec]") {
  for (std::uint8_t m : {0x00, 0x02, 0x03, 0xff}) {
    Bytes in = bytes_ipv4();
    in[1] = m;
    check_auth(in, 2, Errc::bad_method);
  }
}

TEST_CASE("REVERSE request: decode_request takes it, IPv4 and IPv6 binds, port 0 allowed",
          "[codec][reverse]") {
  const Bytes v4 = cat({{0x01, 0x02}, field("bob"), field("pw"), {0x01, 0, 0, 0, 0, 0x00, 0x00}});
  check_auth_ok(v4, {mtop::Method::reverse, "bob", "pw", mtop::Address::from_ipv4({0, 0, 0, 0}, 0)},
                mtop::decode_request);
  std::array<std::uint8_t, 16> ip{};
  ip[15] = 1;
  const Bytes v6 = cat(
      {{0x01, 0x02}, field("bob"), field("pw"), {0x04}, Bytes(ip.begin(), ip.end()), {0x1f, 0x90}});
  check_auth_ok(v6, {mtop::Method::reverse, "bob", "pw", mtop::Address::from_ipv6(ip, 8080)},
                mtop::decode_request);
  // CONNECT decodes the same through both decoders.
  check_auth_ok(bytes_ipv4(), msg_ipv4(), mtop::decode_request);
  // decode_auth() is CONNECT only: REVERSE is an unknown METHOD there.
  check_auth(v4, 2, Errc::bad_method);
}

TEST_CASE("REVERSE request: a domain bind, unknown METHODs, CONNECT port 0", "[codec][reverse]") {
  const Bytes dom = cat({{0x01, 0x02}, field("bob"), field("pw"), {0x03}, field("x.org"), {0, 80}});
  check_auth(dom, 2 + 4 + 3 + 1, Errc::bad_address_type, std::nullopt, mtop::decode_request);
  for (std::uint8_t m : {0x00, 0x03, 0x04, 0xff}) {
    Bytes in = bytes_ipv4();
    in[1] = m;
    check_auth(in, 2, Errc::bad_method, std::nullopt, mtop::decode_request);
  }
  Bytes port0 = cat({head(), {0x01, 1, 2, 3, 4, 0x00, 0x00}});
  check_auth(port0, port0.size(), Errc::bad_port, std::nullopt, mtop::decode_request);
}

TEST_CASE("auth message: empty username or password", "[codec]") {
  check_auth(cat({{0x01, 0x01, 0x00}, field("pw"), {0x01, 1, 2, 3, 4, 0, 80}}), 3,
             Errc::bad_username);
  check_auth(cat({{0x01, 0x01}, field("bob"), {0x00}, {0x01, 1, 2, 3, 4, 0, 80}}), 7,
             Errc::bad_password);
}

TEST_CASE("auth message: unknown address types", "[codec]") {
  for (std::uint8_t t : {0x00, 0x02, 0x05, 0x06, 0xff}) {
    Bytes in = bytes_ipv4();
    in[head().size()] = t;
    check_auth(in, head().size() + 1, Errc::bad_address_type);
  }
}

TEST_CASE("auth message: domain errors at the offending byte", "[codec]") {
  const std::size_t name_at = head().size() + 2;  // after ATYP and the length byte
  // Empty domain: at the length byte.
  check_auth(cat({head(), {0x03, 0x00, 0x00, 0x50}}), name_at, Errc::bad_domain);
  struct Bad {
    std::string name;
    std::size_t offending;  // index in the name
  };
  for (const Bad& b : {Bad{"exa mple.com", 3}, Bad{".example", 0}, Bad{"a..b", 2},
                       Bad{std::string("ab\0c", 4), 2}, Bad{"b\xc3\xbc" "cher", 1},
                       Bad{"host:80", 4}, Bad{"user@host", 4}, Bad{"a/b", 1},
                       Bad{"a\nb", 1}, Bad{"a%b", 1}}) {
    INFO(b.name);
    check_auth(cat({head(), {0x03}, field(b.name), {0x00, 0x50}}), name_at + b.offending + 1,
               Errc::bad_domain);
  }
}

TEST_CASE("auth message: port 0 only at the last byte", "[codec]") {
  Bytes in = cat({head(), {0x01, 1, 2, 3, 4, 0x00, 0x00}});
  check_auth(in, in.size(), Errc::bad_port);
  Bytes v6 = cat({head(), {0x04}, Bytes(16, 0), {0x00, 0x00}});
  check_auth(v6, v6.size(), Errc::bad_port);
  Bytes dom = cat({head(), {0x03}, field("x.org"), {0x00, 0x00}});
  check_auth(dom, dom.size(), Errc::bad_port);
  // 0x00 0x01 is port 1, valid: the first zero byte alone decides nothing.
  check_auth_ok(cat({head(), {0x01, 1, 2, 3, 4, 0x00, 0x01}}),
                {mtop::Method::connect, "bob", "pw", mtop::Address::from_ipv4({1, 2, 3, 4}, 1)});
}

TEST_CASE("encode_auth refuses every invalid field and appends nothing", "[codec]") {
  auto refuses = [](const AuthMessage& m) {
    Bytes out{0xaa};
    auto r = mtop::encode_auth(m, out);
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::invalid_argument);
    CHECK(out == Bytes{0xaa});
  };
  AuthMessage m = msg_ipv4();
  m.method = static_cast<mtop::Method>(mtop::kMethodAttach);  // ATTACH has its own encoder
  refuses(m);
  m.method = static_cast<mtop::Method>(0x00);
  refuses(m);
  m = msg_ipv4();
  m.method = mtop::Method::reverse;  // a bind is an IP address
  m.target = mtop::Address::from_domain("example.com", 80);
  refuses(m);
  m = msg_ipv4();
  m.username.clear();
  refuses(m);
  m.username.assign(256, 'u');
  refuses(m);
  m = msg_ipv4();
  m.password.clear();
  refuses(m);
  m.password.assign(256, 'p');
  refuses(m);
  m = msg_ipv4();
  m.target.type = static_cast<AddressType>(0x02);
  refuses(m);
  m = msg_ipv4();
  m.target.port = 0;
  refuses(m);
  for (std::string bad : {std::string(), std::string(256, 'a'), std::string("a b"),
                          std::string("..")}) {
    m = msg_ipv4();
    m.target = mtop::Address::from_domain(bad, 80);
    refuses(m);
  }
  // Appends after what is already there.
  Bytes out{0xaa};
  REQUIRE(mtop::encode_auth(msg_ipv4(), out));
  CHECK(out == cat({{0xaa}, bytes_ipv4()}));
}

TEST_CASE("response: every status, whole, byte by byte, with trailing bytes", "[codec]") {
  for (Status s : {Status::success, Status::version_not_supported, Status::auth_failed,
                   Status::connect_failed}) {
    Bytes enc;
    REQUIRE(mtop::encode_response(s, enc));
    const Bytes expect{0x01, static_cast<std::uint8_t>(s)};
    CHECK(enc == expect);
    for (std::size_t len = 0; len < 2; ++len) {
      auto r = mtop::decode_response(mtop::ByteView(expect).first(len));
      REQUIRE(r);
      CHECK_FALSE(r->complete());
    }
    Bytes trailing = cat({expect, {0x01, 0x00, 0xff}});
    for (const Bytes& in : {expect, trailing}) {
      auto r = mtop::decode_response(in);
      REQUIRE(r);
      REQUIRE(r->complete());
      CHECK(*r->message == s);
      CHECK(r->size == 2);
    }
  }
}

TEST_CASE("response: VER and STATUS errors at their byte", "[codec]") {
  for (std::uint8_t v : {0x00, 0x02, 0xff}) {
    for (Bytes in : {Bytes{v}, Bytes{v, 0x00}, Bytes{v, 0x00, 0x01}}) {
      auto r = mtop::decode_response(in);
      REQUIRE_FALSE(r);
      CHECK(r.error() == Errc::bad_version);
    }
  }
  for (std::uint8_t s : {0x04, 0x05, 0x80, 0xff}) {
    for (Bytes in : {Bytes{0x01, s}, Bytes{0x01, s, 0x00}}) {
      auto r = mtop::decode_response(in);
      REQUIRE_FALSE(r);
      CHECK(r.error() == Errc::bad_status);
    }
  }
  Bytes out;
  auto r = mtop::encode_response(static_cast<Status>(0x04), out);
  REQUIRE_FALSE(r);
  CHECK(r.error() == Errc::invalid_argument);
  CHECK(out.empty());
}

TEST_CASE("secure_wipe empties strings and buffers", "[codec]") {
  AuthMessage m = msg_ipv4();
  m.password.assign(100, 's');
  m.wipe_password();
  CHECK(m.password.empty());
  Bytes b(50, 0x7f);
  mtop::secure_wipe(b);
  CHECK(b.empty());
}
