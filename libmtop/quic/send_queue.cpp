#include "quic/send_queue.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace mtop::quic {

std::span<std::uint8_t> SendQueue::space(std::size_t want, Bytes& spare, io::ChunkPool& pool) {
  if (!chunks_.empty()) {
    Chunk& last = chunks_.back();
    if (last.room() > 0 && last.room() >= std::min(want, kMinLend)) {
      return {last.tail(), last.room()};
    }
  }
  if (spare.size() != pool.chunk_size()) spare = pool.take_full();
  return {spare.data(), spare.size()};
}

void SendQueue::append(ByteView data, Bytes& spare, io::ChunkPool& pool) {
  if (data.empty()) return;
  end_ += data.size();
  if (!chunks_.empty()) {
    Chunk& last = chunks_.back();
    if (data.data() == last.tail() && data.size() <= last.room()) {
      last.len += data.size();  // read in place into the room space() lent
      return;
    }
  }
  if (!spare.empty() && data.data() == spare.data() && data.size() <= spare.size() &&
      data.size() >= kSmallWrite) {
    chunks_.push_back(Chunk{std::exchange(spare, Bytes()), data.size()});
    return;
  }
  copy_in(data, pool);
}

void SendQueue::copy_in(ByteView data, io::ChunkPool& pool) {
  if (chunks_.empty() && data.size() < kSmallWrite) {
    // A lone small write (an interactive tunnel's few bytes): a block of its own size.
    chunks_.push_back(Chunk{Bytes(data.begin(), data.end()), data.size()});
    return;
  }
  while (!data.empty()) {
    if (chunks_.empty() || chunks_.back().room() == 0) {
      chunks_.push_back(Chunk{pool.take_full(), 0});
    }
    Chunk& last = chunks_.back();
    const std::size_t n = std::min(data.size(), last.room());
    std::memcpy(last.tail(), data.data(), n);
    last.len += n;
    data = data.subspan(n);
  }
}

std::size_t SendQueue::fill_vecs(ngtcp2_vec* v, std::size_t max) {
  // The cursor never moves past the last chunk: append() may still add to that one.
  while (cursor_chunk_ + 1 < chunks_.size() &&
         cursor_start_ + chunks_[cursor_chunk_].len <= sent_) {
    cursor_start_ += chunks_[cursor_chunk_].len;
    ++cursor_chunk_;
  }
  std::size_t n = 0;
  std::uint64_t start = cursor_start_;
  for (std::size_t ci = cursor_chunk_; ci < chunks_.size() && n < max; ++ci) {
    Chunk& chunk = chunks_[ci];
    const std::uint64_t skip = sent_ > start ? sent_ - start : 0;
    if (skip < chunk.len) {
      v[n].base = chunk.bytes.data() + skip;
      v[n].len = chunk.len - skip;
      ++n;
    }
    start += chunk.len;
  }
  return n;
}

void SendQueue::acked(std::uint64_t offset, io::ChunkPool& pool) {
  acked_ = std::max(acked_, offset);
  const std::uint64_t done = std::min(acked_, sent_);
  while (!chunks_.empty() && base_ + chunks_.front().len <= done) {
    base_ += chunks_.front().len;
    pool.give(std::move(chunks_.front().bytes));  // the next chunk taken reuses it
    chunks_.pop_front();
    if (cursor_chunk_ > 0) {
      --cursor_chunk_;
    } else {
      cursor_start_ = base_;
    }
  }
}

void SendQueue::release(io::ChunkPool& pool) {
  for (Chunk& chunk : chunks_) pool.give(std::move(chunk.bytes));
  chunks_.clear();
  base_ = acked_ = sent_ = end_;
  cursor_chunk_ = 0;
  cursor_start_ = end_;
}

}  // namespace mtop::quic
