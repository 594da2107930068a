// Fuzz target: ServerHandshake driven like an adapter, checked against decode_auth() (or
// decode_request() when reverse tunnels are offered) on the whole stream (a differential
// test: chunking must not change the outcome).
// Input: [options][decision][chunk seed] then the client's byte stream.
//   options  % 5 picks the early-data limit (0, 1, 7, 64, 64 KiB); (options / 5) % 2 = 1
//            offers reverse tunnels (the reference decoder is then decode_request())
//   decision % 4: accept (accept_reverse for a REVERSE request) / reject stealth / reject
//            reply (auth_failed) / reply connect_failed (port_in_use, sent in both modes,
//            for a REVERSE request)
//   chunk seed drives the sizes of the feed() calls.
// Invariants (abort on violation): consumed <= offered; never more early payload held than
// the limit; the same error or request as the one-shot decoder; after accept, the payload
// events carry exactly the bytes after the message, in order, then EndOfInput; the response
// bytes are exactly the documented ones.
#include <cstdio>
#include <cstdlib>

#include "mtop/server_handshake.hpp"

#include "fuzz_support.hpp"

namespace {

using mtop::ServerHandshake;
namespace event = mtop::event;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const size_t limits[] = {0, 1, 7, 64, mtop::kDefaultEarlyDataLimit};
  const size_t limit = limits[data[0] % 5];
  const bool reverse = (data[0] / 5) % 2 == 1;
  const int decision = data[1] % 4;
  Chunker chunker{data[2], 97};
  const mtop::ByteView stream(data + 3, size - 3);

  const auto reference = reverse ? mtop::decode_request(stream) : mtop::decode_auth(stream);
  ServerHandshake hs(ServerHandshake::Options{limit, reverse});
  const bool reverse_request =
      reference && reference->complete() && reference->message->method == mtop::Method::reverse;

  mtop::Bytes payload;
  bool saw_request = false, saw_error = false, decided = false, eof_reported = false;
  auto drain = [&] {
    for (int guard = 0; guard < 1000; ++guard) {
      mtop::ServerEvent e = hs.next_event();
      if (std::holds_alternative<event::NeedData>(e)) return;
      if (auto* req = std::get_if<event::AuthRequest>(&e)) {
        FUZZ_ASSERT(!saw_request);
        FUZZ_ASSERT(reference && reference->complete());
        FUZZ_ASSERT(req->request == *reference->message);
        saw_request = true;
        req->request.wipe_password();
        FUZZ_ASSERT(req->request.password.empty());
      } else if (auto* err = std::get_if<event::Error>(&e)) {
        FUZZ_ASSERT(!reference && err->code == reference.error());
        saw_error = true;
        return;
      } else if (auto* p = std::get_if<event::Payload>(&e)) {
        FUZZ_ASSERT(decided && !p->data.empty());
        payload.insert(payload.end(), p->data.begin(), p->data.end());
      } else if (std::holds_alternative<event::EndOfInput>(e)) {
        eof_reported = true;
        return;
      }
    }
    FUZZ_ASSERT(!"next_event() did not settle");
  };
  auto decide = [&] {
    decided = true;
    if (decision == 0 && reverse_request) {
      FUZZ_ASSERT(hs.accept().error() == mtop::Errc::invalid_state);
      FUZZ_ASSERT(hs.accept_reverse({40000, 7, 15}).ok());
      const mtop::ByteView out = hs.pending_output();
      FUZZ_ASSERT(out.size() == 10 && out[0] == 0x01 && out[1] == 0x00 && out[2] == 0x9c &&
                  out[3] == 0x40 && out[7] == 7 && out[9] == 15);
      FUZZ_ASSERT(hs.accept_reverse({40000, 7, 15}).error() == mtop::Errc::invalid_state);
    } else if (decision == 0) {
      FUZZ_ASSERT(hs.accept_reverse({40000, 7, 15}).error() == mtop::Errc::invalid_state);
      FUZZ_ASSERT(hs.accept().ok());
      const mtop::ByteView out = hs.pending_output();
      FUZZ_ASSERT(out.size() == 2 && out[0] == 0x01 && out[1] == 0x00);
      FUZZ_ASSERT(hs.accept().error() == mtop::Errc::invalid_state);
    } else {
      const auto status = decision != 3     ? mtop::Status::auth_failed
                          : reverse_request ? mtop::Status::port_in_use
                                            : mtop::Status::connect_failed;
      FUZZ_ASSERT(hs.reject(status, decision == 1 ? mtop::RejectMode::stealth
                                                  : mtop::RejectMode::reply).ok());
      const mtop::ByteView out = hs.pending_output();
      FUZZ_ASSERT(decision == 1 ? out.empty()
                                : out.size() == 2 && out[1] == static_cast<uint8_t>(status));
      FUZZ_ASSERT(hs.feed(stream).error() == mtop::Errc::invalid_state);
    }
  };

  size_t at = 0;
  while (at < stream.size() && !saw_error) {
    const size_t n = chunker.next(stream.size() - at);
    auto r = hs.feed(stream.subspan(at, n));
    if (!r) {
      FUZZ_ASSERT(decided && decision != 0);  // only a rejected machine refuses input
      break;
    }
    FUZZ_ASSERT(*r <= n);
    at += *r;
    if (hs.state() == ServerHandshake::State::awaiting_decision)
      FUZZ_ASSERT(hs.early_data_size() <= limit);
    drain();
    if (*r < n && !saw_error) {
      // Back-pressure: only while deciding, with the bound reached. The adapter decides.
      FUZZ_ASSERT(hs.state() == ServerHandshake::State::awaiting_decision && saw_request);
      FUZZ_ASSERT(hs.early_data_size() == limit);
      decide();
      drain();
      if (decision != 0) break;
    }
  }
  if (saw_request && !decided) {
    decide();
    drain();
  }

  if (!reference) {
    FUZZ_ASSERT(saw_error && !saw_request);
    return 0;
  }
  if (!reference->complete()) {
    FUZZ_ASSERT(!saw_error && !saw_request);
    FUZZ_ASSERT(hs.feed_eof().ok());
    FUZZ_ASSERT(hs.next_event() == mtop::ServerEvent{event::Error{mtop::Errc::peer_closed}});
    return 0;
  }
  FUZZ_ASSERT(saw_request);
  if (decision != 0) {
    FUZZ_ASSERT(payload.empty() && hs.state() == ServerHandshake::State::closed);
    return 0;
  }
  // Accepted: every byte after the message came out as payload, in order.
  FUZZ_ASSERT(at == stream.size());
  FUZZ_ASSERT(payload.size() == stream.size() - reference->size);
  for (size_t i = 0; i < payload.size(); ++i)
    FUZZ_ASSERT(payload[i] == stream[reference->size + i]);
  FUZZ_ASSERT(hs.feed_eof().ok());
  drain();
  FUZZ_ASSERT(eof_reported);
  return 0;
}
