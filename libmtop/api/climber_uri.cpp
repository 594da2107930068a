// The climber's one-string forms: the mtop:// server URI, transport names and -L forward rules
// (include/mtop/climber.hpp).
#include <string>
#include <vector>

#include "auth/ip_prefix.hpp"
#include "mtop/climber.hpp"
#include "mtop/host_port.hpp"
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
  HostPortOptions host_rules;
  host_rules.default_port = 443;
  auto host = parse_host_port(rest, host_rules);
  if (!host) return bad("server URI: HOST[:PORT]: " + std::string(host.message()));
  ep.host = std::move(host->host);
  ep.port = host->port;
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

/// Where the ':'s that separate a forward rule's fields stand (those outside brackets).
std::vector<size_t> field_colons(std::string_view spec) {
  std::vector<size_t> at;
  bool in_brackets = false;
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == '[') {
      in_brackets = true;
    } else if (spec[i] == ']') {
      in_brackets = false;
    } else if (spec[i] == ':' && !in_brackets) {
      at.push_back(i);
    }
  }
  return at;
}

}  // namespace

// "[bind:]port" and "host:hostport" are each host:port text, read by the one parser.
namespace {

/// "[bind:]port:host:hostport", the syntax -L and -R share. `what` starts the messages;
/// `port_zero`: the port may be 0 (-R: any port the server allows).
Result<ForwardRule> parse_port_rule(std::string_view spec, std::string_view what, bool port_zero,
                                    std::string default_bind) {
  const std::string where = std::string(what) + " \"" + std::string(spec) + "\": ";
  const std::vector<size_t> colons = field_colons(spec);
  if (colons.size() != 2 && colons.size() != 3) {
    return Failure{Errc::config_invalid, where + "expected [bind:]port:host:hostport"};
  }
  const size_t split = colons[colons.size() - 2];
  ForwardRule rule;
  rule.bind_host = std::move(default_bind);
  const std::string_view local = spec.substr(0, split);
  if (colons.size() == 2) {
    if (port_zero && local == "0") {
      rule.bind_port = 0;
    } else {
      auto port = parse_port(local);
      if (!port)
        return Failure{Errc::config_invalid, where + "local " + std::string(port.message())};
      rule.bind_port = *port;
    }
  } else {
    auto bind = parse_host_port(local, HostPortOptions{.port_zero = port_zero});
    if (!bind) return Failure{Errc::config_invalid, where + "bind: " + std::string(bind.message())};
    rule.bind_host = std::move(bind->host);
    rule.bind_port = bind->port;
  }
  auto target = parse_host_port(spec.substr(split + 1));
  if (!target) {
    return Failure{Errc::config_invalid, where + "target: " + std::string(target.message())};
  }
  rule.target_host = std::move(target->host);
  rule.target_port = target->port;
  return rule;
}

}  // namespace

Result<ForwardRule> parse_forward_rule(std::string_view spec) {
  return parse_port_rule(spec, "forward", false, ForwardRule{}.bind_host);
}

Result<ReverseRule> parse_reverse_rule(std::string_view spec) {
  auto r = parse_port_rule(spec, "reverse", true, ReverseRule{}.bind_host);
  if (!r) return r.failure();
  ReverseRule rule;
  rule.bind_host = std::move(r->bind_host);
  rule.bind_port = r->bind_port;
  rule.target_host = std::move(r->target_host);
  rule.target_port = r->target_port;
  if (!auth::IpAddress::parse(rule.bind_host)) {
    return Failure{Errc::config_invalid, "reverse \"" + std::string(spec) +
                                             "\": bind: the server's bind must be an IP address"};
  }
  return rule;
}

}  // namespace mtop
