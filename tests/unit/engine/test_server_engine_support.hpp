// Test support for the server engine: a scripted UserStore, an echo target on 127.0.0.1, a
// climber-side client driven by mtop::ClientHandshake over a plain TcpStream, and a fixture
// that wires them to one ServerEngine through the built-in store check (StoreUserCheck). Everything
// runs on one loop, bounded by the loop helper's safety time-outs (never used to measure anything).
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "../uv/uv_test_support.hpp"
#include "auth/password_hash.hpp"
#include "auth/user_store.hpp"
#include "engine/server_engine.hpp"
#include "engine/store_user_check.hpp"
#include "mtop/client_handshake.hpp"
#include "mtop/log.hpp"
#include "uv/poster.hpp"
#include "uv/tcp_listener.hpp"

namespace mtop::srvtest {

/// Cheap hashes for tests (the engine works the same with any cost).
inline std::string test_hash(const std::string& password) {
  auth::HashParams p;
  p.scrypt_log2_n = 10;
  p.scrypt_r = 8;
  p.scrypt_p = 1;
  auto h = auth::hash_password(password, p);
  REQUIRE(h);
  return *h;
}

/// A UserStore answering from a map on a later loop turn. `hold` keeps answers back until
/// release(); add_usage adds to used_bytes at once (like the users file store).
class FakeStore final : public auth::UserStore {
 public:
  explicit FakeStore(uv_loop_t* loop) : poster_(loop) {}

  void lookup(std::string_view username, LookupCallback cb) override {
    ++lookups;
    held_.emplace_back(std::string(username), std::move(cb));
    if (!hold) answer_later();
  }
  void add_usage(std::string_view username, std::uint64_t bytes) override {
    usage[std::string(username)] += bytes;
    if (auto it = users.find(std::string(username)); it != users.end()) {
      it->second.used_bytes += bytes;
    }
  }
  std::string_view kind() const override { return "fake"; }

  void release() {
    hold = false;
    answer_later();
  }
  auth::UserRecord& add(const std::string& name, const std::string& password) {
    auth::UserRecord r;
    r.username = name;
    r.password_hash = test_hash(password);
    return users[name] = r;
  }

  std::map<std::string, auth::UserRecord> users;
  std::map<std::string, std::uint64_t> usage;
  bool unavailable = false;
  bool hold = false;
  int lookups = 0;

 private:
  void answer_later() {
    poster_.post([this] {
      while (!hold && !held_.empty()) {
        auto [name, cb] = std::move(held_.front());
        held_.pop_front();
        auth::LookupResult r;
        if (unavailable) {
          r.status = auth::LookupStatus::unavailable;
        } else if (auto it = users.find(name); it != users.end()) {
          r.status = auth::LookupStatus::found;
          r.user = it->second;
        } else {
          r.status = auth::LookupStatus::not_found;
        }
        cb(std::move(r));
      }
    });
  }

  io::Poster poster_;
  std::deque<std::pair<std::string, LookupCallback>> held_;
};

/// An echo server on 127.0.0.1:0 that records what it received and how many connected.
class EchoTarget {
 public:
  explicit EchoTarget(test::TestLoop& loop) {
    auto l = io::TcpListener::listen(loop.get(), "127.0.0.1", 0, [this](io::StreamPtr s) {
      auto c = std::make_unique<Conn>();
      c->owner = this;
      c->stream = std::move(s);
      c->stream->set_handler(c.get());
      c->stream->start_read();
      conns.push_back(std::move(c));
    });
    REQUIRE(l);
    listener = std::move(*l);
  }
  std::uint16_t port() const { return listener->port(); }
  std::size_t accepted() const { return conns.size(); }
  std::string received(std::size_t i = 0) const { return i < conns.size() ? conns[i]->data : ""; }
  std::size_t total_received() const {
    std::size_t n = 0;
    for (const auto& c : conns) n += c->data.size();
    return n;
  }
  bool got_eof(std::size_t i = 0) const { return i < conns.size() && conns[i]->eof; }

  struct Conn : io::Stream::Handler {
    EchoTarget* owner = nullptr;
    io::StreamPtr stream;
    std::string data;
    bool eof = false;
    bool errored = false;
    void on_read(ByteView d) override {
      data.append(as_chars(d));
      if (owner->echo) stream->write(d);
    }
    void on_eof() override {
      eof = true;
      stream->shutdown();
    }
    void on_error(std::string_view) override { errored = true; }
    void on_drain() override {}
  };

  bool echo = true;
  std::unique_ptr<io::TcpListener> listener;
  std::vector<std::unique_ptr<Conn>> conns;
};

/// The climber's side of one tunnel: ClientHandshake over a TcpStream.
class Client final : public io::Stream::Handler {
 public:
  Client(io::StreamPtr s, const AuthMessage& m, const std::string& early) : stream_(std::move(s)) {
    auto hs = ClientHandshake::create(m);
    REQUIRE(hs);
    hs_.emplace(std::move(*hs));
    if (!early.empty()) REQUIRE(hs_->send_payload(as_bytes(early)));
    stream_->set_handler(this);
    flush();
    stream_->start_read();
  }

  void send(const std::string& data) {
    REQUIRE(stream_);
    REQUIRE(hs_->send_payload(as_bytes(data)));
    flush();
  }
  void shutdown() {
    if (stream_) stream_->shutdown();
  }
  void close() { stream_.reset(); }

