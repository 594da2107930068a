#include "quic/connection.hpp"

#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "quic/app_error.hpp"
#include "quic/udp_socket.hpp"

namespace mtop::quic {
namespace {

// Packets written per flush before yielding to the loop (receiving ACKs keeps the
// congestion controller honest; the owner flushes again on the next turn).
constexpr std::size_t kMaxPacketsPerFlush = 256;
constexpr std::size_t kMaxVecs = 16;
// One GSO send carries at most this many bytes (a UDP datagram's 65,507 before the kernel
// splits it) and UdpSocket::kMaxBatch packets: 44 full-size packets.
constexpr std::size_t kMaxGsoBytes = 64'000;

// The buffer packets are written into. One per thread, not per connection: a flush writes
// and hands its batches to the socket (which sends or copies them) before it returns, and
// a server with thousands of connections should not keep 64 KiB for each.
Bytes& tx_scratch() {
  thread_local Bytes buf(kMaxGsoBytes + kMaxUdpPayload);
  return buf;
}

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string app_code_text(std::uint64_t code) {
  return hex(code) + " (" + std::string(app_error_name(code)) + ")";
}

// A peer-supplied reason goes into logs: keep it short and printable.
std::string printable(const std::uint8_t* p, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n && out.size() < 100; ++i) {
    out += (p[i] >= 0x20 && p[i] < 0x7f) ? static_cast<char>(p[i]) : '?';
  }
  return out;
}

bool same_address(const sockaddr_storage& a, const ngtcp2_addr& b) {
  socklen_t n = address_length(reinterpret_cast<const sockaddr*>(&a));
  return n == b.addrlen && std::memcmp(&a, b.addr, n) == 0;
}

}  // namespace

// ngtcp2 callbacks. They only record facts; every action that calls back into ngtcp2 (except
// the few the API allows here) waits for flush().
struct ConnCallbacks {
  static Connection* self(void* ud) { return static_cast<Connection*>(ud); }

  static void rand(std::uint8_t* dest, std::size_t len, const ngtcp2_rand_ctx*) {
    (void)gnutls_rnd(GNUTLS_RND_RANDOM, dest, len);
  }

