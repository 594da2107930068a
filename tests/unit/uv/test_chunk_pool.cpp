// ChunkPool, the bounded free list of send chunks shared by QUIC, TLS and TCP streams.
#include <catch2/catch.hpp>

#include <vector>

#include "uv/chunk_pool.hpp"

using mtop::Bytes;
using mtop::io::ChunkPool;

TEST_CASE("chunk pool: reuses what it got back, never holds more than its bound", "[pool]") {
  ChunkPool pool(ChunkPool::kDefaultChunkSize, 3);
  CHECK(pool.chunk_size() == ChunkPool::kDefaultChunkSize);
  std::vector<Bytes> out;
  for (int i = 0; i < 5; ++i) out.push_back(pool.take());
  CHECK(pool.allocated() == 5);
  for (const Bytes& b : out) {
    CHECK(b.empty());
    CHECK(b.capacity() == ChunkPool::kDefaultChunkSize);
  }
  out[0].assign(100, 0xab);
  const std::uint8_t* first = out[0].data();
  pool.give(std::move(out[0]));
  CHECK(pool.spare() == 1);
  Bytes again = pool.take();
  CHECK(again.data() == first);  // the same memory, emptied
  CHECK(again.empty());
  CHECK(pool.reused() == 1);
  for (std::size_t i = 1; i < out.size(); ++i) pool.give(std::move(out[i]));
  CHECK(pool.spare() == 3);  // the fourth was freed
  Bytes odd;
  odd.reserve(ChunkPool::kDefaultChunkSize * 2);
  pool.give(std::move(again));
  pool.give(std::move(odd));
  CHECK(pool.spare() == 3);
}

TEST_CASE("chunk pool: a chunk that grew past its size is not taken back", "[pool]") {
  ChunkPool pool(1000, 4);
  Bytes b = pool.take();
  CHECK(b.capacity() == 1000);
  b.resize(1001);  // a writer that overflowed the chunk reallocated it
  pool.give(std::move(b));
  CHECK(pool.spare() == 0);
  Bytes fits = pool.take();
  fits.resize(1000);
  pool.give(std::move(fits));
  CHECK(pool.spare() == 1);
  CHECK(pool.allocated() == 2);
}

TEST_CASE("chunk pool: take_full gives a chunk sized to its capacity, take an empty one",
          "[pool]") {
  ChunkPool pool(1000, 4);
  Bytes full = pool.take_full();
  CHECK(full.size() == 1000);
  CHECK(full.capacity() == 1000);
  const std::uint8_t* mem = full.data();
  full[999] = 0x5a;
  pool.give(std::move(full));
  Bytes again = pool.take_full();  // given back full: the same memory, as it was
  CHECK(again.data() == mem);
  CHECK(again.size() == 1000);
  CHECK(again[999] == 0x5a);
  again.resize(10);  // given back partly filled: sized again on the next take_full
  pool.give(std::move(again));
  Bytes empty = pool.take();
  CHECK(empty.data() == mem);
  CHECK(empty.empty());
  pool.give(std::move(empty));
  CHECK(pool.take_full().size() == 1000);
  CHECK(pool.allocated() == 1);
  CHECK(pool.reused() == 3);
}
