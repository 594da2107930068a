// Bearer tokens of the admin listener: read from a file, compared in constant time.
#pragma once

#include <string>
#include <string_view>

#include "mtop/result.hpp"

namespace mtop::admin {

/// The token in `path`: the file's content without surrounding white space, 16 to 4096
/// printable ASCII characters. Errors: config_invalid naming the file (unreadable, empty,
/// too short or long, white space or control characters inside); never quotes the token.
Result<std::string> read_token_file(const std::string& path);

/// Whether `authorization` (an HTTP Authorization header) is "Bearer <token>". The comparison
/// takes the same time wherever the first difference is, and whatever the lengths (both sides
/// are hashed first).
bool bearer_matches(std::string_view authorization, const std::string& token);

}  // namespace mtop::admin
