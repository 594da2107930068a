// When the server's ATTACH pool asks for a new data connection (docs/PROTOCOL.md 9.6 step 1):
// the refill for a pooled connection a visitor took waits for the climber's first byte to
// that visitor, or for the visitor's tunnel to end, unless the visitor took the last idle one.
// The climber's side is played over in-memory loopback pairs labelled "tls" (the engine reads
// only the label): the control tunnel, and one data connection per OPEN frame.
#include <algorithm>
#include <memory>
#include <vector>

#include "test_server_engine_support.hpp"
#include "uv/connector.hpp"
#include "uv/tcp_stream.hpp"

using namespace mtop;
using namespace mtop::srvtest;

namespace {

/// A raw stream and what it received.
struct Peer {
  io::StreamPtr stream;
  test::Recorder rec;

  void adopt(io::StreamPtr s) {
    stream = std::move(s);
    stream->set_handler(&rec);
    stream->start_read();
  }
};

/// The tokens of the OPEN frames in a control tunnel's bytes (after the response).
std::vector<std::string> open_tokens(const std::string& raw) {
  std::vector<std::string> tokens;
  std::size_t at = kReverseResponseSize;
  while (at + 2 <= raw.size()) {
    const auto type = static_cast<std::uint8_t>(raw[at]);
    const auto len = static_cast<std::uint8_t>(raw[at + 1]);
    if (at + 2 + len > raw.size()) break;
    if (type == 0x03) tokens.push_back(raw.substr(at + 2, len));
    at += 2 + len;
  }
  return tokens;
}

/// A published TLS control tunnel with its pool attached: `pool` data connections, idle.
struct Pool {
  explicit Pool(Fixture& fx) : f(fx) {
    f.store.users["alice"].publish = "127.0.0.1:20000-60000";
    auto p = test::make_pair(f.loop);
    f.engine->serve(std::move(p.server), "tls");
    f.clients.push_back(std::make_unique<Client>(std::move(p.client), reverse_to(local(0)), ""));
    control = f.clients.back().get();
    REQUIRE(f.run_until([&] { return control->established; }));
    port = static_cast<std::uint16_t>((static_cast<std::uint8_t>(control->raw[2]) << 8) |
                                      static_cast<std::uint8_t>(control->raw[3]));
    const std::size_t size = f.options.reverse.pool;
    REQUIRE(f.run_until([&] { return opens() == size; }));
    for (const std::string& token : open_tokens(control->raw)) attach(token);
    REQUIRE(f.run_until([&] { return pooled() == size; }));
  }

  std::size_t opens() const { return open_tokens(control->raw).size(); }
  /// OPEN frames so far, once the loop has had some turns to send more.
  std::size_t opens_settled() {
    f.loop.spin(20);
    return opens();
  }
  /// Waits (bounded) for `n` OPEN frames, then opens_settled(): exactly `n` unless more came.
  std::size_t opens_reaching(std::size_t n) {
    (void)f.run_until([&] { return opens() >= n; });
    return opens_settled();
  }
  std::size_t pooled() const {
    const auto live = f.engine->live_tunnels();
    return static_cast<std::size_t>(
        std::count_if(live.begin(), live.end(), [](const auto& t) { return t.stage == "pooled"; }));
  }
  /// A data connection redeeming `token` (ATTACH message, 9.6 step 2).
  void attach(const std::string& token) {
    auto p = test::make_pair(f.loop);
    f.engine->serve(std::move(p.server), "tls");
    data.push_back(std::make_unique<Peer>());
    data.back()->adopt(std::move(p.client));
    data.back()->stream->write(as_bytes(std::string("\x01\x03", 2) + token));
  }
  /// A visitor on the public port that sends `hello`; returns once a data connection has
  /// the visitor's bytes.
  Peer& visit(const std::string& hello) {
    io::ConnectResult res;
    bool done = false;
    auto attempt = io::connect_tcp(f.loop.get(), "127.0.0.1", port, {}, [&](io::ConnectResult r) {
      res = std::move(r);
      done = true;
    });
    REQUIRE(f.run_until([&] { return done; }));
    REQUIRE(res.tcp);
    visitors.push_back(std::make_unique<Peer>());
    visitors.back()->adopt(io::TcpStream::adopt(std::move(res.tcp)));
    visitors.back()->stream->write(as_bytes(hello));
    REQUIRE(f.run_until([&] { return carrying(hello) != nullptr; }));
    return *visitors.back();
  }
  /// The data connection that carries the visitor who sent `hello`.
  Peer* carrying(const std::string& hello) const {
    for (const auto& d : data) {
      if (d->rec.data.ends_with(hello)) return d.get();
    }
    return nullptr;
  }

