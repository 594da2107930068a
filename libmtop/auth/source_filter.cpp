#include "auth/source_filter.hpp"

namespace mtop::auth {

namespace {

Result<std::vector<IpPrefix>> parse_list(const std::vector<std::string>& texts,
                                         const char* name) {
  std::vector<IpPrefix> out;
  for (const auto& t : texts) {
    auto p = IpPrefix::parse(t);
    if (!p) {
      return Failure{p.error(),
                     std::string(name) + ": \"" + t + "\": " + std::string(p.message())};
    }
    out.push_back(*p);
  }
  return out;
}

const IpPrefix* match(const std::vector<IpPrefix>& list, const IpAddress& a) {
  const IpAddress v4 = a.unmapped();
  for (const auto& p : list) {
    if (p.contains(a) || p.contains(v4)) return &p;
  }
  return nullptr;
}

}  // namespace

Result<SourceFilter> SourceFilter::parse(const std::vector<std::string>& allow,
                                         const std::vector<std::string>& deny) {
  auto allowed = parse_list(allow, "allow_sources");
  if (!allowed) return allowed.failure();
  auto denied = parse_list(deny, "deny_sources");
  if (!denied) return denied.failure();
  SourceFilter f;
  f.allow_ = std::move(*allowed);
  f.deny_ = std::move(*denied);
  return f;
}

std::string SourceFilter::refusal(const IpAddress& source) const {
  if (const IpPrefix* p = match(deny_, source)) return "in deny_sources " + p->to_string();
  if (!allow_.empty() && !match(allow_, source)) return "not in allow_sources";
  return {};
}

}  // namespace mtop::auth