  static int get_new_connection_id(ngtcp2_conn*, ngtcp2_cid* cid, std::uint8_t* token,
                                   std::size_t cidlen, void* ud) {
    Connection* c = self(ud);
    if (gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cidlen) != 0) return NGTCP2_ERR_CALLBACK_FAILURE;
    cid->datalen = cidlen;
    c->owner_.mark_cid(*cid);
    ByteView secret = c->owner_.reset_secret();
    if (ngtcp2_crypto_generate_stateless_reset_token(token, secret.data(), secret.size(), cid) !=
        0) {
      return NGTCP2_ERR_CALLBACK_FAILURE;
    }
    c->cids_.push_back(*cid);
    c->owner_.cid_added(*c, *cid);
    return 0;
  }

  static int remove_connection_id(ngtcp2_conn*, const ngtcp2_cid* cid, void* ud) {
    Connection* c = self(ud);
    auto it = std::find_if(c->cids_.begin(), c->cids_.end(),
                           [&](const ngtcp2_cid& x) { return ngtcp2_cid_eq(&x, cid); });
    if (it != c->cids_.end()) {
      c->cids_.erase(it);
      c->owner_.cid_removed(*cid);
    }
    return 0;
  }

  static int handshake_completed(ngtcp2_conn*, void* ud) {
    Connection* c = self(ud);
    gnutls_session_t s = c->session_.get();
    gnutls_datum_t alpn{};
    if (gnutls_alpn_get_selected_protocol(s, &alpn) != 0 || alpn.size == 0) {
      return NGTCP2_ERR_CALLBACK_FAILURE;  // GNUTLS_ALPN_MANDATORY should make this unreachable
    }
    c->alpn_.assign(reinterpret_cast<const char*>(alpn.data), alpn.size);
    if (c->server_) {
      // Resumption is an optimisation: a ticket that cannot be sent is not an error.
      (void)gnutls_session_ticket_send(s, 1, 0);
    } else {
      c->resumed_ = gnutls_session_is_resumed(s) != 0;
    }
    c->hs_done_ = true;
    c->owner_.schedule(*c);
    return 0;
  }

  static int recv_stream_data(ngtcp2_conn*, std::uint32_t flags, std::int64_t, std::uint64_t,
                              const std::uint8_t* data, std::size_t len, void* ud, void* sud) {
    Connection* c = self(ud);
    auto* s = static_cast<StreamState*>(sud);
    if (!s || s->app_closed || s->failed) {
      // Nobody will read it: give the credit back at once.
      if (s) s->consumed += len;
      c->conn_consumed_ += len;
    } else {
      c->append_rx(*s, data, len);
    }
    if (s && (flags & NGTCP2_STREAM_DATA_FLAG_FIN)) s->rx_fin = true;
    if (s) c->touch(*s);
    c->owner_.schedule(*c);
    return 0;
  }

  static int stream_open(ngtcp2_conn* conn, std::int64_t id, void* ud) {
    Connection* c = self(ud);
    // Peer-initiated streams. Bidirectional: a climber's tunnels or HTTP/3 requests on the
    // server, visitors of its reverse tunnels on the client (PROTOCOL.md 9.5). Unidirectional:
    // HTTP/3's control and QPACK streams, on the server only (PROTOCOL.md 10); they take no
    // bidirectional slot.
    if (ngtcp2_conn_is_local_stream(conn, id)) return 0;
    const bool bidi = ngtcp2_is_bidi_stream(id);
    if (!bidi && !c->server_) return 0;
    StreamState* s = c->add_stream(id);
    if (bidi) {
      s->peer_initiated = true;
      ++c->peer_streams_open_;
    }
    ngtcp2_conn_set_stream_user_data(conn, id, s);
    c->accepted_.push_back(id);
    c->owner_.schedule(*c);
    return 0;
  }

  static int acked_stream_data_offset(ngtcp2_conn*, std::int64_t, std::uint64_t offset,
                                      std::uint64_t len, void* ud, void* sud) {
    auto* s = static_cast<StreamState*>(sud);
    if (!s) return 0;
    s->tx.acked(offset + len, self(ud)->chunk_pool());
    if (s->above_low_water) self(ud)->touch(*s);  // on_drain may be due
    self(ud)->owner_.schedule(*self(ud));
    return 0;
  }

  static int stream_close(ngtcp2_conn*, std::uint32_t flags, std::int64_t, std::uint64_t code,
                          void* ud, void* sud) {
    Connection* c = self(ud);
    auto* s = static_cast<StreamState*>(sud);
    if (!s) return 0;
    if (s->peer_initiated) c->peer_stream_closed();
    c->release_credit(*s);
    s->closed_by_ngtcp2 = true;
    s->tx_closed = true;
    bool clean = s->rx_fin && s->fin_sent && s->unacked() == 0;
    if (!clean && !s->failed && !s->app_closed) {
      s->failed = true;
      s->error_pending = true;
      s->error = (flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET)
                     ? "reset by peer: " + app_code_text(code)
                     : std::string("stream closed");
    }
    c->touch(*s);
    c->owner_.schedule(*c);
    return 0;
  }

  static void peer_abort(Connection* c, StreamState* s, std::uint64_t code) {
    if (!s) return;
    // Also for a stream not yet handed to the application: it is then never handed out.
    if (!s->failed && !s->app_closed) {
      s->failed = true;
      s->error_pending = true;
      s->error = "reset by peer: " + app_code_text(code);
    }
    c->touch(*s);
    c->owner_.schedule(*c);
  }

  static int stream_reset(ngtcp2_conn*, std::int64_t, std::uint64_t, std::uint64_t code, void* ud,
                          void* sud) {
    peer_abort(self(ud), static_cast<StreamState*>(sud), code);
    return 0;
  }

  static int stream_stop_sending(ngtcp2_conn*, std::int64_t, std::uint64_t code, void* ud,
                                 void* sud) {
    auto* s = static_cast<StreamState*>(sud);
    if (s) s->tx_closed = true;  // ngtcp2 answers with RESET_STREAM itself
    peer_abort(self(ud), s, code);
    return 0;
  }

  static int extend_max_stream_data(ngtcp2_conn*, std::int64_t, std::uint64_t, void* ud,
                                    void* sud) {
    auto* s = static_cast<StreamState*>(sud);
    if (!s) return 0;
    s->blocked = false;
    self(ud)->enqueue_send(*s);
    self(ud)->owner_.schedule(*self(ud));
    return 0;
  }

  static int extend_max_local_streams_bidi(ngtcp2_conn*, std::uint64_t, void* ud) {
    self(ud)->credit_grew_ = true;
    self(ud)->owner_.schedule(*self(ud));
    return 0;
  }

  static int recv_stateless_reset(ngtcp2_conn*, const ngtcp2_pkt_stateless_reset*, void* ud) {
    self(ud)->stateless_reset_ = true;
    return 0;
  }
};

Connection::Connection(ConnectionOwner& owner, uv_loop_t* loop, const ConnectionLimits& limits)
    : owner_(owner), loop_(loop), limits_(limits), alive_(std::make_shared<bool>(true)) {
  timer_ = io::UvHandle<uv_timer_t>::make();
  uv_timer_init(loop, timer_.get());  // cannot fail on a valid loop
  timer_->data = this;
}

Connection::~Connection() {
  *alive_ = false;
  detach_streams(error_.empty() ? std::string("connection closed") : error_);
  if (!tx_spare_.empty()) chunk_pool().give(std::move(tx_spare_));
}

std::string Connection::peer_name() const {
  return address_to_string(remote());
}

void Connection::fill_settings(ngtcp2_settings& s) const {
  ngtcp2_settings_default(&s);
  s.initial_ts = uv_hrtime();
  s.max_window = limits_.max_conn_window;
  s.max_stream_window = limits_.max_stream_window;
  s.handshake_timeout = limits_.handshake_timeout_ms * NGTCP2_MILLISECONDS;
  s.max_tx_udp_payload_size = kMaxUdpPayload;
  s.cc_algo = NGTCP2_CC_ALGO_CUBIC;
}

