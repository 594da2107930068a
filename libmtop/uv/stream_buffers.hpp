// StreamBuffers: what the TcpStreams of one loop share instead of allocating per read or per
// write — the buffer every read lands in, and the chunks that hold bytes the kernel did not
// take at once (uv/pooled_write.hpp).
//
// One read buffer serves any number of streams because libuv never nests callbacks: on one
// thread, a read callback runs to its end (the handler sees the bytes only during on_read)
// before the next read starts. An idle stream therefore holds no buffer at all.
#pragma once

#include <cstddef>
#include <memory>

#include "mtop/bytes.hpp"
#include "uv/chunk_pool.hpp"

namespace mtop::io {

struct StreamBuffers {
  /// Bytes asked for per read.
  static constexpr std::size_t kReadSize = 64 * 1024;

  Bytes read = Bytes(kReadSize);
  /// Chunks of one read's size: a relayed read that has to queue fits one.
  ChunkPool chunks{kReadSize};

  /// The set shared by every stream of the calling thread that was given none. Loops are
  /// single-threaded, so all streams of a loop share it; it lives as long as a stream or a
  /// queued write still uses it.
  static std::shared_ptr<StreamBuffers> of_this_thread() {
    thread_local const std::shared_ptr<StreamBuffers> shared = std::make_shared<StreamBuffers>();
    return shared;
  }
};

using SharedStreamBuffers = std::shared_ptr<StreamBuffers>;

}  // namespace mtop::io
