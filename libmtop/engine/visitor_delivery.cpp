#include "engine/visitor_delivery.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "engine/tunnel_session.hpp"

namespace mtop {

AttachPool::AttachPool(ServerTunnel& control, std::uint32_t tunnel, AttachTokens& tokens,
                       std::size_t pool_size, std::uint64_t wait_ms, uv_loop_t* loop)
    : control_(control),
      tunnel_(tunnel),
      tokens_(tokens),
      pool_size_(pool_size),
      wait_ms_(wait_ms),
      loop_(loop) {}

AttachPool::~AttachPool() {
  // The engine destroys its tunnels itself; visitors still waiting close with their streams.
  tokens_.forget_tunnel(tunnel_);
}

void AttachPool::deliver(Visitor v) {
  if (closed_) return;  // `v` closes here
  if (!ready_.empty()) {
    ServerTunnel* t = ready_.front();
    ready_.pop_front();
    hand(*t, std::move(v));
  } else {
    waiting_.push_back(std::move(v));
  }
  top_up();
}

void AttachPool::attached(ServerTunnel& t) {
  if (closed_) {
    t.close(TunnelFailure::revoked, "control tunnel ended");
    return;
  }
  if (!waiting_.empty()) {
    Visitor v = std::move(waiting_.front());
    waiting_.pop_front();
    hand(t, std::move(v));
  } else {
    ready_.push_back(&t);
  }
  top_up();
}

void AttachPool::hand(ServerTunnel& t, Visitor v) {
  carrying_.insert(&t);
  t.attach_visitor(std::move(v.stream), v.header, std::move(v.name));
}

void AttachPool::top_up() {
  const std::size_t want = pool_size_ + waiting_.size();
  std::size_t have = ready_.size() + tokens_.outstanding(tunnel_);
  while (!closed_ && have < want) {
    AttachToken token{};
    if (RAND_bytes(token.data(), static_cast<int>(token.size())) != 1) return;
    if (!tokens_.issue(token, tunnel_, uv_now(loop_))) continue;  // drawn twice: draw again
    if (!control_.send_open(token)) {
      tokens_.forget_tunnel(tunnel_);
      return;
    }
    ++have;
  }
}

void AttachPool::tick(std::uint64_t now_ms) {
  // Visitors waited for a data connection as long as a handshake may take: reset them.
  while (!waiting_.empty() && now_ms - waiting_.front().arrived_ms >= wait_ms_) {
    waiting_.pop_front();  // the visitor's stream closes here
  }
  top_up();  // the caller expired tokens: ask again
}

void AttachPool::tunnel_ended(ServerTunnel& t) {
  carrying_.erase(&t);
  const auto it = std::find(ready_.begin(), ready_.end(), &t);
  if (it == ready_.end()) return;
  ready_.erase(it);
  top_up();
}

void AttachPool::close(const std::string& reason, bool keep_carried) {
  if (closed_) return;
  closed_ = true;
  tokens_.forget_tunnel(tunnel_);
  waiting_.clear();  // reset: their streams close
  // Closing a tunnel calls back into tunnel_ended: work on copies.
  std::vector<ServerTunnel*> tunnels(ready_.begin(), ready_.end());
  if (!keep_carried) tunnels.insert(tunnels.end(), carrying_.begin(), carrying_.end());
  ready_.clear();
  carrying_.clear();
  for (ServerTunnel* t : tunnels) t->close(TunnelFailure::revoked, reason);
}

}  // namespace mtop
