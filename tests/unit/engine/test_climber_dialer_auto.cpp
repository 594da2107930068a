// AutoDialer with scripted inner dialers: QUIC success, QUIC failure falls back to TLS and is
// remembered, a silent QUIC falls back after fallback_ms and its late stream is closed.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "../uv/uv_test_support.hpp"
#include "engine/dialer_auto.hpp"

using namespace mtop;
using namespace mtop::test;

namespace {

/// Holds every open() until the test answers it.
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

struct Outcome {
  int calls = 0;
  bool got_stream = false;
  std::string error;
};

io::StreamDialer::OpenCallback record(Outcome& o) {
  return [&o](io::StreamPtr s, std::string e) {
    ++o.calls;
    o.got_stream = s != nullptr;
    o.error = std::move(e);
  };
}

}  // namespace

TEST_CASE("auto dialer: QUIC stream is used when it comes in time", "[climber][auto]") {
  TestLoop loop;
  {
    ScriptedDialer quic, tls;
    AutoDialer d(loop.get(), std::make_unique<Proxy>(quic), std::make_unique<Proxy>(tls),
                 {60'000, 60'000});
    Outcome o;
    d.open(record(o));
    REQUIRE(quic.pending.size() == 1);
    auto pair = make_pair(loop);
    quic.pending[0](std::move(pair.client), {});
    CHECK(o.calls == 1);
    CHECK(o.got_stream);
    CHECK(tls.pending.empty());
    CHECK_FALSE(d.using_tls());
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("auto dialer: a QUIC failure falls back to TLS and is remembered", "[climber][auto]") {
  TestLoop loop;
  {
    ScriptedDialer quic, tls;
    AutoDialer d(loop.get(), std::make_unique<Proxy>(quic), std::make_unique<Proxy>(tls),
                 {60'000, 60'000});
    Outcome first, second;
    d.open(record(first));
    quic.pending[0](nullptr, "handshake timed out");
    REQUIRE(tls.pending.size() == 1);
    CHECK(first.calls == 0);
    tls.pending[0](nullptr, "connect: refused");
    CHECK(first.calls == 1);
    CHECK(first.error == "connect: refused");
    CHECK(d.using_tls());
    d.open(record(second));
    CHECK(quic.pending.size() == 1);  // QUIC skipped while the choice is remembered
    REQUIRE(tls.pending.size() == 2);
    CHECK(d.quic_opens() == 1);
    CHECK(d.tls_opens() == 2);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("auto dialer: a full QUIC pool sends that tunnel over TLS, QUIC stays the choice",
          "[climber][auto]") {
  TestLoop loop;
  {
    ScriptedDialer quic, tls;
    AutoDialer d(loop.get(), std::make_unique<Proxy>(quic), std::make_unique<Proxy>(tls),
                 {60'000, 60'000});
    Outcome first, second;
    d.open(record(first));
    quic.pending[0](nullptr, io::at_limit_error("QUIC pool full: 2 connections x 4 streams"));
    REQUIRE(tls.pending.size() == 1);
    auto pair = make_pair(loop);
    tls.pending[0](std::move(pair.client), {});
    CHECK(first.calls == 1);
    CHECK(first.got_stream);
    CHECK_FALSE(d.using_tls());  // QUIC works; it was only full
    d.open(record(second));
    CHECK(quic.pending.size() == 2);
    CHECK(tls.pending.size() == 1);
    CHECK(d.quic_opens() == 2);
    CHECK(d.tls_opens() == 1);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("auto dialer: a silent QUIC falls back after fallback_ms, its late stream is dropped",
          "[climber][auto]") {
  TestLoop loop;
  {
    ScriptedDialer quic, tls;
    AutoDialer d(loop.get(), std::make_unique<Proxy>(quic), std::make_unique<Proxy>(tls),
                 {50, 60'000});
    Outcome o;
    d.open(record(o));
    REQUIRE(loop.run_until([&] { return !tls.pending.empty(); }));
    auto pair = make_pair(loop);
    Recorder far;
    pair.server->set_handler(&far);
    pair.server->start_read();
    quic.pending[0](std::move(pair.client), {});  // late: closed by the dialer
    CHECK(o.calls == 0);
    REQUIRE(loop.run_until([&] { return far.eof || far.errors > 0; }));
    auto tls_pair = make_pair(loop);
    tls.pending[0](std::move(tls_pair.client), {});
    CHECK(o.calls == 1);
    CHECK(o.got_stream);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("auto dialer: destroyed with opens in flight, no callback runs", "[climber][auto]") {
  TestLoop loop;
  ScriptedDialer quic, tls;
  Outcome o;
  std::vector<io::StreamDialer::OpenCallback> owed;
  {
    AutoDialer d(loop.get(), std::make_unique<Proxy>(quic), std::make_unique<Proxy>(tls),
                 {60'000, 60'000});
    d.open(record(o));
    owed = std::move(quic.pending);
  }
  owed[0](nullptr, "late");
  CHECK(o.calls == 0);
  CHECK(loop.close() == 0);
}
