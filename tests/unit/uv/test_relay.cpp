#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "uv/relay.hpp"
#include "uv/tcp_stream.hpp"
#include "uv/timer.hpp"
#include "uv_test_support.hpp"

using mtop::as_bytes;
using mtop::ByteView;
using mtop::io::Direction;
using mtop::io::Relay;
using mtop::io::RelayOptions;
using mtop::io::RelayStats;
using mtop::io::StreamPtr;
using mtop::test::make_pair;
using mtop::test::pattern;
using mtop::test::Recorder;
using mtop::test::TestLoop;

namespace {

// client C <-> (A) relay (B) <-> target T, all TcpStreams over loopback.
struct Tunnel {
  explicit Tunnel(TestLoop& l, RelayOptions opts = {}) : loop(l) {
    auto p1 = make_pair(loop);
    auto p2 = make_pair(loop);
    client = std::move(p1.client);
    target = std::move(p2.server);
    client->set_handler(&c);
    target->set_handler(&t);
    relay = std::make_unique<Relay>(loop.get(), std::move(p1.server), std::move(p2.client),
                                    std::move(opts), [this](const RelayStats& s) {
                                      stats = s;
                                      relay.reset();  // the owner may drop it right here
                                    });
  }
  bool done() const { return stats.has_value(); }

  TestLoop& loop;
  StreamPtr client, target;
  Recorder c, t;
  std::unique_ptr<Relay> relay;
  std::optional<RelayStats> stats;
};

}  // namespace

