// The embedding part of consumer_cmake, through the public C++ API only: an mtop::Server with
// a UserCheck of our own and two mtop::Climbers (TLS, then QUIC) on one libuv loop, each
// fetching bytes from a local echo target through a tunnel; then a wrong password, which our
// check refuses. Everything on 127.0.0.1; every result is checked; a watchdog ends a hung run.
#include <uv.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <mtop/climber.hpp>
#include <mtop/server.hpp>
#include <mtop/user_check.hpp>

#include "embedding.hpp"

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::exit(EXIT_FAILURE);                                                       \
    }                                                                                \
  } while (0)

namespace {

void uv_check(int rc, const char* what) {
  if (rc < 0) {
    std::fprintf(stderr, "%s: %s\n", what, uv_strerror(rc));
    std::exit(EXIT_FAILURE);
  }
}

// Runs `fn` on the next turn of the loop (never inside the caller's callback).
void defer(uv_loop_t* loop, std::function<void()> fn) {
  auto* timer = new uv_timer_t;
  timer->data = new std::function<void()>(std::move(fn));
  uv_check(uv_timer_init(loop, timer), "uv_timer_init");
  uv_check(uv_timer_start(timer, [](uv_timer_t* t) {
             auto* f = static_cast<std::function<void()>*>(t->data);
             (*f)();
             delete f;
             uv_close(reinterpret_cast<uv_handle_t*>(t),
                      [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
           }, 0, 0), "uv_timer_start");
}

// The target: a TCP echo server on 127.0.0.1:<any>. Each connection gets its bytes back and,
// after the client's EOF, an EOF of its own.
class EchoTarget {
 public:
  explicit EchoTarget(uv_loop_t* loop) {
    uv_check(uv_tcp_init(loop, &listener_), "uv_tcp_init");
    listener_.data = this;
    sockaddr_in addr{};
    uv_check(uv_ip4_addr("127.0.0.1", 0, &addr), "uv_ip4_addr");
    uv_check(uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0), "bind");
    uv_check(uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 16, on_connection), "listen");
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_check(uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len),
             "getsockname");
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  std::uint16_t port() const { return port_; }
  int connections() const { return connections_; }
  void close() { uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr); }

 private:
  struct Write {
    uv_write_t req;
    std::vector<char> bytes;
  };

  static void close_conn(uv_stream_t* s) {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(s))) {
      uv_close(reinterpret_cast<uv_handle_t*>(s),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    }
  }
  static void on_connection(uv_stream_t* server, int status) {
    uv_check(status, "accept");
    auto* self = static_cast<EchoTarget*>(server->data);
    auto* conn = new uv_tcp_t;
    uv_check(uv_tcp_init(server->loop, conn), "uv_tcp_init");
    uv_check(uv_accept(server, reinterpret_cast<uv_stream_t*>(conn)), "uv_accept");
    ++self->connections_;
    uv_check(uv_read_start(reinterpret_cast<uv_stream_t*>(conn), on_alloc, on_read), "read");
  }
  static void on_alloc(uv_handle_t*, size_t suggested, uv_buf_t* buf) {
    buf->base = new char[suggested];
    buf->len = suggested;
  }
  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    if (n > 0) {
      auto* w = new Write;
      w->req.data = w;
      w->bytes.assign(buf->base, buf->base + n);
      uv_buf_t out = uv_buf_init(w->bytes.data(), static_cast<unsigned>(n));
      uv_check(uv_write(&w->req, s, &out, 1, [](uv_write_t* r, int) {
                 delete static_cast<Write*>(r->data);
               }), "uv_write");
    } else if (n == UV_EOF) {
      uv_read_stop(s);
      auto* req = new uv_shutdown_t;
      if (uv_shutdown(req, s, [](uv_shutdown_t* r, int) {
            close_conn(r->handle);
            delete r;
          }) < 0) {
        delete req;
        close_conn(s);
      }
    } else if (n < 0) {
      close_conn(s);
    }
    delete[] buf->base;
  }

  uv_tcp_t listener_{};
  std::uint16_t port_ = 0;
  int connections_ = 0;
};

