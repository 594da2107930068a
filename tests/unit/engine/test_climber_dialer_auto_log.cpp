// AutoDialer's log: which transport carries the tunnels is said once per choice ("using QUIC"
// on the first QUIC stream, the fallback warning once per fallback), not once per tunnel.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "../uv/uv_test_support.hpp"
#include "engine/dialer_auto.hpp"

using namespace mtop;
using namespace mtop::test;

namespace {

class ScriptedDialer final : public io::StreamDialer {
 public:
  void open(OpenCallback cb) override { pending.push_back(std::move(cb)); }
  std::vector<OpenCallback> pending;
};

struct Proxy final : io::StreamDialer {
  explicit Proxy(ScriptedDialer& d) : inner(d) {}
  void open(OpenCallback cb) override { inner.open(std::move(cb)); }
  ScriptedDialer& inner;
};

int count_lines(const std::vector<std::string>& lines, const std::string& needle) {
  int n = 0;
  for (const auto& l : lines) n += l.find(needle) != std::string::npos ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("auto dialer log: 'using QUIC' once, again only after a fallback and a retry",
          "[climber][auto]") {
  TestLoop loop;
  std::vector<std::string> lines;
  Logger log(LogLevel::debug, [&](LogLevel, std::string_view m) { lines.emplace_back(m); });
  {
    ScriptedDialer quic, tls;
    // remember_ms = 0: the TLS choice expires at once, so the next open tries QUIC again.
    AutoDialer d(loop.get(), std::make_unique<Proxy>(quic), std::make_unique<Proxy>(tls),
                 {60'000, 0}, log);
    std::vector<io::StreamPtr> held;
    auto keep = [&](io::StreamPtr s, std::string) { held.push_back(std::move(s)); };
    for (int i = 0; i < 3; ++i) {
      d.open(keep);
      auto pair = make_pair(loop);
      quic.pending.back()(std::move(pair.client), {});
    }
    CHECK(held.size() == 3);
    CHECK(count_lines(lines, "transport auto: using QUIC") == 1);

    d.open(keep);
    quic.pending.back()(nullptr, "handshake timed out");
    REQUIRE(tls.pending.size() == 1);
    CHECK(count_lines(lines, "QUIC failed: handshake timed out; using TLS") == 1);
    tls.pending.back()(nullptr, "refused");

    uv_update_time(loop.get());
    d.open(keep);  // the remembered choice has expired: QUIC again
    REQUIRE(quic.pending.size() == 5);
    auto pair = make_pair(loop);
    quic.pending.back()(std::move(pair.client), {});
    CHECK(count_lines(lines, "transport auto: trying QUIC again") == 1);
    CHECK(count_lines(lines, "transport auto: using QUIC") == 2);
  }
  CHECK(loop.close() == 0);
}