void Connection::fill_params(ngtcp2_transport_params& p) const {
  ngtcp2_transport_params_default(&p);
  p.initial_max_stream_data_bidi_local = limits_.stream_window;
  p.initial_max_stream_data_bidi_remote = limits_.stream_window;
  p.initial_max_stream_data_uni =
      server_ || limits_.server_uni_streams > 0 ? kPeerUniStreamWindow : 0;
  p.initial_max_data = limits_.conn_window;
  p.initial_max_streams_bidi = peer_grant_;
  p.initial_max_streams_uni = server_ ? kPeerUniStreams : limits_.server_uni_streams;
  p.max_idle_timeout = limits_.idle_timeout_ms * NGTCP2_MILLISECONDS;
  p.active_connection_id_limit = 7;
}

Result<void> Connection::init_common(bool server, const ngtcp2_cid& dcid, const ngtcp2_cid& scid,
                                     const sockaddr* local, const sockaddr* remote,
                                     std::uint32_t version, const ngtcp2_transport_params& params,
                                     const ngtcp2_settings& settings) {
  ngtcp2_callbacks cb{};
  cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  cb.encrypt = ngtcp2_crypto_encrypt_cb;
  cb.decrypt = ngtcp2_crypto_decrypt_cb;
  cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
  cb.update_key = ngtcp2_crypto_update_key_cb;
  cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  cb.rand = ConnCallbacks::rand;
  cb.get_new_connection_id = ConnCallbacks::get_new_connection_id;
  cb.remove_connection_id = ConnCallbacks::remove_connection_id;
  cb.handshake_completed = ConnCallbacks::handshake_completed;
  cb.recv_stream_data = ConnCallbacks::recv_stream_data;
  cb.stream_open = ConnCallbacks::stream_open;
  cb.acked_stream_data_offset = ConnCallbacks::acked_stream_data_offset;
  cb.stream_close = ConnCallbacks::stream_close;
  cb.stream_reset = ConnCallbacks::stream_reset;
  cb.stream_stop_sending = ConnCallbacks::stream_stop_sending;
  cb.extend_max_stream_data = ConnCallbacks::extend_max_stream_data;
  cb.extend_max_local_streams_bidi = ConnCallbacks::extend_max_local_streams_bidi;
  cb.recv_stateless_reset = ConnCallbacks::recv_stateless_reset;
  if (server) {
    cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  } else {
    cb.client_initial = ngtcp2_crypto_client_initial_cb;
    cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
  }
  std::memcpy(&local_, local, address_length(local));
  std::memcpy(&remote_, remote, address_length(remote));
  ngtcp2_path path{};
  path.local.addr = reinterpret_cast<ngtcp2_sockaddr*>(&local_);
  path.local.addrlen = address_length(local);
  path.remote.addr = reinterpret_cast<ngtcp2_sockaddr*>(&remote_);
  path.remote.addrlen = address_length(remote);
  ngtcp2_conn* raw = nullptr;
  int rv = server ? ngtcp2_conn_server_new(&raw, &dcid, &scid, &path, version, &cb, &settings,
                                           &params, nullptr, this)
                  : ngtcp2_conn_client_new(&raw, &dcid, &scid, &path, version, &cb, &settings,
                                           &params, nullptr, this);
  if (rv != 0) {
    return Failure{Errc::system_error, std::string("ngtcp2_conn_new: ") + ngtcp2_strerror(rv)};
  }
  conn_.reset(raw);
  tls_ctx_.conn = raw;
  ngtcp2_conn_set_tls_native_handle(raw, session_.get());
  return {};
}

Result<void> Connection::start_client(const ClientTlsContext& tls, ByteView resume,
                                      std::function<void(ByteView)> on_ticket,
                                      const sockaddr* local, const sockaddr* remote) {
  server_ = false;
  peer_grant_ = limits_.server_streams;
  tls_ctx_.on_ticket = std::move(on_ticket);
  auto session = tls.new_session(tls_ctx_, resume);
  if (!session) return session.failure();
  session_ = std::move(*session);
  ngtcp2_cid dcid{}, scid{};
  dcid.datalen = scid.datalen = kCidLength;
  if (gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, dcid.datalen) != 0 ||
      gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen) != 0) {
    return Failure{Errc::system_error, "random source failed"};
  }
  ngtcp2_settings settings;
  fill_settings(settings);
  ngtcp2_transport_params params;
  fill_params(params);
  if (auto r = init_common(false, dcid, scid, local, remote, NGTCP2_PROTO_VER_V1, params, settings);
      !r) {
    return r;
  }
  if (limits_.keep_alive_ms > 0) {
    ngtcp2_conn_set_keep_alive_timeout(conn_.get(), limits_.keep_alive_ms * NGTCP2_MILLISECONDS);
  }
  owner_.schedule(*this);  // the first flush sends the Initial
  return {};
}

