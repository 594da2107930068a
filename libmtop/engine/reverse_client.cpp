#include "engine/reverse_client.hpp"

#include <utility>
#include <variant>

#include "auth/ip_prefix.hpp"
#include "mtop/reverse_codec.hpp"
#include "uv/connector.hpp"
#include "uv/relay.hpp"
#include "uv/tcp_stream.hpp"

namespace mtop {

namespace {

Address bind_address(const ReverseRule& rule, std::uint16_t port) {
  const auto ip = auth::IpAddress::parse(rule.bind_host);  // checked by parse_reverse_rule
  if (ip && !ip->is_v6) {
    return Address::from_ipv4({ip->bytes[0], ip->bytes[1], ip->bytes[2], ip->bytes[3]}, port);
  }
  return Address::from_ipv6(ip ? ip->bytes : std::array<std::uint8_t, 16>{}, port);
}

std::string refusal_text(Status s, const std::string& bind) {
  switch (s) {
    case Status::not_permitted:
      return "not permitted to publish " + bind + " (the user needs a publish grant for it)";
    case Status::port_in_use:
      return bind + " is in use on the server (another climber or program holds it)";
    case Status::bad_request:
      return "the server cannot publish " + bind +
             " (not one of its addresses, or reverse tunnels not offered on this transport)";
    case Status::auth_failed:
      return "authentication failed";
    case Status::version_not_supported:
      return "the server does not speak this protocol version";
    default:
      return "refused (status " + std::to_string(static_cast<int>(s)) + ")";
  }
}

}  // namespace

/// One data connection: ATTACH, the visitor header, the local service, the relay.
class ReverseClient::DataConnection final : private io::Stream::Handler {
 public:
  explicit DataConnection(ReverseClient& owner, AttachToken token = {})
      : owner_(owner), token_(token) {}
  ~DataConnection() override = default;
  DataConnection(const DataConnection&) = delete;
  DataConnection& operator=(const DataConnection&) = delete;

  void start() {
    std::weak_ptr<bool> alive = alive_;
    owner_.dialer_.open([this, alive](io::StreamPtr s, const std::string& error) {
      if (alive.expired()) return;
      if (!s) {
        end("data connection: " + error);
        return;
      }
      stream_ = std::move(s);
      stream_->set_handler(this);
      Bytes attach;
      encode_attach(token_, attach);
      stream_->write(attach);
      stream_->start_read();
    });
  }
  /// QUIC: a stream the server opened for a visitor, whose header is read already.
  void start_visitor(io::StreamPtr stream, const VisitorHeader& header, Bytes held) {
    stream_ = std::move(stream);
    stream_->set_handler(this);
    header_ = header;
    held_ = std::move(held);
    connect_service();
  }
  /// Waiting for a visitor (not relaying yet): closed with the control tunnel.
  bool idle() const noexcept { return !relay_ && !connect_; }
  void close(const std::string& reason) { end(reason); }

 private:
  void on_read(ByteView data) override {
    if (connect_ || relay_) {
      // Visitor bytes while the service connects: kept for it (the read stopped already).
      held_.insert(held_.end(), data.begin(), data.end());
      return;
    }
    held_.insert(held_.end(), data.begin(), data.end());
    auto h = decode_visitor_header(held_);
    if (!h) {
      end("bad visitor header: " + std::string(h.message()));
      return;
    }
    if (!h->complete()) return;
    header_ = *h->message;
    held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(h->size));
    connect_service();
  }
  void connect_service() {
    stream_->stop_read();
    const ReverseRule& rule = owner_.rule_;
    connect_ = io::connect_tcp(
        owner_.loop_, rule.target_host, rule.target_port,
        {.timeout_ms = owner_.options_.connect_timeout_ms, .nodelay = true, .refuse = {}},
        [this](io::ConnectResult r) { on_connected(std::move(r)); });
  }
  void on_eof() override { end("closed by the server before a visitor"); }
  void on_error(std::string_view reason) override {
    end("data connection: " + std::string(reason));
  }
  void on_drain() override {}

