// Theory of operation
//
// ProxyRequestParser reads one HTTP/1.x proxy request head and stops exactly at its end, so
// the bytes after it (a POST body, or the first bytes of a CONNECT tunnel) stay with the
// caller. It is a byte-at-a-time state machine over lines, which makes it give the same answer
// for every chunking of the input:
//
//   request_line --LF--> headers --LF (more lines)--> headers --empty line--> finish --> done
//         \__________________\___ any error ___________________________________--> failed
//
// - Each byte is counted against max_head_size first and checked for control bytes, so a
//   hostile peer can make us hold at most max_head_size bytes, and binary garbage fails at once.
// - Bytes gather in `line_` until LF; a CR right before the LF is dropped (CRLF and bare LF both
//   end a line), any other CR is an error. A complete line is then validated on its own: the
//   request line (method, target, version) as soon as it ends, each header line as it ends.
//   A truncated line is therefore never judged, which is why truncated valid input only ever
//   means "need more".
// - The empty line runs finish(): checks that need every header (duplicate Host, framing
//   headers, the Connection list), decodes Proxy-Authorization, and builds the forwarded head
//   for absolute-form requests.
// - Errors are sticky (the h11 rule): once failed, every feed() returns the same error.
//
// Target parsing lives in http_proxy_target.cpp, the fixed responses in
// http_proxy_response.cpp, base64 in base64.cpp.
#include "mtop/http_proxy.hpp"

#include <algorithm>
#include <optional>

#include "ascii.hpp"
#include "mtop/base64.hpp"

namespace mtop::http {

namespace {

using ascii::iequals;
using ascii::lower;

/// RFC 9110 tchar.
bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

bool is_token(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

/// Calls `f` with each element of a comma-separated list (RFC 9110 section 5.6.1), trimmed,
/// skipping empty elements as the RFC requires.
template <class F>
void for_each_list_item(std::string_view list, F&& f) {
  while (true) {
    const size_t comma = list.find(',');
    const std::string_view item = trim_ows(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) return;
    list.remove_prefix(comma + 1);
  }
}

/// Proxy-Authorization value to credentials (RFC 7617): scheme "Basic" (any case), one or more
/// spaces, then canonical base64 of "user:password".
Credentials decode_basic(std::string_view value) {
  Credentials bad;
  bad.state = AuthState::malformed;
  const size_t sp = value.find(' ');
  if (sp == std::string_view::npos || !iequals(value.substr(0, sp), "Basic")) return bad;
  std::string_view token = value.substr(sp);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  auto decoded = base64_decode(token);
  if (!decoded) return bad;
  const size_t colon = decoded->find(':');
  if (colon == std::string::npos) return bad;
  Credentials ok;
  ok.state = AuthState::basic;
  ok.user = decoded->substr(0, colon);
  ok.password = decoded->substr(colon + 1);
  return ok;
}

/// Headers never forwarded. "host" is replaced by the URI's authority. "close" is a reserved
/// field name (RFC 9110 section 16.3.2.2): the `Connection: close` we add names it, so a
/// forwarded "Close:" header would be hop-by-hop by our own head's rules.
bool is_always_hop_by_hop(std::string_view name) noexcept {
  static constexpr std::string_view kNames[] = {
      "connection", "keep-alive", "proxy-connection", "proxy-authorization",
      "proxy-authenticate", "te", "trailer", "upgrade", "host", "close"};
  return std::any_of(std::begin(kNames), std::end(kNames),
                     [&](std::string_view n) { return iequals(n, name); });
}

bool is_framing(std::string_view name) noexcept {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding");
}

}  // namespace

Result<std::size_t> ProxyRequestParser::feed(ByteView in) {
  if (state_ == State::failed) return error_;
  if (state_ == State::done) return Errc::invalid_state;
  for (size_t i = 0; i < in.size(); ++i) {
    if (auto r = on_byte(in[i]); !r) {
      state_ = State::failed;
      error_ = r.error();
      return error_;
    }
    if (state_ == State::done) return i + 1;
  }
  return in.size();
}

Result<void> ProxyRequestParser::on_byte(std::uint8_t b) {
  if (++head_size_ > settings_.max_head_size) return Errc::http_header_too_large;
  // Control bytes never appear in a head (HTAB aside); CR is judged when its line ends.
  if ((b < 0x20 && b != '\t' && b != '\r' && b != '\n') || b == 0x7f) {
    return Errc::http_bad_request;
  }
  if (b != '\n') {
    line_.push_back(static_cast<char>(b));
    return {};
  }
  std::string_view line = line_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find('\r') != std::string_view::npos) return Errc::http_bad_request;
  auto r = on_line(line);
  line_.clear();
  return r;
}

Result<void> ProxyRequestParser::on_line(std::string_view line) {
  if (state_ == State::request_line) {
    if (line.empty()) return {};  // RFC 9112 section 2.2: skip empty lines before the request
    return on_request_line(line);
  }
  if (line.empty()) return finish();
  return on_header_line(line);
}

Result<void> ProxyRequestParser::on_request_line(std::string_view line) {
  // Exactly three parts separated by single spaces: lenient splitting is how request-line
  // smuggling starts, and real clients never send anything else.
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Errc::http_bad_request;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return Errc::http_bad_request;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method) || target.empty()) return Errc::http_bad_request;
  if (version == "HTTP/1.1") {
    request_.version = HttpVersion::http_1_1;
  } else if (version == "HTTP/1.0") {
    request_.version = HttpVersion::http_1_0;
  } else {
    return Errc::http_bad_version;  // HTTP/2.0, HTTP/0.9, lower case, extra spaces, garbage
  }
  auto t = parse_request_target(method, target);
  if (!t) return t.error();
  request_.method = std::string(method);
  request_.target = std::move(*t);
  state_ = State::headers;
  return {};
}

