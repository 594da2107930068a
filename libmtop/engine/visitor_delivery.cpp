#include "engine/visitor_delivery.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "engine/tunnel_session.hpp"
#include "uv/tcp_stream.hpp"

namespace mtop {

Visitor::~Visitor() {
  if (stream) io::TcpStream::reset(std::move(stream));
}

AttachPool::AttachPool(ServerTunnel& control, std::uint32_t tunnel, AttachTokens& tokens,
                       std::size_t pool_size, std::uint64_t wait_ms, uv_loop_t* loop,
                       RemoteDataLinks* remote)
    : control_(control),
      tunnel_(tunnel),
      tokens_(tokens),
      pool_size_(pool_size),
      wait_ms_(wait_ms),
      loop_(loop),
      remote_(remote) {}

AttachPool::~AttachPool() {
  // The engine destroys its tunnels itself; visitors still waiting close with their streams.
  tokens_.forget_tunnel(tunnel_);
}

void AttachPool::deliver(Visitor v) {
  if (closed_) return;  // `v` closes here
  if (!ready_.empty()) {
    const Link link = ready_.front();
    ready_.pop_front();
    // The refill for `link` waits for its first answer (see the header), unless the pool is
    // empty now: then this one and every one owed go out at once.
    if (ready_.empty()) {
      owed_.clear();
    } else {
      owed_.insert(link);
    }
    hand(link, std::move(v));
  } else {
    waiting_.push_back(std::move(v));
  }
  top_up();
}

void AttachPool::attached_link(const Link& link) {
  if (closed_) {
    close_link(link, "control tunnel ended");
    return;
  }
  if (!waiting_.empty()) {
    Visitor v = std::move(waiting_.front());
    waiting_.pop_front();
    hand(link, std::move(v));
  } else {
    ready_.push_back(link);
  }
  top_up();
}

void AttachPool::hand(const Link& link, Visitor v) {
  carrying_.insert(link);
  if (auto* const* t = std::get_if<ServerTunnel*>(&link)) {
    (*t)->attach_visitor(std::move(v.stream), v.header, std::move(v.name));
  } else if (remote_) {
    remote_->carry(std::get<RemoteData>(link), tunnel_, std::move(v));
  }
}

void AttachPool::close_link(const Link& link, const std::string& reason) {
  if (auto* const* t = std::get_if<ServerTunnel*>(&link)) {
    (*t)->close(TunnelFailure::revoked, reason);
  } else if (remote_) {
    remote_->close(std::get<RemoteData>(link), reason);
  }
}

void AttachPool::top_up() {
  const std::size_t want = pool_size_ + waiting_.size();
  std::size_t have = ready_.size() + tokens_.outstanding(tunnel_) + owed_.size();
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
  // (A visitor accepted on another worker carries that loop's clock, which may be ahead.)
  while (!waiting_.empty() && now_ms >= waiting_.front().arrived_ms &&
         now_ms - waiting_.front().arrived_ms >= wait_ms_) {
    waiting_.pop_front();  // the visitor's stream closes here
  }
  top_up();  // the caller expired tokens: ask again
}

void AttachPool::tunnel_ended(ServerTunnel& t) {
  link_ended(&t);
}

void AttachPool::link_ended(const Link& link) {
  carrying_.erase(link);
  bool changed = owed_.erase(link) > 0;
  if (const auto it = std::find(ready_.begin(), ready_.end(), link); it != ready_.end()) {
    ready_.erase(it);
    changed = true;
  }
  if (changed) top_up();
}

void AttachPool::link_answered(const Link& link) {
  if (owed_.erase(link) > 0) top_up();
}

void AttachPool::close(const std::string& reason, bool keep_carried) {
  if (closed_) return;
  closed_ = true;
  tokens_.forget_tunnel(tunnel_);
  waiting_.clear();  // reset: their streams close
  // Closing a tunnel calls back into tunnel_ended: work on copies.
  std::vector<Link> links(ready_.begin(), ready_.end());
  if (!keep_carried) links.insert(links.end(), carrying_.begin(), carrying_.end());
  ready_.clear();
  carrying_.clear();
  owed_.clear();
  for (const Link& link : links) close_link(link, reason);
}

}  // namespace mtop