Result<void> Connection::start_server(std::shared_ptr<const ServerTlsContext> tls,
                                      const ngtcp2_pkt_hd& hd, const ngtcp2_cid* retry_odcid,
                                      const sockaddr* local, const sockaddr* remote) {
  server_ = true;
  peer_grant_ = limits_.max_streams;
  if (!tls) return Failure{Errc::invalid_argument, "no TLS context"};
  server_tls_ = std::move(tls);
  auto session = server_tls_->new_session(tls_ctx_);
  if (!session) return session.failure();
  session_ = std::move(*session);
  ngtcp2_cid scid{};
  scid.datalen = kCidLength;
  if (gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen) != 0) {
    return Failure{Errc::system_error, "random source failed"};
  }
  owner_.mark_cid(scid);
  ngtcp2_settings settings;
  fill_settings(settings);
  if (retry_odcid) settings.token = hd.token;  // the validated Retry token
  ngtcp2_transport_params params;
  fill_params(params);
  params.original_dcid = retry_odcid ? *retry_odcid : hd.dcid;
  if (retry_odcid) {
    params.retry_scid = hd.dcid;
    params.retry_scid_present = 1;
  }
  ByteView secret = owner_.reset_secret();
  if (ngtcp2_crypto_generate_stateless_reset_token(params.stateless_reset_token, secret.data(),
                                                   secret.size(), &scid) != 0) {
    return Failure{Errc::system_error, "stateless reset token"};
  }
  params.stateless_reset_token_present = 1;
  if (auto r = init_common(true, hd.scid, scid, local, remote, hd.version, params, settings); !r) {
    return r;
  }
  // Route both the DCID the client chose and ours to this connection.
  for (const ngtcp2_cid& cid : {hd.dcid, scid}) {
    cids_.push_back(cid);
    owner_.cid_added(*this, cid);
  }
  return {};
}

StreamState* Connection::add_stream(std::int64_t id) {
  auto s = std::make_unique<StreamState>();
  s->id = id;
  StreamState* raw = s.get();
  streams_[id] = std::move(s);
  return raw;
}

void Connection::receive(const sockaddr* local, const sockaddr* remote, ByteView packet) {
  switch (state_) {
    case State::dead:
    case State::draining:
      return;
    case State::closing:
      // Answer a peer that keeps sending with our CONNECTION_CLOSE, less and less often.
      if (++packets_while_closing_ >= next_closing_resend_) {
        next_closing_resend_ *= 2;
        owner_.send_packets(this->remote(), closing_packet_.data(), closing_packet_.size(),
                            closing_packet_.size());
      }
      return;
    default:
      break;
  }
  ngtcp2_path path{};
  path.local.addr = const_cast<ngtcp2_sockaddr*>(reinterpret_cast<const ngtcp2_sockaddr*>(local));
  path.local.addrlen = address_length(local);
  path.remote.addr = const_cast<ngtcp2_sockaddr*>(reinterpret_cast<const ngtcp2_sockaddr*>(remote));
  path.remote.addrlen = address_length(remote);
  ngtcp2_pkt_info pi{};
  int rv = ngtcp2_conn_read_pkt(conn_.get(), &path, &pi, packet.data(), packet.size(), uv_hrtime());
  if (rv == 0) {
    owner_.schedule(*this);
    return;
  }
  if (rv == NGTCP2_ERR_DRAINING) {
    enter_draining(stateless_reset_ ? std::string("stateless reset by peer") : peer_close_reason());
  } else if (rv == NGTCP2_ERR_DROP_CONN || rv == NGTCP2_ERR_RETRY) {
    die(std::string("connection dropped: ") + ngtcp2_strerror(rv));
  } else {
    fail_local(rv);
  }
}

std::string Connection::peer_close_reason() {
  ngtcp2_connection_close_error cc{};
  ngtcp2_conn_get_connection_close_error(conn_.get(), &cc);
  std::string r = "closed by peer: ";
  if (cc.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION) {
    r += app_code_text(cc.error_code);
  } else if ((cc.error_code & ~std::uint64_t{0xff}) == NGTCP2_CRYPTO_ERROR) {
    const char* name =
        gnutls_alert_get_name(static_cast<gnutls_alert_description_t>(cc.error_code & 0xff));
    r += std::string("TLS alert ") + (name ? name : hex(cc.error_code & 0xff).c_str());
  } else if (cc.error_code == NGTCP2_CONNECTION_REFUSED) {
    r += "connection refused";
  } else {
    r += "transport error " + hex(cc.error_code);
  }
  if (cc.reason && cc.reasonlen > 0) r += " \"" + printable(cc.reason, cc.reasonlen) + "\"";
  return r;
}

void Connection::fail_local(int liberr) {
  ngtcp2_connection_close_error ccerr{};
  std::string reason;
  if (liberr == NGTCP2_ERR_CRYPTO) {
    std::uint8_t alert = ngtcp2_conn_get_tls_alert(conn_.get());
    ngtcp2_connection_close_error_set_transport_error_tls_alert(&ccerr, alert, nullptr, 0);
    if (!tls_ctx_.verify_error.empty()) {
      reason = tls_ctx_.verify_error;
    } else {
      const char* name = gnutls_alert_get_name(static_cast<gnutls_alert_description_t>(alert));
      reason = std::string("TLS handshake failed") + (alert && name ? ": " : "") +
               (alert && name ? name : "");
    }
  } else {
    ngtcp2_connection_close_error_set_transport_error_liberr(&ccerr, liberr, nullptr, 0);
    reason = std::string("QUIC error: ") + ngtcp2_strerror(liberr);
  }
  enter_closing(ccerr, reason);
}

void Connection::detach_streams(const std::string& reason) {
  accepted_.clear();
  for (auto& [id, s] : streams_) {
    if (!s->app) continue;
    QuicStream* app = s->app;
    s->app = nullptr;
    s->app_closed = true;
    bool already_told = s->failed && !s->error_pending;
    if (already_told) {
      app->detach(std::string());
    } else {
      app->detach(s->error_pending ? s->error : reason);
    }
  }
}

