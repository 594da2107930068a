// libmtop_cpp.so is every object of the per-layer static libraries (libmtop/CMakeLists.txt);
// this file only gives the shared library target a source of its own, as CMake requires.
// What the library exports is marked MTOP_CPP_API in include/mtop/ (include/mtop/export.hpp).
#include "mtop/export.hpp"
