// Reverse-tunnel codecs (docs/PROTOCOL.md section 9): the REVERSE response, control frames,
// ATTACH, the visitor header and the PROXY v2 header. Vectors are written out by hand; each
// is decoded at every prefix length (the byte-at-a-time view of a stateless decoder) and with
// trailing bytes, and every error is checked at its offending byte.
#include <catch2/catch.hpp>

#include <array>
#include <optional>

#include "mtop/reverse_codec.hpp"

using mtop::Address;
using mtop::Bytes;
using mtop::ByteView;
using mtop::Errc;
using mtop::Status;

namespace {

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// Decodes `in` at every prefix length, then with trailing bytes: "need more" before
// `decisive` bytes, then `error`, or `expect` using exactly `decisive` bytes.
template <class T, class Decode>
void check(Decode decode, const Bytes& in, std::size_t decisive, std::optional<Errc> error,
           const std::optional<T>& expect = std::nullopt) {
  REQUIRE(decisive <= in.size());
  auto verify = [&](ByteView view, bool decided) {
    auto r = decode(view);
    if (!decided) {
      REQUIRE(r);
      CHECK_FALSE(r->complete());
      CHECK(r->size == 0);
    } else if (error) {
      REQUIRE_FALSE(r);
      CHECK(r.error() == *error);
    } else {
      REQUIRE(r);
      REQUIRE(r->complete());
      CHECK(r->size == decisive);
      CHECK(*r->message == *expect);
    }
  };
  for (std::size_t len = 0; len <= in.size(); ++len) {
    INFO("prefix length " << len);
    verify(ByteView(in).first(len), len >= decisive);
  }
  verify(cat({in, {0x01, 0xff, 0x00}}), true);
}

std::array<std::uint8_t, 16> v6(std::uint8_t last) {
  std::array<std::uint8_t, 16> ip{0x20, 0x01, 0x0d, 0xb8};
  ip[15] = last;
  return ip;
}

}  // namespace

TEST_CASE("REVERSE response: success carries port, tunnel id and keep-alive", "[reverse]") {
  const Bytes wire{0x01, 0x00, 0x1f, 0x90, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x0f};
  const mtop::ReverseGrant grant{8080, 0xdeadbeef, 15};
  check<mtop::ReverseReply>(mtop::decode_reverse_response, wire, wire.size(), std::nullopt,
                            mtop::ReverseReply{Status::success, grant});
  Bytes enc{0xaa};
  REQUIRE(mtop::encode_reverse_success(grant, enc));
  CHECK(enc == cat({{0xaa}, wire}));
}

TEST_CASE("REVERSE response: each failure status is two bytes", "[reverse]") {
  for (Status s : {Status::version_not_supported, Status::auth_failed, Status::not_permitted,
                   Status::port_in_use, Status::bad_request}) {
    const Bytes wire{0x01, static_cast<std::uint8_t>(s)};
    check<mtop::ReverseReply>(mtop::decode_reverse_response, wire, 2, std::nullopt,
                              mtop::ReverseReply{s});
    Bytes enc;
    REQUIRE(mtop::encode_reverse_failure(s, enc));
    CHECK(enc == wire);
  }
}

TEST_CASE("REVERSE response: errors at the offending byte", "[reverse]") {
  auto decode = mtop::decode_reverse_response;
  check<mtop::ReverseReply>(decode, {0x02, 0x00}, 1, Errc::bad_version);
  // connect_failed belongs to CONNECT; 0x07 and above are unknown.
  for (std::uint8_t s : {0x03, 0x07, 0xff})
    check<mtop::ReverseReply>(decode, {0x01, s}, 2, Errc::bad_status);
  check<mtop::ReverseReply>(decode, {0x01, 0x00, 0x00, 0x00, 0, 0, 0, 1, 0, 15}, 4, Errc::bad_port);
  check<mtop::ReverseReply>(decode, {0x01, 0x00, 0x00, 0x01, 0, 0, 0, 1, 0, 0}, 10,
                            Errc::bad_frame);
  check<mtop::ReverseReply>(decode, {0x01, 0x00, 0x00, 0x01, 0, 0, 0, 1, 0x0e, 0x11}, 10,
                            Errc::bad_frame);  // 3601 s
  check<mtop::ReverseReply>(decode, {0x01, 0x00, 0x00, 0x01, 0, 0, 0, 1, 0x0e, 0x10}, 10,
                            std::nullopt, mtop::ReverseReply{Status::success, {1, 1, 3600}});
}

