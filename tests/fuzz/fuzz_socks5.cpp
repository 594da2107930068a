// Fuzz target for the SOCKS5 server machine (include/mtop/socks5.hpp).
//
// Input layout: byte 0 = settings and the app's decisions, byte 1 = max_payload, byte 2 = seed
// of the chunking (its top bit: the app replies late, after more payload has arrived), the
// rest = bytes from the client. The same input drives two machines, one
// fed whole and one fed in pseudo-random chunks, like an adapter would (handling events,
// taking payload, draining output in parts). Invariants, any violation aborts:
// - feed() never reports more consumed bytes than it was given;
// - pending output never exceeds kMaxOutput and payload never exceeds its documented bound;
// - a failed machine consumes nothing more, keeps failing with the same code, and its output
//   does not change;
// - every chunking gives the same output bytes, the same events, the same final state and
//   error, and the same client bytes handed over (payload plus what was left unconsumed);
// - once established, those bytes are exactly the end of the input: nothing lost or reordered.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "mtop/socks5.hpp"

using namespace mtop::socks5;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

struct Outcome {
  mtop::Bytes output;
  std::vector<std::string> events;
  mtop::Bytes handed_over;  // payload, then the input the machine never consumed
  State state = State::greeting;
  int error = 0;
};

// A tiny deterministic generator (xorshift), so chunk sizes come from the input only.
struct Chunker {
  std::uint32_t x;
  std::size_t next(std::size_t left) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return std::min<std::size_t>(left, 1 + x % 23);
  }
};

std::string describe(const Event& e) {
  if (const auto* c = std::get_if<Credentials>(&e)) return "cred:" + c->username + ":" + c->password;
  if (const auto* r = std::get_if<ConnectRequest>(&e)) return "connect:" + r->target.to_string();
  return {};  // NeedData / Paused / Finished depend on chunking; not compared
}

Outcome drive(std::uint8_t flags, std::size_t max_payload, const std::uint8_t* data,
              std::size_t size, bool whole, std::uint32_t seed, bool late_reply) {
  ServerSettings settings;
  settings.no_auth = flags & 0x01;
  settings.username_password = flags & 0x02;
  settings.max_payload = max_payload;
  const bool accept = flags & 0x04;
  const auto code = static_cast<ReplyCode>((flags >> 3) % 9);
  mtop::Address bound;
  if (flags & 0x80) bound = mtop::Address::from_domain("bound.example", 1080);

  Server s(settings);
  Chunker chunker{seed | 1u};
  Outcome o;
  std::size_t pos = 0;
  std::size_t drained = 0;  // output bytes already moved to o.output
  const std::size_t payload_bound = std::max(max_payload, kMaxHandshakeBuffer);
  bool reply_due = false;  // a ConnectRequest is waiting for the (late) reply
  int waited = 0;
  bool stalled = false;  // the last feed took nothing: the app must decide now
  for (int rounds = 0;; ++rounds) {
    check(rounds < 100000);  // liveness: every round consumes input or ends
    // Answer events as the climber would.
    for (;;) {
      auto ev = s.next_event();
      if (!ev) break;
      const std::string d = describe(*ev);
      if (!d.empty()) o.events.push_back(d);
      if (std::holds_alternative<Credentials>(*ev)) {
        check(s.accept_credentials(accept).ok());
      } else if (std::holds_alternative<ConnectRequest>(*ev)) {
        reply_due = true;
      } else {
        break;
      }
    }
    if (reply_due && (!late_reply || stalled || pos == size || ++waited > 3)) {
      check(s.reply(code, bound).ok());
      reply_due = false;
    }
    // Bounds hold at every step.
    check(s.pending_output().size() + drained <= kMaxOutput);
    // Drain output in parts (half of it) to exercise consume_output.
    const auto out = s.pending_output();
    const std::size_t part = whole ? out.size() : (out.size() + 1) / 2;
    o.output.insert(o.output.end(), out.begin(), out.begin() + static_cast<std::ptrdiff_t>(part));
    s.consume_output(part);
    drained += part;
    const mtop::Bytes payload = s.take_payload();
    check(payload.size() <= payload_bound);
    o.handed_over.insert(o.handed_over.end(), payload.begin(), payload.end());

    if (s.state() == State::failed) {
      const int err = static_cast<int>(*s.error());
      const auto before = s.pending_output().size();
      auto again = s.feed(mtop::ByteView(data + pos, size - pos));
      check(!again && static_cast<int>(again.error()) == err);
      check(s.pending_output().size() == before);
      o.error = err;
      break;
    }
    if (s.state() == State::established || s.state() == State::closed) break;
    if (pos == size) break;
    const std::size_t n = whole ? size - pos : chunker.next(size - pos);
    auto r = s.feed(mtop::ByteView(data + pos, n));
    if (!r) continue;  // the failed branch above records it
    check(*r <= n);
    pos += *r;
    // Only an outstanding decision can stop input: a full handshake buffer (but credentials
    // were just answered) or a full payload buffer (only while the reply is late).
    check(*r > 0 || reply_due);
    stalled = *r == 0;
  }
  const auto rest = s.pending_output();
  o.output.insert(o.output.end(), rest.begin(), rest.end());
  if (s.state() == State::established) {
    o.handed_over.insert(o.handed_over.end(), data + pos, data + size);
  }
  o.state = s.state();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  const std::uint8_t flags = data[0];
  const std::size_t max_payload = data[1];  // 0-255: small, so back-pressure is exercised
  const std::uint32_t seed = data[2];
  const bool late_reply = data[2] & 0x80;
  const std::uint8_t* in = data + 3;
  const std::size_t n = size - 3;
  const Outcome a = drive(flags, max_payload, in, n, true, seed, late_reply);
  const Outcome b = drive(flags, max_payload, in, n, false, seed, late_reply);
  check(a.output == b.output);
  check(a.events == b.events);
  check(a.state == b.state);
  check(a.error == b.error);
  // A closed or failed machine drops its payload, so only compare what an established one
  // handed over.
  if (a.state == State::established) {
    check(a.handed_over == b.handed_over);
    check(a.handed_over.size() <= n &&
          std::equal(a.handed_over.begin(), a.handed_over.end(), in + n - a.handed_over.size()));
  }
  return 0;
}
