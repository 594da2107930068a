// MTOP_CPP_API marks what libmtop_cpp.so exports: the declarations of the public headers in
// include/mtop/. Everything else in the library is built with hidden visibility, so what is not
// in an installed header cannot be linked against by accident. (mtop.h has its own MTOP_API
// for the C library.)
#pragma once

#if defined(__GNUC__) && __GNUC__ >= 4
#define MTOP_CPP_API __attribute__((visibility("default")))
#else
#define MTOP_CPP_API
#endif
