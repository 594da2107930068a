#include "quic/server.hpp"

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <netinet/in.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "mtop/codec.hpp"
#include "quic/app_error.hpp"
#include "quic/reuseport_steering.hpp"

namespace mtop::quic {
namespace {

// Retry tokens are accepted for this long after they were issued.
constexpr std::uint64_t kRetryTokenLifetime = 10 * NGTCP2_SECONDS;
// A stateless reset must be shorter than what triggered it (so two endpoints cannot loop)
// and at least 21 bytes long (RFC 9000 §10.3): 1 + 4 random bytes + the 16-byte token.
constexpr std::size_t kMinResetTrigger = 22;
constexpr std::size_t kResetSize = 42;

std::string cid_key(const std::uint8_t* p, std::size_t n) {
  return std::string(reinterpret_cast<const char*>(p), n);
}

bool parse_ip(const std::string& host, std::uint16_t port, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof out);
  auto* in4 = reinterpret_cast<sockaddr_in*>(&out);
  if (inet_pton(AF_INET, host.c_str(), &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons(port);
    return true;
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    return true;
  }
  return false;
}

// Expands the configured secret (or fresh randomness) into `n` key bytes for one purpose.
Bytes derive(const Bytes& master, std::string_view label, std::size_t n) {
  Bytes in(label.begin(), label.end());
  in.insert(in.end(), master.begin(), master.end());
  Bytes out(64);
  gnutls_hash_fast(GNUTLS_DIG_SHA512, in.data(), in.size(), out.data());
  out.resize(n);
  return out;
}

}  // namespace

Result<std::unique_ptr<QuicServer>> QuicServer::create(uv_loop_t* loop, QuicServerOptions options,
                                                       AcceptCallback on_stream) {
  sockaddr_storage bind_addr{};
  if (!parse_ip(options.host, options.port, bind_addr)) {
    return Failure{Errc::config_invalid, "quic server: not an IP address: " + options.host};
  }
  if (!options.secret.empty() && options.secret.size() < 32) {
    return Failure{Errc::config_invalid, "quic server: secret must be at least 32 bytes"};
  }
  std::unique_ptr<QuicServer> s(new QuicServer(loop));
  Bytes master(options.secret.begin(), options.secret.end());
  if (master.empty()) {
    master.resize(32);
    if (gnutls_rnd(GNUTLS_RND_KEY, master.data(), master.size()) != 0) {
      return Failure{Errc::system_error, "quic server: random source failed"};
    }
  }
  s->secret_ = derive(master, "mtop quic token secret", 32);
  s->ticket_key_ = derive(master, "mtop quic ticket key", 64);
  secure_wipe(master);
  s->options_.alpn = options.alpn;  // make_tls offers it
  auto tls = s->make_tls(options.tls);
  if (!tls) return tls.failure();
  s->tls_ = std::move(*tls);
  QuicServer* raw = s.get();
  auto socket = UdpSocket::open(
      loop, reinterpret_cast<const sockaddr*>(&bind_addr), nullptr,
      [raw](const sockaddr* from, ByteView data) { raw->on_datagram(from, data); },
      [raw] {
        for (auto& [c, owned] : raw->conns_) raw->schedule(*c);
      },
      options.workers > 1);
  if (!socket) return Failure{socket.error(), "quic server: " + std::string(socket.message())};
  if (options.workers > 1) {
    if (auto r = attach_reuseport_steering((*socket)->fd(), options.workers); !r) {
      return Failure{r.error(), "quic server: " + std::string(r.message())};
    }
  }
  s->socket_ = std::move(*socket);
  s->on_stream_ = std::move(on_stream);
  s->options_ = std::move(options);
  s->check_ = io::UvHandle<uv_check_t>::make();
  uv_check_init(loop, s->check_.get());
  s->check_->data = raw;
  uv_check_start(s->check_.get(), [](uv_check_t* h) {
    if (auto* self = static_cast<QuicServer*>(h->data)) self->on_check();
  });
  uv_unref(s->check_.handle());
  s->idle_ = io::UvHandle<uv_idle_t>::make();
  uv_idle_init(loop, s->idle_.get());
  return s;
}

QuicServer::~QuicServer() {
  *alive_ = false;
  for (auto& [c, gate] : gates_) gate->detach();
  gates_.clear();
  for (auto& [c, owned] : conns_) c->close_now(kNoError, "server shutting down");
  dirty_.clear();
  conns_.clear();
  socket_.reset();
  secure_wipe(ticket_key_);
  secure_wipe(secret_);
}

void QuicServer::stop() {
  stopped_ = true;
  for (auto& [c, gate] : gates_) gate->shutdown();
}

void QuicServer::when_http3_done(std::uint64_t timeout_ms, std::function<void()> done) {
  http3_done_ = std::move(done);
  http3_deadline_ = uv_now(loop_) + timeout_ms;
  http3_timer_.start(0, [this] { check_http3_done(); });
}

void QuicServer::check_http3_done() {
  /// How often HTTP/3 connections are looked at while a drain waits for them.
  constexpr std::uint64_t kPollMs = 20;
  auto serving = [](const auto& kv) { return kv.second->serving(); };
  const bool busy = std::any_of(gates_.begin(), gates_.end(), serving);
  if (busy && uv_now(loop_) < http3_deadline_) {
    http3_timer_.start(kPollMs, [this] { check_http3_done(); });
    return;
  }
  for (auto& [c, gate] : gates_) {
    if (gate->serving() && c->usable()) c->close(NGHTTP3_H3_NO_ERROR, "");
  }
  if (auto done = std::exchange(http3_done_, nullptr)) done();
}

Result<std::shared_ptr<const ServerTlsContext>> QuicServer::make_tls(
    const tls::TlsServerConfig& config) const {
  tls::TlsServerConfig quic_config = config;
  quic_config.alpn = options_.alpn;
  auto tls = ServerTlsContext::create(quic_config, ticket_key_);
  if (!tls) return Failure{tls.error(), "quic server: " + std::string(tls.message())};
  return std::shared_ptr<const ServerTlsContext>(std::move(*tls));
}

void QuicServer::use_tls(std::shared_ptr<const ServerTlsContext> tls) {
  if (tls) tls_ = std::move(tls);
}

void QuicServer::close_idle(std::uint64_t app_error, const std::string& reason) {
  for (auto& [c, owned] : conns_) {
    if (c->usable() && c->stream_count() == 0) c->close(app_error, reason);
  }
}

void QuicServer::close_all(std::uint64_t app_error, const std::string& reason) {
  for (auto& [c, owned] : conns_) {
    if (c->usable()) {
      c->close(app_error, reason);
    }
  }
}

std::uint16_t QuicServer::port() const noexcept {
  const sockaddr_storage& ss = socket_->local_address();
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  }
  return 0;
}

