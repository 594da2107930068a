// The process's limit on open file descriptors. Every tunnel holds one or two sockets on each
// side, so a proxy meant for thousands of tunnels needs far more than the usual soft limit of
// 1024; the hard limit (what an unprivileged process may raise itself to) is taken at start.
#pragma once

#include <cstdint>

#include "mtop/export.hpp"

namespace mtop::io {

/// Raises the soft RLIMIT_NOFILE to the hard limit if it is lower. Returns the soft limit in
/// force afterwards (unchanged if raising failed; 0 if it cannot even be read).
MTOP_CPP_API std::uint64_t raise_fd_limit() noexcept;

}  // namespace mtop::io
