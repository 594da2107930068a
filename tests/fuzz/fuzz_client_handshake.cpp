// Fuzz target: ClientHandshake fed an arbitrary server stream in chunks, checked against
// decode_response() on the whole stream. Input: [chunk seed][early payload length] then the
// server's bytes.
// Invariants (abort on violation): the first output is exactly the encoded auth message
// followed by the early payload; consumed <= offered; the outcome (Established / Rejected /
// Error / ClosedWithoutStatus on EOF) matches the one-shot decoder; after Established the
// payload events carry exactly the bytes after the response, then EndOfInput.
#include <cstdio>
#include <cstdlib>

#include "mtop/client_handshake.hpp"

#define FUZZ_ASSERT(c)                                                         \
  do {                                                                         \
    if (!(c)) {                                                                \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c); \
      std::abort();                                                            \
    }                                                                          \
  } while (0)

namespace {

using mtop::ClientHandshake;
namespace event = mtop::event;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  uint32_t chunk_state = data[0];
  const mtop::Bytes early(data[1], 0xe5);
  const mtop::ByteView stream(data + 2, size - 2);
  const auto reference = mtop::decode_response(stream);

  const mtop::AuthMessage request{mtop::Method::connect, "fuzz", "pw",
                                  mtop::Address::from_domain("example.org", 443)};
  auto created = ClientHandshake::create(request);
  FUZZ_ASSERT(created.ok());
  ClientHandshake hs = std::move(*created);
  FUZZ_ASSERT(hs.send_payload(early).ok());
  mtop::Bytes expect_out;
  FUZZ_ASSERT(mtop::encode_auth(request, expect_out).ok());
  expect_out.insert(expect_out.end(), early.begin(), early.end());
  const mtop::ByteView out = hs.pending_output();
  FUZZ_ASSERT(out.size() == expect_out.size());
  for (size_t i = 0; i < out.size(); ++i) FUZZ_ASSERT(out[i] == expect_out[i]);
  hs.consume_output(chunk_state % (out.size() + 1));

  mtop::Bytes payload;
  int established = 0;
  bool terminal = false;
  mtop::ClientEvent last = event::NeedData{};
  auto drain = [&] {
    for (int guard = 0; guard < 1000; ++guard) {
      mtop::ClientEvent e = hs.next_event();
      if (std::holds_alternative<event::NeedData>(e)) return;
      if (std::holds_alternative<event::Established>(e)) {
        ++established;
      } else if (auto* p = std::get_if<event::Payload>(&e)) {
        FUZZ_ASSERT(established == 1 && !p->data.empty());
        payload.insert(payload.end(), p->data.begin(), p->data.end());
      } else {
        terminal = true;
        last = e;
        FUZZ_ASSERT(hs.next_event() == e);  // terminal events repeat
        return;
      }
    }
    FUZZ_ASSERT(!"next_event() did not settle");
  };

  size_t at = 0;
  while (at < stream.size() && !terminal) {
    chunk_state = chunk_state * 1103515245u + 12345u;
    const size_t n = std::min<size_t>(1 + (chunk_state >> 16) % 13, stream.size() - at);
    auto r = hs.feed(stream.subspan(at, n));
    FUZZ_ASSERT(r.ok());
    FUZZ_ASSERT(*r <= n);
    at += *r;
    drain();
    if (*r < n) FUZZ_ASSERT(terminal);
  }
  if (!terminal) {
    FUZZ_ASSERT(hs.feed_eof().ok());
    drain();
  }
  FUZZ_ASSERT(terminal);

  if (!reference) {
    FUZZ_ASSERT(last == mtop::ClientEvent{event::Error{reference.error()}});
    FUZZ_ASSERT(established == 0 && hs.pending_output().empty());
  } else if (!reference->complete()) {
    FUZZ_ASSERT(last == mtop::ClientEvent{event::ClosedWithoutStatus{}});
    FUZZ_ASSERT(established == 0);
  } else if (*reference->message != mtop::Status::success) {
    FUZZ_ASSERT(last == mtop::ClientEvent{event::Rejected{*reference->message}});
    FUZZ_ASSERT(at == mtop::kResponseSize && established == 0);
    FUZZ_ASSERT(hs.send_payload(early).error() == mtop::Errc::invalid_state);
  } else {
    FUZZ_ASSERT(last == mtop::ClientEvent{event::EndOfInput{}});
    FUZZ_ASSERT(established == 1 && at == stream.size());
    FUZZ_ASSERT(payload.size() == stream.size() - 2);
    for (size_t i = 0; i < payload.size(); ++i) FUZZ_ASSERT(payload[i] == stream[2 + i]);
  }
  FUZZ_ASSERT(hs.feed(stream).error() == mtop::Errc::invalid_state);
  return 0;
}
