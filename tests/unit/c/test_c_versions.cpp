// The C API's versions: the library version macros and mtop_version_check(), and the
// versioned structs of the handshake machines (settings, events): unknown versions refused,
// nothing written past the caller's version, the plain-named version-1 entry points that
// older programs and FFI callers link against.
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "mtop.h"

namespace {

// Guard bytes after a struct: whatever the library writes must stop before them.
template <class T>
struct Guarded {
  T value;
  unsigned char guard[64];
  Guarded() { std::memset(static_cast<void*>(this), 0xAB, sizeof *this); }
  bool guard_intact() const {
    for (unsigned char b : guard) {
      if (b != 0xAB) return false;
    }
    return true;
  }
};

const std::uint8_t kAuth[] = {0x01, 0x01, 1, 'u', 1, 'p', 0x01, 1, 2, 3, 4, 0x01, 0xbb};

}  // namespace

TEST_CASE("version macros match mtop_version() and mtop_version_num()", "[c][version]") {
  char expected[32];
  std::snprintf(expected, sizeof expected, "%d.%d.%d", MTOP_VERSION_MAJOR, MTOP_VERSION_MINOR,
                MTOP_VERSION_PATCH);
  CHECK(std::string(mtop_version()) == expected);
  CHECK(mtop_version_num() == MTOP_VERSION_NUM);
  CHECK(MTOP_VERSION_NUM ==
        ((MTOP_VERSION_MAJOR << 16) | (MTOP_VERSION_MINOR << 8) | MTOP_VERSION_PATCH));
}

TEST_CASE("mtop_version_check: same major, minor not newer than the library", "[c][version]") {
  CHECK(mtop_version_check(MTOP_VERSION_MAJOR, MTOP_VERSION_MINOR) == 1);
  CHECK(mtop_version_check(MTOP_VERSION_MAJOR, 0) == 1);
  CHECK(mtop_version_check(MTOP_VERSION_MAJOR, MTOP_VERSION_MINOR + 1) == 0);
  CHECK(mtop_version_check(MTOP_VERSION_MAJOR + 1, 0) == 0);
  CHECK(mtop_version_check(MTOP_VERSION_MAJOR - 1, MTOP_VERSION_MINOR) == 0);
  CHECK(mtop_version_check(MTOP_VERSION_MAJOR, -1) == 0);
}

TEST_CASE("server settings: versioned defaults", "[c][version]") {
  Guarded<mtop_server_settings> s;
  REQUIRE(mtop_server_settings_default_versioned(1, &s.value) == 0);
  CHECK(s.value.version == 1);
  CHECK(s.value.early_data_limit == MTOP_DEFAULT_EARLY_DATA_LIMIT);
  CHECK(s.guard_intact());

  CHECK(mtop_server_settings_default_versioned(0, &s.value) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_settings_default_versioned(MTOP_SERVER_SETTINGS_VERSION + 1, &s.value) ==
        MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_settings_default_versioned(1, nullptr) == MTOP_ERR_INVALID_ARGUMENT);

  // The macro passes this header's version; the plain-named function is version 1.
  mtop_server_settings m{};
  REQUIRE(mtop_server_settings_default(&m) == 0);
  CHECK(m.version == MTOP_SERVER_SETTINGS_VERSION);
  mtop_server_settings p{};
  REQUIRE((mtop_server_settings_default)(&p) == 0);
  CHECK(p.version == 1);
  CHECK(MTOP_SETTINGS_VERSION == MTOP_SERVER_SETTINGS_VERSION);
}

TEST_CASE("handshake events: versioned next_event", "[c][version]") {
  mtop_server_handshake* server = nullptr;
  REQUIRE(mtop_server_handshake_new(&server, nullptr) == 0);
  REQUIRE(mtop_server_handshake_feed(server, kAuth, sizeof kAuth) ==
          static_cast<int>(sizeof kAuth));

  Guarded<mtop_server_event> ev;
  // An unknown version is refused and consumes nothing.
  CHECK(mtop_server_handshake_next_event_versioned(server, 0, &ev.value) ==
        MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_server_handshake_next_event_versioned(server, MTOP_SERVER_EVENT_VERSION + 1,
                                                   &ev.value) == MTOP_ERR_INVALID_ARGUMENT);
  CHECK(ev.guard_intact());
  REQUIRE(mtop_server_handshake_next_event_versioned(server, 1, &ev.value) ==
          MTOP_EVENT_AUTH_REQUEST);
  CHECK(ev.value.request.target.port == 443);
  CHECK(ev.guard_intact());
  // The version-1 entry point under the plain name (what older binaries call).
  mtop_server_event plain{};
  CHECK((mtop_server_handshake_next_event)(server, &plain) == MTOP_EVENT_NEED_DATA);
  REQUIRE(mtop_server_handshake_reject(server, MTOP_STATUS_AUTH_FAILED, MTOP_REJECT_REPLY) == 0);
  const std::uint8_t* out = nullptr;
  std::size_t out_len = 0;
  REQUIRE(mtop_server_handshake_pending_output(server, &out, &out_len) == 0);
  REQUIRE(out_len == MTOP_RESPONSE_SIZE);

  mtop_auth_message msg{};
  REQUIRE(mtop_decode_auth(kAuth, sizeof kAuth, &msg) == static_cast<int>(sizeof kAuth));
  mtop_client_handshake* client = nullptr;
  REQUIRE(mtop_client_handshake_new(&client, &msg) == 0);
  REQUIRE(mtop_client_handshake_feed(client, out, out_len) == static_cast<int>(out_len));
  Guarded<mtop_client_event> cev;
  CHECK(mtop_client_handshake_next_event_versioned(client, 2, &cev.value) ==
        MTOP_ERR_INVALID_ARGUMENT);
  CHECK(mtop_client_handshake_next_event_versioned(client, 1, &cev.value) == MTOP_EVENT_REJECTED);
  CHECK(cev.value.status == MTOP_STATUS_AUTH_FAILED);
  CHECK(cev.guard_intact());
  mtop_client_event plain_c{};
  CHECK((mtop_client_handshake_next_event)(client, &plain_c) == MTOP_EVENT_REJECTED);
  CHECK(mtop_client_handshake_next_event(client, &plain_c) == MTOP_EVENT_REJECTED);

  mtop_client_handshake_free(client);
  mtop_server_handshake_free(server);
}
