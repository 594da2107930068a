#include "auth/source_log_gate.hpp"

namespace mtop::auth {

SourceLogGate::SourceLogGate(Options options) : options_(options), windows_(options.max_sources) {}

std::optional<std::uint64_t> SourceLogGate::admit(const IpAddress& source, std::uint64_t now_ms) {
  const auto over = [&](const Window& w) { return now_ms - w.opened_ms >= options_.interval_ms; };
  const SourceKey key = source_key(source);
  Window* w = windows_.peek(key);
  if (w && !over(*w)) {
    ++w->held;
    return std::nullopt;
  }
  const std::uint64_t held = w ? w->held : 0;
  windows_.erase(key);
  windows_.drop_oldest_while(over);  // ended windows: a held count of 0 is all they would say
  windows_.insert(key, Window{now_ms, 0});
  return held;
}

}  // namespace mtop::auth
