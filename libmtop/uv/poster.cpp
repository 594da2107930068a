#include "uv/poster.hpp"

#include <utility>

namespace mtop::io {

Poster::~Poster() {
  if (destroyed_flag_) *destroyed_flag_ = true;
}

void Poster::post(std::function<void()> fn) {
  queue_.push_back(std::move(fn));
  if (!timer_.active()) timer_.start(0, [this] { run(); });
}

void Poster::cancel() noexcept {
  queue_.clear();
  ++generation_;
  timer_.stop();
}

void Poster::run() {
  // Run only what was queued before this turn; functions posted while running wait for the
  // next turn, so a function that re-posts itself cannot starve the loop.
  auto batch = std::move(queue_);
  queue_.clear();
  if (batch.empty()) return;
  const std::uint64_t gen = generation_;
  bool destroyed = false;
  destroyed_flag_ = &destroyed;
  for (auto& fn : batch) {
    fn();
    if (destroyed) return;  // *this is gone: touch nothing
    if (generation_ != gen) break;
  }
  destroyed_flag_ = nullptr;
  if (!queue_.empty() && !timer_.active()) timer_.start(0, [this] { run(); });
}

}  // namespace mtop::io