void QuicServer::send_packets(const sockaddr* to, const std::uint8_t* data, std::size_t len,
                              std::size_t segment) {
  socket_->send(to, data, len, segment);
}

bool QuicServer::send_blocked() const {
  return socket_->blocked();
}

void QuicServer::wake() {
  if (woken_) return;
  woken_ = true;
  uv_idle_start(idle_.get(), [](uv_idle_t*) {});
}

void QuicServer::schedule(Connection& c) {
  if (dirty_set_.insert(&c).second) dirty_.push_back(&c);
  wake();
}

void QuicServer::cid_added(Connection& c, const ngtcp2_cid& cid) {
  routes_[cid_key(cid.data, cid.datalen)] = &c;
}

void QuicServer::mark_cid(ngtcp2_cid& cid) const {
  if (options_.workers > 1 && cid.datalen > kWorkerCidByte) {
    cid.data[kWorkerCidByte] = static_cast<std::uint8_t>(options_.worker);
  }
}

void QuicServer::cid_removed(const ngtcp2_cid& cid) {
  routes_.erase(cid_key(cid.data, cid.datalen));
}

void QuicServer::handshake_completed(Connection& c) {
  handshaking_.erase(&c);
}

void QuicServer::stream_accepted(Connection& c, io::StreamPtr stream) {
  ++stats_.streams;
  if (stopped_ && c.alpn() == kAlpnH3) {
    // A stopping server's HTTP/3 connection still takes the requests its GOAWAY allows.
    if (auto g = gates_.find(&c); g != gates_.end() && g->second->http3()) {
      g->second->on_stream(std::move(stream));
      return;
    }
  }
  if (stopped_ || !on_stream_) {
    stream.release()->abort(kRefused);
    return;
  }
  if (c.alpn() == kAlpnH3 && options_.on_h3_tunnel) {
    gate_of(c).on_stream(std::move(stream));
    return;
  }
  if (!ngtcp2_is_bidi_stream(static_cast<const QuicStream*>(stream.get())->id())) {
    c.close(kRefused, "unidirectional stream on an MTop connection");
    return;
  }
  on_stream_(std::move(stream));
}

