#include "quic/h3_http1.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "core/ascii.hpp"

namespace mtop::quic::h3 {
namespace {

/// Longest chunk-size or trailer line accepted.
constexpr std::size_t kMaxLine = 4096;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii::lower(c);
  return out;
}

bool is_token_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && c != ':' && c != '(' && c != ')' && c != ',' && c != ';' &&
         c != '<' && c != '>' && c != '@' && c != '[' && c != ']' && c != '\\' && c != '"' &&
         c != '/' && c != '?' && c != '=' && c != '{' && c != '}';
}

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    if (ascii::iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool is_connection_field(std::string_view name) noexcept {
  static constexpr std::array<std::string_view, 6> kNames = {
      "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te"};
  return std::find(kNames.begin(), kNames.end(), name) != kNames.end();
}

std::string request_head(std::string_view method, std::string_view path, std::string_view authority,
                         const std::vector<Field>& fields, bool chunked) {
  std::string out;
  out.append(method).append(" ").append(path).append(" HTTP/1.1\r\n");
  out.append("Host: ").append(authority).append("\r\n");
  for (const auto& [name, value] : fields) {
    if (is_connection_field(name) || name == "host") continue;
    out.append(name).append(": ").append(value).append("\r\n");
  }
  if (chunked) out.append("Transfer-Encoding: chunked\r\n");
  out.append("Connection: close\r\n\r\n");
  return out;
}

void append_chunk(Bytes& out, ByteView data) {
  std::array<char, 20> hex{};
  auto [end, ec] = std::to_chars(hex.data(), hex.data() + hex.size(), data.size(), 16);
  (void)ec;  // 20 characters hold any size_t in hex
  out.insert(out.end(), hex.data(), end);
  out.push_back('\r');
  out.push_back('\n');
  // The last chunk ("0") has no data; the CRLF after it ends the (empty) trailer.
  out.insert(out.end(), data.begin(), data.end());
  out.push_back('\r');
  out.push_back('\n');
}

Http1ResponseParser::State Http1ResponseParser::fail(std::string why) {
  error_ = std::move(why);
  state_ = State::error;
  return state_;
}

bool Http1ResponseParser::parse_head(std::string_view head) {
  // Status line: HTTP/1.x SP 3DIGIT [SP reason]
  const std::size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ' ||
      !ascii::is_digit(line[9]) || !ascii::is_digit(line[10]) || !ascii::is_digit(line[11]) ||
      (line.size() > 12 && line[12] != ' ')) {
    error_ = "malformed status line";
    return false;
  }
  status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (status_ < 100) {
    error_ = "malformed status line";
    return false;
  }
  fields_.clear();
  std::string_view rest = eol == std::string_view::npos ? "" : head.substr(eol + 2);
  while (!rest.empty()) {
    const std::size_t end = rest.find("\r\n");
    const std::string_view f = rest.substr(0, end);
    rest = end == std::string_view::npos ? "" : rest.substr(end + 2);
    if (f.empty()) break;
    const std::size_t colon = f.find(':');
    if (colon == 0 || colon == std::string_view::npos ||
        !std::all_of(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(colon), is_token_char)) {
      error_ = "malformed header field";
      return false;
    }
    const std::string_view value = trim(f.substr(colon + 1));
    if (std::any_of(value.begin(), value.end(), [](char c) {
          const auto u = static_cast<unsigned char>(c);
          return (u < 0x20 && c != '\t') || u == 0x7f;
        })) {
      error_ = "malformed header field";
      return false;
    }
    fields_.emplace_back(lowered(f.substr(0, colon)), std::string(value));
  }
  mode_ = Mode::until_close;
  if (head_request_ || status_ == 204 || status_ == 304 || status_ < 200) {
    mode_ = Mode::none;
    return true;
  }
  bool have_length = false;
  for (const auto& [name, value] : fields_) {
    if (name == "transfer-encoding") {
      if (!has_token(value, "chunked")) {
        error_ = "unsupported transfer-encoding";
        return false;
      }
      mode_ = Mode::chunked;
    }
  }
  if (mode_ == Mode::chunked) return true;
  for (const auto& [name, value] : fields_) {
    if (name != "content-length") continue;
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || end != value.data() + value.size() || value.empty() ||
        (have_length && n != left_)) {
      error_ = "malformed content-length";
      return false;
    }
    have_length = true;
    left_ = n;
    mode_ = Mode::length;
  }
  return true;
}

