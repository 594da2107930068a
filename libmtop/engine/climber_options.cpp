#include "engine/climber_options.hpp"

#include "engine/server_uri.hpp"

namespace mtop {

namespace {

// Splits off the first host:port-ish field: "[v6]" or text up to the next ':'.
bool take_field(std::string_view& rest, std::string& field) {
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return false;
    field.assign(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      rest.remove_prefix(1);
    }
    return !field.empty();
  }
  const size_t colon = rest.find(':');
  field.assign(rest.substr(0, colon));
  rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
  return !field.empty();
}

bool to_port(const std::string& s, std::uint16_t& port) {
  std::string host;
  return parse_host_port("x:" + s, host, port);
}

}  // namespace

bool parse_forward_rule(std::string_view spec, ForwardRule& out, std::string& error) {
  std::vector<std::string> fields;
  std::string_view rest = spec;
  while (!rest.empty()) {
    std::string f;
    if (!take_field(rest, f)) {
      error = "forward \"" + std::string(spec) + "\": expected [bind:]port:host:hostport";
      return false;
    }
    fields.push_back(std::move(f));
  }
  ForwardRule rule;
  size_t i = 0;
  if (fields.size() == 4) {
    rule.bind_host = fields[i++];
  } else if (fields.size() != 3) {
    error = "forward \"" + std::string(spec) + "\": expected [bind:]port:host:hostport";
    return false;
  }
  if (!to_port(fields[i++], rule.bind_port)) {
    error = "forward \"" + std::string(spec) + "\": bad local port";
    return false;
  }
  rule.target_host = fields[i++];
  if (!to_port(fields[i], rule.target_port)) {
    error = "forward \"" + std::string(spec) + "\": bad target port";
    return false;
  }
  out = std::move(rule);
  return true;
}

}  // namespace mtop
