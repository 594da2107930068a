// Test support for the uv layer: a loop that is run until a condition holds (bounded by a
// safety time-out, never used to measure anything), a recording Stream::Handler, and a
// connected pair of TcpStreams over loopback.
#pragma once

#include <uv.h>
#include <catch2/catch.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "mtop/stream.hpp"
#include "uv/connector.hpp"
#include "uv/tcp_listener.hpp"
#include "uv/tcp_stream.hpp"

namespace mtop::test {

class TestLoop {
 public:
  TestLoop() { uv_loop_init(&loop_); }
  ~TestLoop() {
    if (!closed_) (void)close();
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;

  uv_loop_t* get() { return &loop_; }

  /// Runs the loop until `pred()` holds or `safety_ms` passes; returns pred().
  /// pred() is checked before every poll (uv_prepare_t), so the loop never blocks once it
  /// holds — plain UV_RUN_ONCE would block for the next event even after a timer made it true.
  bool run_until(const std::function<bool()>& pred, std::uint64_t safety_ms = 20'000) {
    if (pred()) return true;
    struct State {
      const std::function<bool()>* pred;
      uv_loop_t* loop;
    } st{&pred, &loop_};
    auto* t = new uv_timer_t;
    uv_timer_init(&loop_, t);
    t->data = &st;
    uv_timer_start(t, [](uv_timer_t* h) { uv_stop(static_cast<State*>(h->data)->loop); },
                   safety_ms, 0);
    auto* p = new uv_prepare_t;
    uv_prepare_init(&loop_, p);
    p->data = &st;
    uv_prepare_start(p, [](uv_prepare_t* h) {
      auto* s = static_cast<State*>(h->data);
      if ((*s->pred)()) uv_stop(s->loop);
    });
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(t),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    uv_close(reinterpret_cast<uv_handle_t*>(p),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_prepare_t*>(h); });
    return pred();
  }

  /// Runs `turns` non-blocking loop iterations (lets deferred work happen).
  void spin(int turns = 5) {
    for (int i = 0; i < turns; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
  }

  /// Runs the loop until nothing is left (bounded), then uv_loop_close(): 0 means every
  /// handle and request was closed and freed.
  int close() {
    closed_ = true;
    auto* t = new uv_timer_t;
    uv_timer_init(&loop_, t);
    uv_unref(reinterpret_cast<uv_handle_t*>(t));
    t->data = &loop_;
    uv_timer_start(t, [](uv_timer_t* h) { uv_stop(static_cast<uv_loop_t*>(h->data)); }, 20'000, 0);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(t),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
    uv_run(&loop_, UV_RUN_NOWAIT);
    return uv_loop_close(&loop_);
  }

 private:
  uv_loop_t loop_;
  bool closed_ = false;
};

/// Records everything a stream reports; optional hooks run after recording.
struct Recorder : io::Stream::Handler {
  std::string data;
  bool eof = false;
  std::string error;
  int errors = 0;
  int drains = 0;
  int calls = 0;
  std::function<void(ByteView)> on_data;
  std::function<void()> on_end;
  std::function<void()> on_drained;

  void on_read(ByteView d) override {
    ++calls;
    data.append(as_chars(d));
    if (on_data) on_data(d);
  }
  void on_eof() override {
    ++calls;
    eof = true;
    if (on_end) on_end();
  }
  void on_error(std::string_view reason) override {
    ++calls;
    ++errors;
    error = std::string(reason);
  }
  void on_drain() override {
    ++calls;
    ++drains;
    if (on_drained) on_drained();
  }
};

/// A connected pair of TcpStreams: `client` from connect_tcp, `server` from a TcpListener.
struct StreamPair {
  io::StreamPtr client;
  io::StreamPtr server;
  std::uint16_t port = 0;  ///< the listener's port, which the client connected to
};

/// `buffers`: the StreamBuffers both streams use (null: the thread's, as in production).
inline StreamPair make_pair(TestLoop& loop, const std::string& host = "127.0.0.1",
                            const io::SharedStreamBuffers& buffers = nullptr) {
  StreamPair p;
  io::ListenOptions options;
  options.buffers = buffers;
  auto l = io::TcpListener::listen(
      loop.get(), host, 0, [&](io::StreamPtr s) { p.server = std::move(s); }, options);
  REQUIRE(l);
  p.port = (*l)->port();
  io::ConnectResult res;
  bool done = false;
  auto attempt = io::connect_tcp(loop.get(), host, (*l)->port(), {},
                                 [&](io::ConnectResult r) {
                                   res = std::move(r);
                                   done = true;
                                 });
  REQUIRE(loop.run_until([&] { return done && p.server != nullptr; }));
  REQUIRE(res.tcp);
  p.client = io::TcpStream::adopt(std::move(res.tcp), buffers);
  return p;
}

/// Deterministic pseudo-random bytes (xorshift), so tests can compare big transfers.
inline std::string pattern(std::size_t n, std::uint32_t seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed ? seed : 1;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return s;
}

}  // namespace mtop::test
