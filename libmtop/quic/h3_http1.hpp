// The HTTP/1.1 side of the QUIC port's HTTP/3 site (docs/PROTOCOL.md section 10): the request
// head sent to the fallback backend, and a sans-IO parser of its response (status line,
// fields, and the body delimited by Content-Length, chunked coding or the end of the
// connection). No sockets, no clocks: quic/h3_request.cpp drives it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mtop/bytes.hpp"

namespace mtop::quic::h3 {

/// A response or request field: name (lower case for responses) and value.
using Field = std::pair<std::string, std::string>;

/// Largest response head accepted from the backend (status line and fields).
inline constexpr std::size_t kMaxResponseHead = 64 * 1024;

/// True for the fields that belong to one HTTP/1.1 connection and are neither forwarded to the
/// backend nor back to the HTTP/3 client (RFC 9110 section 7.6.1, RFC 9114 section 4.2).
/// `name` in lower case.
bool is_connection_field(std::string_view name) noexcept;

/// The head of the backend request for an HTTP/3 request: request line, Host, the fields in
/// `fields` except connection fields and `host`, `Transfer-Encoding: chunked` when `chunked`,
/// and `Connection: close`. `authority` is the Host value.
std::string request_head(std::string_view method, std::string_view path, std::string_view authority,
                         const std::vector<Field>& fields, bool chunked);

/// One chunk of chunked coding ("<hex>\r\n<data>\r\n") appended to `out`; an empty `data`
/// appends the last chunk ("0\r\n\r\n").
void append_chunk(Bytes& out, ByteView data);

/// Parses one backend response. Feed it the backend's bytes in any chunking; it decodes the
/// body into the caller's buffer.
class Http1ResponseParser {
 public:
  enum class State { head, body, done, error };

  /// `head_request`: the request was HEAD, so the response has no body whatever it says.
  explicit Http1ResponseParser(bool head_request) : head_request_(head_request) {}

  /// Consumes `in`; decoded body bytes are appended to `body`. Returns the state afterwards
  /// (error: the response is malformed, see error()). Interim 1xx heads are skipped.
  State feed(ByteView in, Bytes& body);
  /// The backend closed its side: done if the body was delimited by the close, or was
  /// complete; error (a response cut short) otherwise.
  State feed_eof();

  State state() const noexcept { return state_; }
  /// The final head, once state() is past `head`.
  int status() const noexcept { return status_; }
  const std::vector<Field>& fields() const noexcept { return fields_; }
  /// Whether the response has a body at all (not HEAD, 204, 304).
  bool has_body() const noexcept { return mode_ != Mode::none; }
  const std::string& error() const noexcept { return error_; }

 private:
  enum class Mode { none, length, chunked, until_close };
  enum class Chunk { size, data, data_end, trailer };

  State fail(std::string why);
  bool parse_head(std::string_view head);
  void body_bytes(ByteView& in, Bytes& body);
  bool chunked_bytes(ByteView& in, Bytes& body);
  /// Takes one CRLF-terminated line out of `in` into line_; false: need more bytes.
  bool take_line(ByteView& in);

  bool head_request_;
  State state_ = State::head;
  std::string head_;  ///< head bytes so far
  int status_ = 0;
  std::vector<Field> fields_;
  Mode mode_ = Mode::until_close;
  std::uint64_t left_ = 0;  ///< length mode: body bytes to come; chunked: of this chunk
  Chunk chunk_ = Chunk::size;
  std::string line_;
  std::string error_;
};

}  // namespace mtop::quic::h3
