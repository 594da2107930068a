// Test support for the climber engine: a fake MTop server (plain TCP + ServerHandshake), a
// plain-TCP StreamDialer pointing at it, and a local client helper. Loopback only, ports from
// the OS, every wait bounded by TestLoop::run_until's safety time-out.
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "../uv/uv_test_support.hpp"
#include "engine/climber_engine.hpp"
#include "mtop/server_handshake.hpp"
#include "uv/connector.hpp"
#include "uv/tcp_listener.hpp"
#include "uv/tcp_stream.hpp"

namespace mtop::test {

/// How the fake server answers a complete auth message.
enum class ServerMode { accept, reject_auth, reject_connect, stealth, silent };

class FakeServer {
 public:
  explicit FakeServer(TestLoop& loop) : loop_(loop) {
    auto out = io::TcpListener::listen(loop.get(), "127.0.0.1", 0,
                                       [this](io::StreamPtr s) { on_accept(std::move(s)); });
    REQUIRE(out);
    listener_ = std::move(*out);
  }
  std::uint16_t port() const { return listener_->port(); }

  ServerMode mode = ServerMode::accept;
  std::string greeting;                ///< sent right behind the success response
  std::vector<AuthMessage> auths;      ///< every auth message received
  std::string received;                ///< payload after the auth message (all tunnels)
  int connections = 0;
  int eofs = 0;                        ///< tunnels whose client half-closed after accept

 private:
  struct Conn final : io::Stream::Handler {
    Conn(FakeServer& s, io::StreamPtr st) : server(s), stream(std::move(st)) {}
    void on_read(ByteView data) override {
      while (!data.empty()) {
        auto n = hs.feed(data);
        if (!n) return;
        data = data.subspan(*n);
        pump();
        if (*n == 0) return;
      }
    }
    void on_eof() override {
      if (hs.state() == ServerHandshake::State::accepted) {
        ++server.eofs;
        stream->shutdown();
      } else if (hs.state() == ServerHandshake::State::reading_auth) {
        (void)hs.feed_eof();
      }
    }
    void on_error(std::string_view) override {}
    void on_drain() override {}
    void flush() {
      const ByteView out = hs.pending_output();
      if (!out.empty()) {
        stream->write(out);
        hs.consume_output(out.size());
      }
    }
    void pump() {
      for (;;) {
        ServerEvent ev = hs.next_event();
        if (auto* a = std::get_if<event::AuthRequest>(&ev)) {
          server.auths.push_back(a->request);
          switch (server.mode) {
            case ServerMode::accept:
              (void)hs.accept();
              flush();
              if (!server.greeting.empty()) stream->write(as_bytes(server.greeting));
              break;
            case ServerMode::reject_auth:
              (void)hs.reject(Status::auth_failed, RejectMode::reply);
              flush();
              stream->shutdown();
              return;
            case ServerMode::reject_connect:
              (void)hs.reject(Status::connect_failed, RejectMode::reply);
              flush();
              stream->shutdown();
              return;
            case ServerMode::stealth:
              (void)hs.reject(Status::auth_failed, RejectMode::stealth);
              stream->shutdown();
              return;
            case ServerMode::silent: return;
          }
          continue;
        }
        if (auto* p = std::get_if<event::Payload>(&ev)) {
          const std::string s(as_chars(p->data));
          server.received += s;
          stream->write(as_bytes(s));  // echo
          continue;
        }
        return;
      }
    }
    FakeServer& server;
    io::StreamPtr stream;
    ServerHandshake hs;
  };

  void on_accept(io::StreamPtr s) {
    ++connections;
    auto c = std::make_unique<Conn>(*this, std::move(s));
    c->stream->set_handler(c.get());
    c->stream->start_read();
    conns_.push_back(std::move(c));
  }

  TestLoop& loop_;
  std::unique_ptr<io::TcpListener> listener_;
  std::vector<std::unique_ptr<Conn>> conns_;
};

/// A StreamDialer over plain TCP to 127.0.0.1:port (the fake server speaks MTop without TLS).
class TcpDialer final : public io::StreamDialer {
 public:
  TcpDialer(uv_loop_t* loop, std::uint16_t port) : loop_(loop), port_(port) {}
  void open(OpenCallback cb) override {
    ++opens;
    auto slot = std::make_shared<std::unique_ptr<io::ConnectAttempt>>();
    attempts_.push_back(slot);
    *slot = io::connect_tcp(loop_, "127.0.0.1", port_, {}, [cb](io::ConnectResult r) {
      if (!r.tcp) {
        cb(nullptr, "connect: " + r.error);
        return;
      }
      cb(io::TcpStream::adopt(std::move(r.tcp)), {});
    });
  }
  int opens = 0;

 private:
  uv_loop_t* loop_;
  std::uint16_t port_;
  std::vector<std::shared_ptr<std::unique_ptr<io::ConnectAttempt>>> attempts_;
};

/// A port on 127.0.0.1 with nothing listening: bound once by a listener that is then closed.
inline std::uint16_t closed_port(TestLoop& loop) {
  auto out = io::TcpListener::listen(loop.get(), "127.0.0.1", 0, [](io::StreamPtr) {});
  REQUIRE(out);
  const std::uint16_t p = (*out)->port();
  (*out).reset();
  loop.spin();
  return p;
}

/// A local application connected to one of the engine's ports.
struct LocalClient {
  LocalClient(TestLoop& l, std::uint16_t port) : loop(l) {
    io::ConnectResult res;
    bool done = false;
    auto attempt = io::connect_tcp(loop.get(), "127.0.0.1", port, {}, [&](io::ConnectResult r) {
      res = std::move(r);
      done = true;
    });
    REQUIRE(loop.run_until([&] { return done; }));
    REQUIRE(res.tcp);
    stream = io::TcpStream::adopt(std::move(res.tcp));
    stream->set_handler(&rec);
    stream->start_read();
  }
  void send(std::string_view s) { stream->write(as_bytes(s)); }
  void send(std::initializer_list<int> bytes) {
    Bytes b;
    for (int x : bytes) b.push_back(static_cast<std::uint8_t>(x));
    stream->write(b);
  }
  bool wait_bytes(std::size_t n) { return loop.run_until([&] { return rec.data.size() >= n; }); }
  bool wait_closed() { return loop.run_until([&] { return rec.eof || rec.errors > 0; }); }

  TestLoop& loop;
  io::StreamPtr stream;
  Recorder rec;
};

inline std::string bytes_of(std::initializer_list<int> bytes) {
  std::string s;
  for (int x : bytes) s.push_back(static_cast<char>(x));
  return s;
}

}  // namespace mtop::test
