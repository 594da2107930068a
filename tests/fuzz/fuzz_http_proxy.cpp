// Fuzz target for the HTTP proxy head parser (include/mtop/http_proxy.hpp). Invariants:
// - no crash, no sanitizer report, and feed() never claims more bytes than it was given;
// - the outcome (error code, or the parsed request and the bytes consumed) does not depend on
//   how the input is chunked;
// - a completed head ends at a line feed and fits the head limit;
// - re-fed, what we produce parses again to the same thing: the forwarded head (its request
//   line put back in absolute form) gives the same target and the very same forwarded head,
//   and a CONNECT rebuilt from the parsed Address gives the same Address.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>

#include "mtop/http_proxy.hpp"

namespace {

using mtop::Errc;
using mtop::http::ProxyRequest;
using mtop::http::ProxyRequestParser;
using mtop::http::ProxySettings;

void check(bool ok) {
  if (!ok) std::abort();
}

struct Outcome {
  std::optional<Errc> error;
  bool done = false;
  std::size_t consumed = 0;
  ProxyRequest request;
  friend bool operator==(const Outcome&, const Outcome&) = default;
};

Outcome run(const std::uint8_t* data, std::size_t size, std::size_t chunk, ProxySettings s) {
  ProxyRequestParser p(s);
  Outcome out;
  while (out.consumed < size) {
    const std::size_t n = std::min(chunk, size - out.consumed);
    auto r = p.feed(mtop::ByteView(data + out.consumed, n));
    if (!r) {
      out.error = r.error();
      out.consumed = 0;  // what earlier chunks consumed depends on the chunking: not compared
      // Errors are sticky.
      auto again = p.feed(mtop::ByteView(data, size));
      check(!again && again.error() == r.error());
      return out;
    }
    check(*r <= n);
    out.consumed += *r;
    if (p.done()) {
      out.done = true;
      out.request = p.request();
      return out;
    }
    check(*r == n);
  }
  return out;
}

Outcome run_string(const std::string& s, ProxySettings settings) {
  return run(reinterpret_cast<const std::uint8_t*>(s.data()), s.size(), s.size() + 1, settings);
}

void check_reparse(const ProxyRequest& req) {
  ProxySettings unlimited;
  unlimited.max_head_size = std::numeric_limits<std::size_t>::max();
  unlimited.max_header_lines = std::numeric_limits<std::size_t>::max();
  if (req.is_connect()) {
    check(req.forward_head.empty());
    const std::string again = "CONNECT " + req.target.address.to_string() + " HTTP/1.1\r\n\r\n";
    Outcome o = run_string(again, unlimited);
    check(o.done && o.consumed == again.size());
    check(o.request.target.address == req.target.address);
    return;
  }
  // "METHOD SP origin-form SP VERSION CRLF" -> "METHOD SP http://authority origin SP VERSION".
  const std::string& fwd = req.forward_head;
  const std::size_t eol = fwd.find("\r\n");
  check(eol != std::string::npos);
  const std::string first = fwd.substr(0, eol);
  const std::size_t sp1 = first.find(' ');
  check(sp1 == req.method.size());
  const std::string again = req.method + " http://" + req.target.authority + first.substr(sp1 + 1) +
                            fwd.substr(eol);
  Outcome o = run_string(again, unlimited);
  check(o.done && o.consumed == again.size());
  check(o.request.method == req.method);
  check(o.request.version == req.version);
  check(o.request.target == req.target);
  check(o.request.credentials.state == mtop::http::AuthState::absent);
  check(o.request.forward_head == fwd);
}

void check_all(const std::uint8_t* data, std::size_t size, ProxySettings s) {
  const Outcome whole = run(data, size, size + 1, s);
  check(whole.consumed <= size);
  if (whole.done) {
    check(whole.consumed == whole.request.head_size);
    check(whole.consumed > 0 && data[whole.consumed - 1] == '\n');
    check(whole.request.head_size <= s.max_head_size);
    check(whole.request.headers.size() <= s.max_header_lines);
    check_reparse(whole.request);
  }
  // Chunking must not matter: one byte at a time, and a size taken from the input.
  check(run(data, size, 1, s) == whole);
  const std::size_t chunk = size > 0 ? data[0] % 13 + 2 : 1;
  check(run(data, size, chunk, s) == whole);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_all(data, size, ProxySettings{});
  ProxySettings tight;  // small limits, so the limit paths are reached by short inputs
  tight.max_head_size = 96;
  tight.max_header_lines = 3;
  check_all(data, size, tight);
  return 0;
}
