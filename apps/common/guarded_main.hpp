// main() of both programs: nothing may escape it. A stray exception (bad_alloc, a CLI11
// error) becomes a message and exit code 1 rather than std::terminate.
#pragma once

#include <cstdio>
#include <exception>

namespace mtop::app {

/// Runs `run(argc, argv)` and returns its exit code, or prints "<program>: <what>" and
/// returns 1 when it throws.
template <class Run>
int guarded_main(const char* program, Run run, int argc, char** argv) noexcept {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
  } catch (...) {
    std::fprintf(stderr, "%s: unexpected error\n", program);
  }
  return 1;
}

}  // namespace mtop::app
