// Fuzz target: the reverse-tunnel decoders (docs/PROTOCOL.md section 9) on arbitrary bytes.
// Input: [which] then the bytes. which % 5: decode_request (REVERSE and CONNECT requests),
// decode_reverse_response, decode_frame, decode_visitor_header, decode_attach.
// Invariants (abort on violation), the promises of codec.hpp / reverse_codec.hpp:
// - a complete message used at most the input, re-encodes to exactly those bytes, and its
//   prefixes are "need more";
// - "need more" only below the message's largest size;
// - errors are peer errors, and the input one byte shorter gives the same error or "need
//   more" (an error is found at the offending byte).
#include <cstdio>
#include <cstdlib>

#include "mtop/reverse_codec.hpp"

#include "fuzz_support.hpp"

namespace {

// `decode` on `in`, checked against the shared invariants; `encode` re-encodes a message,
// `max_size` is the largest message of the kind.
template <class Decode, class Encode>
void check(mtop::ByteView in, Decode decode, Encode encode, size_t max_size) {
  auto r = decode(in);
  if (!r) {
    FUZZ_ASSERT(!mtop::is_local_error(r.error()));
    FUZZ_ASSERT(!in.empty());
    auto shorter = decode(in.first(in.size() - 1));
    FUZZ_ASSERT(shorter ? !shorter->complete() : shorter.error() == r.error());
    return;
  }
  if (!r->complete()) {
    FUZZ_ASSERT(r->size == 0);
    FUZZ_ASSERT(in.size() < max_size);
    return;
  }
  FUZZ_ASSERT(r->size > 0 && r->size <= in.size() && r->size <= max_size);
  mtop::Bytes again;
  encode(*r->message, again);
  FUZZ_ASSERT(again.size() == r->size);
  for (size_t i = 0; i < again.size(); ++i) FUZZ_ASSERT(again[i] == in[i]);
  for (size_t cut : {r->size - 1, r->size / 2, size_t{0}}) {
    auto p = decode(in.first(cut));
    FUZZ_ASSERT(p && !p->complete());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const mtop::ByteView in(data + 1, size - 1);
  switch (data[0] % 5) {
    case 0:
      check(
          in, mtop::decode_request,
          [](const mtop::AuthMessage& m, mtop::Bytes& out) {
            FUZZ_ASSERT(mtop::encode_auth(m, out).ok());
          },
          mtop::kMaxAuthMessageSize);
      break;
    case 1:
      check(
          in, mtop::decode_reverse_response,
          [](const mtop::ReverseReply& r, mtop::Bytes& out) {
            if (r.status == mtop::Status::success) {
              FUZZ_ASSERT(mtop::encode_reverse_success(r.grant, out).ok());
            } else {
              FUZZ_ASSERT(r.grant == (mtop::ReverseGrant{0, 0, 0}));
              FUZZ_ASSERT(mtop::encode_reverse_failure(r.status, out).ok());
            }
          },
          mtop::kReverseResponseSize);
      break;
    case 2:
      check(
          in, mtop::decode_frame,
          [](const mtop::ControlFrame& f, mtop::Bytes& out) {
            FUZZ_ASSERT(mtop::encode_frame(f.type, f.body, out).ok());
          },
          mtop::kMaxControlFrameSize);
      break;
    case 3:
      check(
          in, mtop::decode_visitor_header,
          [](const mtop::VisitorHeader& h, mtop::Bytes& out) {
            FUZZ_ASSERT(mtop::encode_visitor_header(h, out).ok());
          },
          mtop::kMaxVisitorHeaderSize);
      break;
    default:
      check(
          in, mtop::decode_attach,
          [](const mtop::AttachToken& t, mtop::Bytes& out) { mtop::encode_attach(t, out); },
          mtop::kAttachMessageSize);
      break;
  }
  return 0;
}