void Connection::enter_closing(const ngtcp2_connection_close_error& ccerr,
                               const std::string& reason) {
  if (!usable()) return;
  error_ = reason;
  detach_streams(reason);
  Bytes buf(kMaxUdpPayload);
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi{};
  ngtcp2_ssize n = ngtcp2_conn_write_connection_close(conn_.get(), &ps.path, &pi, buf.data(),
                                                      buf.size(), &ccerr, uv_hrtime());
  if (n <= 0) {
    die(reason);
    return;
  }
  buf.resize(static_cast<std::size_t>(n));
  closing_packet_ = std::move(buf);
  owner_.send_packets(remote(), closing_packet_.data(), closing_packet_.size(),
                      closing_packet_.size());
  state_ = State::closing;
  closing_deadline_ = uv_hrtime() + 3 * ngtcp2_conn_get_pto(conn_.get());
  owner_.schedule(*this);
}

void Connection::enter_draining(const std::string& reason) {
  if (!usable()) return;
  error_ = reason;
  detach_streams(reason);
  state_ = State::draining;
  closing_deadline_ = uv_hrtime() + 3 * ngtcp2_conn_get_pto(conn_.get());
  owner_.schedule(*this);
}

void Connection::die(const std::string& reason) {
  if (state_ == State::dead) return;
  if (error_.empty()) error_ = reason;
  detach_streams(error_);
  state_ = State::dead;
  uv_timer_stop(timer_.get());
  owner_.schedule(*this);
}

void Connection::close(std::uint64_t app_error, const std::string& reason) {
  if (!usable() || !conn_) return;
  ngtcp2_connection_close_error ccerr{};
  ngtcp2_connection_close_error_set_application_error(
      &ccerr, app_error, reinterpret_cast<const std::uint8_t*>(reason.data()), reason.size());
  enter_closing(ccerr, reason);
}

void Connection::close_now(std::uint64_t app_error, const std::string& reason) {
  if (usable() && conn_) close(app_error, reason);
  die(reason);
}

io::StreamPtr Connection::open_stream() {
  if (!can_open_stream()) return nullptr;
  std::int64_t id = -1;
  if (ngtcp2_conn_open_bidi_stream(conn_.get(), &id, nullptr) != 0) return nullptr;
  StreamState* s = add_stream(id);
  s->holds_credit = true;
  ++holding_credit_;
  ngtcp2_conn_set_stream_user_data(conn_.get(), id, s);
  auto* qs = new QuicStream(loop_, this, s, peer_name());
  s->app = qs;
  owner_.schedule(*this);
  return io::StreamPtr(qs);
}

std::shared_ptr<ConnectionHandle> Connection::handle() {
  return std::make_shared<ConnectionHandle>(this, alive_);
}

void Connection::set_peer_stream_grant(std::uint64_t n) {
  if (n < peer_grant_) {
    // MAX_STREAMS cannot go down: hold back the slots of streams that close instead.
    peer_withheld_ += peer_grant_ - n;
  } else {
    const std::uint64_t more = n - peer_grant_;
    const std::uint64_t back = std::min(more, peer_withheld_);
    peer_withheld_ -= back;
    if (more > back && conn_) {
      ngtcp2_conn_extend_max_streams_bidi(conn_.get(), static_cast<std::size_t>(more - back));
      if (usable()) owner_.schedule(*this);  // the next flush sends MAX_STREAMS
    }
  }
  peer_grant_ = n;
}

void Connection::peer_stream_closed() {
  // Concurrency limit (PROTOCOL.md 6.2, and 9.5 mirrored): a closed peer stream frees a slot
  // for a new one. ngtcp2 0.12 raises MAX_STREAMS by itself only for a stream reset before it
  // was ever opened (no stream_open, no stream_close), so every other slot is ours to give
  // back; the next packet carries the new MAX_STREAMS. The grant thus bounds streams at once,
  // not in total.
  if (peer_streams_open_ > 0) --peer_streams_open_;
  if (peer_withheld_ > 0) {
    --peer_withheld_;
    return;
  }
  ngtcp2_conn_extend_max_streams_bidi(conn_.get(), 1);
}

namespace {
void drop_expired(std::vector<std::weak_ptr<ConnectionHandle>>& v) {
  std::erase_if(v, [](const std::weak_ptr<ConnectionHandle>& w) { return w.expired(); });
}
}  // namespace

void Connection::watch_credit(std::weak_ptr<ConnectionHandle> h) {
  drop_expired(credit_watchers_);  // handles come and go with their callers: stay bounded
  credit_watchers_.push_back(std::move(h));
}

void Connection::notify_credit() {
  auto alive = alive_;
  drop_expired(credit_watchers_);
  // A copy: a callback may register more watchers (or drop its own).
  const std::vector<std::weak_ptr<ConnectionHandle>> watchers = credit_watchers_;
  for (const auto& w : watchers) {
    if (auto h = w.lock()) h->credit_arrived();
    if (!*alive || !usable()) return;
  }
}

io::StreamPtr Connection::open_uni_stream() {
  std::int64_t id = -1;
  if (!usable() || !hs_done_ || !conn_ ||
      ngtcp2_conn_open_uni_stream(conn_.get(), &id, nullptr) != 0) {
    return nullptr;
  }
  StreamState* s = add_stream(id);
  ngtcp2_conn_set_stream_user_data(conn_.get(), id, s);
  auto* qs = new QuicStream(loop_, this, s, peer_name());
  s->app = qs;
  owner_.schedule(*this);
  return io::StreamPtr(qs);
}

