#include "engine/reverse_share.hpp"

namespace mtop {

void ReverseShare::join(unsigned worker, ReverseHub* hub, io::LoopMailbox::Sender inbox) {
  std::lock_guard lock(mu_);
  if (hubs_.size() <= worker) hubs_.resize(worker + 1);
  hubs_[worker] = Inbox{hub, std::move(inbox)};
}

void ReverseShare::leave(unsigned worker, const ReverseHub* hub) {
  std::lock_guard lock(mu_);
  if (worker < hubs_.size() && hubs_[worker].hub == hub) hubs_[worker] = Inbox{};
}

bool ReverseShare::post(unsigned worker, std::function<void(ReverseHub&)> fn) const {
  Inbox to;
  {
    std::lock_guard lock(mu_);
    if (worker >= hubs_.size() || !hubs_[worker].hub) return false;
    to = hubs_[worker];
  }
  // The mailbox dies with the hub, before it: what runs from it finds the hub alive.
  return to.sender.post([hub = to.hub, fn = std::move(fn)] { fn(*hub); });
}

std::optional<ReverseShare::Route> ReverseShare::route(const PublicBind& bind) const {
  std::lock_guard lock(mu_);
  const auto it = ports_.find(bind);
  if (!it || !it->tunnel) return std::nullopt;
  const auto c = controls_.find(*it->tunnel);
  if (c == controls_.end()) return std::nullopt;
  return Route{*it->tunnel, c->second.worker};
}

std::uint32_t ReverseShare::add_control(ControlHome home) {
  std::lock_guard lock(mu_);
  while (next_id_ == 0 || controls_.contains(next_id_)) ++next_id_;
  const std::uint32_t id = next_id_++;
  controls_.emplace(id, std::move(home));
  return id;
}

std::optional<ReverseShare::ControlHome> ReverseShare::control(std::uint32_t id) const {
  std::lock_guard lock(mu_);
  const auto it = controls_.find(id);
  if (it == controls_.end()) return std::nullopt;
  return it->second;
}

void ReverseShare::remove_control(std::uint32_t id) {
  std::lock_guard lock(mu_);
  controls_.erase(id);
}

}  // namespace mtop