TEST_CASE("relay: 16 MiB each way arrive intact, then both half-closes end it", "[relay]") {
  TestLoop loop;
  {
    Tunnel tn(loop);
    tn.relay->start();
    tn.client->start_read();
    tn.target->start_read();
    const std::string up = pattern(16 << 20, 11), down = pattern(16 << 20, 12);
    for (std::size_t off = 0; off < up.size(); off += 1 << 20) {
      tn.client->write(as_bytes(std::string_view(up).substr(off, 1 << 20)));
      tn.target->write(as_bytes(std::string_view(down).substr(off, 1 << 20)));
    }
    tn.client->shutdown();
    tn.target->shutdown();
    REQUIRE(loop.run_until([&] { return tn.done() && tn.c.eof && tn.t.eof; }, 60'000));
    CHECK(tn.t.data.size() == up.size());
    CHECK(tn.t.data == up);
    CHECK(tn.c.data.size() == down.size());
    CHECK(tn.c.data == down);
    CHECK(tn.stats->reason == "closed");
    CHECK(tn.stats->bytes_a_to_b == up.size());
    CHECK(tn.stats->bytes_b_to_a == down.size());
    CHECK(tn.c.errors == 0);
    CHECK(tn.t.errors == 0);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("relay: half-close is carried across and the other direction keeps flowing",
          "[relay]") {
  const bool client_first = GENERATE(true, false);
  TestLoop loop;
  {
    Tunnel tn(loop);
    tn.relay->start();
    tn.client->start_read();
    tn.target->start_read();
    StreamPtr& first = client_first ? tn.client : tn.target;
    StreamPtr& second = client_first ? tn.target : tn.client;
    Recorder& first_rec = client_first ? tn.c : tn.t;
    Recorder& second_rec = client_first ? tn.t : tn.c;

    first->write(as_bytes("question"));
    first->shutdown();
    REQUIRE(loop.run_until([&] { return second_rec.eof; }));
    CHECK(second_rec.data == "question");
    loop.spin(10);
    CHECK_FALSE(tn.done());  // one direction is still open

    const std::string answer = pattern(2 << 20, 4);
    second->write(as_bytes(answer));
    REQUIRE(loop.run_until([&] { return first_rec.data.size() == answer.size(); }));
    CHECK(first_rec.data == answer);
    CHECK_FALSE(tn.done());
    second->shutdown();
    REQUIRE(loop.run_until([&] { return tn.done() && first_rec.eof; }));
    CHECK(tn.stats->reason == "closed");
    CHECK(tn.stats->bytes_a_to_b + tn.stats->bytes_b_to_a == 8 + answer.size());
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("relay: back-pressure bounds the queue of a target that stops reading",
          "[relay]") {
  TestLoop loop;
  {
    RelayOptions opts;  // default max_pending: 256 KiB
    const std::size_t max_pending = opts.max_pending;
    Tunnel tn(loop, opts);
    tn.relay->start();
    // The target does not read. The client pushes far more than all socket buffers hold.
    const std::string up = pattern(48 << 20, 21);
    for (std::size_t off = 0; off < up.size(); off += 1 << 20) {
      tn.client->write(as_bytes(std::string_view(up).substr(off, 1 << 20)));
    }
    // Run until the relay stops forwarding (its count stays put across a few ticks).
    std::uint64_t last = ~0ull;
    int still = 0;
    mtop::io::Timer tick(loop.get());
    std::function<void()> on_tick = [&] {
      const auto now = tn.relay->stats().bytes_a_to_b;
      still = (now == last) ? still + 1 : 0;
      last = now;
      tick.start(50, on_tick);
    };
    tick.start(50, on_tick);
    REQUIRE(loop.run_until([&] { return still >= 4; }, 60'000));
    tick.stop();

    const auto& s = tn.relay->stats();
    CHECK(s.bytes_a_to_b < up.size());  // stalled: the rest waits in the client's queue
    CHECK(s.peak_queued_to_b > 0);
    CHECK(s.peak_queued_to_b <= max_pending + mtop::io::TcpStream::kReadSize);
    CHECK(tn.client->write_queue_size() > 0);
    CHECK_FALSE(tn.done());

    // The target reads again: everything arrives, in order, and the bound held throughout.
    tn.target->start_read();
    REQUIRE(loop.run_until([&] { return tn.t.data.size() == up.size(); }, 60'000));
    CHECK(tn.t.data == up);
    CHECK(tn.relay->stats().peak_queued_to_b <= max_pending + mtop::io::TcpStream::kReadSize);
    tn.client->shutdown();
    tn.target->shutdown();
    REQUIRE(loop.run_until([&] { return tn.done(); }));
    CHECK(tn.stats->reason == "closed");
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("relay: the idle time-out closes a silent tunnel", "[relay]") {
  TestLoop loop;
  {
    RelayOptions opts;
    opts.idle_timeout_ms = 100;
    Tunnel tn(loop, opts);
    tn.relay->start();
    tn.client->start_read();
    tn.target->start_read();
    REQUIRE(loop.run_until([&] { return tn.done(); }));
    CHECK(tn.stats->reason == "idle timeout");
    CHECK(tn.stats->bytes_a_to_b == 0);
    // Both ends see their connection end.
    REQUIRE(loop.run_until([&] { return (tn.c.eof || tn.c.errors) && (tn.t.eof || tn.t.errors); }));
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("relay: close(reason) from outside", "[relay]") {
  TestLoop loop;
  {
    Tunnel tn(loop);
    tn.relay->start();
    tn.client->start_read();
    tn.target->start_read();
    tn.client->write(as_bytes("hello"));
    REQUIRE(loop.run_until([&] { return tn.t.data == "hello"; }));
    tn.relay->close("user disabled");
    CHECK_FALSE(tn.done());  // never inside the call
    CHECK(tn.relay->finished());
    tn.relay->close("again");  // no effect
    REQUIRE(loop.run_until([&] { return tn.done(); }));
    CHECK(tn.stats->reason == "user disabled");
    CHECK(tn.stats->bytes_a_to_b == 5);
    REQUIRE(loop.run_until([&] { return (tn.c.eof || tn.c.errors) && (tn.t.eof || tn.t.errors); }));
    // No side failed: both are closed, not reset.
    CHECK(tn.c.eof);
    CHECK(tn.t.eof);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("relay: destroying it closes both streams without a done callback", "[relay]") {
  TestLoop loop;
  {
    Tunnel tn(loop);
    tn.relay->start();
    tn.client->start_read();
    tn.relay.reset();
    REQUIRE(loop.run_until([&] { return tn.c.eof || tn.c.errors; }));
    loop.spin(10);
    CHECK_FALSE(tn.done());
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("relay: an error on one side ends it with that side's reason", "[relay]") {
  TestLoop loop;
  {
    Tunnel tn(loop);
    tn.relay->start();
    tn.client->start_read();
    // The target closes with unread bytes in its socket: the kernel answers with a reset.
    tn.client->write(as_bytes("data the target never reads"));
    REQUIRE(loop.run_until([&] { return tn.relay->stats().bytes_a_to_b == 27; }));
    loop.spin(10);
    tn.target.reset();
    REQUIRE(loop.run_until([&] { return tn.done(); }));
    CHECK(tn.stats->reason.rfind("target: ", 0) == 0);
    CHECK(tn.stats->reason == "target: connection reset");
    REQUIRE(loop.run_until([&] { return tn.c.eof || tn.c.errors; }));
    CHECK(tn.c.eof);  // closed, not reset: only a's failure may reset b (next test)
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("relay: reset_b_when_a_fails passes a client's reset on to the target", "[relay]") {
  const bool reset = GENERATE(true, false);
  TestLoop loop;
  {
    RelayOptions opts;
    opts.reset_b_when_a_fails = reset;
    Tunnel tn(loop, opts);
    tn.relay->start();
    tn.target->start_read();
    tn.client->write(as_bytes("hello"));
    REQUIRE(loop.run_until([&] { return tn.t.data == "hello"; }));
    mtop::io::TcpStream::reset(std::move(tn.client));  // the client aborts: an RST
    REQUIRE(loop.run_until([&] { return tn.done(); }));
    CHECK(tn.stats->reason == "client: connection reset");
    REQUIRE(loop.run_until([&] { return tn.t.eof || tn.t.errors; }));
    CHECK(tn.t.eof == !reset);
    CHECK(tn.t.errors == (reset ? 1 : 0));
    if (reset) CHECK(tn.t.error == "connection reset");
  }
  CHECK(loop.close() == 0);
}

namespace {

struct RecordingGate : mtop::io::TrafficGate {
  uv_loop_t* loop;
  std::uint64_t delay;
  int calls[2] = {0, 0};
  std::uint64_t bytes[2] = {0, 0};
  std::uint64_t resume_at[2] = {0, 0};
  int too_early = 0;
  explicit RecordingGate(uv_loop_t* l, std::uint64_t d) : loop(l), delay(d) {}
  std::uint64_t delay_ms(Direction dir, std::size_t n) override {
    const int i = dir == Direction::a_to_b ? 0 : 1;
    // The relay must not forward more in a paused direction before the pause is over.
    if (calls[i] > 0 && uv_now(loop) < resume_at[i]) ++too_early;
    ++calls[i];
    bytes[i] += n;
    resume_at[i] = uv_now(loop) + delay;
    return delay;
  }
};

}  // namespace

TEST_CASE("relay: TrafficGate delays are honoured and every byte is still forwarded",
          "[relay]") {
  TestLoop loop;
  {
    auto gate = std::make_shared<RecordingGate>(loop.get(), 5);
    std::uint64_t observed[2] = {0, 0};
    int observations = 0;
    RelayOptions opts;
    opts.gate = gate;
    opts.on_traffic = [&](Direction d, std::size_t n) {
      observed[d == Direction::a_to_b ? 0 : 1] += n;
      ++observations;
    };
    Tunnel tn(loop, opts);
    tn.relay->start();
    tn.client->start_read();
    tn.target->start_read();
    const std::string up = pattern(1 << 20, 31), down = pattern(300'000, 32);
    tn.client->write(as_bytes(up));
    tn.target->write(as_bytes(down));
    tn.client->shutdown();
    tn.target->shutdown();
    REQUIRE(loop.run_until([&] { return tn.done(); }, 60'000));
    CHECK(tn.stats->reason == "closed");
    CHECK(tn.t.data == up);
    CHECK(tn.c.data == down);
    CHECK(gate->bytes[0] == up.size());
    CHECK(gate->bytes[1] == down.size());
    CHECK(gate->calls[0] >= 2);  // a MiB cannot come in one read
    CHECK(gate->too_early == 0);
    CHECK(observed[0] == up.size());
    CHECK(observed[1] == down.size());
    CHECK(observations == gate->calls[0] + gate->calls[1]);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("relay: the observer may close the relay (quota used up)", "[relay]") {
  TestLoop loop;
  {
    RelayOptions opts;
    Relay* self = nullptr;
    std::uint64_t seen = 0;
    opts.on_traffic = [&](Direction, std::size_t n) {
      seen += n;
      if (seen >= 4) self->close("quota exceeded");
    };
    Tunnel tn(loop, opts);
    self = tn.relay.get();
    tn.relay->start();
    tn.client->write(as_bytes("0123456789"));
    REQUIRE(loop.run_until([&] { return tn.done(); }));
    CHECK(tn.stats->reason == "quota exceeded");
    loop.spin(10);
    CHECK(tn.t.data.empty());  // the chunk that used the quota up was not forwarded
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("relay: initial bytes reach the target before anything read from the client",
          "[relay]") {
  TestLoop loop;
  {
    Tunnel tn(loop);
    tn.client->write(as_bytes("LATER"));  // already waiting in the socket
    loop.spin(10);
    tn.target->start_read();
    tn.relay->start(as_bytes("EARLY"));
    tn.client->shutdown();
    REQUIRE(loop.run_until([&] { return tn.t.eof; }));
    CHECK(tn.t.data == "EARLYLATER");
    CHECK(tn.relay->stats().bytes_a_to_b == 10);
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("relay: a missing stream ends it at start", "[relay]") {
  TestLoop loop;
  {
    auto p = make_pair(loop);
    std::optional<RelayStats> stats;
    Relay r(loop.get(), std::move(p.server), nullptr, {},
            [&](const RelayStats& s) { stats = s; });
    r.start();
    CHECK_FALSE(stats);
    REQUIRE(loop.run_until([&] { return stats.has_value(); }));
    CHECK(stats->reason == "target: no stream");
  }
  CHECK(loop.close() == 0);
}

TEST_CASE("relay: a_ended carries an EOF read before start to the target", "[relay]") {
  TestLoop loop;
  {
    auto p1 = make_pair(loop);
    auto p2 = make_pair(loop);
    // The server side of the client connection reads the client's EOF before the relay exists
    // (as the server engine does while it is still deciding).
    Recorder early;
    p1.server->set_handler(&early);
    p1.server->start_read();
    p1.client->write(as_bytes("EARLY"));
    p1.client->shutdown();
    REQUIRE(loop.run_until([&] { return early.eof; }));
    CHECK(early.data == "EARLY");

    Recorder c, t;
    StreamPtr client = std::move(p1.client), target = std::move(p2.server);
    client->set_handler(&c);
    target->set_handler(&t);
    client->start_read();
    target->start_read();
    RelayOptions opts;
    opts.a_ended = true;
    std::optional<RelayStats> stats;
    Relay r(loop.get(), std::move(p1.server), std::move(p2.client), opts,
            [&](const RelayStats& s) { stats = s; });
    r.start(as_bytes(early.data));
    REQUIRE(loop.run_until([&] { return t.eof; }));
    CHECK(t.data == "EARLY");
    CHECK_FALSE(stats);  // the download direction is still open
    target->write(as_bytes("reply"));
    target->shutdown();
    REQUIRE(loop.run_until([&] { return stats.has_value() && c.eof; }));
    CHECK(c.data == "reply");
    CHECK(stats->reason == "closed");
    CHECK(stats->bytes_a_to_b == 5);
    CHECK(stats->bytes_b_to_a == 5);
  }
  CHECK(loop.close() == 0);
}

namespace {

/// What a LendingSink saw; owned by the test (the sink frees itself on close()).
struct SinkLog {
  std::string data;
  std::size_t in_place = 0;  ///< writes of bytes already in the lent room
  std::size_t copied = 0;    ///< other writes
  bool shut = false;
  bool closed = false;
};

/// A destination that lends room like a QUIC stream does (write_space), with `lend` bytes.
class LendingSink final : public mtop::io::Stream {
 public:
  LendingSink(SinkLog& log, std::size_t lend) : log_(log), room_(lend) {}
  void set_handler(Handler*) override {}
  void start_read() override {}
  void stop_read() override {}
  std::span<std::uint8_t> write_space(std::size_t want) override {
    CHECK(want > 0);
    return room_;
  }
  void write(ByteView data) override {
    (data.data() == room_.data() ? log_.in_place : log_.copied) += 1;
    log_.data.append(mtop::as_chars(data));
  }
  std::size_t write_queue_size() const override { return 0; }
  void shutdown() override { log_.shut = true; }
  void close() override {
    log_.closed = true;
    delete this;
  }
  std::string peer_name() const override { return "sink"; }

 private:
  ~LendingSink() override = default;
  SinkLog& log_;
  mtop::Bytes room_;
};

}  // namespace

TEST_CASE("relay: a TCP side reads straight into room the other side lends", "[relay]") {
  const std::size_t lend = GENERATE(std::size_t{64 * 1024}, std::size_t{1000});
  TestLoop loop;
  {
    SinkLog log;
    auto p = make_pair(loop);
    StreamPtr client = std::move(p.client);
    std::optional<RelayStats> stats;
    auto relay = std::make_unique<Relay>(loop.get(), std::move(p.server),
                                         StreamPtr(new LendingSink(log, lend)), RelayOptions{},
                                         [&](const RelayStats& s) { stats = s; });
    relay->start(as_bytes("early "));  // not read from a socket: copied
    const std::string up = pattern(4 << 20, 31);
    client->write(as_bytes(up));
    client->shutdown();
    REQUIRE(loop.run_until([&] { return log.shut; }, 60'000));
    CHECK(log.data == "early " + up);
    CHECK(log.copied == 1);
    CHECK(log.in_place >= up.size() / (64 * 1024));
    if (lend == 1000) CHECK(log.in_place >= up.size() / 1000);  // no read beyond the room
    relay.reset();
    CHECK(log.closed);
    CHECK_FALSE(stats.has_value());
  }
  CHECK(loop.close() == 0);
}