// Our own user check: alice / s3cret may tunnel, nobody else. Answers asynchronously (on the
// next loop turn), as a check backed by a remote service would.
class AliceOnly : public mtop::UserCheck {
 public:
  explicit AliceOnly(uv_loop_t* loop) : loop_(loop) {}
  void check(const mtop::UserCheckRequest& request, mtop::UserCheckReply reply) override {
    ++checks;
    const bool good = request.username == "alice" && request.password == "s3cret";
    auto slot = std::make_shared<mtop::UserCheckReply>(std::move(reply));
    defer(loop_, [slot, good] {
      if (good) {
        mtop::UserGrant grant;
        grant.user = "alice";
        slot->allow(std::move(grant));
      } else {
        slot->deny();
      }
    });
  }
  int checks = 0;

 private:
  uv_loop_t* loop_;
};

// One tunnel's client side: sends `payload`, half-closes, collects what comes back until EOF.
class Fetch : public mtop::io::Stream::Handler {
 public:
  Fetch(mtop::io::StreamPtr stream, std::string payload, std::function<void(std::string)> done)
      : stream_(std::move(stream)), payload_(std::move(payload)), done_(std::move(done)) {
    stream_->set_handler(this);
    stream_->start_read();
    stream_->write(mtop::as_bytes(payload_));
    stream_->shutdown();
  }
  const std::string& received() const { return received_; }
  void drop() { stream_.reset(); }

  void on_read(mtop::ByteView data) override { received_.append(mtop::as_chars(data)); }
  void on_eof() override { finish(""); }
  void on_error(std::string_view reason) override { finish("stream error: " + std::string(reason)); }
  void on_drain() override {}

 private:
  void finish(std::string error) {
    if (!done_) return;
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(error));
  }
  mtop::io::StreamPtr stream_;
  std::string payload_;
  std::string received_;
  std::function<void(std::string)> done_;
};

class Scenario {
 public:
  Scenario(uv_loop_t* loop, const char* cert, const char* key)
      : loop_(loop), cert_(cert), target_(loop), check_(std::make_shared<AliceOnly>(loop)) {
    for (std::size_t i = 0; i < 256 * 1024; ++i) payload_.push_back(static_cast<char>('a' + i % 23));

    mtop::ServerConfig config;
    config.listen = {"127.0.0.1:0"};
    config.quic = true;
    config.cert_file = cert;
    config.key_file = key;
    config.engine.allow_targets = {"127.0.0.1/32"};  // the target is on loopback
    config.engine.reply_status = true;
    auto server = mtop::Server::create(loop, config,
                                       {.user_check = check_,
                                        .log = mtop::Logger(mtop::LogLevel::warn, mtop::stderr_sink())});
    if (!server) {
      std::fprintf(stderr, "Server::create: %s\n", std::string(server.message()).c_str());
      std::exit(EXIT_FAILURE);
    }
    server_ = std::move(*server);
    auto started = server_->start();
    if (!started) {
      std::fprintf(stderr, "Server::start: %s\n", std::string(started.message()).c_str());
      std::exit(EXIT_FAILURE);
    }
    bool tls = false, quic = false;
    for (const auto& l : server_->listening()) {
      (l.quic ? quic : tls) = true;
      port_ = l.port;
    }
    CHECK(tls && quic && port_ != 0);
  }

