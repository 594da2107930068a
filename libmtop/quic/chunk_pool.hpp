// ChunkPool: a small, bounded free list of send chunks, one per QUIC endpoint (QuicClient,
// QuicServer) and shared by its connections.
//
// Why: ngtcp2 does not copy stream data, so QuicStream::write copies into 64 KiB chunks kept
// until the peer acknowledges them. Freeing each chunk at the acknowledgement and allocating
// the next one on the next write made glibc trim the top of the heap in between, so every
// new chunk faulted its pages in again (65k-101k minor faults per GB sent, bench/RESULTS.md).
// Recycling a few chunks keeps the hot path on memory that is already mapped. The bound keeps
// an idle endpoint from holding more than kMaxSpare x kChunkSize (1 MiB) it does not use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mtop/bytes.hpp"

namespace mtop::quic {

class ChunkPool {
 public:
  /// Size of every send chunk (QuicStream::write splits larger writes into chunks of it).
  static constexpr std::size_t kChunkSize = 64 * 1024;
  /// Default bound of spare chunks kept.
  static constexpr std::size_t kMaxSpare = 16;

  explicit ChunkPool(std::size_t max_spare = kMaxSpare) : max_spare_(max_spare) {}
  ChunkPool(const ChunkPool&) = delete;
  ChunkPool& operator=(const ChunkPool&) = delete;

  /// An empty chunk with capacity kChunkSize: a spare one if there is, else a new one.
  Bytes take() {
    if (!spare_.empty()) {
      Bytes b = std::move(spare_.back());
      spare_.pop_back();
      ++reused_;
      return b;
    }
    ++allocated_;
    Bytes b;
    b.reserve(kChunkSize);
    return b;
  }

  /// Gives a chunk back. Kept (emptied, memory intact) if it has exactly the chunk capacity
  /// and fewer than the bound are spare; otherwise freed here.
  void give(Bytes b) {
    if (b.capacity() != kChunkSize || spare_.size() >= max_spare_) return;  // freed with `b`
    b.clear();
    spare_.push_back(std::move(b));
  }

  std::size_t spare() const noexcept { return spare_.size(); }
  /// Chunks handed out from the free list / newly allocated, since construction.
  std::uint64_t reused() const noexcept { return reused_; }
  std::uint64_t allocated() const noexcept { return allocated_; }

 private:
  std::size_t max_spare_;
  std::vector<Bytes> spare_;
  std::uint64_t reused_ = 0;
  std::uint64_t allocated_ = 0;
};

}  // namespace mtop::quic
