// Helpers shared by the C API's translation units (not installed, not part of the API).
//
// Every exported function runs its body through guarded(), so no C++ exception ever crosses
// into C: std::bad_alloc becomes MTOP_ERR_NOMEM, anything else MTOP_ERR_INTERNAL.
#pragma once

#include <climits>
#include <cstddef>
#include <cstring>
#include <new>
#include <string_view>

#include "mtop.h"
#include "mtop/codec.hpp"
#include "mtop/errc.hpp"

namespace mtop::capi {

/// MTOP_ERR_x for an Errc (the one-to-one mapping the header promises).
constexpr int to_c(Errc e) noexcept {
  return -(10000 + static_cast<int>(e));
}

/// Runs `body` (returning int) and turns any exception into an error code.
template <class F>
int guarded(F&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return MTOP_ERR_NOMEM;
  } catch (...) {
    return MTOP_ERR_INTERNAL;
  }
}

// --- Versioned structs (mtop.h, "Versions") ---------------------------------------------
// A struct of version v is a prefix of the current one: its fields end at the end of the
// last field that version had. The library copies exactly that many bytes in or out, so an
// older caller's smaller struct is never read or written past its end.

/// The end of `field` in T: the size of a version whose last field is `field`.
#define MTOP_FIELDS_END(T, field) (offsetof(T, field) + sizeof(T::field))

/// Copies the first `size` bytes of `full` (the current layout, every field set) into the
/// caller's struct.
template <class T>
void write_prefix(T* out, const T& full, std::size_t size) noexcept {
  std::memcpy(static_cast<void*>(out), &full, size);
}

/// Overwrites the first `size` bytes of `full` (already holding the defaults) with the
/// caller's struct.
template <class T>
void read_prefix(T& full, const T* in, std::size_t size) noexcept {
  std::memcpy(static_cast<void*>(&full), in, size);
}

/// The size of `version` from a table indexed by version (index 0 unused); 0 if unknown.
template <std::size_t N>
constexpr std::size_t version_size(const std::size_t (&sizes)[N], int version) noexcept {
  return version >= 1 && static_cast<std::size_t>(version) < N ? sizes[version] : 0;
}

/// Sets the calling thread's message for mtop_last_error_message() (last_error.cpp). May
/// throw std::bad_alloc.
void set_last_error(std::string_view message);
/// Empties it (the start of every engine-section call).
void clear_last_error() noexcept;

/// True if (data, len) is a usable input range: data may be NULL only when len is 0.
inline bool valid_input(const void* data, std::size_t len) noexcept {
  return data != nullptr || len == 0;
}

/// Counts in results are ints: a feed takes at most INT_MAX bytes per call.
inline std::size_t clamp_to_int(std::size_t len) noexcept {
  return len > static_cast<std::size_t>(INT_MAX) ? static_cast<std::size_t>(INT_MAX) : len;
}

/// A count as an int result (>= 0), clamped to INT_MAX.
inline int count_of(std::size_t n) noexcept {
  return static_cast<int>(clamp_to_int(n));
}

/// Copies a C auth message into the C++ one, checking what C lets through and C++ cannot
/// express (NULL pointers, lengths that would read far out of bounds, out-of-range ints).
/// The field rules themselves (1-255, host-name bytes, port) are left to encode_auth().
/// Returns 0 or MTOP_ERR_INVALID_ARGUMENT. May throw std::bad_alloc.
int from_c(const mtop_auth_message& in, AuthMessage& out);

/// Copies a C address into the C++ one: a known type, and for a domain a non-NULL pointer
/// with 0-255 bytes (whether the name is valid is the caller's rule to apply).
/// Returns 0 or MTOP_ERR_INVALID_ARGUMENT. May throw std::bad_alloc.
int from_c(const mtop_address& in, Address& out);

/// Points `out` at `a` (its domain, if any, without a copy; valid as long as `a` is).
void view_of(const Address& a, mtop_address& out) noexcept;

/// Points the fields of `out` at the strings of `msg` (no copy; valid as long as msg is).
void view_of(const AuthMessage& msg, mtop_auth_message& out) noexcept;

// The byte-moving calls are the same for the client and the server handle (each wraps a core
// machine in a member `hs`); one definition serves both C entry points.
template <class Handle>
int handshake_feed(Handle* h, const uint8_t* data, std::size_t len) noexcept {
  if (h == nullptr || !valid_input(data, len)) return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    auto r = h->hs.feed(mtop::ByteView(data, clamp_to_int(len)));
    return r ? static_cast<int>(*r) : to_c(r.error());
  });
}

template <class Handle>
int handshake_feed_eof(Handle* h) noexcept {
  if (h == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  return guarded([&] {
    auto r = h->hs.feed_eof();
    return r ? 0 : to_c(r.error());
  });
}

template <class Handle>
int handshake_pending_output(const Handle* h, const uint8_t** data, std::size_t* len) noexcept {
  if (h == nullptr || data == nullptr || len == nullptr) return MTOP_ERR_INVALID_ARGUMENT;
  const mtop::ByteView out = h->hs.pending_output();
  *data = out.data();
  *len = out.size();
  return 0;
}

template <class Handle>
int handshake_consume_output(Handle* h, std::size_t n) noexcept {
  if (h == nullptr || n > h->hs.pending_output().size()) return MTOP_ERR_INVALID_ARGUMENT;
  h->hs.consume_output(n);
  return 0;
}

}  // namespace mtop::capi
