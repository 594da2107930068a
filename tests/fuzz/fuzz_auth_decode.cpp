// Fuzz target: decode_auth() on arbitrary bytes. Invariants (abort on violation):
// - a complete message used at most the input, re-encodes to exactly those bytes, and every
//   shorter prefix of it is "need more";
// - "need more" only for inputs shorter than the largest message;
// - errors are peer errors, and the same error for the input one byte shorter or "need more"
//   there (an error never depends on bytes after the offending one... except by being found).
#include <cstdio>
#include <cstdlib>

#include "mtop/codec.hpp"

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const mtop::ByteView in(data, size);
  auto r = mtop::decode_auth(in);
  if (!r) {
    FUZZ_ASSERT(!mtop::is_local_error(r.error()));
    const int code = static_cast<int>(r.error());
    FUZZ_ASSERT(code >= static_cast<int>(mtop::Errc::bad_version) &&
                code <= static_cast<int>(mtop::Errc::bad_port));
    FUZZ_ASSERT(size > 0);
    auto shorter = mtop::decode_auth(in.first(size - 1));
    FUZZ_ASSERT(shorter ? !shorter->complete() : shorter.error() == r.error());
    return 0;
  }
  if (!r->complete()) {
    FUZZ_ASSERT(r->size == 0);
    FUZZ_ASSERT(size < mtop::kMaxAuthMessageSize);
    return 0;
  }
  FUZZ_ASSERT(r->size >= mtop::kMinAuthMessageSize && r->size <= mtop::kMaxAuthMessageSize);
  FUZZ_ASSERT(r->size <= size);
  mtop::Bytes again;
  FUZZ_ASSERT(mtop::encode_auth(*r->message, again).ok());
  FUZZ_ASSERT(again.size() == r->size);
  for (size_t i = 0; i < again.size(); ++i) FUZZ_ASSERT(again[i] == data[i]);
  for (size_t cut : {r->size - 1, r->size / 2, size_t{1}}) {
    auto p = mtop::decode_auth(in.first(cut));
    FUZZ_ASSERT(p && !p->complete());
  }
  return 0;
}