H3Gate& QuicServer::gate_of(Connection& c) {
  std::shared_ptr<H3Gate>& gate = gates_[&c];
  if (!gate) {
    gate = std::make_shared<H3Gate>(
        loop_, c, options_.h3_site ? options_.h3_site() : std::optional<h3::SiteOptions>(),
        options_.on_h3_tunnel);
  }
  return *gate;
}

void QuicServer::on_check() {
  if (!woken_) return;
  woken_ = false;
  uv_idle_stop(idle_.get());
  auto alive = alive_;
  std::vector<Connection*> work;
  work.swap(dirty_);
  dirty_set_.clear();
  std::vector<Connection*> dead;
  for (Connection* c : work) {
    if (!conns_.count(c)) continue;
    c->flush();
    if (!*alive) return;
    if (c->dead()) dead.push_back(c);
  }
  for (Connection* c : dead) reap(c);
}

void QuicServer::reap(Connection* c) {
  auto it = conns_.find(c);
  if (it == conns_.end()) return;
  for (const ngtcp2_cid& cid : c->cids()) {
    auto r = routes_.find(cid_key(cid.data, cid.datalen));
    if (r != routes_.end() && r->second == c) routes_.erase(r);
  }
  handshaking_.erase(c);
  if (dirty_set_.erase(c)) std::erase(dirty_, c);
  if (auto g = gates_.find(c); g != gates_.end()) {
    g->second->detach();
    gates_.erase(g);
  }
  conns_.erase(it);
}

bool QuicServer::take_unsolicited_budget() {
  std::uint64_t second = uv_now(loop_) / 1000;
  if (second != budget_second_) {
    budget_second_ = second;
    budget_used_ = 0;
  }
  if (budget_used_ >= options_.unsolicited_per_second) return false;
  ++budget_used_;
  return true;
}

void QuicServer::on_datagram(const sockaddr* from, ByteView data) {
  ngtcp2_version_cid vc{};
  int rv = ngtcp2_pkt_decode_version_cid(&vc, data.data(), data.size(), kCidLength);
  if (rv == NGTCP2_ERR_VERSION_NEGOTIATION) {
    // Only a datagram of full Initial size may trigger an answer (anti-amplification).
    if (data.size() >= NGTCP2_MAX_UDP_PAYLOAD_SIZE) {
      send_version_negotiation(from, vc.dcid, vc.dcidlen, vc.scid, vc.scidlen);
    } else {
      ++stats_.dropped;
    }
    return;
  }
  if (rv != 0) {
    ++stats_.dropped;
    return;
  }
  auto it = routes_.find(cid_key(vc.dcid, vc.dcidlen));
  if (it != routes_.end()) {
    it->second->receive(local(), from, data);
    return;
  }
  if (!(data[0] & 0x80)) {  // short header for a connection we do not know
    send_stateless_reset(from, vc.dcid, vc.dcidlen, data.size());
    return;
  }
  accept_connection(from, data);
}

void QuicServer::accept_connection(const sockaddr* from, ByteView data) {
  ngtcp2_pkt_hd hd{};
  if (ngtcp2_accept(&hd, data.data(), data.size()) != 0) {
    ++stats_.dropped;  // not a usable Initial (0-RTT before Initial, too short, ...)
    return;
  }
  if (options_.admit && !options_.admit(from)) {
    ++stats_.dropped;
    return;
  }
  if (stopped_ || conns_.size() >= options_.max_connections) {
    ++stats_.refused;
    send_initial_close(from, hd, NGTCP2_CONNECTION_REFUSED);
    return;
  }
  ngtcp2_cid odcid{};
  const ngtcp2_cid* retry_odcid = nullptr;
  if (hd.token.len > 0 && hd.token.base[0] == NGTCP2_CRYPTO_TOKEN_MAGIC_RETRY) {
    if (ngtcp2_crypto_verify_retry_token(&odcid, hd.token.base, hd.token.len, secret_.data(),
                                         secret_.size(), hd.version, from, address_length(from),
                                         &hd.dcid, kRetryTokenLifetime, uv_hrtime()) != 0) {
      ++stats_.dropped;
      send_initial_close(from, hd, NGTCP2_INVALID_TOKEN);
      return;
    }
    retry_odcid = &odcid;
  } else if (handshaking_.size() >= options_.retry_threshold) {
    send_retry(from, hd);
    return;
  }
  ConnectionOwner& owner = *this;
  auto conn = std::make_unique<Connection>(owner, loop_, options_.limits);
  if (!conn->start_server(tls_, hd, retry_odcid, local(), from)) {
    ++stats_.dropped;
    for (const ngtcp2_cid& cid : conn->cids()) cid_removed(cid);
    return;
  }
  Connection* c = conn.get();
  conns_.emplace(c, std::move(conn));
  handshaking_.insert(c);
  ++stats_.accepted_connections;
  c->receive(local(), from, data);
  schedule(*c);
}

