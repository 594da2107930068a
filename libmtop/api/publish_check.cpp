// check_publish_grants (include/mtop/user_check.hpp): the user stores' publish grammar
// (auth/publish_grants.hpp) for a custom UserCheck's grant, so that it is refused by the
// program that wrote it rather than ignored later by the server.
#include "auth/publish_grants.hpp"
#include "mtop/user_check.hpp"

namespace mtop {

Result<void> check_publish_grants(std::string_view text) {
  auto grants = auth::PublishGrants::parse(text);
  if (!grants) return grants.failure();
  return {};
}

}  // namespace mtop
