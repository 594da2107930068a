// The effective server config as JSON for the admin API (GET /api/config), with secrets
// redacted: a database DSN's password is replaced by "***"; token files are named by path only.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "mtop/server.hpp"

namespace mtop {

/// `dsn` (a PostgreSQL conninfo "host=... password=..." or a URI "scheme://user:pass@host/db",
/// also with ?password=) with every password replaced by "***".
std::string redact_dsn(std::string_view dsn);

/// Every setting of `config`, in the shape of the config file where there is one.
nlohmann::json config_view(const ServerConfig& config);

}  // namespace mtop
