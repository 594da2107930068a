// Fuzz target: ClientHandshake fed an arbitrary server stream in chunks, checked against
// decode_response() (decode_reverse_response() for a REVERSE request) on the whole stream.
// Input: [chunk seed][early payload length] then the server's bytes; a chunk seed >= 0x80
// makes the request REVERSE (a control tunnel, docs/PROTOCOL.md section 9).
// Invariants (abort on violation): the first output is exactly the encoded auth message
// followed by the early payload; consumed <= offered; the outcome (Established / Rejected /
// Error / ClosedWithoutStatus on EOF) matches the one-shot decoder; after Established the
// payload events carry exactly the bytes after the response, then EndOfInput.
#include <cstdio>
#include <cstdlib>

#include "mtop/client_handshake.hpp"
#include "mtop/reverse_codec.hpp"

#include "fuzz_support.hpp"

namespace {

using mtop::ClientHandshake;
namespace event = mtop::event;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  uint32_t chunk_state = data[0];
  const mtop::Bytes early(data[1], 0xe5);
  const mtop::ByteView stream(data + 2, size - 2);
  const bool reverse = data[0] >= 0x80;
  // The one-shot answer, in the REVERSE response's terms for both kinds of request.
  mtop::Result<mtop::Decoded<mtop::ReverseReply>> reference = mtop::Errc::invalid_state;
  if (reverse) {
    reference = mtop::decode_reverse_response(stream);
  } else if (auto plain = mtop::decode_response(stream); !plain) {
    reference = plain.error();
  } else {
    reference = mtop::Decoded<mtop::ReverseReply>{};
    if (plain->complete())
      reference = mtop::Decoded<mtop::ReverseReply>{mtop::ReverseReply{*plain->message}, 2};
  }

  const mtop::AuthMessage request =
      reverse ? mtop::AuthMessage{mtop::Method::reverse, "fuzz", "pw",
                                  mtop::Address::from_ipv4({0, 0, 0, 0}, 0)}
              : mtop::AuthMessage{mtop::Method::connect, "fuzz", "pw",
                                  mtop::Address::from_domain("example.org", 443)};
  auto created = ClientHandshake::create(request);
  FUZZ_ASSERT(created.ok());
  ClientHandshake hs = std::move(*created);
  mtop::Bytes expect_out;
  FUZZ_ASSERT(mtop::encode_auth(request, expect_out).ok());
  if (reverse) {
    FUZZ_ASSERT(hs.send_payload(early).error() == mtop::Errc::invalid_state);
  } else {
    FUZZ_ASSERT(hs.send_payload(early).ok());
    expect_out.insert(expect_out.end(), early.begin(), early.end());
  }
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
      if (auto* ok = std::get_if<event::Established>(&e)) {
        ++established;
        FUZZ_ASSERT(reference && reference->complete());
        FUZZ_ASSERT(reverse ? ok->grant == reference->message->grant : !ok->grant);
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
  } else if (reference->message->status != mtop::Status::success) {
    FUZZ_ASSERT(last == mtop::ClientEvent{event::Rejected{reference->message->status}});
    FUZZ_ASSERT(at == mtop::kResponseSize && established == 0);
    FUZZ_ASSERT(hs.send_payload(early).error() == mtop::Errc::invalid_state);
  } else {
    const size_t used = reference->size;
    FUZZ_ASSERT(used == (reverse ? mtop::kReverseResponseSize : mtop::kResponseSize));
    FUZZ_ASSERT(last == mtop::ClientEvent{event::EndOfInput{}});
    FUZZ_ASSERT(established == 1 && at == stream.size());
    FUZZ_ASSERT(payload.size() == stream.size() - used);
    for (size_t i = 0; i < payload.size(); ++i) FUZZ_ASSERT(payload[i] == stream[used + i]);
  }
  FUZZ_ASSERT(hs.feed(stream).error() == mtop::Errc::invalid_state);
  return 0;
}
