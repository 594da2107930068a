// MTOP_API: marks a declaration of the public C++ API as exported from libmtop_cpp.so.
//
// All of libmtop is compiled with hidden visibility (-fvisibility=hidden
// -fvisibility-inlines-hidden, set in the top-level CMakeLists.txt), so libmtop_cpp.so exports
// exactly what the headers in include/mtop/ mark with MTOP_API and nothing else. Put it on
//   - a class or struct with out-of-line members (or a vtable):  class MTOP_API Server { ... };
//   - a free function defined in a .cpp file:  MTOP_API std::string base64_encode(ByteView in);
// and not on templates, inline functions, constexpr functions or plain aggregates (consumers
// compile those themselves). A declaration in include/mtop/ without MTOP_API links in the
// static layer libraries (unit tests) but not against the installed shared library.
//
// mtop.h (the C API) defines the same macro with the same expansion on GCC and Clang, so the
// two headers can be included together in either order.
#pragma once

#ifndef MTOP_API
#  if defined(__GNUC__) && __GNUC__ >= 4
#    define MTOP_API __attribute__((visibility("default")))
#  else
#    define MTOP_API
#  endif
#endif
