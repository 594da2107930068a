// The HTTP/1.x proxy request head, as the climber receives it from a browser or curl
// (`curl -x http://127.0.0.1:PORT`): an incremental, sans-IO parser plus the bytes of the
// climber's own answers. No sockets, no clocks; deterministic for any chunking of the input.
//
//   mtop::http::ProxyRequestParser p;          // default limits: 16 KiB head, 100 header lines
//   auto n = p.feed(chunk);                     // bytes of `chunk` that belong to the head
//   if (!n) answer(400) and close;              // n.error() is one of the http_* codes
//   else if (p.done()) {                        // chunk[*n..] is body / tunnel payload: keep it
//     const auto& req = p.request();            // method, target, version, headers, credentials
//     if (auth configured && !req.credentials matches) answer(407) and close;
//     CONNECT: answer(200), then relay raw bytes.  Other methods: send req.forward_head, then
//     relay raw bytes (the request body is forwarded as-is, never parsed).
//   }
//
// What the parser accepts (RFC 9112 / RFC 9110, strictly, because it faces the network):
// - Request line `METHOD SP request-target SP HTTP/1.0|HTTP/1.1`, lines ending in CRLF or a bare
//   LF. Empty lines before the request line are skipped (RFC 9112 section 2.2) but count towards
//   the head size. A CR anywhere but before LF, and any control byte other than HTAB in the
//   head, is http_bad_request; it is detected at the byte, so a TLS ClientHello or other binary
//   sent to the proxy port fails at once instead of waiting for the size limit.
// - CONNECT takes authority-form `host:port` (`[v6]:port` for IPv6, port required). Every other
//   method takes absolute-form `http://host[:port][/path][?query]` (port 80 by default; scheme
//   case-insensitive). `https://` and other schemes: http_unsupported. Origin-form `/path`,
//   asterisk-form `*`, authority-form for a non-CONNECT method, userinfo (`user@host`), a
//   fragment, an empty port, or port 0 / > 65535: http_bad_target.
// - Hosts: a strict dotted quad is AddressType::ipv4, `[...]` is AddressType::ipv6 (RFC 4291
//   text, no zone id), anything else must pass is_valid_domain. A host whose last label is
//   numeric ("127.1", "0x7f.1", "010.0.0.1") but that is not a strict dotted quad is
//   http_bad_target: resolvers read such names as IPv4 in octal/hex/short forms, and a target
//   policy must not be fooled by spelling.
// - Header lines `name ":" OWS value OWS` with a token name and no space before the colon;
//   obs-fold (a line starting with SP/HTAB) is http_bad_request. More than one Host, a
//   Content-Length that is not all digits or differs between copies, or Content-Length together
//   with Transfer-Encoding is http_bad_request (ambiguous framing is refused, not guessed).
// - Limits (ProxySettings): the head (leading empty lines, request line, header lines and the
//   final empty line) longer than max_head_size is http_header_too_large; more than
//   max_header_lines header lines is http_too_many_headers.
// - A truncated but so far valid head is never an error: feed() consumes it and asks for more.
//
// The head forwarded to the origin (absolute-form only; CONNECT forwards nothing):
// - The request line in origin-form: `GET /path?query HTTP/1.1` (`/` when the path is empty),
//   with the client's version.
// - `Host:` first, carrying the authority of the request URI exactly as the client wrote it:
//   RFC 9112 section 3.2.2 says a proxy must replace a received Host with the URI's host, so
//   any Host the client sent is dropped rather than merely kept when present.
// - Hop-by-hop headers removed: Connection and every header named in it, Keep-Alive,
//   Proxy-Connection, Proxy-Authorization, Proxy-Authenticate, TE, Trailer, Upgrade, and a
//   header named Close (a reserved name that our own `Connection: close` would designate). But
//   Content-Length and Transfer-Encoding are always kept, even when Connection names them,
//   because the body is forwarded byte for byte and the origin needs its framing.
// - The other headers in their received order, as `Name: value` with CRLF (the client's name
//   spelling; surrounding whitespace of the value trimmed).
// - `Connection: close` last: one request per tunnel, so the climber never has to find where a
//   response ends, and the origin closes after it.
//
// Thread safety: a parser is not thread-safe; distinct parsers may be used from distinct threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mtop/address.hpp"
#include "mtop/bytes.hpp"
#include "mtop/export.hpp"
#include "mtop/result.hpp"