  bool finished() const { return eof || errored || rejected || closed_without_status; }

  std::string raw;  ///< every byte the server sent
  std::string payload;
  bool established = false;
  std::optional<Status> rejected;
  bool closed_without_status = false;
  bool eof = false;
  bool errored = false;

 private:
  void flush() {
    const ByteView out = hs_->pending_output();
    if (stream_ && !out.empty()) stream_->write(out);
    hs_->consume_output(out.size());
  }
  void on_read(ByteView d) override {
    raw.append(as_chars(d));
    if (hs_->state() == ClientHandshake::State::handshaking ||
        hs_->state() == ClientHandshake::State::established) {
      (void)hs_->feed(d);
    }
    pump();
  }
  void on_eof() override {
    (void)hs_->feed_eof();
    pump();
    eof = true;
  }
  void on_error(std::string_view) override { errored = true; }
  void on_drain() override {}
  void pump() {
    for (;;) {
      ClientEvent ev = hs_->next_event();
      if (std::holds_alternative<event::NeedData>(ev)) return;
      if (std::holds_alternative<event::Established>(ev)) {
        established = true;
      } else if (auto* p = std::get_if<event::Payload>(&ev)) {
        payload.append(as_chars(p->data));
      } else if (auto* r = std::get_if<event::Rejected>(&ev)) {
        rejected = r->status;
        stream_.reset();  // a climber hangs up on a refusal
        return;
      } else if (std::holds_alternative<event::ClosedWithoutStatus>(ev)) {
        closed_without_status = true;
        stream_.reset();
        return;
      } else {
        return;  // EndOfInput / Error repeat
      }
    }
  }

  io::StreamPtr stream_;
  std::optional<ClientHandshake> hs_;
};

inline AuthMessage auth_to(const std::string& user, const std::string& password, Address target) {
  AuthMessage m;
  m.username = user;
  m.password = password;
  m.target = std::move(target);
  return m;
}

/// alice's REVERSE request (docs/PROTOCOL.md 9.2) for `bind`.
inline AuthMessage reverse_to(Address bind) {
  AuthMessage m = auth_to("alice", "secret", std::move(bind));
  m.method = Method::reverse;
  return m;
}

inline Address local(std::uint16_t port) { return Address::from_ipv4({127, 0, 0, 1}, port); }

/// Loop + store (inside a StoreUserCheck) + echo target + engine, and a way to open tunnels
/// into the engine.
struct Fixture {
  explicit Fixture(ServerOptions o = defaults())
      : options(std::move(o)),
        check(make_check(loop, options, store_ptr, log())),
        target_owner(std::make_unique<EchoTarget>(loop)),
        store(*store_ptr),
        target(*target_owner) {
    store.add("alice", "secret");
    auto e = ServerEngine::create(loop.get(), options, check, log());
    REQUIRE(e);
    engine = std::move(*e);
  }
  ~Fixture() {
    clients.clear();
    engine.reset();
    check.reset();  // and the store with it
    target_owner.reset();
    CHECK(loop.close() == 0);  // every handle of the engine and its tunnels was closed
    for (const auto& l : logs) {
      CHECK(l.find("secret") == std::string::npos);  // never a password in a log line
      CHECK(l.find("$scrypt$") == std::string::npos);  // nor a hash
    }
  }

  Logger log() {
    return Logger(LogLevel::debug, [this](LogLevel, std::string_view m) { logs.emplace_back(m); });
  }
  static std::shared_ptr<StoreUserCheck> make_check(test::TestLoop& loop,
                                                    const ServerOptions& options, FakeStore*& store,
                                                    Logger log) {
    auto owned = std::make_unique<FakeStore>(loop.get());
    store = owned.get();
    return std::make_shared<StoreUserCheck>(loop.get(), std::move(owned), options, std::move(log));
  }

  static ServerOptions defaults() {
    ServerOptions o;
    o.allow_targets = {"127.0.0.1/32"};
    o.handshake_timeout_ms = 5'000;
    o.connect_timeout_ms = 5'000;
    return o;
  }

  /// Opens a tunnel stream into the engine and starts the client on it.
  Client& open(const AuthMessage& m, const std::string& early = "") {
    auto p = test::make_pair(loop);
    engine->serve(std::move(p.server));
    clients.push_back(std::make_unique<Client>(std::move(p.client), m, early));
    return *clients.back();
  }
  Client& open_alice(const std::string& early = "") {
    return open(auth_to("alice", "secret", local(target.port())), early);
  }
  bool run_until(const std::function<bool()>& pred, std::uint64_t safety_ms = 20'000) {
    return loop.run_until(pred, safety_ms);
  }
  std::uint64_t failed(TunnelFailure f) const { return engine->stats().failed(f); }
  bool logged(const std::string& needle) const {
    for (const auto& l : logs) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  // Declared in construction order: logs before anything that logs into it.
  std::vector<std::string> logs;
  test::TestLoop loop;
  ServerOptions options;
  FakeStore* store_ptr = nullptr;
  std::shared_ptr<StoreUserCheck> check;
  std::unique_ptr<EchoTarget> target_owner;
  FakeStore& store;
  EchoTarget& target;
  std::unique_ptr<ServerEngine> engine;
  std::vector<std::unique_ptr<Client>> clients;
};

}  // namespace mtop::srvtest
