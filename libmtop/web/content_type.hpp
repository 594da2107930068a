// The Content-Type a static web server sends for a file, by its name's extension.
#pragma once

#include <string_view>

namespace mtop::web {

/// The media type for `path`'s extension (case-insensitive; text types with charset=utf-8),
/// or "application/octet-stream" for an unknown or missing extension.
std::string_view content_type_for(std::string_view path) noexcept;

}  // namespace mtop::web
