// PooledWrite: one uv_write of bytes the kernel did not take at once, holding them until libuv
// is done — on recycled memory, because these VMs punish heap churn (uv/chunk_pool.hpp).
//
// Where the bytes live:
// - Large remainders (at least half a chunk): in a chunk of the stream's ChunkPool, which goes
//   back to the pool when the write completes. This is the steady state of a bulk transfer to
//   a peer that reads more slowly than we write, where every write is queued whole.
// - Small remainders: in an exact-size block right behind the request, one allocation. Giving
//   each of many small queued writes a whole chunk would multiply the memory a slow reader
//   pins (the relay bounds queued *bytes*, not requests), and blocks this small never make
//   glibc trim the heap by themselves.
//
// The request keeps its pool alive (a shared_ptr), so a stream may be freed while its writes
// are still in libuv's hands; completing them then only returns memory.
#pragma once

#include <uv.h>

#include <cstddef>
#include <memory>

#include "mtop/bytes.hpp"
#include "uv/chunk_pool.hpp"

namespace mtop::io {

class PooledWrite {
 public:
  /// A request holding a copy of `data`, which must be at most pool->chunk_size() bytes
  /// (split larger writes). Null if memory ran out.
  static PooledWrite* copy(ByteView data, std::shared_ptr<ChunkPool> pool);
  /// A request for the bytes of `chunk` from `offset` on. `chunk` is a chunk of `pool` (or
  /// any buffer: one of another capacity is simply freed at the end); it is kept when the
  /// remainder is large, else the remainder is copied and the chunk goes back to the pool now.
  /// Null if memory ran out (the chunk is then freed).
  static PooledWrite* keep(Bytes chunk, std::size_t offset, std::shared_ptr<ChunkPool> pool);

  /// Starts the uv_write on `stream`. On failure (< 0, a libuv error) the request is already
  /// destroyed and `cb` is never called; otherwise `cb` must call finish(from(req)).
  int start(uv_stream_t* stream, uv_write_cb cb);

  static PooledWrite* from(uv_write_t* req) noexcept {
    return static_cast<PooledWrite*>(req->data);
  }
  /// Returns the chunk (if any) to its pool and frees the request.
  static void finish(PooledWrite* w) noexcept;

  /// Bytes this request writes.
  std::size_t size() const noexcept { return size_; }

 private:
  PooledWrite() = default;
  ~PooledWrite() = default;
  static PooledWrite* make(std::size_t inline_bytes) noexcept;
  std::uint8_t* inline_bytes() noexcept { return reinterpret_cast<std::uint8_t*>(this + 1); }

  uv_write_t req_{};  // req_.data points back here (from())
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  Bytes chunk_;                      // empty when the bytes are inline
  std::shared_ptr<ChunkPool> pool_;  // where chunk_ goes back
};

/// Bytes below which a queued remainder is copied rather than given a chunk of `pool`.
inline std::size_t pooled_write_copy_below(const ChunkPool& pool) noexcept {
  return pool.chunk_size() / 2;
}

}  // namespace mtop::io