  Fixture& f;
  Client* control = nullptr;
  std::uint16_t port = 0;
  std::vector<std::unique_ptr<Peer>> data;
  std::vector<std::unique_ptr<Peer>> visitors;
};

}  // namespace

TEST_CASE("server engine reverse pool: a taken connection's OPEN follows the climber's answer",
          "[server_engine][reverse]") {
  Fixture f;
  Pool pool(f);
  REQUIRE(pool.opens() == 2);
  Peer& visitor = pool.visit("GET /");
  Peer* data = pool.carrying("GET /");
  CHECK(pool.opens_settled() == 2);  // no refill before the answer: one idle connection is left

  data->stream->write(as_bytes("answer"));
  REQUIRE(f.run_until([&] { return visitor.rec.data == "answer"; }));
  CHECK(pool.opens_reaching(3) == 3);  // exactly one refill
  data->stream->write(as_bytes(" more"));
  REQUIRE(f.run_until([&] { return visitor.rec.data == "answer more"; }));
  CHECK(pool.opens_settled() == 3);  // sent once
}

TEST_CASE("server engine reverse pool: taking the last idle connection sends every owed OPEN",
          "[server_engine][reverse]") {
  Fixture f;
  Pool pool(f);
  pool.visit("first");
  CHECK(pool.opens_settled() == 2);  // the first visitor's refill waits for its answer
  pool.visit("second");              // takes the last idle connection: both refills go now
  CHECK(pool.opens_reaching(4) == 4);
  CHECK(pool.carrying("first") != pool.carrying("second"));
  CHECK(pool.pooled() == 0);
  // The refills are good tokens: the pool is full again once they attach, and asks no more.
  const auto tokens = open_tokens(pool.control->raw);
  REQUIRE(tokens.size() == 4);
  pool.attach(tokens[2]);
  pool.attach(tokens[3]);
  REQUIRE(f.run_until([&] { return pool.pooled() == 2; }));
  CHECK(pool.opens_settled() == 4);
}

TEST_CASE("server engine reverse pool: a visitor that ends without an answer releases its OPEN",
          "[server_engine][reverse]") {
  Fixture f;
  Pool pool(f);
  Peer& visitor = pool.visit("hello");
  Peer* data = pool.carrying("hello");
  CHECK(pool.opens_settled() == 2);
  // The visitor leaves; the climber ends its side too: the tunnel ends without a byte back.
  visitor.stream->shutdown();
  REQUIRE(f.run_until([&] { return data->rec.eof; }));
  data->stream->shutdown();
  CHECK(pool.opens_reaching(3) == 3);
  CHECK(visitor.rec.data.empty());
}

TEST_CASE("server engine reverse pool: the end of the control tunnel resets its visitors",
          "[server_engine][reverse]") {
  Fixture f;
  Pool pool(f);
  Peer& visitor = pool.visit("hello");
  Peer* data = pool.carrying("hello");
  data->stream->write(as_bytes("answer"));
  REQUIRE(f.run_until([&] { return visitor.rec.data == "answer"; }));
  // The climber's control tunnel ends; its data connection is still up. The visitor is
  // aborted (9.7): a reset, never a FIN it could take for the service's clean end.
  pool.control->close();
  REQUIRE(f.run_until([&] { return visitor.rec.eof || !visitor.rec.error.empty(); }));
  CHECK_FALSE(visitor.rec.eof);
  CHECK(visitor.rec.error == "connection reset");
  REQUIRE(f.run_until([&] { return !data->rec.error.empty() || data->rec.eof; }));
  CHECK(f.logged("control tunnel ended"));
}
