// What the fuzz targets share: FUZZ_ASSERT (an invariant; abort, which libFuzzer and the
// corpus driver both report, with the line that failed) and Chunker (the feed() sizes an
// adapter would use, drawn deterministically from a seed byte of the input).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#define FUZZ_ASSERT(c)                                                               \
  do {                                                                               \
    if (!(c)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)

/// Chunk sizes 1..max from a linear congruential sequence (the same input, the same sizes).
struct Chunker {
  uint32_t state;
  size_t max;
  /// The next chunk size, at most `left` (and at least 1 when left > 0).
  size_t next(size_t left) {
    state = state * 1103515245u + 12345u;
    const size_t n = 1 + (state >> 16) % max;
    return n < left ? n : left;
  }
};