  void run() {
    uv_check(uv_timer_init(loop_, &watchdog_), "uv_timer_init");
    uv_check(uv_timer_start(&watchdog_, [](uv_timer_t*) {
               std::fprintf(stderr, "embedding: no result after 60 s\n");
               std::exit(EXIT_FAILURE);
             }, 60'000, 0), "uv_timer_start");
    fetch_through(mtop::TransportKind::tls, [this] {
      fetch_through(mtop::TransportKind::quic, [this] { wrong_password([this] { finish(); }); });
    });
  }

 private:
  std::unique_ptr<mtop::Climber> make_climber(mtop::TransportKind transport, const char* password) {
    mtop::ClimberConfig config;
    config.server.host = "127.0.0.1";
    config.server.port = port_;
    config.server.username = "alice";
    config.server.password = password;
    config.server.transport = transport;
    config.server.sni = "localhost";
    config.server.ca_file = cert_;  // the server's self-signed certificate is the trust anchor
    auto climber = mtop::Climber::create(loop_, config);
    if (!climber) {
      std::fprintf(stderr, "Climber::create: %s\n", std::string(climber.message()).c_str());
      std::exit(EXIT_FAILURE);
    }
    auto started = (*climber)->start();
    CHECK(started.ok());
    return std::move(*climber);
  }

  // A tunnel to the echo target over `transport`: payload_ must come back whole.
  void fetch_through(mtop::TransportKind transport, std::function<void()> next) {
    climber_ = make_climber(transport, "s3cret");
    climber_->open_tunnel("127.0.0.1", target_.port(),
                          [this, transport, next](mtop::Result<mtop::io::StreamPtr> tunnel) {
      if (!tunnel) {
        std::fprintf(stderr, "open_tunnel over %s: %s\n",
                     std::string(mtop::transport_name(transport)).c_str(),
                     std::string(tunnel.message()).c_str());
        std::exit(EXIT_FAILURE);
      }
      fetch_ = std::make_unique<Fetch>(std::move(*tunnel), payload_,
                                       [this, transport, next](std::string error) {
        if (!error.empty()) {
          std::fprintf(stderr, "tunnel over %s: %s\n",
                       std::string(mtop::transport_name(transport)).c_str(), error.c_str());
          std::exit(EXIT_FAILURE);
        }
        CHECK(fetch_->received() == payload_);
        std::printf("C++ API: %zu bytes through a tunnel over %s and back\n", payload_.size(),
                    std::string(mtop::transport_name(transport)).c_str());
        defer(loop_, [this, next] {
          fetch_.reset();
          climber_.reset();
          next();
        });
      });
    });
  }

  // The same user with a wrong password: our check says no, the climber hears tunnel_refused.
  void wrong_password(std::function<void()> next) {
    climber_ = make_climber(mtop::TransportKind::tls, "wrong");
    const int checks_before = check_->checks;
    climber_->open_tunnel("127.0.0.1", target_.port(),
                          [this, next, checks_before](mtop::Result<mtop::io::StreamPtr> tunnel) {
      CHECK(!tunnel);
      CHECK(tunnel.error() == mtop::Errc::tunnel_refused);
      CHECK(check_->checks == checks_before + 1);
      std::printf("C++ API: a wrong password is refused by our UserCheck (%s)\n",
                  std::string(tunnel.message()).c_str());
      defer(loop_, [this, next] {
        climber_.reset();
        next();
      });
    });
  }

  void finish() {
    CHECK(check_->checks == 3);
    CHECK(target_.connections() == 2);
    auto stats = server_->stats();
    CHECK(stats.accepted == 2);
    server_->stop();
    server_.reset();
    target_.close();
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
  }

  uv_loop_t* loop_;
  std::string cert_;
  EchoTarget target_;
  std::shared_ptr<AliceOnly> check_;
  std::unique_ptr<mtop::Server> server_;
  std::unique_ptr<mtop::Climber> climber_;
  std::unique_ptr<Fetch> fetch_;
  std::string payload_;
  std::uint16_t port_ = 0;
  uv_timer_t watchdog_{};
};

}  // namespace

void run_embedding(const char* cert_file, const char* key_file) {
  uv_loop_t loop;
  uv_check(uv_loop_init(&loop), "uv_loop_init");
  {
    Scenario scenario(&loop, cert_file, key_file);
    scenario.run();
    uv_check(uv_run(&loop, UV_RUN_DEFAULT), "uv_run");
  }
  // Every handle of the server, the climbers and the target is closed: the loop can go.
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}