bool Connection::can_open_stream() const {
  return usable() && hs_done_ && conn_ && ngtcp2_conn_get_streams_bidi_left(conn_.get()) > 0;
}

std::uint64_t Connection::peer_stream_limit() const {
  if (!conn_ || !hs_done_) return 0;
  const ngtcp2_transport_params* p = ngtcp2_conn_get_remote_transport_params(conn_.get());
  return p ? p->initial_max_streams_bidi : 0;
}

std::uint64_t Connection::credit_in_flight() const {
  if (!usable() || !hs_done_ || !conn_) return 0;
  const std::uint64_t held = holding_credit_ + ngtcp2_conn_get_streams_bidi_left(conn_.get());
  const std::uint64_t limit = peer_stream_limit();
  return limit > held ? limit - held : 0;
}

void Connection::touch(StreamState& s) {
  if (s.touched) return;
  s.touched = true;
  touched_.push_back(s.id);
}

void Connection::stream_touched(StreamState& s) {
  if (!usable()) return;
  touch(s);
  owner_.schedule(*this);
}

void Connection::release_credit(StreamState& s) {
  if (!s.holds_credit) return;
  s.holds_credit = false;
  --holding_credit_;
}

void Connection::stream_app_closed(StreamState& s) {
  // Its end is on its way (FIN or reset), and with it the peer's MAX_STREAMS.
  release_credit(s);
  s.app = nullptr;
  s.app_closed = true;
  s.error_pending = false;
  if (!s.closed_by_ngtcp2) s.abort_pending = true;
  touch(s);
  owner_.schedule(*this);
}

void Connection::enqueue_send(StreamState& s) {
  if (s.in_send_queue || !s.wants_to_send()) return;
  s.in_send_queue = true;
  send_queue_.push_back(s.id);
}

void Connection::append_rx(StreamState& s, const std::uint8_t* data, std::size_t len) {
  // A lone small piece (an interactive tunnel's few bytes) gets a block of its own size, so a
  // stream whose reader is slow holds what it received, not a 64 KiB chunk; bulk data that
  // follows fills recycled chunks.
  constexpr std::size_t kSmallPiece = 4096;
  if (s.rx.empty() && len < kSmallPiece) {
    s.rx.emplace_back(data, data + len);
    return;
  }
  if (!s.rx.empty() && s.rx.back().capacity() < kSmallPiece) {
    // More is coming after all: move the small piece into a chunk, so the reader gets one
    // large piece (one write onwards) rather than a small one and then the rest.
    Bytes chunk = owner_.chunk_pool().take();
    chunk.insert(chunk.end(), s.rx.back().begin(), s.rx.back().end());
    s.rx.back() = std::move(chunk);
  }
  while (len > 0) {
    if (s.rx.empty() || s.rx.back().size() == s.rx.back().capacity()) {
      s.rx.push_back(owner_.chunk_pool().take());
    }
    Bytes& last = s.rx.back();
    std::size_t n = std::min(len, last.capacity() - last.size());
    if (n == 0) n = len;  // a chunk without capacity: let it grow rather than loop
    last.insert(last.end(), data, data + n);
    data += n;
    len -= n;
  }
}

void Connection::flush() {
  // The spare send chunk goes back to the endpoint's pool every turn: an idle connection holds
  // none (thousands of tunnels ride on dozens of connections), and the next lend takes it back.
  if (!tx_spare_.empty()) chunk_pool().give(std::exchange(tx_spare_, Bytes()));
  if (state_ == State::dead) return;
  auto alive = alive_;
  // What was touched until now is handled in this flush; touches made meanwhile (by the
  // application's callbacks) list the stream again for the next one, which they schedule.
  work_.clear();
  work_.swap(touched_);
  for (std::int64_t id : work_) {
    if (auto it = streams_.find(id); it != streams_.end()) it->second->touched = false;
  }
  if (usable()) {
    deliver_events();
    if (!*alive || state_ == State::dead) return;
  }
  if (usable()) {
    apply_intents();
    write_packets();
    if (state_ == State::dead) return;
  }
  forget_streams();
  arm_timer();
}

void Connection::forget_streams() {
  auto forget_if_gone = [&](std::map<std::int64_t, std::unique_ptr<StreamState>>::iterator it) {
    StreamState& s = *it->second;
    const bool gone = !s.app && !s.abort_pending && (s.closed_by_ngtcp2 || !usable());
    if (!gone) return std::next(it);
    s.tx.release(owner_.chunk_pool());
    for (Bytes& chunk : s.rx) owner_.chunk_pool().give(std::move(chunk));
    return streams_.erase(it);
  };
  if (!usable()) {
    // The connection ended: nobody can use any stream now, touched or not.
    for (auto it = streams_.begin(); it != streams_.end();) it = forget_if_gone(it);
    touched_.clear();
    return;
  }
  // A stream becomes forgettable only through events that touch it (ngtcp2 closed it, the
  // application let go).
  for (std::int64_t id : work_) {
    if (auto it = streams_.find(id); it != streams_.end()) forget_if_gone(it);
  }
}

