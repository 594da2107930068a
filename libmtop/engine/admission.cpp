#include "engine/admission.hpp"

#include <cmath>
#include <utility>

namespace mtop {

namespace {

/// Sources with a rate bucket or a log window at most (memory: about 100 bytes each).
constexpr std::size_t kMaxRateSources = 100'000;
constexpr std::size_t kMaxLogSources = 10'000;
constexpr std::uint64_t kLogEveryMs = 60'000;
/// The finest rate the buckets can count (SourceRateLimit keeps millionths of a token per ms).
constexpr double kMinRate = 0.001;

Result<void> invalid(std::string message) {
  return Result<void>(Errc::config_invalid, std::move(message));
}

std::string number(double v) {
  std::string s = std::to_string(v);
  while (s.size() > 1 && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

std::string_view admission_rule_name(AdmissionRule r) noexcept {
  switch (r) {
    case AdmissionRule::source_denied:
      return "source_denied";
    case AdmissionRule::max_tunnels:
      return "max_tunnels";
    case AdmissionRule::max_tunnels_per_user:
      return "max_tunnels_per_user";
    case AdmissionRule::max_tunnels_per_source:
      return "max_tunnels_per_source";
    case AdmissionRule::max_tunnels_per_subnet:
      return "max_tunnels_per_subnet";
    case AdmissionRule::source_rate:
      return "source_rate";
    case AdmissionRule::target_port:
      return "target_port";
  }
  return "unknown";
}

AdmissionPolicy::AdmissionPolicy()
    : log_gate_(auth::SourceLogGate::Options{kLogEveryMs, kMaxLogSources}) {}

Result<void> AdmissionPolicy::configure(const ServerOptions& o) {
  auto filter = auth::SourceFilter::parse(o.allow_sources, o.deny_sources);
  if (!filter) return invalid(std::string(filter.message()));
  if (o.subnet_prefix_v4 > 32) return invalid("subnet_prefix_v4: 0 to 32");
  if (o.subnet_prefix_v6 > 128) return invalid("subnet_prefix_v6: 0 to 128");
  if (!std::isfinite(o.source_rate) || o.source_rate < 0 ||
      (o.source_rate > 0 && o.source_rate < kMinRate)) {
    return invalid("source_rate: 0 (off) or at least 0.001 new tunnels a second");
  }
  if (o.source_burst == 0) return invalid("source_burst: must be at least 1");
  for (const std::uint16_t p : o.deny_target_ports) {
    if (p == 0) return invalid("deny_target_ports: ports are 1 to 65535");
  }
  Limits next{o.max_tunnels_per_source,
              o.max_tunnels_per_subnet,
              o.subnet_prefix_v4,
              o.subnet_prefix_v6,
              o.source_rate,
              o.source_burst};
  const bool bucket_changed = next.rate != limits_.rate || next.burst != limits_.burst;
  filter_ = std::move(*filter);
  limits_ = next;
  if (limits_.rate == 0) {
    rate_.reset();
  } else if (bucket_changed || !rate_) {
    rate_.emplace(auth::SourceRateLimit::Options{limits_.rate, limits_.burst, kMaxRateSources});
  }
  return {};
}

std::optional<AdmissionPolicy::Refusal> AdmissionPolicy::check_source(
    const auth::IpAddress& source) const {
  std::string why = filter_.refusal(source);
  if (why.empty()) return std::nullopt;
  return Refusal{AdmissionRule::source_denied, std::move(why)};
}

std::optional<AdmissionPolicy::Refusal> AdmissionPolicy::admit(const auth::IpAddress& source,
                                                               std::uint64_t now_ms,
                                                               Ticket& ticket) {
  if (auto r = check_source(source)) return r;
  const Ticket t{auth::source_key(source, 32, 128),
                 auth::source_key(source, limits_.prefix_v4, limits_.prefix_v6)};
  if (limits_.per_source > 0 && live(by_address_, t.address) >= limits_.per_source) {
    return Refusal{AdmissionRule::max_tunnels_per_source,
                   "max_tunnels_per_source " + std::to_string(limits_.per_source) + " reached"};
  }
  if (limits_.per_subnet > 0 && live(by_subnet_, t.subnet) >= limits_.per_subnet) {
    const unsigned bits = source.unmapped().is_v6 ? limits_.prefix_v6 : limits_.prefix_v4;
    return Refusal{AdmissionRule::max_tunnels_per_subnet,
                   "max_tunnels_per_subnet " + std::to_string(limits_.per_subnet) + " reached (/" +
                       std::to_string(bits) + ")"};
  }
  if (rate_ && !rate_->take(source, now_ms)) {
    return Refusal{AdmissionRule::source_rate, "source_rate " + number(limits_.rate) +
                                                   "/s (burst " + std::to_string(limits_.burst) +
                                                   ") reached"};
  }
  add(by_address_, t.address);
  add(by_subnet_, t.subnet);
  ticket = t;
  return std::nullopt;
}

void AdmissionPolicy::release(const Ticket& ticket) {
  remove(by_address_, ticket.address);
  remove(by_subnet_, ticket.subnet);
}

void AdmissionPolicy::report(const auth::IpAddress& source, const Refusal& refusal,
                             std::uint64_t now_ms, const Logger& log) {
  const auto held = log_gate_.admit(source, now_ms);
  if (!held) return;
  std::string line = "refused " + source.unmapped().to_string() + ": " + refusal.detail;
  if (*held > 0) line += " (" + std::to_string(*held) + " more refusals since the last line)";
  // Deny lists doing their job are routine; a limit being reached is worth a look.
  log.log(refusal.rule == AdmissionRule::source_denied ? LogLevel::info : LogLevel::warn, line);
}

std::size_t AdmissionPolicy::live_from(const auth::IpAddress& source) const {
  return live(by_address_, auth::source_key(source, 32, 128));
}

void AdmissionPolicy::add(Counts& counts, const auth::SourceKey& key) {
  ++counts[key];
}

void AdmissionPolicy::remove(Counts& counts, const auth::SourceKey& key) {
  const auto it = counts.find(key);
  if (it == counts.end()) return;
  if (--it->second == 0) counts.erase(it);
}

std::size_t AdmissionPolicy::live(const Counts& counts, const auth::SourceKey& key) {
  const auto it = counts.find(key);
  return it == counts.end() ? 0 : it->second;
}

}  // namespace mtop
