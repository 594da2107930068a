// ServerHandshake's auth buffer (kMaxAuthMessageSize bytes, reserved whole so that the
// password is never left in a freed copy) exists only while an auth message is being read:
// a tunnel outlives its auth message by hours, and a reverse tunnel's data connection never
// has one (bench/RESULTS.md, issue 14). Watched here by replacing the global operator new of
// this test program and tracking the live allocations of exactly that size.
#include <catch2/catch.hpp>

#include <array>
#include <cstdlib>
#include <new>

#include "mtop/server_handshake.hpp"

// GCC, seeing through the inlined allocator, takes our free() for a mismatch with operator
// new: here operator new is malloc, so free() is its match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {

std::array<void*, 16> g_auth_sized{};  // live allocations of kMaxAuthMessageSize bytes

int live_auth_sized() {
  int n = 0;
  for (void* p : g_auth_sized) n += p != nullptr ? 1 : 0;
  return n;
}

void note_new(void* p, std::size_t size) {
  if (size != mtop::kMaxAuthMessageSize) return;
  for (void*& slot : g_auth_sized) {
    if (slot == nullptr) {
      slot = p;
      return;
    }
  }
}

void note_delete(void* p) {
  for (void*& slot : g_auth_sized) {
    if (slot == p) slot = nullptr;
  }
}

mtop::Bytes auth_bytes(mtop::Method method) {
  mtop::AuthMessage msg{method, "alice", "secret", mtop::Address::from_ipv4({127, 0, 0, 1}, 80)};
  mtop::Bytes b;
  REQUIRE(mtop::encode_auth(msg, b));
  return mtop::Bytes(b.begin(), b.end());  // encode_auth reserved kMaxAuthMessageSize: not ours
}

}  // namespace

// The replaceable global allocation functions ([new.delete.single]); new[], nothrow new and
// the unsized delete of arrays reach these in libstdc++.
void* operator new(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  note_new(p, size);
  return p;
}
void operator delete(void* p) noexcept {
  note_delete(p);
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  note_delete(p);
  std::free(p);
}

TEST_CASE("server: no auth buffer before the first byte, none after the message",
          "[server][memory]") {
  const int base = live_auth_sized();
  for (const mtop::Method method : {mtop::Method::connect, mtop::Method::reverse}) {
    mtop::ServerHandshake hs(
        mtop::ServerHandshake::Options{.early_data_limit = mtop::kDefaultEarlyDataLimit,
                                       .reverse = method == mtop::Method::reverse});
    CHECK(live_auth_sized() == base);  // constructed: nothing reserved yet

    const mtop::Bytes msg = auth_bytes(method);
    auto r = hs.feed(mtop::ByteView(msg).first(3));
    REQUIRE(r);
    CHECK(*r == 3);
    CHECK(live_auth_sized() == base + 1);  // reading the message: one buffer, reserved whole

    r = hs.feed(mtop::ByteView(msg).subspan(3));
    REQUIRE(r);
    CHECK(*r == msg.size() - 3);
    CHECK(std::holds_alternative<mtop::event::AuthRequest>(hs.next_event()));
    CHECK(live_auth_sized() == base);  // decoded: wiped and freed
  }
}

TEST_CASE("server: a malformed auth message frees the buffer too", "[server][memory]") {
  const int base = live_auth_sized();
  mtop::ServerHandshake hs;
  const mtop::Bytes junk{0x7f, 0x00, 0x00, 0x00};  // not our version byte
  auto r = hs.feed(junk);
  REQUIRE(r);
  CHECK(std::holds_alternative<mtop::event::Error>(hs.next_event()));
  CHECK(live_auth_sized() == base);
}
