#include "mtop/version.hpp"

namespace mtop {

// MTOP_VERSION_STRING comes from the CMake project version (libmtop/api/CMakeLists.txt).
std::string_view version() noexcept {
  return MTOP_VERSION_STRING;
}

}  // namespace mtop
