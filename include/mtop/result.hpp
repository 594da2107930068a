// Result<T>: a value or an Errc, the expected-like type of libmtop (std::expected is C++23).
//
//   Result<size_t> r = dec.feed(bytes);
//   if (!r) return r.error();
//   use(*r);
//
// A failure may carry a message for people ("listen 127.0.0.1:443: address already in use",
// "cert_file '/etc/x.pem': cannot open"): set-up calls of the engines say what went wrong and
// where, while the core's hot paths return the bare code (no string is built). message() falls
// back to errc_message() when none was given. Messages never contain a password.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "mtop/errc.hpp"

namespace mtop {

/// A failure: the code, and optionally what went wrong in words.
struct Failure {
  Errc code{};
  std::string message;  ///< empty: errc_message(code) says it
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Errc error) : v_(std::in_place_index<1>, Failure{error, {}}) {}       // NOLINT: implicit
  Result(Failure failure) : v_(std::in_place_index<1>, std::move(failure)) {}  // NOLINT: implicit
  Result(Errc error, std::string message)
      : v_(std::in_place_index<1>, Failure{error, std::move(message)}) {}

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
    const Failure* f = std::get_if<1>(&v_);
    return f ? f->code : Errc::invalid_state;
  }
  /// What went wrong, for people; only when !ok().
  std::string_view message() const noexcept {
    const Failure* f = std::get_if<1>(&v_);
    if (!f) return errc_message(Errc::invalid_state);
    return f->message.empty() ? errc_message(f->code) : std::string_view(f->message);
  }
  /// The failure (code and message), e.g. to pass it on as another Result's; only when !ok().
  Failure failure() const {
    const Failure* f = std::get_if<1>(&v_);
    return f ? *f : Failure{Errc::invalid_state, {}};
  }

 private:
  std::variant<T, Failure> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Errc error) : error_(error), failed_(true) {}  // NOLINT: implicit by design
  Result(Failure failure)                               // NOLINT: implicit by design
      : error_(failure.code), message_(std::move(failure.message)), failed_(true) {}
  Result(Errc error, std::string message)
      : error_(error), message_(std::move(message)), failed_(true) {}

  bool ok() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return ok(); }
  Errc error() const noexcept {
    assert(failed_);
    return error_;
  }
  std::string_view message() const noexcept {
    return message_.empty() ? errc_message(error_) : std::string_view(message_);
  }
  Failure failure() const { return Failure{error_, message_}; }

 private:
  Errc error_{};
  std::string message_;
  bool failed_ = false;
};

}  // namespace mtop
