#include "quic/client.hpp"

#include <fcntl.h>
#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "quic/app_error.hpp"

namespace mtop::quic {
namespace {

constexpr std::size_t kMaxSessionFile = 64 * 1024;
// Each connection costs a UDP socket, so the process's descriptor limit binds long before
// this; it only keeps a typo from meaning "unbounded".
constexpr std::size_t kMaxPoolConnections = 1'000'000;

Bytes read_session_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  Bytes data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() > kMaxSessionFile) return {};
  return data;
}

// Written to a temporary file and renamed, so a crash never leaves half a ticket behind.
void write_session_file(const std::string& path, ByteView data) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ok = (::close(fd) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) ::unlink(tmp.c_str());
}

}  // namespace

Result<std::unique_ptr<QuicClient>> QuicClient::create(uv_loop_t* loop, QuicClientOptions options) {
  if (options.host.empty() || options.port == 0) {
    return Failure{Errc::config_invalid, "quic client: host and port are required"};
  }
  if (options.max_connections < 1 || options.max_connections > kMaxPoolConnections) {
    return Failure{Errc::config_invalid, "quic client: max_connections must be 1.." +
                                             std::to_string(kMaxPoolConnections)};
  }
  if (options.tls.server_name.empty()) options.tls.server_name = options.host;
  std::unique_ptr<QuicClient> c(new QuicClient(loop));
  auto tls = ClientTlsContext::create(options.tls, options.alpn);
  if (!tls) return Failure{tls.error(), "quic client: " + std::string(tls.message())};
  c->tls_ = std::move(*tls);
  c->reset_secret_.resize(32);
  if (gnutls_rnd(GNUTLS_RND_RANDOM, c->reset_secret_.data(), c->reset_secret_.size()) != 0) {
    return Failure{Errc::system_error, "quic client: random source failed"};
  }
  if (!options.session_file.empty()) c->ticket_ = read_session_file(options.session_file);
  c->backoff_ms_ = options.backoff_initial_ms;
  c->options_ = std::move(options);

  c->check_ = io::UvHandle<uv_check_t>::make();
  uv_check_init(loop, c->check_.get());
  c->check_->data = c.get();
  uv_check_start(c->check_.get(), [](uv_check_t* h) {
    if (auto* self = static_cast<QuicClient*>(h->data)) self->on_check();
  });
  uv_unref(c->check_.handle());  // runs every turn, but must not keep the loop alive
  c->idle_ = io::UvHandle<uv_idle_t>::make();
  uv_idle_init(loop, c->idle_.get());
  c->backoff_timer_ = io::UvHandle<uv_timer_t>::make();
  uv_timer_init(loop, c->backoff_timer_.get());
  c->backoff_timer_->data = c.get();
  c->idle_timer_ = io::UvHandle<uv_timer_t>::make();
  uv_timer_init(loop, c->idle_timer_.get());
  c->idle_timer_->data = c.get();
  uv_unref(c->idle_timer_.handle());  // bookkeeping only: never keeps the loop alive
  return c;
}

QuicClient::~QuicClient() {
  *alive_ = false;
  if (resolving_) {
    resolving_->data = nullptr;  // the callback only frees the request now
    uv_cancel(reinterpret_cast<uv_req_t*>(resolving_));
  }
  for (auto& m : pool_) m->conn().close_now(kNoError, "client shutting down");
  pool_.clear();
}

void QuicClient::open(OpenCallback cb) {
  pending_.push_back(std::move(cb));
  wake();
}

bool QuicClient::connected() const noexcept {
  return established_member() != nullptr;
}

std::size_t QuicClient::connection_count() const noexcept {
  std::size_t n = 0;
  for (const auto& m : pool_) {
    if (m->conn().usable() && m->conn().handshake_done()) ++n;
  }
  return n;
}

void QuicClient::wake() {
  if (woken_) return;
  woken_ = true;
  // An active idle handle makes the loop poll without blocking, so the check runs this turn.
  uv_idle_start(idle_.get(), [](uv_idle_t*) {});
}

void QuicClient::ready(PooledConnection& m) {
  ++handshakes_;
  last_resumed_ = m.conn().resumed();
  backoff_ms_ = options_.backoff_initial_ms;
  next_attempt_ms_ = 0;
  attempt_ = 0;
  wake();
}

void QuicClient::peer_stream(io::StreamPtr stream) {
  if (!on_peer_stream_) {
    stream.release()->abort(kRefused);
    return;
  }
  on_peer_stream_(std::move(stream));
}

void QuicClient::on_check() {
  if (!woken_) return;
  woken_ = false;
  uv_idle_stop(idle_.get());
  auto alive = alive_;
  flush_all();
  if (!*alive) return;
  fail_if_refused();
  reap();
  if (!*alive) return;
  serve_opens();
  if (!*alive) return;
  close_idle();
  // Streams opened just now may carry data already: send it in this turn.
  if (woken_) flush_all();
}

