// The library's version, for programs that print it (--version) or log it at start.
#pragma once

#include <string_view>

#include "mtop/export.hpp"

namespace mtop {

/// "MAJOR.MINOR.PATCH" of the libmtop_cpp this program runs with (the CMake project version).
MTOP_CPP_API std::string_view version() noexcept;

}  // namespace mtop