TEST_CASE("REVERSE response encoders refuse what the decoder would refuse", "[reverse]") {
  Bytes out{0xaa};
  CHECK(mtop::encode_reverse_success({0, 1, 15}, out).error() == Errc::invalid_argument);
  CHECK(mtop::encode_reverse_success({1, 1, 0}, out).error() == Errc::invalid_argument);
  CHECK(mtop::encode_reverse_success({1, 1, 3601}, out).error() == Errc::invalid_argument);
  for (Status s : {Status::success, Status::connect_failed, static_cast<Status>(0x07)})
    CHECK(mtop::encode_reverse_failure(s, out).error() == Errc::invalid_argument);
  CHECK(out == Bytes{0xaa});
}

TEST_CASE("control frames: PING, PONG, OPEN and an unknown type", "[reverse]") {
  const Bytes ping_body{1, 2, 3, 4, 5, 6, 7, 8};
  const Bytes ping = cat({{0x01, 0x08}, ping_body});
  check<mtop::ControlFrame>(mtop::decode_frame, ping, ping.size(), std::nullopt,
                            mtop::ControlFrame{0x01, ping_body});
  const Bytes pong = cat({{0x02, 0x08}, ping_body});
  check<mtop::ControlFrame>(mtop::decode_frame, pong, pong.size(), std::nullopt,
                            mtop::ControlFrame{0x02, ping_body});
  const Bytes token(16, 0x5a);
  const Bytes open = cat({{0x03, 0x10}, token});
  check<mtop::ControlFrame>(mtop::decode_frame, open, open.size(), std::nullopt,
                            mtop::ControlFrame{0x03, token});
  // Unknown types come out whole, any length (0 and 255 included), for the caller to skip.
  check<mtop::ControlFrame>(mtop::decode_frame, {0x7f, 0x00}, 2, std::nullopt,
                            mtop::ControlFrame{0x7f, {}});
  const Bytes big = cat({{0x00, 0xff}, Bytes(255, 0x11)});
  check<mtop::ControlFrame>(mtop::decode_frame, big, big.size(), std::nullopt,
                            mtop::ControlFrame{0x00, Bytes(255, 0x11)});

  Bytes enc;
  REQUIRE(mtop::encode_frame(0x01, ping_body, enc));
  REQUIRE(mtop::encode_frame(0x03, token, enc));
  CHECK(enc == cat({ping, open}));
}

TEST_CASE("control frames: a known type with a wrong length is bad_frame at LEN", "[reverse]") {
  for (std::uint8_t type : {0x01, 0x02, 0x03})
    for (std::uint8_t len : {0x00, 0x07, 0x09, 0x0f, 0x11, 0xff}) {
      if ((type == 0x03 && len == 0x10)) continue;
      Bytes in = cat({{type, len}, Bytes(len, 0)});
      check<mtop::ControlFrame>(mtop::decode_frame, in, 2, Errc::bad_frame);
    }
  Bytes out{0xaa};
  CHECK(mtop::encode_frame(0x01, Bytes(7, 0), out).error() == Errc::invalid_argument);
  CHECK(mtop::encode_frame(0x03, Bytes(8, 0), out).error() == Errc::invalid_argument);
  CHECK(mtop::encode_frame(0x70, Bytes(256, 0), out).error() == Errc::invalid_argument);
  CHECK(out == Bytes{0xaa});
}

TEST_CASE("ATTACH: VER, METHOD 0x03, 16-byte token", "[reverse]") {
  mtop::AttachToken token{};
  for (std::size_t i = 0; i < token.size(); ++i) token[i] = static_cast<std::uint8_t>(i * 17);
  const Bytes wire = cat({{0x01, 0x03}, Bytes(token.begin(), token.end())});
  check<mtop::AttachToken>(mtop::decode_attach, wire, 18, std::nullopt, token);
  Bytes enc;
  mtop::encode_attach(token, enc);
  CHECK(enc == wire);
  check<mtop::AttachToken>(mtop::decode_attach, {0x00, 0x03}, 1, Errc::bad_version);
  for (std::uint8_t m : {0x00, 0x01, 0x02, 0x04})
    check<mtop::AttachToken>(mtop::decode_attach, {0x01, m}, 2, Errc::bad_method);
}

