// Reading a password for `mtop-server passwd` / `user add`: never from the command line (it
// would show in `ps` and shell history), only from standard input or a terminal prompt.
#pragma once

#include <string>

namespace mtop::server {

/// From a terminal: prompts twice with echo off and insists both match. From a pipe or file:
/// the first line, without its line end. False with `error` on an empty password, a mismatch
/// or end of input.
bool read_new_password(std::string& password, std::string& error);

}  // namespace mtop::server
