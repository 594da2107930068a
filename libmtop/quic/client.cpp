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

std::unique_ptr<QuicClient> QuicClient::create(uv_loop_t* loop, QuicClientOptions options,
                                               std::string& error) {
  if (options.host.empty() || options.port == 0) {
    error = "quic client: host and port are required";
    return nullptr;
  }
  if (options.tls.server_name.empty()) options.tls.server_name = options.host;
  std::unique_ptr<QuicClient> c(new QuicClient(loop));
  c->tls_ = ClientTlsContext::create(options.tls, error);
  if (!c->tls_) {
    error = "quic client: " + error;
    return nullptr;
  }
  c->reset_secret_.resize(32);
  if (gnutls_rnd(GNUTLS_RND_RANDOM, c->reset_secret_.data(), c->reset_secret_.size()) != 0) {
    error = "quic client: random source failed";
    return nullptr;
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
  return c;
}

QuicClient::~QuicClient() {
  *alive_ = false;
  if (resolving_) {
    resolving_->data = nullptr;  // the callback only frees the request now
    uv_cancel(reinterpret_cast<uv_req_t*>(resolving_));
  }
  if (conn_) conn_->close_now(kNoError, "client shutting down");
  conn_.reset();
  socket_.reset();
}

void QuicClient::open(OpenCallback cb) {
  pending_.push_back(std::move(cb));
  wake();
}

bool QuicClient::connected() const noexcept {
  return conn_ && conn_->usable() && conn_->handshake_done();
}

void QuicClient::wake() {
  if (woken_) return;
  woken_ = true;
  // An active idle handle makes the loop poll without blocking, so the check runs this turn.
  uv_idle_start(idle_.get(), [](uv_idle_t*) {});
}

void QuicClient::schedule(Connection&) { wake(); }

void QuicClient::send_packets(const sockaddr*, const std::uint8_t* data, std::size_t len,
                              std::size_t segment) {
  if (socket_) socket_->send(nullptr, data, len, segment);
}

bool QuicClient::send_blocked() const { return socket_ && socket_->blocked(); }

void QuicClient::handshake_completed(Connection& c) {
  phase_ = Phase::connected;
  ++handshakes_;
  last_resumed_ = c.resumed();
  backoff_ms_ = options_.backoff_initial_ms;
  attempt_ = 0;
  wake();
}

void QuicClient::on_check() {
  if (!woken_) return;
  woken_ = false;
  uv_idle_stop(idle_.get());
  auto alive = alive_;
  if (conn_) conn_->flush();
  if (!*alive) return;
  fail_if_refused();
  reap();
  serve_opens();
  if (!*alive) return;
  // Streams opened just now may carry data already: send it in this turn.
  if (conn_ && woken_) conn_->flush();
}

void QuicClient::fail_if_refused() {
  const int err = unreachable_;
  unreachable_ = 0;
  // Only during the handshake: nothing listening on the UDP port (ICMP port unreachable) ends
  // the attempt at once instead of after the handshake time-out, so `auto` falls back to TLS
  // and a quic-only climber reports the cause. An established connection ignores ICMP (it
  // can be forged, and QUIC's own recovery and idle time-out decide about live paths).
  if (err == 0 || !conn_ || !conn_->usable() || conn_->handshake_done()) return;
  conn_->close_now(kNoError, std::string("server unreachable over UDP (") + uv_strerror(err) +
                                 "): is QUIC enabled on the server?");
}

void QuicClient::reap() {
  if (!conn_ || conn_->usable()) return;
  // A client need not linger in closing/draining: its socket goes away with the connection,
  // so late packets from the server find no one.
  std::string reason = conn_->error();
  bool established = conn_->handshake_done();
  conn_.reset();
  socket_.reset();
  if (established) {
    last_error_ = "connection lost: " + reason;
    phase_ = Phase::idle;  // the next open() reconnects at once
  } else {
    connect_failed(reason);
  }
}

void QuicClient::serve_opens() {
  auto alive = alive_;
  while (!pending_.empty()) {
    if (conn_ && conn_->can_open_stream()) {
      io::StreamPtr s = conn_->open_stream();
      if (!s) break;
      OpenCallback cb = std::move(pending_.front());
      pending_.pop_front();
      cb(std::move(s), std::string());
      if (!*alive) return;
      continue;
    }
    if (phase_ == Phase::idle) {
      start_resolve();
    } else if (phase_ == Phase::backoff) {
      std::uint64_t now = uv_now(loop_);
      if (now >= next_attempt_ms_) {
        start_resolve();
      } else if (!uv_is_active(backoff_timer_.handle())) {
        uv_timer_start(
            backoff_timer_.get(),
            [](uv_timer_t* t) {
              if (auto* self = static_cast<QuicClient*>(t->data)) self->wake();
            },
            next_attempt_ms_ - now, 0);
      }
    }
    break;
  }
}

void QuicClient::start_resolve() {
  phase_ = Phase::resolving;
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
  const sockaddr_storage& remote = addresses_[attempt_ % addresses_.size()];
  auto* peer = reinterpret_cast<const sockaddr*>(&remote);
  sockaddr_storage any{};
  any.ss_family = remote.ss_family;
  std::string error;
  socket_ = UdpSocket::open(
      loop_, reinterpret_cast<const sockaddr*>(&any), peer,
      [this](const sockaddr* from, ByteView data) {
        if (conn_) {
          conn_->receive(reinterpret_cast<const sockaddr*>(&socket_->local_address()), from,
                         data);
        }
      },
      [this] { wake(); }, error);
  if (!socket_) {
    connect_failed(error);
    return;
  }
  unreachable_ = 0;
  socket_->set_unreachable_handler([this](int uv_error) {
    unreachable_ = uv_error;  // acted on in on_check(): this may run inside a flush
    wake();
  });
  ConnectionOwner& owner = *this;
  conn_ = std::make_unique<Connection>(owner, loop_, options_.limits);
  auto alive = alive_;
  bool ok = conn_->start_client(
      *tls_, ticket_,
      [this, alive](ByteView data) {
        if (*alive) store_ticket(data);
      },
      reinterpret_cast<const sockaddr*>(&socket_->local_address()), peer, error);
  if (!ok) {
    conn_.reset();
    socket_.reset();
    connect_failed(error);
    return;
  }
  phase_ = Phase::connecting;
  wake();
}

void QuicClient::connect_failed(const std::string& reason) {
  ++attempt_;
  last_error_ = "cannot connect to " + options_.host + ":" + std::to_string(options_.port) +
                ": " + reason;
  phase_ = Phase::backoff;
  next_attempt_ms_ = uv_now(loop_) + backoff_ms_;
  backoff_ms_ = std::min(backoff_ms_ * 2, options_.backoff_max_ms);
  // Everyone waiting hears why; later opens wait for the back-off, then try again.
  std::deque<OpenCallback> failed;
  failed.swap(pending_);
  auto alive = alive_;
  for (auto& cb : failed) {
    cb(nullptr, "quic: " + last_error_);
    if (!*alive) return;
  }
}

void QuicClient::store_ticket(ByteView data) {
  if (data.size() > kMaxSessionFile) return;
  ticket_.assign(data.begin(), data.end());
  if (!options_.session_file.empty()) write_session_file(options_.session_file, ticket_);
}

}  // namespace mtop::quic
