// The climber's one-string forms: the mtop:// server URI, transport names and -L forward rules
// (include/mtop/climber.hpp).
#include <string>
#include <vector>

#include "engine/server_uri.hpp"
#include "mtop/climber.hpp"
#include "mtop/percent.hpp"

namespace mtop {

std::string_view transport_name(TransportKind t) noexcept {
  switch (t) {
    case TransportKind::tls:
      return "tls";
    case TransportKind::quic:
      return "quic";
    case TransportKind::auto_select:
      return "auto";
  }
  return "?";
}

bool parse_transport(std::string_view name, TransportKind& out) noexcept {
  if (name == "tls")
    out = TransportKind::tls;
  else if (name == "quic")
    out = TransportKind::quic;
  else if (name == "auto")
    out = TransportKind::auto_select;
  else
    return false;
  return true;
}

// Every error message below names the part at fault and never quotes the userinfo, which may
// hold the password.
Result<ServerEndpoint> parse_server_uri(std::string_view uri) {
  auto bad = [](std::string message) { return Failure{Errc::config_invalid, std::move(message)}; };
  constexpr std::string_view scheme = "mtop://";
  if (uri.substr(0, scheme.size()) != scheme) return bad("server URI must start with mtop://");
  std::string_view rest = uri.substr(scheme.size());
  std::string_view query;
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  ServerEndpoint ep;
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    // USER alone is fine (the password then comes from a file or the environment, not from
    // a command line that `ps` shows); USER:PASS is accepted too.
    const size_t colon = userinfo.find(':');
    if (!percent_decode(userinfo.substr(0, colon), ep.username) || ep.username.empty()) {
      return bad("server URI: bad or empty username before the @");
    }
    if (colon != std::string_view::npos &&
        !percent_decode(userinfo.substr(colon + 1), ep.password)) {
      return bad("server URI: bad percent-encoding in the password");
    }
  }
  if (!parse_host_port(rest, ep.host, ep.port, 443)) {
    return bad("server URI: expected HOST[:PORT] (IPv6 in brackets), port 1-65535");
  }
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string value;
    if (!percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1),
                        value)) {
      return bad("server URI: bad percent-encoding in parameter " + std::string(key));
    }
    if (key == "transport") {
      if (!parse_transport(value, ep.transport)) {
        return bad("server URI: transport must be tls, quic or auto");
      }
    } else if (key == "sni") {
      ep.sni = value;
    } else if (key == "ca") {
      ep.ca_file = value;
    } else if (key == "pin") {
      ep.pin = value;
    } else if (key == "insecure") {
      if (value != "1" && value != "0" && value != "true" && value != "false") {
        return bad("server URI: insecure must be 1 or 0");
      }
      ep.insecure = value == "1" || value == "true";
    } else {
      return bad("server URI: unknown parameter " + std::string(key));
    }
  }
  return ep;
}

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

Result<ForwardRule> parse_forward_rule(std::string_view spec) {
  const std::string where = "forward \"" + std::string(spec) + "\": ";
  std::vector<std::string> fields;
  std::string_view rest = spec;
  while (!rest.empty()) {
    std::string f;
    if (!take_field(rest, f)) {
      return Failure{Errc::config_invalid, where + "expected [bind:]port:host:hostport"};
    }
    fields.push_back(std::move(f));
  }
  ForwardRule rule;
  size_t i = 0;
  if (fields.size() == 4) {
    rule.bind_host = fields[i++];
  } else if (fields.size() != 3) {
    return Failure{Errc::config_invalid, where + "expected [bind:]port:host:hostport"};
  }
  if (!to_port(fields[i++], rule.bind_port)) {
    return Failure{Errc::config_invalid, where + "bad local port"};
  }
  rule.target_host = fields[i++];
  if (!to_port(fields[i], rule.target_port)) {
    return Failure{Errc::config_invalid, where + "bad target port"};
  }
  return rule;
}

}  // namespace mtop