void Connection::deliver_events() {
  auto alive = alive_;
  if (hs_done_ && !hs_reported_) {
    hs_reported_ = true;
    state_ = State::established;
    owner_.handshake_completed(*this);
    if (!*alive || !usable()) return;
  }
  if (!accepted_.empty()) {
    std::vector<std::int64_t> ids;
    ids.swap(accepted_);
    for (std::int64_t id : ids) {
      auto it = streams_.find(id);
      if (it == streams_.end()) continue;
      if (it->second->failed || it->second->closed_by_ngtcp2) {
        // Reset by the client before anyone saw it: answer the reset and forget it.
        stream_app_closed(*it->second);
        continue;
      }
      auto* qs = new QuicStream(loop_, this, it->second.get(), peer_name());
      it->second->app = qs;
      owner_.stream_accepted(*this, io::StreamPtr(qs));
      if (!*alive || !usable()) return;
    }
  }
  if (credit_grew_) {
    credit_grew_ = false;
    notify_credit();
    if (!*alive || !usable()) return;
  }
  // By id, looked up each time: a callback may close streams (never erase them: only flush()
  // forgets streams, after this).
  for (std::size_t i = 0; i < work_.size(); ++i) {
    auto it = streams_.find(work_[i]);
    if (it == streams_.end()) continue;
    StreamState& s = *it->second;
    QuicStream* app = s.app;
    if (!app) continue;
    if (s.error_pending) {
      s.error_pending = false;
      if (auto* h = app->handler()) h->on_error(s.error);
      if (!*alive || !usable()) return;
      continue;
    }
    if (s.failed) continue;
    // Chunk by chunk, each back to the free list once read; a handler that stops reading
    // keeps the rest (and its flow-control credit) for later.
    bool switched = false;
    while (!s.rx.empty() && app->reading() && app->handler()) {
      Bytes chunk = std::move(s.rx.front());
      s.rx.erase(s.rx.begin());
      s.consumed += chunk.size();
      conn_consumed_ += chunk.size();
      app->handler()->on_read(chunk);
      if (!*alive) return;
      owner_.chunk_pool().give(std::move(chunk));
      if (!usable()) return;
      if (s.app != app) {
        switched = true;
        break;
      }
    }
    if (switched) continue;
    if (s.rx_fin && s.rx.empty() && !s.eof_delivered && app->reading() && app->handler()) {
      s.eof_delivered = true;
      app->handler()->on_eof();
      if (!*alive || !usable()) return;
      if (s.app != app) continue;
    }
    if (s.above_low_water && s.unacked() <= io::Stream::low_water()) {
      s.above_low_water = false;
      if (auto* h = app->handler()) h->on_drain();
      if (!*alive || !usable()) return;
    }
  }
}

void Connection::apply_intents() {
  ngtcp2_conn* c = conn_.get();
  for (std::int64_t id : work_) {
    auto found = streams_.find(id);
    if (found == streams_.end()) continue;
    StreamState& s = *found->second;
    if (s.abort_pending) {
      s.abort_pending = false;
      // Shut down with every byte acknowledged: the stream ends with its FIN even when that has
      // not left yet (shutdown() and close() in one loop turn is how a relay ends a tunnel).
      // A reset there would turn the peer's clean EOF into an error.
      const bool graceful = s.fin_requested && s.unacked() == 0;
      if (!s.closed_by_ngtcp2) {
        if (!graceful) (void)ngtcp2_conn_shutdown_stream_write(c, id, s.abort_code);
        if (!s.rx_fin) (void)ngtcp2_conn_shutdown_stream_read(c, id, s.abort_code);
      }
      if (!graceful) s.tx_closed = true;
      // Bytes received but never delivered still count against the connection window.
      for (Bytes& chunk : s.rx) {
        s.consumed += chunk.size();
        conn_consumed_ += chunk.size();
        owner_.chunk_pool().give(std::move(chunk));
      }
      std::vector<Bytes>().swap(s.rx);
    }
    if (s.consumed > 0) {
      if (!s.closed_by_ngtcp2 && !s.rx_fin) {
        (void)ngtcp2_conn_extend_max_stream_offset(c, id, s.consumed);
      }
      s.consumed = 0;
    }
    if (s.wants_to_send()) enqueue_send(s);
  }
  if (conn_consumed_ > 0) {
    ngtcp2_conn_extend_max_offset(c, conn_consumed_);
    conn_consumed_ = 0;
  }
}

void Connection::send_batch(const sockaddr* to, std::size_t len, std::size_t segment) {
  owner_.send_packets(to, tx_scratch().data(), len, segment);
}

