// Memory held per idle tunnel: the relay, its two streams and (as an upper bound) the test's
// own two client/target streams, measured with glibc's heap statistics after bytes have
// flowed through every tunnel (so any buffer kept after a read would show).
#include <catch2/catch.hpp>

#include <malloc.h>

#include <memory>
#include <optional>
#include <vector>

#include "uv/relay.hpp"
#include "uv_test_support.hpp"

using mtop::as_bytes;
using mtop::io::Relay;
using mtop::io::RelayStats;
using mtop::io::StreamPtr;
using mtop::test::make_pair;
using mtop::test::Recorder;
using mtop::test::TestLoop;

namespace {

struct IdleTunnel {
  StreamPtr client, target;
  Recorder c, t;
  std::unique_ptr<Relay> relay;
};

}  // namespace

TEST_CASE("an idle tunnel holds well under 12 KiB of heap", "[relay][memory]") {
#if defined(__SANITIZE_ADDRESS__)
  WARN("skipped under AddressSanitizer: its allocator does not feed mallinfo2()");
#else
  constexpr int kTunnels = 100;
  TestLoop loop;
  {
    std::vector<std::unique_ptr<IdleTunnel>> tunnels;
    tunnels.reserve(kTunnels);
    loop.spin(5);
    const auto heap_in_use = [] { return mallinfo2().uordblks; };
    const std::size_t before = heap_in_use();
    for (int i = 0; i < kTunnels; ++i) {
      auto tn = std::make_unique<IdleTunnel>();
      auto p1 = make_pair(loop);
      auto p2 = make_pair(loop);
      tn->client = std::move(p1.client);
      tn->target = std::move(p2.server);
      tn->client->set_handler(&tn->c);
      tn->target->set_handler(&tn->t);
      tn->relay = std::make_unique<Relay>(loop.get(), std::move(p1.server), std::move(p2.client),
                                          mtop::io::RelayOptions{}, [](const RelayStats&) {});
      tn->relay->start();
      tn->client->start_read();
      tn->target->start_read();
      tn->client->write(as_bytes("ping"));
      tn->target->write(as_bytes("pong"));
      tunnels.push_back(std::move(tn));
    }
    REQUIRE(loop.run_until([&] {
      for (auto& tn : tunnels) {
        if (tn->t.data != "ping" || tn->c.data != "pong") return false;
      }
      return true;
    }));
    loop.spin(10);  // let listeners and connect attempts finish closing
    const std::size_t after = heap_in_use();
    const std::size_t per_tunnel = after > before ? (after - before) / kTunnels : 0;
    INFO("heap per idle tunnel (relay + 4 TCP streams): " << per_tunnel << " bytes");
    CHECK(per_tunnel > 0);
    CHECK(per_tunnel < 12 * 1024);
    WARN("heap per idle tunnel (relay + 4 TCP streams): " << per_tunnel << " bytes");
  }
  CHECK(loop.close() == 0);
#endif
}
