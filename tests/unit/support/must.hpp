// Set-up steps in tests return mtop::Result<T> (a value, or an Errc with a message). must()
// takes the value of one the test depends on and stops the test with its message otherwise;
// failure_of() is the message of one expected to fail ("" when it did not fail).
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <utility>

#include "mtop/result.hpp"

template <class T>
T must(mtop::Result<T> r) {
  INFO(std::string(r.ok() ? std::string_view() : r.message()));
  REQUIRE(r.ok());
  return std::move(r).value();
}

template <class T>
std::string failure_of(const mtop::Result<T>& r) {
  return r.ok() ? std::string() : std::string(r.message());
}