namespace mtop::http {

/// Limits of one parser. Both bound the memory a peer can make us hold.
struct ProxySettings {
  /// Largest head, in bytes, from the first byte to the end of the empty line that closes it.
  std::size_t max_head_size = 16 * 1024;
  /// Most header lines (the request line and the final empty line do not count).
  std::size_t max_header_lines = 100;
};

enum class HttpVersion : std::uint8_t { http_1_0, http_1_1 };

/// One header field as received: the name in the client's spelling, the value with leading and
/// trailing whitespace removed.
struct Header {
  std::string name;
  std::string value;
  friend bool operator==(const Header&, const Header&) = default;
};

/// What Proxy-Authorization held.
enum class AuthState : std::uint8_t {
  absent,     ///< no Proxy-Authorization header
  basic,      ///< exactly one `Basic <base64(user:password)>`, decoded into user and password
  malformed,  ///< present but unusable: another scheme, bad base64, no ':', or several copies
};

/// The client's proxy credentials. The climber answers 407 when its local auth is configured
/// and state is not `basic` or the pair does not match.
struct Credentials {
  AuthState state = AuthState::absent;
  std::string user;      ///< only for `basic`: the part before the first ':' (may be empty)
  std::string password;  ///< only for `basic`: everything after the first ':' (may hold ':')
  friend bool operator==(const Credentials&, const Credentials&) = default;
};

/// A parsed request target.
struct RequestTarget {
  Address address;          ///< where to connect
  bool absolute = false;    ///< true for absolute-form (http://...), false for CONNECT
  std::string authority;    ///< host[:port] as written (absolute-form only; for Host:)
  std::string origin_form;  ///< "/path?query" (absolute-form only; "/" when the path is empty)
  friend bool operator==(const RequestTarget&, const RequestTarget&) = default;
};

/// A complete, valid proxy request head.
struct ProxyRequest {
  std::string method;  ///< as received (methods are case-sensitive)
  RequestTarget target;
  HttpVersion version = HttpVersion::http_1_1;
  std::vector<Header> headers;  ///< every header line, in order
  Credentials credentials;
  /// Bytes of the input the head used, from the first byte fed (including skipped leading empty
  /// lines) through the final empty line. Everything after it is body or tunnel payload.
  std::size_t head_size = 0;
  /// The head to send to the origin (see the top of this file); empty for CONNECT.
  std::string forward_head;

  bool is_connect() const noexcept { return !target.absolute; }
  friend bool operator==(const ProxyRequest&, const ProxyRequest&) = default;
};

/// Incremental parser of one proxy request head.
class MTOP_CPP_API ProxyRequestParser {
 public:
  explicit ProxyRequestParser(ProxySettings settings = {}) : settings_(settings) {}

  /// Consumes bytes of `in` up to the end of the head, never beyond it.
  /// Returns how many bytes of `in` were consumed: all of them while the head is incomplete;
  /// when done() turns true, the bytes up to and including the head's final line feed, so
  /// in[result..] is the start of the body / tunnel payload and must be kept by the caller.
  /// `in` is borrowed for the call only.
  /// Errors (sticky: every later call returns the same one): http_bad_request,
  /// http_header_too_large, http_too_many_headers, http_bad_target, http_unsupported,
  /// http_bad_version; invalid_state if called after done() (a caller bug).
  Result<std::size_t> feed(ByteView in);

  /// True once a complete, valid head has been parsed.
  bool done() const noexcept { return state_ == State::done; }

  /// The parsed request; only when done(). Valid until the parser is destroyed or moved from.
  const ProxyRequest& request() const noexcept { return request_; }

 private:
  enum class State : std::uint8_t { request_line, headers, done, failed };

  Result<void> on_byte(std::uint8_t b);
  Result<void> on_line(std::string_view line);
  Result<void> on_request_line(std::string_view line);
  Result<void> on_header_line(std::string_view line);
  Result<void> finish();

  ProxySettings settings_;
  State state_ = State::request_line;
  Errc error_ = Errc::http_bad_request;
  std::string line_;  ///< the line being received, without its line feed
  std::size_t head_size_ = 0;
  ProxyRequest request_;
};

/// Parses a request-target for `method`: authority-form for CONNECT, absolute-form http URI
/// for any other method (rules at the top of this file).
/// Errors: http_bad_target, http_unsupported (a scheme other than http).
MTOP_CPP_API Result<RequestTarget> parse_request_target(std::string_view method, std::string_view target);

/// The climber's own answers.
enum class ProxyStatus : std::uint16_t {
  connection_established = 200,  ///< CONNECT succeeded; the tunnel starts after these bytes
  bad_request = 400,             ///< the head did not parse (any http_* error)
  forbidden = 403,               ///< the target policy refused the destination
  proxy_auth_required = 407,     ///< credentials missing or wrong
  bad_gateway = 502,             ///< the tunnel or the origin could not be reached
  service_unavailable = 503,     ///< the climber is at one of its own limits (a full QUIC pool)
  gateway_timeout = 504,         ///< reaching the origin timed out
};

/// The complete response bytes for `status` (HTTP/1.1 status line, headers, empty line), as a
/// view of constant storage that lives for the whole program. Errors carry
/// `Content-Length: 0` and `Connection: close`; 407 adds `Proxy-Authenticate: Basic
/// realm="mtop"`. The 200 answer to CONNECT carries no header at all: RFC 9110 section 9.3.6
/// forbids Content-Length in a 2xx answer to CONNECT, and the connection does not close but
/// becomes the tunnel. An unknown value yields the 400 answer.
MTOP_CPP_API std::string_view proxy_response(ProxyStatus status) noexcept;

}  // namespace mtop::http
