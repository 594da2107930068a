// Result<T>: a value or an Errc, the expected-like type of libmtop (std::expected is C++23).
//
//   Result<size_t> r = dec.feed(bytes);
//   if (!r) return r.error();
//   use(*r);
#pragma once

#include <cassert>
#include <utility>
#include <variant>

#include "mtop/errc.hpp"

namespace mtop {

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Errc error) : v_(std::in_place_index<1>, error) {}          // NOLINT: implicit by design

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  /// The value; only when ok().
  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// The error; only when !ok().
  Errc error() const noexcept {
    assert(!ok());
    // get_if, not get: std::get may throw bad_variant_access, which must not leave a noexcept
    // function. Misuse (error() on a value) asserts in debug builds and reads invalid_state.
    const Errc* e = std::get_if<1>(&v_);
    return e ? *e : Errc::invalid_state;
  }

 private:
  std::variant<T, Errc> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Errc error) : error_(error), failed_(true) {}  // NOLINT: implicit by design

  bool ok() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return ok(); }
  Errc error() const noexcept {
    assert(failed_);
    return error_;
  }

 private:
  Errc error_{};
  bool failed_ = false;
};

}  // namespace mtop
