// Fuzz target: decode_response() on arbitrary bytes. Invariants (abort on violation): a
// response uses exactly two bytes and re-encodes to them; "need more" only below two bytes
// with a valid VER; bad_version exactly when the first byte is not 0x01, bad_status exactly
// for an unknown second byte.
#include <cstdio>
#include <cstdlib>

#include "mtop/codec.hpp"

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = mtop::decode_response(mtop::ByteView(data, size));
  if (size == 0) {
    FUZZ_ASSERT(r && !r->complete());
    return 0;
  }
  if (data[0] != mtop::kProtocolVersion) {
    FUZZ_ASSERT(!r && r.error() == mtop::Errc::bad_version);
    return 0;
  }
  if (size == 1) {
    FUZZ_ASSERT(r && !r->complete() && r->size == 0);
    return 0;
  }
  if (!mtop::is_known_status(data[1])) {
    FUZZ_ASSERT(!r && r.error() == mtop::Errc::bad_status);
    return 0;
  }
  FUZZ_ASSERT(r && r->complete() && r->size == mtop::kResponseSize);
  mtop::Bytes again;
  FUZZ_ASSERT(mtop::encode_response(*r->message, again).ok());
  FUZZ_ASSERT(again.size() == 2 && again[0] == data[0] && again[1] == data[1]);
  return 0;
}
