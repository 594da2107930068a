// TlsBuffers: the memory every TlsStream of one listener or dialer shares instead of holding
// or allocating its own — the ciphertext read from the socket, the plaintext handed to
// on_read, and a pool of chunks the engines keep ciphertext in.
//
// The read buffers: streams of one loop never read at the same time (libuv callbacks do not
// nest), so one pair serves thousands of connections instead of 2 x 64 KiB each.
//
// The ciphertext chunks: each write() is encrypted at once into a chunk of the pool, which
// goes back to the pool as soon as the kernel has all of it — at once when uv_try_write takes
// it, else when the uv_write completes. A fresh vector per write, freed when the write
// completed, made glibc trim and refault the heap on every write (uv/chunk_pool.hpp).
// Ciphertext an engine has to keep between reads (the stream stopped reading in the middle
// of a socket read) lives in a chunk of the same pool until it is consumed, unless it is a
// few bytes (Engine::kSmallInput). An idle stream holds no chunk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "uv/chunk_pool.hpp"

namespace mtop::tls {

struct TlsBuffers {
  /// Read buffers; also the largest plaintext piece a TlsStream encrypts in one go.
  static constexpr std::size_t kSize = 64 * 1024;
  /// A full kSize piece is four 16 KiB records, 65,624 bytes of ciphertext; the rest leaves
  /// room for a KeyUpdate, an alert or a ticket in the same output, so it never grows.
  static constexpr std::size_t kCipherChunkSize = kSize + 4 * 1024;

  std::vector<std::uint8_t> cipher = std::vector<std::uint8_t>(kSize);
  std::vector<std::uint8_t> plain = std::vector<std::uint8_t>(kSize);
  /// Ciphertext chunks: engine output (and input an engine has to keep) lives in these.
  io::ChunkPool chunks{kCipherChunkSize};
};

using SharedTlsBuffers = std::shared_ptr<TlsBuffers>;

}  // namespace mtop::tls
