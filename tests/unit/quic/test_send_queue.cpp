// SendQueue, the send side of a QUIC stream: bytes written in place or copied, handed to ngtcp2
// as vecs, released when acknowledged. No network: ngtcp2 is played by hand.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>

#include "quic/send_queue.hpp"

using mtop::Bytes;
using mtop::ByteView;
using mtop::io::ChunkPool;
using mtop::quic::SendQueue;

namespace {

Bytes pattern(std::size_t n, unsigned seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>((i * 31 + seed) >> 3);
  return b;
}

/// Plays ngtcp2: takes up to `max` unsent bytes through fill_vecs, as a packet would.
Bytes send(SendQueue& q, std::size_t max) {
  ngtcp2_vec v[16];
  const std::size_t nv = q.fill_vecs(v, 16);
  Bytes out;
  for (std::size_t i = 0; i < nv && out.size() < max; ++i) {
    const std::size_t n = std::min(v[i].len, max - out.size());
    out.insert(out.end(), v[i].base, v[i].base + n);
  }
  q.advance_sent(out.size());
  return out;
}

/// Fills `n` bytes of `src` from `off` into the room space() lends and appends them in place.
void write_in_place(SendQueue& q, Bytes& spare, ChunkPool& pool, const Bytes& src, std::size_t off,
                    std::size_t n) {
  auto room = q.space(ChunkPool::kDefaultChunkSize, spare, pool);
  REQUIRE(room.size() >= n);
  std::memcpy(room.data(), src.data() + off, n);  // what the TCP socket's read does
  q.append(ByteView(room.data(), n), spare, pool);
}

}  // namespace

