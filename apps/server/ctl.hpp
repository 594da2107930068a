// `mtop-server ctl …`: the command-line client of the admin API (docs/ADMIN_API.md).
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace mtop::server {

/// Adds the "ctl" subcommand and its own subcommands to `app`; the returned function runs
/// the one parsed (exit status: 0 on a 2xx answer, 1 otherwise).
std::function<int()> add_ctl(CLI::App& app, CLI::App*& ctl);

}  // namespace mtop::server
