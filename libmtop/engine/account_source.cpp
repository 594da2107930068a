#include "engine/account_source.hpp"

#include <chrono>

namespace mtop {

std::string account_problem(const auth::UserRecord& r, std::uint64_t unsaved_bytes,
                            std::int64_t now_unix) {
  if (!r.enabled) return "user disabled";
  if (r.expires_at && *r.expires_at <= now_unix) return "user expired";
  if (r.quota_bytes && r.used_bytes + unsaved_bytes >= *r.quota_bytes) return "quota exceeded";
  return {};
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace mtop
