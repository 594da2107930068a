// Random round trips: random valid auth messages and responses are encoded, decoded (whole,
// and at every shorter prefix as "need more") and compared field by field.
#include <catch2/catch.hpp>

#include <random>

#include "mtop/codec.hpp"

using mtop::AuthMessage;
using mtop::Bytes;

namespace {

std::string random_opaque(std::mt19937& rng, std::size_t min, std::size_t max) {
  std::string s(std::uniform_int_distribution<std::size_t>(min, max)(rng), '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string random_domain(std::mt19937& rng) {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
  const std::size_t len = std::uniform_int_distribution<std::size_t>(1, 255)(rng);
  std::string s;
  while (s.size() < len) {
    // A dot only where it keeps the name valid: not first, not after another dot.
    if (!s.empty() && s.back() != '.' && rng() % 8 == 0) {
      s.push_back('.');
    } else {
      s.push_back(kChars[rng() % (sizeof kChars - 1)]);
    }
  }
  return s;
}

AuthMessage random_message(std::mt19937& rng) {
  AuthMessage m;
  m.username = random_opaque(rng, 1, 255);
  m.password = random_opaque(rng, 1, 255);
  const auto port = static_cast<std::uint16_t>(std::uniform_int_distribution<int>(1, 65535)(rng));
  switch (rng() % 3) {
    case 0: {
      std::array<std::uint8_t, 4> ip{};
      for (auto& b : ip) b = static_cast<std::uint8_t>(rng());
      m.target = mtop::Address::from_ipv4(ip, port);
      break;
    }
    case 1: {
      std::array<std::uint8_t, 16> ip{};
      for (auto& b : ip) b = static_cast<std::uint8_t>(rng());
      m.target = mtop::Address::from_ipv6(ip, port);
      break;
    }
    default:
      m.target = mtop::Address::from_domain(random_domain(rng), port);
      break;
  }
  return m;
}

}  // namespace

TEST_CASE("round trip: random auth messages", "[codec][roundtrip]") {
  for (std::uint32_t seed : {1u, 2u, 3u, 42u, 2024u}) {
    std::mt19937 rng(seed);
    for (int i = 0; i < 400; ++i) {
      INFO("seed " << seed << " message " << i);
      const AuthMessage m = random_message(rng);
      REQUIRE(mtop::is_valid_domain(m.target.domain) ==
              (m.target.type == mtop::AddressType::domain));
      Bytes enc;
      REQUIRE(mtop::encode_auth(m, enc));
      REQUIRE(enc.size() <= mtop::kMaxAuthMessageSize);
      REQUIRE(enc.size() >= mtop::kMinAuthMessageSize);

      const Bytes trailer{static_cast<std::uint8_t>(rng()), static_cast<std::uint8_t>(rng())};
      Bytes with_trailer = enc;
      with_trailer.insert(with_trailer.end(), trailer.begin(), trailer.end());
      auto r = mtop::decode_auth(with_trailer);
      REQUIRE(r);
      REQUIRE(r->complete());
      CHECK(r->size == enc.size());
      CHECK(*r->message == m);

      // A random strict prefix is always "need more".
      const std::size_t cut = std::uniform_int_distribution<std::size_t>(0, enc.size() - 1)(rng);
      auto p = mtop::decode_auth(mtop::ByteView(enc).first(cut));
      REQUIRE(p);
      CHECK_FALSE(p->complete());
    }
  }
}

TEST_CASE("round trip: every response byte pair", "[codec][roundtrip]") {
  // The response space is small enough to walk completely.
  for (int v = 0; v < 256; ++v) {
    for (int s = 0; s < 256; ++s) {
      const Bytes in{static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(s)};
      auto r = mtop::decode_response(in);
      if (v != 0x01) {
        REQUIRE_FALSE(r);
        CHECK(r.error() == mtop::Errc::bad_version);
      } else if (s > 0x03) {
        REQUIRE_FALSE(r);
        CHECK(r.error() == mtop::Errc::bad_status);
      } else {
        REQUIRE(r);
        REQUIRE(r->complete());
        Bytes enc;
        REQUIRE(mtop::encode_response(*r->message, enc));
        CHECK(enc == in);
      }
    }
  }
}
