#include "engine/climber_engine.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <utility>

#include "mtop/codec.hpp"

namespace mtop {

bool parse_listen_address(std::string_view text, std::string& host, std::uint16_t& port) {
  std::string_view h, p;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return false;
    }
    h = text.substr(1, close - 1);
    p = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    h = text.substr(0, colon);
    p = text.substr(colon + 1);
    if (h.find(':') != std::string_view::npos) return false;  // IPv6 needs brackets
  }
  if (h.empty() || p.empty() || p.size() > 5) return false;
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc{} || end != p.data() + p.size() || value > 65535) return false;
  host.assign(h);
  port = static_cast<std::uint16_t>(value);
  return true;
}

std::optional<Address> forward_target_address(const ForwardRule& rule) {
  if (rule.target_port == 0) return std::nullopt;
  std::array<std::uint8_t, 16> v6{};
  std::array<std::uint8_t, 4> v4{};
  if (inet_pton(AF_INET, rule.target_host.c_str(), v4.data()) == 1) {
    return Address::from_ipv4(v4, rule.target_port);
  }
  if (inet_pton(AF_INET6, rule.target_host.c_str(), v6.data()) == 1) {
    return Address::from_ipv6(v6, rule.target_port);
  }
  if (!is_valid_domain(rule.target_host)) return std::nullopt;
  return Address::from_domain(rule.target_host, rule.target_port);
}

ClimberEngine::ClimberEngine(uv_loop_t* loop, ClimberOptions options, std::string username,
                             std::string password, io::StreamDialer& dialer, Logger log)
    : reaper_(loop) {
  shared_.loop = loop;
  shared_.options = std::move(options);
  shared_.username = std::move(username);
  shared_.password = std::move(password);
  shared_.dialer = &dialer;
  shared_.log = std::move(log);
}

ClimberEngine::~ClimberEngine() {
  stop();
  reaper_.cancel();
  sessions_.clear();
  secure_wipe(shared_.password);
  secure_wipe(shared_.options.local_password);
}

bool ClimberEngine::start(std::string& error) {
  if (started_) {
    error = "the engine is started already";
    return false;
  }
  const ClimberOptions& o = shared_.options;
  if (shared_.username.empty() || shared_.username.size() > 255) {
    error = "server username must be 1-255 bytes";
    return false;
  }
  if (shared_.password.empty() || shared_.password.size() > 255) {
    error = "server password must be 1-255 bytes";
    return false;
  }
  if (o.local_username.size() > 255 || o.local_password.size() > 255 ||
      (o.local_username.empty() != o.local_password.empty())) {
    error = "local proxy auth needs a username and a password of 1-255 bytes each";
    return false;
  }
  if (o.socks_listen.empty() && o.http_listen.empty() && o.forwards.empty()) {
    error = "nothing to listen on: give a SOCKS5, HTTP or forward address";
    return false;
  }
  if (o.max_connections == 0 || o.handshake_timeout_ms == 0) {
    error = "max_connections and the handshake time-out must be above 0";
    return false;
  }
  std::vector<std::optional<Address>> targets;
  for (const ForwardRule& rule : o.forwards) {
    auto a = forward_target_address(rule);
    if (!a) {
      error = "forward to " + rule.target_host + ":" + std::to_string(rule.target_port) +
              ": not an IP address or a valid domain name";
      return false;
    }
    targets.push_back(std::move(a));
  }
  started_ = true;
  bool ok = true;
  if (!o.socks_listen.empty() && o.socks_listen == o.http_listen) {
    ok = listen("socks+http", o.socks_listen, LocalMode::mixed, std::nullopt, socks_port_, error);
    http_port_ = socks_port_;
  } else {
    if (!o.socks_listen.empty()) {
      ok = listen("socks", o.socks_listen, LocalMode::socks, std::nullopt, socks_port_, error);
    }
    if (ok && !o.http_listen.empty()) {
      ok = listen("http", o.http_listen, LocalMode::http, std::nullopt, http_port_, error);
    }
  }
  for (std::size_t i = 0; ok && i < o.forwards.size(); ++i) {
    const ForwardRule& r = o.forwards[i];
    std::uint16_t port = 0;
    const std::string bind = r.bind_host.find(':') != std::string::npos
                                 ? "[" + r.bind_host + "]:" + std::to_string(r.bind_port)
                                 : r.bind_host + ":" + std::to_string(r.bind_port);
    ok = listen("forward " + bind, bind, LocalMode::forward, targets[i], port, error);
    forward_ports_.push_back(port);
  }
  if (!ok) {
    stop();
    socks_port_ = http_port_ = 0;
    forward_ports_.clear();
  }
  return ok;
}

bool ClimberEngine::listen(const std::string& what, const std::string& address, LocalMode mode,
                           const std::optional<Address>& forward_target, std::uint16_t& port,
                           std::string& error) {
  std::string host;
  std::uint16_t wanted = 0;
  if (!parse_listen_address(address, host, wanted)) {
    error = what + ": \"" + address + "\" is not host:port (an IPv6 host needs brackets)";
    return false;
  }
  auto outcome = io::TcpListener::listen(
      shared_.loop, host, wanted, [this, mode, forward_target](io::StreamPtr s) {
        on_accept(std::move(s), mode, forward_target);
      });
  if (!outcome.listener) {
    error = what + ": " + outcome.error;
    return false;
  }
  port = outcome.listener->port();
  shared_.log.info("listening (" + what + ") on " + outcome.listener->local_name());
  listeners_.push_back(std::move(outcome.listener));
  return true;
}

void ClimberEngine::stop() {
  for (auto& l : listeners_) l->stop();
  listeners_.clear();
}

void ClimberEngine::abort_all(std::string_view reason) {
  std::vector<ClimberSession*> live;
  live.reserve(sessions_.size());
  for (auto& [ptr, owned] : sessions_) live.push_back(ptr);
  for (ClimberSession* s : live) {
    if (sessions_.count(s)) s->abort(reason);
  }
}

void ClimberEngine::on_accept(io::StreamPtr stream, LocalMode mode,
                              const std::optional<Address>& target) {
  if (sessions_.size() >= shared_.options.max_connections) {
    ++refused_;
    shared_.log.warn("local " + stream->peer_name() + ": refused, " +
                     std::to_string(shared_.options.max_connections) +
                     " connections already (limits.max_connections)");
    return;  // dropping the stream closes it
  }
  auto session = std::make_unique<ClimberSession>(
      shared_, std::move(stream), mode, target,
      [this](ClimberSession* s) { on_session_done(s); });
  ClimberSession* raw = session.get();
  sessions_.emplace(raw, std::move(session));
  raw->start();
}

void ClimberEngine::on_session_done(ClimberSession* session) {
  // Called from inside the session's own callbacks: free it on a later loop turn.
  reaper_.post([this, session] { sessions_.erase(session); });
}

}  // namespace mtop
