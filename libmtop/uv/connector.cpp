// connect_tcp: getaddrinfo (skipped for IP literals), then each address in turn, each checked
// by the policy hook, all under one time-out timer.
//
// Cancellation: the getaddrinfo and connect requests live in their own allocations with a
// back pointer to the attempt. Dropping the attempt clears that pointer, asks libuv to cancel
// (uv_cancel / closing the socket) and leaves the request to free itself in its callback.
#include "uv/connector.hpp"

#include <cstring>
#include <utility>

#include "uv/poster.hpp"
#include "uv/sockaddr.hpp"
#include "uv/timer.hpp"
#include "uv/uv_error.hpp"

namespace mtop::io {

namespace {

class ConnectOp;

struct ResolveReq {
  uv_getaddrinfo_t req;
  ConnectOp* owner;
};

struct DialReq {
  uv_connect_t req;
  ConnectOp* owner;
};

class ConnectOp final : public ConnectAttempt {
 public:
  ConnectOp(uv_loop_t* loop, ConnectOptions options, ConnectCallback cb)
      : loop_(loop), options_(std::move(options)), cb_(std::move(cb)), timeout_(loop),
        poster_(loop) {}

  ~ConnectOp() override { cancel_pending(); }

  void start_with_addresses(std::vector<sockaddr_storage> addrs) {
    arm_timeout();
    addrs_ = std::move(addrs);
    if (addrs_.empty()) {
      poster_.post([this] { fail(UV_EINVAL, "no address to connect to"); });
      return;
    }
    // Defer: connecting may fail (or be denied) at once, and the callback must not run
    // inside connect_tcp.
    poster_.post([this] { try_next(); });
  }

  void start_with_host(const std::string& host, std::uint16_t port) {
    sockaddr_storage literal;
    if (ip_literal_to_sockaddr(host, port, &literal)) {
      start_with_addresses({literal});
      return;
    }
    arm_timeout();
    if (host.empty() || host.find('\0') != std::string::npos) {
      poster_.post([this] { fail(UV_EINVAL, "dns: empty host name"); });
      return;
    }
    auto* r = new ResolveReq{};
    r->owner = this;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV;
    const std::string service = std::to_string(port);
    const int rc = uv_getaddrinfo(loop_, &r->req, &ConnectOp::on_resolved, host.c_str(),
                                  service.c_str(), &hints);
    if (rc < 0) {
      delete r;  // the callback will not run
      poster_.post([this, rc] { fail(rc, "dns: " + std::string(uv_strerror(rc))); });
      return;
    }
    resolve_ = r;
  }

 private:
  void arm_timeout() {
    if (options_.timeout_ms == 0) return;
    timeout_.start(options_.timeout_ms, [this] {
      cancel_pending();
      fail(UV_ETIMEDOUT, uv_reason(UV_ETIMEDOUT));
    });
  }

  static void on_resolved(uv_getaddrinfo_t* req, int status, addrinfo* res) {
    auto* r = reinterpret_cast<ResolveReq*>(req);
    ConnectOp* self = r->owner;
    delete r;
    if (!self) {
      uv_freeaddrinfo(res);
      return;
    }
    self->resolve_ = nullptr;
    if (status < 0) {
      uv_freeaddrinfo(res);
      self->fail(status, "dns: " + std::string(uv_strerror(status)));
      return;
    }
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      if (!ai->ai_addr) continue;
      if ((ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(sockaddr_in)) ||
          (ai->ai_family == AF_INET6 && ai->ai_addrlen >= sizeof(sockaddr_in6))) {
        sockaddr_storage ss{};
        std::memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        self->addrs_.push_back(ss);
      }
    }
    uv_freeaddrinfo(res);
    if (self->addrs_.empty()) {
      self->fail(UV_EAI_NODATA, "dns: " + std::string(uv_strerror(UV_EAI_NODATA)));
      return;
    }
    self->try_next();
  }

