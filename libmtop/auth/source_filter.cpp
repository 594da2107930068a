#include "auth/source_filter.hpp"

namespace mtop::auth {

namespace {

bool parse_list(const std::vector<std::string>& texts, const char* name, std::vector<IpPrefix>& out,
                std::string& error) {
  for (const auto& t : texts) {
    std::string why;
    auto p = IpPrefix::parse(t, &why);
    if (!p) {
      error = name;
      error.append(": \"").append(t).append("\": ").append(why);
      return false;
    }
    out.push_back(*p);
  }
  return true;
}

const IpPrefix* match(const std::vector<IpPrefix>& list, const IpAddress& a) {
  const IpAddress v4 = a.unmapped();
  for (const auto& p : list) {
    if (p.contains(a) || p.contains(v4)) return &p;
  }
  return nullptr;
}

}  // namespace

std::optional<SourceFilter> SourceFilter::parse(const std::vector<std::string>& allow,
                                                const std::vector<std::string>& deny,
                                                std::string& error) {
  SourceFilter f;
  if (!parse_list(allow, "allow_sources", f.allow_, error) ||
      !parse_list(deny, "deny_sources", f.deny_, error)) {
    return std::nullopt;
  }
  return f;
}

std::string SourceFilter::refusal(const IpAddress& source) const {
  if (const IpPrefix* p = match(deny_, source)) return "in deny_sources " + p->to_string();
  if (!allow_.empty() && !match(allow_, source)) return "not in allow_sources";
  return {};
}

}  // namespace mtop::auth