TEST_CASE("send queue: copied writes of any size come out in order, counted exactly",
          "[send_queue]") {
  ChunkPool pool;
  Bytes spare;
  SendQueue q;
  const Bytes data = pattern(300'000, 1);
  for (std::size_t off = 0; off < data.size();) {
    const std::size_t n = std::min<std::size_t>(data.size() - off, 1 + off % 40'000);
    q.append(ByteView(data.data() + off, n), spare, pool);
    off += n;
  }
  CHECK(q.end() == data.size());
  CHECK(q.unacked() == data.size());
  Bytes out;
  while (q.unsent() > 0) {
    const Bytes pkt = send(q, 1400);
    REQUIRE(!pkt.empty());
    out.insert(out.end(), pkt.begin(), pkt.end());
  }
  CHECK(out == data);
  CHECK(q.unacked() == data.size());  // sent is not acknowledged
  q.acked(data.size(), pool);
  CHECK(q.unacked() == 0);
  CHECK(q.chunk_count() == 0);  // nothing pinned once acknowledged
  CHECK(pool.spare() > 0);
  CHECK(spare.empty());  // never lent
}

TEST_CASE("send queue: bytes read into the lent room are queued without a copy", "[send_queue]") {
  ChunkPool pool;
  Bytes spare;
  SendQueue q;
  const Bytes data = pattern(200'000, 2);
  std::size_t off = 0;
  // First lend: the queue is empty, so the connection's spare is lent and then adopted.
  auto room = q.space(65'536, spare, pool);
  CHECK(room.data() == spare.data());
  CHECK(room.size() == pool.chunk_size());
  const std::uint8_t* first_chunk = room.data();
  write_in_place(q, spare, pool, data, off, 10'000);
  off += 10'000;
  CHECK(spare.empty());  // moved into the queue
  CHECK(q.chunk_count() == 1);
  // The next lend is the tail of that chunk, right behind the queued bytes.
  room = q.space(65'536, spare, pool);
  CHECK(room.data() == first_chunk + 10'000);
  CHECK(room.size() == pool.chunk_size() - 10'000);
  write_in_place(q, spare, pool, data, off, room.size());
  off += room.size();
  CHECK(q.chunk_count() == 1);
  // The chunk is full: the spare is lent again (a new one from the pool).
  while (off < data.size()) {
    const std::size_t n = std::min<std::size_t>(data.size() - off, 30'000);
    write_in_place(q, spare, pool, data, off, n);
    off += n;
  }
  CHECK(q.unacked() == data.size());
  // ngtcp2 reads the very memory the bytes were read into.
  ngtcp2_vec v[16];
  REQUIRE(q.fill_vecs(v, 16) > 0);
  CHECK(v[0].base == first_chunk);
  Bytes out;
  while (q.unsent() > 0) {
    const Bytes pkt = send(q, 1452);
    out.insert(out.end(), pkt.begin(), pkt.end());
  }
  CHECK(out == data);
  const std::size_t chunks = q.chunk_count();
  CHECK(chunks >= 4);
  CHECK(chunks <= 5);  // at most a kMinLend sliver is left unused per chunk
  q.acked(data.size(), pool);
  CHECK(q.chunk_count() == 0);
}

TEST_CASE("send queue: room below kMinLend is not lent; the spare is", "[send_queue]") {
  ChunkPool pool;
  Bytes spare;
  SendQueue q;
  const Bytes data = pattern(pool.chunk_size(), 3);
  const std::size_t first = pool.chunk_size() - SendQueue::kMinLend + 1;  // leaves a sliver
  write_in_place(q, spare, pool, data, 0, first);
  auto room = q.space(65'536, spare, pool);
  CHECK(room.data() == spare.data());
  // Asked for no more than the sliver holds: the sliver is lent.
  auto small = q.space(100, spare, pool);
  CHECK(small.size() == SendQueue::kMinLend - 1);
  CHECK(small.data() != spare.data());
}

TEST_CASE("send queue: small writes do not take a chunk of their own", "[send_queue]") {
  ChunkPool pool;
  Bytes spare;
  SendQueue q;
  const Bytes data = pattern(100, 4);
  // A lone small write (copied): an exact-size block, nothing from the pool.
  q.append(ByteView(data.data(), 64), spare, pool);
  CHECK(pool.allocated() == 0);
  CHECK(q.chunk_count() == 1);
  CHECK(send(q, 1452) == Bytes(data.begin(), data.begin() + 64));
  q.acked(64, pool);
  CHECK(q.chunk_count() == 0);
  CHECK(pool.spare() == 0);  // the block was freed, not pooled
  // A small read into the spare: copied out of it; the spare stays with the connection.
  auto room = q.space(65'536, spare, pool);
  REQUIRE(room.data() == spare.data());
  std::memcpy(room.data(), data.data(), 100);
  q.append(ByteView(room.data(), 100), spare, pool);
  CHECK(spare.size() == pool.chunk_size());
  CHECK(q.chunk_count() == 1);
  std::memset(spare.data(), 0, 100);  // the next read into the spare must not change them
  CHECK(send(q, 1452) == data);
  q.acked(164, pool);
  CHECK(q.chunk_count() == 0);
}

TEST_CASE("send queue: a chunk stays until every byte of it is sent and acked", "[send_queue]") {
  ChunkPool pool;
  Bytes spare;
  SendQueue q;
  const Bytes data = pattern(2 * pool.chunk_size() + 5000, 5);
  q.append(data, spare, pool);
  CHECK(q.chunk_count() == 3);
  Bytes out = send(q, pool.chunk_size() + 10);
  q.acked(out.size(), pool);  // all of the first chunk: released
  CHECK(q.chunk_count() == 2);
  CHECK(q.unacked() == data.size() - out.size());
  // An ack that covers more than was sent (cannot happen with ngtcp2) releases only sent
  // chunks: unsent bytes are never freed under it.
  q.acked(data.size(), pool);
  CHECK(q.chunk_count() == 2);
  while (q.unsent() > 0) {
    const Bytes pkt = send(q, 1452);
    out.insert(out.end(), pkt.begin(), pkt.end());
  }
  CHECK(out == data);
  q.acked(data.size(), pool);
  CHECK(q.chunk_count() == 0);
  // Appends after everything was released start at the right offset.
  q.append(ByteView(data.data(), 10), spare, pool);
  CHECK(q.end() == data.size() + 10);
  CHECK(send(q, 1452) == Bytes(data.begin(), data.begin() + 10));
}

TEST_CASE("send queue: release gives every chunk back", "[send_queue]") {
  ChunkPool pool;
  Bytes spare;
  SendQueue q;
  const Bytes data = pattern(3 * pool.chunk_size(), 6);
  q.append(data, spare, pool);
  (void)send(q, 5000);
  q.release(pool);
  CHECK(q.chunk_count() == 0);
  CHECK(q.unacked() == 0);
  CHECK(q.unsent() == 0);
  CHECK(pool.spare() == 3);
}