bool Http1ResponseParser::take_line(ByteView& in) {
  while (!in.empty()) {
    const char c = static_cast<char>(in.front());
    in = in.subspan(1);
    if (c == '\n') {
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      return true;
    }
    line_.push_back(c);
    if (line_.size() > kMaxLine) return true;  // the caller sees a line too long
  }
  return false;
}

bool Http1ResponseParser::chunked_bytes(ByteView& in, Bytes& body) {
  while (!in.empty() && state_ == State::body) {
    switch (chunk_) {
      case Chunk::size: {
        if (!take_line(in)) return true;
        if (line_.size() > kMaxLine) return false;
        std::string_view size = line_;
        size = trim(size.substr(0, size.find(';')));
        std::uint64_t n = 0;
        auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), n, 16);
        if (size.empty() || ec != std::errc() || end != size.data() + size.size()) return false;
        line_.clear();
        left_ = n;
        chunk_ = n == 0 ? Chunk::trailer : Chunk::data;
        break;
      }
      case Chunk::data: {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size()));
        body.insert(body.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
        in = in.subspan(n);
        left_ -= n;
        if (left_ == 0) chunk_ = Chunk::data_end;
        break;
      }
      case Chunk::data_end:
        if (!take_line(in)) return true;
        if (!line_.empty()) return false;
        chunk_ = Chunk::size;
        break;
      case Chunk::trailer:
        // Trailer fields are dropped (not forwarded); an empty line ends the message.
        if (!take_line(in)) return true;
        if (line_.size() > kMaxLine) return false;
        if (line_.empty()) state_ = State::done;
        line_.clear();
        break;
    }
  }
  return true;
}

void Http1ResponseParser::body_bytes(ByteView& in, Bytes& body) {
  if (mode_ == Mode::length) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size()));
    body.insert(body.end(), in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n));
    in = in.subspan(n);
    left_ -= n;
    if (left_ == 0) state_ = State::done;
  } else if (mode_ == Mode::until_close) {
    body.insert(body.end(), in.begin(), in.end());
    in = {};
  }
}

Http1ResponseParser::State Http1ResponseParser::feed(ByteView in, Bytes& body) {
  while (!in.empty() && state_ == State::head) {
    // Byte by byte up to the blank line: heads are small, and what follows is body.
    head_.push_back(static_cast<char>(in.front()));
    in = in.subspan(1);
    if (head_.size() > kMaxResponseHead) return fail("response head too large");
    if (head_.size() < 4 || head_.compare(head_.size() - 4, 4, "\r\n\r\n") != 0) continue;
    if (!parse_head(head_)) return fail(error_);
    head_.clear();
    if (status_ == 101) return fail("the backend switched protocols");
    if (status_ < 200) continue;  // interim response: the final one follows
    state_ =
        mode_ == Mode::none || (mode_ == Mode::length && left_ == 0) ? State::done : State::body;
  }
  if (state_ == State::body) {
    if (mode_ == Mode::chunked) {
      if (!chunked_bytes(in, body)) return fail("malformed chunked body");
    } else {
      body_bytes(in, body);
    }
  }
  // Bytes after a complete response are ignored (Connection: close was asked for).
  return state_;
}

Http1ResponseParser::State Http1ResponseParser::feed_eof() {
  if (state_ == State::body && mode_ == Mode::until_close) state_ = State::done;
  if (state_ == State::head) return fail("the backend closed before a complete response head");
  if (state_ == State::body) return fail("the backend closed before the end of the body");
  return state_;
}

}  // namespace mtop::quic::h3