void QuicClient::flush_all() {
  auto alive = alive_;
  // By index: an application callback inside flush() may open streams (never members), or
  // destroy the client, which `alive` catches.
  for (std::size_t i = 0; i < pool_.size(); ++i) {
    if (!pool_[i]->take_flush()) continue;  // nothing happened on it
    pool_[i]->conn().flush();
    if (!*alive) return;
  }
}

void QuicClient::fail_if_refused() {
  for (auto& m : pool_) {
    const int err = m->take_unreachable();
    Connection& c = m->conn();
    // Only during the handshake: nothing listening on the UDP port (ICMP port unreachable)
    // ends the attempt at once instead of after the handshake time-out, so `auto` falls back
    // to TLS and a quic-only climber reports the cause. An established connection ignores
    // ICMP (it can be forged, and QUIC's own recovery and idle time-out decide about paths).
    if (err == 0 || !c.usable() || c.handshake_done()) continue;
    c.close_now(kNoError, std::string("server unreachable over UDP (") + uv_strerror(err) +
                              "): is QUIC enabled on the server?");
  }
}

void QuicClient::reap() {
  // A client need not linger in closing/draining: a member's socket goes away with its
  // connection, so late packets from the server find no one.
  std::string failed;
  bool any_failed = false;
  for (auto it = pool_.begin(); it != pool_.end();) {
    Connection& c = (*it)->conn();
    if (c.usable()) {
      ++it;
      continue;
    }
    if ((*it)->retired) {
      // Closed by close_idle(): nothing was lost.
    } else if (c.handshake_done()) {
      // The next open() finds no credit here and reconnects at once.
      last_error_ = "connection lost: " + c.error();
    } else {
      any_failed = true;
      failed = c.error();
    }
    it = pool_.erase(it);
  }
  if (any_failed) connect_failed(failed);
}

PooledConnection* QuicClient::with_credit() const {
  for (const auto& m : pool_) {
    if (m->conn().can_open_stream()) return m.get();
  }
  return nullptr;
}

PooledConnection* QuicClient::established_member() const {
  for (const auto& m : pool_) {
    if (m->conn().usable() && m->conn().handshake_done()) return m.get();
  }
  return nullptr;
}

bool QuicClient::handshaking() const {
  for (const auto& m : pool_) {
    if (m->conn().usable() && !m->conn().handshake_done()) return true;
  }
  return false;
}

std::uint64_t QuicClient::credit_in_flight() const {
  std::uint64_t n = 0;
  for (const auto& m : pool_) n += m->conn().credit_in_flight();
  return n;
}

void QuicClient::fail_beyond(std::size_t keep, const std::string& error) {
  // The newest opens fail: the older ones keep their place for the credit that comes.
  std::deque<OpenCallback> failed;
  while (pending_.size() > keep) {
    failed.push_front(std::move(pending_.back()));
    pending_.pop_back();
  }
  auto alive = alive_;
  for (auto& cb : failed) {
    cb(nullptr, error);
    if (!*alive) return;
  }
}

std::string QuicClient::pool_full_error() const {
  std::uint64_t streams = 0;
  for (const auto& m : pool_) streams = std::max(streams, m->conn().peer_stream_limit());
  const std::size_t n = pool_.size();
  return io::at_limit_error("QUIC pool full: " + std::to_string(n) +
                            (n == 1 ? " connection x " : " connections x ") +
                            std::to_string(streams) + (streams == 1 ? " stream (" : " streams (") +
                            options_.max_connections_name + ")");
}

void QuicClient::serve_opens() {
  auto alive = alive_;
  while (!pending_.empty()) {
    // The oldest connection with credit first: new tunnels pack onto few connections, so
    // the extra ones empty out and close when the burst is over.
    PooledConnection* m = with_credit();
    if (!m) break;
    io::StreamPtr s = m->conn().open_stream();
    if (!s) break;
    m->idle_since_ms = PooledConnection::kBusy;
    OpenCallback cb = std::move(pending_.front());
    pending_.pop_front();
    cb(std::move(s), std::string());
    if (!*alive) return;
  }
  if (pending_.empty()) return;
  // No credit in hand. Streams of ours that ended get theirs back within a round trip: that
  // many opens wait for it rather than cost a handshake (or fail while the pool is full).
  const std::uint64_t coming = credit_in_flight();
  if (pending_.size() <= coming) return;
  // One more connection, unless one is on its way already.
  if (resolving_ || handshaking()) return;
  if (pool_.size() >= options_.max_connections) {
    // A real limit: waiting would only turn into a time-out, so say which limit at once.
    fail_beyond(static_cast<std::size_t>(coming), pool_full_error());
    return;
  }
  const std::uint64_t now = uv_now(loop_);
  if (now < next_attempt_ms_) {
    if (!uv_is_active(backoff_timer_.handle())) {
      uv_timer_start(
          backoff_timer_.get(),
          [](uv_timer_t* t) {
            if (auto* self = static_cast<QuicClient*>(t->data)) self->wake();
          },
          next_attempt_ms_ - now, 0);
    }
    return;
  }
  start_connection();
}