TEST_CASE("visitor header: IPv4, IPv6 and mixed", "[reverse]") {
  const mtop::VisitorHeader v4{7, Address::from_ipv4({198, 51, 100, 9}, 40000),
                               Address::from_ipv4({203, 0, 113, 1}, 2222)};
  const Bytes wire4{0x01, 0x01, 0,    0,    0,   7, 0x01, 198, 51,   100,
                    9,    0x9c, 0x40, 0x01, 203, 0, 113,  1,   0x08, 0xae};
  check<mtop::VisitorHeader>(mtop::decode_visitor_header, wire4, wire4.size(), std::nullopt, v4);
  Bytes enc;
  REQUIRE(mtop::encode_visitor_header(v4, enc));
  CHECK(enc == wire4);

  const mtop::VisitorHeader mixed{0xffffffff, Address::from_ipv6(v6(1), 1),
                                  Address::from_ipv4({127, 0, 0, 1}, 65535)};
  const auto ip1 = v6(1);
  const Bytes src6(ip1.begin(), ip1.end());
  const Bytes wire_mixed = cat({{0x01, 0x01, 0xff, 0xff, 0xff, 0xff, 0x04},
                                src6,
                                {0x00, 0x01},
                                {0x01, 127, 0, 0, 1, 0xff, 0xff}});
  check<mtop::VisitorHeader>(mtop::decode_visitor_header, wire_mixed, wire_mixed.size(),
                             std::nullopt, mixed);

  const mtop::VisitorHeader both6{1, Address::from_ipv6(v6(2), 5), Address::from_ipv6(v6(3), 6)};
  enc.clear();
  REQUIRE(mtop::encode_visitor_header(both6, enc));
  CHECK(enc.size() == mtop::kMaxVisitorHeaderSize);
  check<mtop::VisitorHeader>(mtop::decode_visitor_header, enc, enc.size(), std::nullopt, both6);
}

TEST_CASE("visitor header: errors at the offending byte", "[reverse]") {
  auto decode = mtop::decode_visitor_header;
  const Bytes good{0x01, 0x01, 0,    0,    0,  7, 0x01, 10, 0,    0,
                   1,    0x00, 0x50, 0x01, 10, 0, 0,    2,  0x00, 0x51};
  auto with = [&](std::size_t at, std::uint8_t v) {
    Bytes b = good;
    b[at] = v;
    return b;
  };
  check<mtop::VisitorHeader>(decode, with(0, 0x02), 1, Errc::bad_version);
  check<mtop::VisitorHeader>(decode, with(1, 0x02), 2, Errc::bad_frame);
  check<mtop::VisitorHeader>(decode, with(6, 0x03), 7, Errc::bad_address_type);
  check<mtop::VisitorHeader>(decode, with(13, 0x00), 14, Errc::bad_address_type);
  Bytes src_port0 = with(11, 0x00);
  src_port0[12] = 0x00;
  check<mtop::VisitorHeader>(decode, src_port0, 13, Errc::bad_port);
  Bytes dst_port0 = with(18, 0x00);
  dst_port0[19] = 0x00;
  check<mtop::VisitorHeader>(decode, dst_port0, 20, Errc::bad_port);

  Bytes out{0xaa};
  mtop::VisitorHeader h{1, Address::from_domain("x.org", 1), Address::from_ipv4({1, 2, 3, 4}, 1)};
  CHECK(mtop::encode_visitor_header(h, out).error() == Errc::invalid_argument);
  h.source = Address::from_ipv4({1, 2, 3, 4}, 0);
  CHECK(mtop::encode_visitor_header(h, out).error() == Errc::invalid_argument);
  CHECK(out == Bytes{0xaa});
}

TEST_CASE("PROXY v2: TCP over IPv4", "[reverse][proxy]") {
  Bytes out;
  REQUIRE(mtop::encode_proxy_v2(Address::from_ipv4({192, 0, 2, 1}, 56324),
                                Address::from_ipv4({192, 0, 2, 2}, 443), out));
  // The example layout of proxy-protocol.txt 2.2: signature, 0x21, 0x11, length 12,
  // src addr, dst addr, src port, dst port.
  const Bytes expect{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49,
                     0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C, 192,  0,    2,    1,
                     192,  0,    2,    2,    0xDC, 0x04, 0x01, 0xBB};
  CHECK(out == expect);
}

TEST_CASE("PROXY v2: TCP over IPv6, an IPv4 peer in its mapped form", "[reverse][proxy]") {
  Bytes out{0xaa};
  REQUIRE(mtop::encode_proxy_v2(Address::from_ipv4({10, 1, 2, 3}, 1234),
                                Address::from_ipv6(v6(9), 80), out));
  REQUIRE(out.size() == 1 + 52);
  CHECK(out[13] == 0x21);
  CHECK(out[14] == 0x21);
  CHECK(out[15] == 0x00);
  CHECK(out[16] == 36);
  const Bytes mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  CHECK(Bytes(out.begin() + 17, out.begin() + 33) == mapped);
  const auto ip9 = v6(9);
  CHECK(Bytes(out.begin() + 33, out.begin() + 49) == Bytes(ip9.begin(), ip9.end()));
  CHECK(Bytes(out.begin() + 49, out.end()) == Bytes{0x04, 0xd2, 0x00, 0x50});
  Bytes none;
  CHECK(mtop::encode_proxy_v2(Address::from_domain("a.b", 1), Address::from_ipv4({}, 1), none)
            .error() == Errc::invalid_argument);
  CHECK(none.empty());
}
