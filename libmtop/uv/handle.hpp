// RAII for libuv handles. libuv's rule: a handle's memory may be freed only in its close
// callback. UvHandle<T> owns a heap-allocated handle; destroying it calls uv_close() and the
// memory is freed in the close callback, so an owner can simply go away.
#pragma once

#include <uv.h>

#include <memory>
#include <utility>

namespace mtop::io {

template <class T>
class UvHandle {
 public:
  UvHandle() = default;
  /// Allocates an uninitialised T; call the matching uv_*_init on get() next. If that init
  /// fails, call release_uninitialised() instead of letting the destructor uv_close() it.
  static UvHandle make() { return UvHandle(new T{}); }

  UvHandle(UvHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  UvHandle& operator=(UvHandle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  ~UvHandle() { reset(); }

  T* get() const noexcept { return h_; }
  T* operator->() const noexcept { return h_; }
  explicit operator bool() const noexcept { return h_ != nullptr; }
  uv_handle_t* handle() const noexcept { return reinterpret_cast<uv_handle_t*>(h_); }

  /// Closes the handle (if not closing already) and frees it in the close callback.
  void reset() noexcept {
    if (!h_) return;
    auto* h = reinterpret_cast<uv_handle_t*>(std::exchange(h_, nullptr));
    h->data = nullptr;
    if (!uv_is_closing(h)) {
      uv_close(h, [](uv_handle_t* closed) { delete reinterpret_cast<T*>(closed); });
    }
    // A handle already closing was handed to uv_close by someone else with their own
    // callback, which then owns the memory.
  }

  /// For a handle whose uv_*_init failed: free it without uv_close.
  void release_uninitialised() noexcept { delete std::exchange(h_, nullptr); }

  /// Gives up ownership (e.g. to a uv_close with a callback of your own).
  T* release() noexcept { return std::exchange(h_, nullptr); }

 private:
  explicit UvHandle(T* h) : h_(h) {}
  T* h_ = nullptr;
};

}  // namespace mtop::io
