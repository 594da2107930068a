// ChunkPool: a small, bounded free list of equally sized byte chunks, shared by the streams of
// one endpoint (a QUIC client or server, a TLS listener or dialer, a set of TCP streams).
//
// Why: these VMs pay dearly for heap churn. A hot path that allocates a 64 KiB buffer per
// write and frees it when the write completes makes glibc give the top of the heap back with
// brk (more than M_TRIM_THRESHOLD, 128 KiB, free at the top), and the next buffer faults its
// pages in again: QUIC sent with 65k-101k minor faults per GB (bench/RESULTS.md), and a TLS
// relay spent most of its CPU in brk, TLB shoot-downs and page faults. Recycling a few chunks
// keeps the hot path on memory that is already mapped. The bound keeps an idle endpoint from
// holding more than max_spare x chunk_size it does not use.
//
// Not thread-safe: one pool serves the streams of one loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mtop/bytes.hpp"

namespace mtop::io {

class ChunkPool {
 public:
  /// Chunk size when none is given: one 64 KiB socket read or QUIC send chunk.
  static constexpr std::size_t kDefaultChunkSize = 64 * 1024;
  /// Default bound of spare chunks kept.
  static constexpr std::size_t kMaxSpare = 16;

  explicit ChunkPool(std::size_t chunk_size = kDefaultChunkSize, std::size_t max_spare = kMaxSpare)
      : chunk_size_(chunk_size), max_spare_(max_spare) {
    spare_.reserve(max_spare_);  // so give() never allocates (it runs in noexcept paths)
  }
  ChunkPool(const ChunkPool&) = delete;
  ChunkPool& operator=(const ChunkPool&) = delete;

  /// Capacity of every chunk take() returns.
  std::size_t chunk_size() const noexcept { return chunk_size_; }

  /// An empty chunk with capacity chunk_size(): a spare one if there is, else a new one.
  Bytes take() {
    Bytes b = take_any();
    b.clear();  // constant time for bytes
    return b;
  }

  /// A chunk of size() == capacity() == chunk_size() with unspecified contents, to read or
  /// copy into in place (quic/send_queue.hpp). A spare chunk that was given back full (the
  /// usual case) costs nothing; only bytes past what it held are zeroed.
  Bytes take_full() {
    Bytes b = take_any();
    b.resize(chunk_size_);
    return b;
  }

  /// Gives a chunk back. Kept (contents and size as they are: take() empties it, take_full()
  /// sizes it) if it has exactly the chunk capacity (one that grew past it is not ours any
  /// more) and fewer than the bound are spare; otherwise freed here.
  void give(Bytes b) {
    if (b.capacity() != chunk_size_ || spare_.size() >= max_spare_) return;  // freed with `b`
    spare_.push_back(std::move(b));
  }

  std::size_t spare() const noexcept { return spare_.size(); }
  /// Chunks handed out from the free list / newly allocated, since construction.
  std::uint64_t reused() const noexcept { return reused_; }
  std::uint64_t allocated() const noexcept { return allocated_; }

 private:
  Bytes take_any() {
    if (!spare_.empty()) {
      Bytes b = std::move(spare_.back());
      spare_.pop_back();
      ++reused_;
      return b;
    }
    ++allocated_;
    Bytes b;
    b.reserve(chunk_size_);
    return b;
  }

  std::size_t chunk_size_;
  std::size_t max_spare_;
  std::vector<Bytes> spare_;
  std::uint64_t reused_ = 0;
  std::uint64_t allocated_ = 0;
};

}  // namespace mtop::io
