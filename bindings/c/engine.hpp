// Helpers of the engine sections of the C API (server.cpp, climber.cpp, auth_request.cpp):
// how a call reports its code and message, and how a handle runs code on its loop (the
// caller's, or an EventThread it owns). Not installed, not part of the API.
//
// Every engine entry point is
//   return engine_call([&] { ...; return Outcome{...}; });
// engine_call() clears the thread's last error message, turns exceptions into codes (no
// exception crosses into C) and stores the message of a failure for mtop_last_error_message().
// Work that must run on the loop goes through Host::run(), which in own-thread mode carries
// it to the EventThread and waits (EventThread::call rethrows exceptions on the caller's side,
// where engine_call catches them); the message is stored on the caller's thread afterwards.
#pragma once

#include <uv.h>

#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "mtop/event_thread.hpp"
#include "mtop/log.hpp"
#include "mtop/result.hpp"
#include "shim.hpp"

namespace mtop::capi {

/// What an engine call ends with: a code (>= 0 success) and, for a failure, the message.
struct Outcome {
  int code = 0;
  std::string message;  ///< empty: mtop_strerror(code)
};

inline Outcome failed(int code, std::string message = {}) {
  return Outcome{code, std::move(message)};
}
/// The failure of a Result, with its message.
template <class R>
Outcome failed(const Result<R>& r) {
  return Outcome{to_c(r.error()), std::string(r.message())};
}

/// Runs `body` (returning Outcome), stores its message on failure, returns its code.
template <class F>
int engine_call(F&& body) noexcept {
  clear_last_error();
  try {
    Outcome o = body();
    if (o.code < 0) set_last_error(o.message.empty() ? mtop_strerror(o.code) : o.message);
    return o.code;
  } catch (const std::bad_alloc&) {
    set_last_error("out of memory");
    return MTOP_ERR_NOMEM;
  } catch (const std::exception& e) {
    try {
      set_last_error(std::string("internal error: ") + e.what());
    } catch (...) {
    }
    return MTOP_ERR_INTERNAL;
  } catch (...) {
    set_last_error("internal error");
    return MTOP_ERR_INTERNAL;
  }
}

/// The loop a handle lives on: the caller's, or the loop of an EventThread the handle owns.
class Host {
 public:
  /// Caller's loop (loop != nullptr) or a new EventThread (loop == nullptr).
  static Result<Host> make(uv_loop_t* loop) {
    Host h;
    if (loop != nullptr) {
      h.loop_ = loop;
      return h;
    }
    auto t = EventThread::start();
    if (!t) return t.failure();
    h.thread_ = std::move(*t);
    h.loop_ = h.thread_->loop();
    return h;
  }

  uv_loop_t* loop() const noexcept { return loop_; }
  bool own_thread() const noexcept { return thread_ != nullptr; }

  /// Runs `fn` on the loop's thread and returns its result (own-thread mode: waits for it;
  /// caller's loop: runs it here, the caller being on the loop's thread by contract).
  template <class F>
  auto run(F&& fn) -> decltype(fn()) {
    if (!thread_) return fn();
    using R = decltype(fn());
    if constexpr (std::is_void_v<R>) {
      thread_->call([&] { fn(); });
    } else {
      std::optional<R> out;
      thread_->call([&] { out.emplace(fn()); });
      return std::move(*out);
    }
  }

  /// Own-thread mode: joins the thread (after the loop's objects are gone). No-op otherwise.
  void join() noexcept { thread_.reset(); }

 private:
  uv_loop_t* loop_ = nullptr;
  std::unique_ptr<EventThread> thread_;
};

/// The common end of every engine _new function: `create(loop)` (returning a
/// Result<std::unique_ptr<Object>>) runs on the handle's loop and its object goes into
/// `handle->*slot`; then the handle is handed out through `out`. On failure the handle's own
/// thread is joined and nothing is handed out.
template <class Handle, class Object, class Create>
Outcome adopt_engine(std::unique_ptr<Handle> handle, std::unique_ptr<Object> Handle::*slot,
                     Handle** out, Create&& create) {
  Handle* h = handle.get();
  Outcome result = h->host.run([&]() -> Outcome {
    auto made = create(h->host.loop());
    if (!made) return failed(made);
    h->*slot = std::move(*made);
    return Outcome{};
  });
  if (result.code < 0) {
    handle->host.join();
    return result;
  }
  *out = handle.release();
  return Outcome{};
}

/// Runs `fn(handle)` on the handle's loop inside engine_call; MTOP_ERR_INVALID_ARGUMENT
/// ("`what`: NULL") for a NULL handle.
template <class Handle, class F>
int on_handle_loop(const Handle* handle, const char* what, F&& fn) {
  return engine_call([&] {
    if (handle == nullptr) return failed(MTOP_ERR_INVALID_ARGUMENT, std::string(what) + ": NULL");
    auto* h = const_cast<Handle*>(handle);
    return h->host.run([&]() -> Outcome { return fn(*h); });
  });
}

/// A number in decimal, for messages. (Not std::to_string: its digit table is a unique global
/// symbol that would be exported from libmtop.so, see examples/check_exports.sh; likewise the
/// shim uses shared_ptr(new T) rather than make_shared.)
inline std::string decimal(unsigned long long v) {
  char buf[24];
  std::size_t n = sizeof buf;
  do {
    buf[--n] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return std::string(buf + n, sizeof buf - n);
}
inline std::string decimal(long long v) {
  return v < 0 ? "-" + decimal(0ULL - static_cast<unsigned long long>(v))
               : decimal(static_cast<unsigned long long>(v));
}
inline std::string decimal(int v) {
  return decimal(static_cast<long long>(v));
}
inline std::string decimal(std::size_t v) {
  return decimal(static_cast<unsigned long long>(v));
}

/// mtop::LogLevel for MTOP_LOG_*; false if out of range.
inline bool to_log_level(int level, LogLevel& out) noexcept {
  if (level < MTOP_LOG_DEBUG || level > MTOP_LOG_OFF) return false;
  out = static_cast<LogLevel>(level);
  return true;
}
static_assert(static_cast<int>(LogLevel::debug) == MTOP_LOG_DEBUG &&
                  static_cast<int>(LogLevel::info) == MTOP_LOG_INFO &&
                  static_cast<int>(LogLevel::warn) == MTOP_LOG_WARN &&
                  static_cast<int>(LogLevel::error) == MTOP_LOG_ERROR &&
                  static_cast<int>(LogLevel::off) == MTOP_LOG_OFF,
              "MTOP_LOG_* must be the values of mtop::LogLevel");

/// A Logger whose sink calls the C log callback (none: logs nothing).
inline Logger c_logger(mtop_log_callback cb, void* user_data, LogLevel min_level) {
  if (cb == nullptr) return Logger{};
  return Logger(min_level, [cb, user_data](LogLevel level, std::string_view message) {
    const std::string line(message);  // NUL-terminated for C
    cb(static_cast<int>(level), line.c_str(), user_data);
  });
}

/// Copies a C string array (NULL entries refused): false if one is NULL.
inline bool copy_strings(const char* const* items, std::size_t count,
                         std::vector<std::string>& out) {
  if (count > 0 && items == nullptr) return false;
  out.clear();
  for (std::size_t i = 0; i < count; ++i) {
    if (items[i] == nullptr) return false;
    out.emplace_back(items[i]);
  }
  return true;
}

}  // namespace mtop::capi
