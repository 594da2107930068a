// The admin operations (`mtop-server user ...`) on a users file: read it, change one record,
// write it back atomically (a temporary file renamed over the old one, mode 0600), so the
// running server's reload sees either the old or the new file, never half of one.
// Usage counters are not kept in the file (it is not written by the server).
#pragma once

#include <memory>
#include <string>

#include "mtop/result.hpp"
#include "store/user_admin.hpp"

namespace mtop {

/// A UserAdmin over a users file. A missing file is treated as empty and created by the
/// first change. Errors: invalid_argument when `path` exists but cannot be parsed (the
/// message names the file, where and what).
Result<std::unique_ptr<store::UserAdmin>> open_file_user_admin(const std::string& path);

}  // namespace mtop
