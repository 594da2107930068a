// mtop_last_error_message(): the message of the last engine-section call that failed on this
// thread (engine.hpp's engine_call() sets it). One string per thread, reused.
#include <string>
#include <string_view>

#include "shim.hpp"

namespace {
thread_local std::string last_error;
}  // namespace

namespace mtop::capi {

void set_last_error(std::string_view message) {
  last_error.assign(message);
}

void clear_last_error() noexcept {
  last_error.clear();  // keeps the capacity: never throws
}

}  // namespace mtop::capi

extern "C" MTOP_API const char* mtop_last_error_message(void) {
  return last_error.c_str();
}
