// Short, log-safe reasons for libuv status codes ("connection reset", "timed out", ...).
#pragma once

#include <string>

namespace mtop::io {

/// A short English reason for a negative libuv status: the common network failures get a
/// fixed phrase, anything else libuv's own uv_strerror() text. Never empty.
std::string uv_reason(int status);

}  // namespace mtop::io