void QuicServer::send_version_negotiation(const sockaddr* from, const std::uint8_t* dcid,
                                          std::size_t dcidlen, const std::uint8_t* scid,
                                          std::size_t scidlen) {
  if (!take_unsolicited_budget()) return;
  std::array<std::uint8_t, NGTCP2_MAX_UDP_PAYLOAD_SIZE> buf;
  std::uint8_t unused = 0;
  (void)gnutls_rnd(GNUTLS_RND_NONCE, &unused, 1);
  const std::uint32_t versions[] = {NGTCP2_PROTO_VER_V1};
  // The client's SCID becomes our DCID and the other way round.
  ngtcp2_ssize n = ngtcp2_pkt_write_version_negotiation(buf.data(), buf.size(), unused, scid,
                                                        scidlen, dcid, dcidlen, versions, 1);
  if (n <= 0) return;
  ++stats_.version_negotiations;
  socket_->send(from, buf.data(), static_cast<std::size_t>(n), static_cast<std::size_t>(n));
}

void QuicServer::send_stateless_reset(const sockaddr* from, const std::uint8_t* dcid,
                                      std::size_t dcidlen, std::size_t received) {
  if (dcidlen != kCidLength || received < kMinResetTrigger) {
    ++stats_.dropped;
    return;
  }
  if (!take_unsolicited_budget()) return;
  ngtcp2_cid cid;
  ngtcp2_cid_init(&cid, dcid, dcidlen);
  std::uint8_t token[NGTCP2_STATELESS_RESET_TOKENLEN];
  if (ngtcp2_crypto_generate_stateless_reset_token(token, secret_.data(), secret_.size(), &cid) !=
      0) {
    return;
  }
  std::size_t size = std::min(kResetSize, received - 1);
  std::uint8_t rand[kResetSize];
  std::size_t randlen = size - NGTCP2_STATELESS_RESET_TOKENLEN;
  (void)gnutls_rnd(GNUTLS_RND_NONCE, rand, randlen);
  std::array<std::uint8_t, kResetSize> buf;
  ngtcp2_ssize n = ngtcp2_pkt_write_stateless_reset(buf.data(), buf.size(), token, rand, randlen);
  if (n <= 0) return;
  ++stats_.stateless_resets;
  socket_->send(from, buf.data(), static_cast<std::size_t>(n), static_cast<std::size_t>(n));
}

void QuicServer::send_retry(const sockaddr* from, const ngtcp2_pkt_hd& hd) {
  ngtcp2_cid scid{};
  scid.datalen = kCidLength;
  if (gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen) != 0) return;
  mark_cid(scid);  // the client's next Initial comes back to this worker
  std::array<std::uint8_t, NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN> token;
  ngtcp2_ssize tokenlen =
      ngtcp2_crypto_generate_retry_token(token.data(), secret_.data(), secret_.size(), hd.version,
                                         from, address_length(from), &scid, &hd.dcid, uv_hrtime());
  if (tokenlen < 0) return;
  std::array<std::uint8_t, NGTCP2_MAX_UDP_PAYLOAD_SIZE> buf;
  ngtcp2_ssize n =
      ngtcp2_crypto_write_retry(buf.data(), buf.size(), hd.version, &hd.scid, &scid, &hd.dcid,
                                token.data(), static_cast<std::size_t>(tokenlen));
  if (n <= 0) return;
  ++stats_.retries;
  socket_->send(from, buf.data(), static_cast<std::size_t>(n), static_cast<std::size_t>(n));
}

void QuicServer::send_initial_close(const sockaddr* from, const ngtcp2_pkt_hd& hd,
                                    std::uint64_t code) {
  std::array<std::uint8_t, NGTCP2_MAX_UDP_PAYLOAD_SIZE> buf;
  ngtcp2_ssize n = ngtcp2_crypto_write_connection_close(buf.data(), buf.size(), hd.version,
                                                        &hd.scid, &hd.dcid, code, nullptr, 0);
  if (n <= 0) return;
  socket_->send(from, buf.data(), static_cast<std::size_t>(n), static_cast<std::size_t>(n));
}

}  // namespace mtop::quic
