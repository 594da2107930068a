#include "uv/pooled_write.hpp"

#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace mtop::io {

PooledWrite* PooledWrite::make(std::size_t inline_bytes) noexcept {
  void* mem = std::malloc(sizeof(PooledWrite) + inline_bytes);
  if (!mem) return nullptr;
  auto* w = new (mem) PooledWrite();
  w->req_.data = w;
  return w;
}

PooledWrite* PooledWrite::copy(ByteView data, std::shared_ptr<ChunkPool> pool) {
  if (data.size() < pooled_write_copy_below(*pool)) {
    PooledWrite* w = make(data.size());
    if (!w) return nullptr;
    std::memcpy(w->inline_bytes(), data.data(), data.size());
    w->data_ = w->inline_bytes();
    w->size_ = data.size();
    return w;
  }
  PooledWrite* w = make(0);
  if (!w) return nullptr;
  w->chunk_ = pool->take();
  w->chunk_.insert(w->chunk_.end(), data.begin(), data.end());
  w->data_ = w->chunk_.data();
  w->size_ = w->chunk_.size();
  w->pool_ = std::move(pool);
  return w;
}

PooledWrite* PooledWrite::keep(Bytes chunk, std::size_t offset, std::shared_ptr<ChunkPool> pool) {
  const ByteView rest = ByteView(chunk).subspan(offset);
  if (rest.size() < pooled_write_copy_below(*pool)) {
    PooledWrite* w = copy(rest, pool);
    pool->give(std::move(chunk));
    return w;
  }
  PooledWrite* w = make(0);
  if (!w) return nullptr;
  w->chunk_ = std::move(chunk);
  w->data_ = w->chunk_.data() + offset;
  w->size_ = w->chunk_.size() - offset;
  w->pool_ = std::move(pool);
  return w;
}

int PooledWrite::start(uv_stream_t* stream, uv_write_cb cb) {
  // libuv copies the buffer descriptor; only the bytes must stay put, and they are ours.
  uv_buf_t buf = uv_buf_init(const_cast<char*>(reinterpret_cast<const char*>(data_)),
                             static_cast<unsigned>(size_));
  const int r = uv_write(&req_, stream, &buf, 1, cb);
  if (r < 0) finish(this);
  return r;
}

void PooledWrite::finish(PooledWrite* w) noexcept {
  if (w->pool_) w->pool_->give(std::move(w->chunk_));
  w->~PooledWrite();
  std::free(w);
}

}  // namespace mtop::io