void Connection::write_packets() {
  ngtcp2_conn* c = conn_.get();
  if (owner_.send_blocked()) return;
  ngtcp2_path_storage ps;
  ngtcp2_path_storage_zero(&ps);
  ngtcp2_pkt_info pi{};
  const std::uint64_t ts = uv_hrtime();
  const std::size_t max_pkt =
      std::min(ngtcp2_conn_get_path_max_tx_udp_payload_size(c), kMaxUdpPayload);
  Bytes& tx = tx_scratch();
  sockaddr_storage batch_to{};
  std::size_t off = 0, segment = 0, count = 0, total = 0;
  ngtcp2_vec vec[kMaxVecs];
  auto flush_batch = [&] {
    if (off > 0) send_batch(reinterpret_cast<const sockaddr*>(&batch_to), off, segment);
    off = 0;
    count = 0;
  };
  // Moves the stream at the head of the queue to the back (round robin) or out of it.
  auto rotate = [&](StreamState* s) {
    if (!s || send_queue_.empty() || send_queue_.front() != s->id) return;
    send_queue_.pop_front();
    if (s->wants_to_send()) {
      send_queue_.push_back(s->id);
    } else {
      s->in_send_queue = false;
    }
  };
  for (;;) {
    if (total >= kMaxPacketsPerFlush) {
      owner_.schedule(*this);  // more next turn, after reading what arrived meanwhile
      break;
    }
    StreamState* s = nullptr;
    while (!send_queue_.empty()) {
      auto it = streams_.find(send_queue_.front());
      if (it != streams_.end() && it->second->wants_to_send()) {
        s = it->second.get();
        break;
      }
      if (it != streams_.end()) it->second->in_send_queue = false;
      send_queue_.pop_front();
    }
    std::size_t nv = 0;
    std::uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;
    std::uint64_t unsent = 0;
    if (s) {
      nv = s->tx.fill_vecs(vec, kMaxVecs);
      std::uint64_t in_vecs = 0;
      for (std::size_t i = 0; i < nv; ++i) in_vecs += vec[i].len;
      unsent = s->unsent();
      if (s->fin_requested && in_vecs == unsent) flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
    }
    ngtcp2_ssize ndatalen = -1;
    ngtcp2_ssize n = ngtcp2_conn_writev_stream(c, &ps.path, &pi, tx.data() + off, max_pkt,
                                               &ndatalen, flags, s ? s->id : -1, vec, nv, ts);
    if (s && ndatalen >= 0) {
      s->tx.advance_sent(static_cast<std::uint64_t>(ndatalen));
      if ((flags & NGTCP2_WRITE_STREAM_FLAG_FIN) &&
          static_cast<std::uint64_t>(ndatalen) == unsent) {
        s->fin_sent = true;
        s->tx_closed = true;
      }
    }
    if (n < 0) {
      if (n == NGTCP2_ERR_WRITE_MORE) {
        rotate(s);
        continue;
      }
      if (s && n == NGTCP2_ERR_STREAM_DATA_BLOCKED) {
        s->blocked = true;
        rotate(s);
        continue;
      }
      if (s && (n == NGTCP2_ERR_STREAM_SHUT_WR || n == NGTCP2_ERR_STREAM_NOT_FOUND)) {
        s->tx_closed = true;
        rotate(s);
        continue;
      }
      flush_batch();
      fail_local(static_cast<int>(n));
      return;
    }
    rotate(s);
    if (n == 0) break;  // congestion window or pacing: the timer brings us back
    auto len = static_cast<std::size_t>(n);
    if (off > 0 && (len > segment || !same_address(batch_to, ps.path.remote))) {
      // This packet cannot join the GSO batch: send the batch and start a new one with it.
      std::size_t at = off;
      flush_batch();
      std::memmove(tx.data(), tx.data() + at, len);
    }
    if (off == 0) {
      segment = len;
      std::memcpy(&batch_to, ps.path.remote.addr, ps.path.remote.addrlen);
    }
    off += len;
    ++count;
    ++total;
    if (len < segment || count == UdpSocket::kMaxBatch || off + max_pkt > kMaxGsoBytes) {
      flush_batch();
    }
    if (owner_.send_blocked()) break;
  }
  flush_batch();
  // ngtcp2 0.12 paces with the 333 ms initial RTT until the first sample and so holds the
  // handshake's last flight for tens of ms; start pacing only once an RTT is measured.
  ngtcp2_conn_stat st;
  ngtcp2_conn_get_conn_stat(c, &st);
  if (st.first_rtt_sample_ts != UINT64_MAX) ngtcp2_conn_update_pkt_tx_time(c, ts);
}

void Connection::arm_timer() {
  if (state_ == State::dead) return;
  std::uint64_t expiry = (state_ == State::closing || state_ == State::draining)
                             ? closing_deadline_
                             : ngtcp2_conn_get_expiry(conn_.get());
  if (expiry == UINT64_MAX) {
    uv_timer_stop(timer_.get());
    return;
  }
  std::uint64_t now = uv_hrtime();
  // libuv has 1 ms resolution; a sub-millisecond wait (pacing) becomes "next loop turn".
  std::uint64_t ms = expiry > now ? (expiry - now) / 1'000'000 : 0;
  uv_timer_start(
      timer_.get(),
      [](uv_timer_t* t) {
        if (auto* self = static_cast<Connection*>(t->data)) self->on_timer();
      },
      ms, 0);
}

void Connection::on_timer() {
  if (state_ == State::dead) return;
  std::uint64_t now = uv_hrtime();
  if (state_ == State::closing || state_ == State::draining) {
    if (now >= closing_deadline_) {
      die(error_);
    } else {
      arm_timer();
    }
    return;
  }
  int rv = ngtcp2_conn_handle_expiry(conn_.get(), now);
  if (rv == 0) {
    owner_.schedule(*this);
    return;
  }
  if (rv == NGTCP2_ERR_IDLE_CLOSE) {
    die(hs_done_ ? "idle timeout" : "handshake timed out (no answer from the server)");
  } else if (rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
    die("handshake timed out");
  } else {
    fail_local(rv);
  }
}

}  // namespace mtop::quic
