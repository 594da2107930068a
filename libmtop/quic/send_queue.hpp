// SendQueue: the bytes of one QUIC stream from the application's write() until the peer
// acknowledges them. ngtcp2 does not copy stream data: it reads the bytes through the
// ngtcp2_vecs of fill_vecs() when it builds a packet and may read them again for a
// retransmission, so they stay here, unmoved, until acked() releases them.
//
// Theory of operation
// - The queue holds [base, end) in chunks; [acked, sent) is in flight. A chunk is a pool chunk
//   (uv/chunk_pool.hpp) sized to its capacity, of which the first `len` bytes are queued: the
//   rest is room later bytes go into, in place, without moving what ngtcp2 may point at.
// - Writing without a copy (io::Stream::write_space): space() lends room for the caller to
//   read into (a relay: the TCP socket reads straight into it), and append() of bytes that
//   already lie at the start of that room only counts them. The room is the last chunk's tail
//   when it has at least kMinLend bytes (or what was asked for), else `spare`: a chunk the
//   connection keeps for all its streams (and gives back to the pool at every flush), which
//   append() adopts into this queue when bytes were read into it. So only the one spare per
//   connection is ever lent and not filled; a stream holds only chunks with queued bytes.
// - Memory per tunnel: a chunk goes back to the pool as soon as all its bytes are acked, so an
//   idle tunnel holds none. Small writes do not pin a 64 KiB chunk on their own: bytes below
//   kSmallWrite that land in the spare are copied (into the last chunk's room, or an
//   exact-size block when the queue is empty) and the spare stays with the connection; a lone
//   small copied write gets an exact-size block; bulk data fills chunks. A chunk may be left
//   with up to kMinLend bytes of room unused, so chunk memory in flight is at most 4/3 of the
//   queued bytes (plus one chunk).
// - Back-pressure is counted in bytes: unacked() is exactly the bytes appended and not acked,
//   wherever they live.
#pragma once

#include <ngtcp2/ngtcp2.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>

#include "mtop/bytes.hpp"
#include "uv/chunk_pool.hpp"

namespace mtop::quic {

class SendQueue {
 public:
  /// Room below this in the last chunk is not lent (the spare is): a read into a sliver of
  /// room costs a syscall for few bytes.
  static constexpr std::size_t kMinLend = 16 * 1024;
  /// Writes below this are copied rather than given a chunk of their own (see the theory).
  static constexpr std::size_t kSmallWrite = 4 * 1024;

  /// Room to fill in place before append(): the last chunk's tail, or `spare` (made a full
  /// pool chunk from `pool` if it is not one). At most one span is lent at a time; it stays
  /// valid until the next call that changes the queue or `spare`.
  std::span<std::uint8_t> space(std::size_t want, Bytes& spare, io::ChunkPool& pool);
  /// Queues `data`: counted in place when it starts where space() lent room (the tail of the
  /// last chunk, or `spare`, which is then moved into the queue if `data` is not small),
  /// copied otherwise.
  void append(ByteView data, Bytes& spare, io::ChunkPool& pool);

  /// Fills up to `max` vecs with unsent bytes from sent() on; the count of vecs filled.
  std::size_t fill_vecs(ngtcp2_vec* v, std::size_t max);
  /// ngtcp2 took `n` more bytes into packets.
  void advance_sent(std::uint64_t n) noexcept { sent_ += n; }
  /// The peer acknowledged every byte below `offset`: chunks all of whose bytes are acked and
  /// sent go back to `pool`.
  void acked(std::uint64_t offset, io::ChunkPool& pool);
  /// Gives every chunk back to `pool` (the stream is forgotten).
  void release(io::ChunkPool& pool);

  std::uint64_t end() const noexcept { return end_; }
  std::uint64_t acked_offset() const noexcept { return acked_; }
  std::uint64_t unacked() const noexcept { return end_ - acked_; }
  std::uint64_t unsent() const noexcept { return end_ - sent_; }
  /// Chunks held (for tests).
  std::size_t chunk_count() const noexcept { return chunks_.size(); }

 private:
  struct Chunk {
    Bytes bytes;  ///< sized to its capacity: [len, size()) is room
    std::size_t len = 0;
    std::size_t room() const noexcept { return bytes.size() - len; }
    std::uint8_t* tail() noexcept { return bytes.data() + len; }
  };

  /// Copies `data` into the last chunk's room and, for the rest, new chunks.
  void copy_in(ByteView data, io::ChunkPool& pool);

  std::deque<Chunk> chunks_;  ///< [base_, end_)
  std::uint64_t base_ = 0;
  std::uint64_t acked_ = 0;
  std::uint64_t sent_ = 0;
  std::uint64_t end_ = 0;
  std::size_t cursor_chunk_ = 0;    ///< index of the chunk holding sent_ (or chunks_.size())
  std::uint64_t cursor_start_ = 0;  ///< offset where that chunk starts
};

}  // namespace mtop::quic