  // Connects to the next allowed address; when none is left, reports the outcome.
  void try_next() {
    while (next_ < addrs_.size()) {
      const auto* addr = reinterpret_cast<const sockaddr*>(&addrs_[next_++]);
      last_peer_ = sockaddr_to_string(addr);
      if (options_.refuse) {
        std::string why = options_.refuse(addr);
        if (!why.empty()) {
          ++denied_;
          denied_reason_ = std::move(why);
          continue;
        }
      }
      auto tcp = UvHandle<uv_tcp_t>::make();
      int rc = uv_tcp_init(loop_, tcp.get());
      if (rc < 0) {
        tcp.release_uninitialised();
        last_status_ = rc;
        continue;
      }
      auto* d = new DialReq{};
      d->owner = this;
      rc = uv_tcp_connect(&d->req, tcp.get(), addr, &ConnectOp::on_connected);
      if (rc < 0) {
        delete d;  // the callback will not run; the handle closes with `tcp`
        last_status_ = rc;
        continue;
      }
      tcp_ = std::move(tcp);
      dial_ = d;
      return;
    }
    if (denied_ == addrs_.size()) {
      ConnectResult res;
      res.error = "denied by policy: " + denied_reason_;
      res.uv_status = UV_EACCES;
      res.peer = last_peer_;
      res.denied = true;
      finish(std::move(res));
      return;
    }
    fail(last_status_ ? last_status_ : UV_ECONNREFUSED, uv_reason(last_status_));
  }

  static void on_connected(uv_connect_t* req, int status) {
    auto* d = reinterpret_cast<DialReq*>(req);
    ConnectOp* self = d->owner;
    delete d;
    if (!self) return;
    self->dial_ = nullptr;
    if (status < 0) {
      self->last_status_ = status;
      self->tcp_.reset();
      self->try_next();
      return;
    }
    if (self->options_.nodelay) uv_tcp_nodelay(self->tcp_.get(), 1);
    ConnectResult res;
    res.tcp = std::move(self->tcp_);
    res.peer = self->last_peer_;
    self->finish(std::move(res));
  }

  void cancel_pending() noexcept {
    if (resolve_) {
      resolve_->owner = nullptr;
      // If the lookup already runs in the thread pool this fails; on_resolved then frees it.
      uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_->req));
      resolve_ = nullptr;
    }
    if (dial_) {
      dial_->owner = nullptr;  // closing the socket completes it with UV_ECANCELED
      dial_ = nullptr;
    }
    tcp_.reset();
  }

  void fail(int status, std::string error) {
    ConnectResult res;
    res.error = std::move(error);
    res.uv_status = status;
    res.peer = last_peer_;
    finish(std::move(res));
  }

  // Delivers the outcome. The callback may drop this attempt: it is the last thing done.
  void finish(ConnectResult res) {
    if (done_) return;
    done_ = true;
    timeout_.stop();
    poster_.cancel();
    auto cb = std::move(cb_);
    cb_ = nullptr;
    if (cb) cb(std::move(res));
  }

  uv_loop_t* loop_;
  ConnectOptions options_;
  ConnectCallback cb_;
  Timer timeout_;
  Poster poster_;
  ResolveReq* resolve_ = nullptr;
  DialReq* dial_ = nullptr;
  UvHandle<uv_tcp_t> tcp_;
  std::vector<sockaddr_storage> addrs_;
  std::size_t next_ = 0;
  std::size_t denied_ = 0;
  std::string denied_reason_;  ///< why the policy refused the last denied address
  int last_status_ = 0;
  std::string last_peer_;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<ConnectAttempt> connect_tcp(uv_loop_t* loop, const std::string& host,
                                            std::uint16_t port, const ConnectOptions& options,
                                            ConnectCallback cb) {
  auto op = std::make_unique<ConnectOp>(loop, options, std::move(cb));
  op->start_with_host(host, port);
  return op;
}

std::unique_ptr<ConnectAttempt> connect_tcp_addresses(uv_loop_t* loop,
                                                      std::vector<sockaddr_storage> addresses,
                                                      const ConnectOptions& options,
                                                      ConnectCallback cb) {
  auto op = std::make_unique<ConnectOp>(loop, options, std::move(cb));
  op->start_with_addresses(std::move(addresses));
  return op;
}

}  // namespace mtop::io