Result<void> ProxyRequestParser::on_header_line(std::string_view line) {
  // obs-fold (RFC 9112 section 5.2): a server may reject it, and we do, since unfolding would
  // change what the origin sees.
  if (is_ows(line.front())) return Errc::http_bad_request;
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return Errc::http_bad_request;
  const std::string_view name = line.substr(0, colon);
  if (!is_token(name)) return Errc::http_bad_request;  // also refuses "Name : value"
  if (request_.headers.size() >= settings_.max_header_lines) return Errc::http_too_many_headers;
  request_.headers.push_back(Header{std::string(name), std::string(trim_ows(line.substr(colon + 1)))});
  return {};
}

Result<void> ProxyRequestParser::finish() {
  size_t hosts = 0, auths = 0;
  bool has_te = false;
  std::optional<std::string_view> content_length;
  std::vector<std::string> connection_named;  // lower-case names listed in Connection
  for (const Header& h : request_.headers) {
    if (iequals(h.name, "host")) {
      ++hosts;
    } else if (iequals(h.name, "transfer-encoding")) {
      has_te = true;
    } else if (iequals(h.name, "content-length")) {
      // All copies must be the same run of digits: differing lengths are a smuggling vector.
      if (h.value.empty() || !std::all_of(h.value.begin(), h.value.end(),
                                          [](char c) { return c >= '0' && c <= '9'; })) {
        return Errc::http_bad_request;
      }
      if (content_length && *content_length != h.value) return Errc::http_bad_request;
      content_length = h.value;
    } else if (iequals(h.name, "proxy-authorization")) {
      ++auths;
      request_.credentials = decode_basic(h.value);
    } else if (iequals(h.name, "connection")) {
      for_each_list_item(h.value, [&](std::string_view item) {
        std::string n(item);
        std::transform(n.begin(), n.end(), n.begin(), lower);
        connection_named.push_back(std::move(n));
      });
    }
  }
  if (hosts > 1) return Errc::http_bad_request;  // RFC 9112 section 3.2: must answer 400
  if (has_te && content_length) return Errc::http_bad_request;
  if (auths > 1) request_.credentials = Credentials{AuthState::malformed, {}, {}};
  request_.head_size = head_size_;

  if (request_.target.absolute) {
    std::string& out = request_.forward_head;
    out.reserve(head_size_ + 64);
    out += request_.method;
    out += ' ';
    out += request_.target.origin_form;
    out += request_.version == HttpVersion::http_1_1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n";
    out += "Host: ";
    out += request_.target.authority;
    out += "\r\n";
    for (const Header& h : request_.headers) {
      if (!is_framing(h.name)) {
        if (is_always_hop_by_hop(h.name)) continue;
        std::string n = h.name;
        std::transform(n.begin(), n.end(), n.begin(), lower);
        if (std::find(connection_named.begin(), connection_named.end(), n) !=
            connection_named.end()) {
          continue;
        }
      }
      out += h.name;
      out += ": ";
      out += h.value;
      out += "\r\n";
    }
    out += "Connection: close\r\n\r\n";
  }
  state_ = State::done;
  return {};
}

}  // namespace mtop::http