  void on_connected(io::ConnectResult r) {
    connect_.reset();
    const ReverseRule& rule = owner_.rule_;
    const std::string service = rule.target_host + ":" + std::to_string(rule.target_port);
    if (!r.tcp) {
      owner_.log_.warn("reverse " + owner_.bind_text() + ": visitor " + header_.source.to_string() +
                       ": local service " + service + ": " + r.error);
      // CONNECT_FAILED as an abort: the server resets the visitor.
      stream_.release()->abort(static_cast<std::uint64_t>(QuicAppError::connect_failed));
      end({});
      return;
    }
    Bytes initial;
    if (rule.proxy_protocol) (void)encode_proxy_v2(header_.source, header_.destination, initial);
    initial.insert(initial.end(), held_.begin(), held_.end());
    held_.clear();
    ++owner_.visitors_total_;
    started_ms_ = uv_now(owner_.loop_);
    io::RelayOptions opts;
    opts.max_pending = owner_.options_.max_pending;
    opts.idle_timeout_ms = owner_.options_.idle_timeout_ms;
    relay_ = std::make_unique<io::Relay>(
        owner_.loop_, std::move(stream_), io::TcpStream::adopt(std::move(r.tcp)), std::move(opts),
        [this, service](const io::RelayStats& s) {
          owner_.log_.info("reverse " + owner_.bind_text() + " visitor " +
                           header_.source.to_string() + " -> " + service +
                           " in=" + std::to_string(s.bytes_a_to_b) +
                           " out=" + std::to_string(s.bytes_b_to_a) +
                           " duration_ms=" + std::to_string(uv_now(owner_.loop_) - started_ms_) +
                           " reason=\"" + s.reason + "\"");
          end({});
        });
    relay_->start(initial);
  }

  void end(const std::string& reason) {
    if (done_) return;
    done_ = true;
    if (!reason.empty()) owner_.log_.debug("reverse " + owner_.bind_text() + ": " + reason);
    connect_.reset();
    if (relay_ && !relay_->finished()) relay_->close(reason.empty() ? "closed" : reason);
    owner_.data_done(this);
  }