void QuicClient::close_idle() {
  const std::uint64_t now = uv_now(loop_);
  std::uint64_t next_due = UINT64_MAX;
  bool kept_one = false;
  for (auto& m : pool_) {
    Connection& c = m->conn();
    if (!c.usable() || !c.handshake_done()) continue;
    if (!kept_one) {
      kept_one = true;  // the oldest established connection stays, kept alive by PINGs
      m->idle_since_ms = PooledConnection::kBusy;
      continue;
    }
    if (c.stream_count() > 0 || !pending_.empty()) {
      m->idle_since_ms = PooledConnection::kBusy;
      continue;
    }
    if (m->idle_since_ms == PooledConnection::kBusy) m->idle_since_ms = now;
    const std::uint64_t due = m->idle_since_ms + options_.idle_connection_ms;
    if (now >= due) {
      m->retired = true;
      c.close(kNoError, "idle extra connection");  // reaped on the next check
      continue;
    }
    next_due = std::min(next_due, due);
  }
  if (next_due == UINT64_MAX) {
    uv_timer_stop(idle_timer_.get());
    return;
  }
  uv_timer_start(
      idle_timer_.get(),
      [](uv_timer_t* t) {
        if (auto* self = static_cast<QuicClient*>(t->data)) self->wake();
      },
      next_due - now, 0);
}

void QuicClient::start_connection() {
  // An extra connection goes to the address the live one uses: no new DNS round trip, and
  // the same server instance.
  if (PooledConnection* live = established_member()) {
    sockaddr_storage peer{};
    std::memcpy(&peer, live->peer(), address_length(live->peer()));
    connect_to(reinterpret_cast<const sockaddr*>(&peer));
    return;
  }
  start_resolve();
}

void QuicClient::start_resolve() {
  auto* req = new uv_getaddrinfo_t;
  req->data = this;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_protocol = IPPROTO_UDP;
  std::string port = std::to_string(options_.port);
  int rv = uv_getaddrinfo(
      loop_, req,
      [](uv_getaddrinfo_t* r, int status, addrinfo* res) {
        auto* self = static_cast<QuicClient*>(r->data);
        delete r;
        if (self) {
          self->resolving_ = nullptr;
          self->on_resolved(status, res);
        }
        uv_freeaddrinfo(res);
      },
      options_.host.c_str(), port.c_str(), &hints);
  if (rv != 0) {
    delete req;
    connect_failed(std::string("dns: ") + uv_strerror(rv));
    return;
  }
  resolving_ = req;
}

void QuicClient::on_resolved(int status, addrinfo* res) {
  if (status != 0) {
    connect_failed(std::string("dns: ") + uv_strerror(status));
    return;
  }
  addresses_.clear();
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    sockaddr_storage ss{};
    std::memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    addresses_.push_back(ss);
  }
  if (addresses_.empty()) {
    connect_failed("dns: no usable address");
    return;
  }
  // Each failed attempt moves on to the next address the resolver gave.
  const sockaddr_storage remote = addresses_[attempt_ % addresses_.size()];
  connect_to(reinterpret_cast<const sockaddr*>(&remote));
}

void QuicClient::connect_to(const sockaddr* peer) {
  auto alive = alive_;
  PooledConnection::Host& host = *this;
  auto m = PooledConnection::start(
      loop_, host, *tls_, options_.limits, ticket_,
      [this, alive](ByteView data) {
        if (*alive) store_ticket(data);
      },
      peer);
  if (!m) {
    connect_failed(std::string(m.message()));
    return;
  }
  pool_.push_back(std::move(*m));
  wake();
}

void QuicClient::connect_failed(const std::string& reason) {
  ++attempt_;
  last_error_ =
      "cannot connect to " + options_.host + ":" + std::to_string(options_.port) + ": " + reason;
  next_attempt_ms_ = uv_now(loop_) + backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, options_.backoff_max_ms);
  // Everyone waiting hears why, except the opens that credit on its way to a live connection
  // will serve; later opens wait for the back-off, then try again.
  fail_beyond(static_cast<std::size_t>(credit_in_flight()), "quic: " + last_error_);
}

void QuicClient::store_ticket(ByteView data) {
  if (data.size() > kMaxSessionFile) return;
  ticket_.assign(data.begin(), data.end());
  if (!options_.session_file.empty()) write_session_file(options_.session_file, ticket_);
}

}  // namespace mtop::quic