  ReverseClient& owner_;
  AttachToken token_;
  io::StreamPtr stream_;
  Bytes held_;
  VisitorHeader header_;
  std::unique_ptr<io::ConnectAttempt> connect_;
  std::unique_ptr<io::Relay> relay_;
  std::uint64_t started_ms_ = 0;
  bool done_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

ReverseClient::ReverseClient(uv_loop_t* loop, ReverseRule rule, const ClimberOptions& options,
                             std::string username, std::string password, io::StreamDialer& dialer,
                             const Logger& log, ReverseStreams* streams)
    : loop_(loop),
      rule_(std::move(rule)),
      options_(options),
      username_(std::move(username)),
      password_(std::move(password)),
      dialer_(dialer),
      log_(log),
      streams_(streams),
      port_(rule_.bind_port),
      timer_(loop),
      reaper_(loop) {}

ReverseClient::~ReverseClient() {
  stopped_ = true;
  unroute();
  secure_wipe(password_);
  data_.clear();
}

ReverseState ReverseClient::state() const noexcept {
  ReverseState s;
  s.port = granted_ ? port_ : 0;
  s.published = control_ != nullptr;
  s.refusal = refusal_;
  s.visitors_total = visitors_total_;
  return s;
}

std::string ReverseClient::bind_text() const {
  return bind_address(rule_, port_).to_string();
}

void ReverseClient::start() {
  if (!stopped_) return;
  stopped_ = false;
  connect();
}

void ReverseClient::stop() {
  stopped_ = true;
  timer_.stop();
  if (stream_) stream_.release()->abort(static_cast<std::uint64_t>(QuicAppError::no_error));
  handshake_.reset();
  if (control_) control_->abort(static_cast<std::uint64_t>(QuicAppError::no_error));
  control_.reset();
  unroute();
  std::vector<DataConnection*> all;
  for (auto& [p, d] : data_) all.push_back(p);
  for (DataConnection* d : all) d->close("stopped");
}

void ReverseClient::connect() {
  if (stopped_) return;
  AuthMessage msg;
  msg.method = Method::reverse;
  msg.username = username_;
  msg.password = password_;
  msg.target = bind_address(rule_, port_);
  auto hs = ClientHandshake::create(msg);
  msg.wipe_password();
  if (!hs) {
    log_.error("reverse " + bind_text() + ": " + std::string(errc_message(hs.error())));
    return;
  }
  handshake_.emplace(std::move(*hs));
  timer_.start(options_.handshake_timeout_ms + options_.connect_timeout_ms,
               [this] { retry("no answer from the server in time"); });
  std::weak_ptr<bool> alive = alive_;
  dialer_.open([this, alive](io::StreamPtr s, const std::string& error) {
    if (alive.expired()) return;
    on_open(std::move(s), error);
  });
}

void ReverseClient::on_open(io::StreamPtr stream, const std::string& error) {
  if (stopped_ || !handshake_ || stream_) return;
  if (!stream) {
    retry("server unreachable: " + error);
    return;
  }
  stream_ = std::move(stream);
  stream_->set_handler(this);
  const ByteView out = handshake_->pending_output();
  stream_->write(out);
  handshake_->consume_output(out.size());
  stream_->start_read();
}

void ReverseClient::on_read(ByteView data) {
  if (!handshake_) return;
  (void)handshake_->feed(data);
  drive();
}

void ReverseClient::on_eof() {
  if (!handshake_) return;
  (void)handshake_->feed_eof();
  drive();
}

void ReverseClient::on_error(std::string_view reason) {
  retry("server: " + std::string(reason));
}

void ReverseClient::drive() {
  ClientEvent ev = handshake_->next_event();
  if (std::holds_alternative<event::NeedData>(ev)) return;
  if (auto* e = std::get_if<event::Established>(&ev)) {
    if (e->grant) {
      published(*e->grant);
    } else {
      retry("the server answered a CONNECT response");
    }
    return;
  }
  if (auto* r = std::get_if<event::Rejected>(&ev)) {
    refusal_ = r->status;
    retry(refusal_text(r->status, bind_text()));
    return;
  }
  if (std::holds_alternative<event::ClosedWithoutStatus>(ev)) {
    retry("the server closed without an answer (wrong user or password?)");
    return;
  }
  if (auto* e = std::get_if<event::Error>(&ev)) {
    retry("bad answer from the server: " + std::string(errc_message(e->code)));
    return;
  }
  retry("unexpected answer from the server");
}

void ReverseClient::published(const ReverseGrant& grant) {
  timer_.stop();
  auto channel =
      ControlChannel::create(ControlChannel::Role::climber, grant.keepalive_s, uv_now(loop_));
  if (!channel) {
    retry("bad keep-alive from the server");
    return;
  }
  // Payload that came with the response: control frames already (an OPEN, say).
  Bytes initial;
  for (;;) {
    ClientEvent ev = handshake_->next_event();
    auto* p = std::get_if<event::Payload>(&ev);
    if (!p) break;
    initial.insert(initial.end(), p->data.begin(), p->data.end());
  }
  handshake_.reset();
  port_ = grant.port;
  granted_ = true;
  refusal_ = Status::success;
  tunnel_ = grant.tunnel;
  backoff_.succeeded();
  log_.info("reverse " + bind_text() + " -> " + rule_.target_host + ":" +
            std::to_string(rule_.target_port) + " published (tunnel " + std::to_string(tunnel_) +
            ", keep-alive " + std::to_string(grant.keepalive_s) + " s)");
  // Over QUIC the server opens a stream per visitor on this connection (9.5).
  routed_ =
      streams_ && streams_->control_up(tunnel_, *stream_,
                                       [this](io::StreamPtr s, const VisitorHeader& h, Bytes held) {
                                         carry(std::move(s), h, std::move(held));
                                       });
  ControlLink::Events events;
  events.open = [this](const AttachToken& token) { open_data(token); };
  events.ended = [this](ControlLink::End, const std::string& reason) { retry(reason); };
  control_ = std::make_unique<ControlLink>(loop_, std::move(stream_), std::move(*channel),
                                           std::move(events));
  control_->start(initial);
}

void ReverseClient::open_data(const AttachToken& token) {
  if (stopped_) return;
  auto d = std::make_unique<DataConnection>(*this, token);
  DataConnection* p = d.get();
  data_.emplace(p, std::move(d));
  p->start();
}

void ReverseClient::carry(io::StreamPtr stream, const VisitorHeader& header, Bytes held) {
  auto d = std::make_unique<DataConnection>(*this);
  DataConnection* p = d.get();
  data_.emplace(p, std::move(d));
  p->start_visitor(std::move(stream), header, std::move(held));
}

void ReverseClient::unroute() {
  if (!routed_) return;
  routed_ = false;
  streams_->control_down(tunnel_);
}

void ReverseClient::data_done(DataConnection* d) {
  reaper_.post([this, d] { data_.erase(d); });
}

void ReverseClient::retry(const std::string& why) {
  timer_.stop();
  unroute();
  handshake_.reset();
  // Maybe inside the stream's own callback: abort() is safe there, destruction is not.
  if (stream_) stream_.release()->abort(static_cast<std::uint64_t>(QuicAppError::aborted));
  if (control_) {
    // Called from the link's own callback: free it from the loop.
    ended_control_ = std::move(control_);
    ended_control_->abort(static_cast<std::uint64_t>(QuicAppError::aborted));
    reaper_.post([this] { ended_control_.reset(); });
  }
  // Pooled connections belong to the control tunnel that asked for them.
  std::vector<DataConnection*> idle;
  for (auto& [p, d] : data_) {
    if (d->idle()) idle.push_back(p);
  }
  for (DataConnection* d : idle) d->close("control tunnel ended");
  if (stopped_) return;
  const std::uint64_t delay_ms = backoff_.failed();
  log_.warn("reverse " + bind_text() + ": " + why + "; retrying in " +
            std::to_string(delay_ms / 1000) + " s");
  timer_.start(delay_ms, [this] { connect(); });
}

}  // namespace mtop
