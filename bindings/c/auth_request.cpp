// mtop_auth_request_*: the getters and the three answers of an auth check. Any thread may
// call them (the answer slot, mtop::UserCheckReply, is thread-safe, and answering after the
// tunnel or the server is gone is ignored by it); each answer frees the request.
#if MTOP_C_WITH_ENGINES

#include <cstddef>
#include <iterator>
#include <string>

#include "auth_request.hpp"
#include "engine.hpp"

namespace {

using mtop::capi::engine_call;
using mtop::capi::failed;
using mtop::capi::Outcome;
using mtop::capi::version_size;

constexpr std::size_t kGrantSize[] = {0, MTOP_FIELDS_END(mtop_user_grant, rate_limit),
                                      MTOP_FIELDS_END(mtop_user_grant, publish)};
static_assert(std::size(kGrantSize) == MTOP_USER_GRANT_VERSION + 1);

const char* string_of(const mtop_auth_request* req,
                      const std::string mtop::UserCheckRequest::*field, std::size_t* len) noexcept {
  mtop::capi::clear_last_error();
  if (req == nullptr) {
    if (len != nullptr) *len = 0;
    return nullptr;
  }
  const std::string& s = req->request.*field;
  if (len != nullptr) *len = s.size();
  return s.c_str();
}

}  // namespace

extern "C" {

MTOP_API const char* mtop_auth_request_username(const mtop_auth_request* req, size_t* len) {
  return string_of(req, &mtop::UserCheckRequest::username, len);
}

MTOP_API const char* mtop_auth_request_password(const mtop_auth_request* req, size_t* len) {
  return string_of(req, &mtop::UserCheckRequest::password, len);
}

MTOP_API const char* mtop_auth_request_source(const mtop_auth_request* req) {
  return string_of(req, &mtop::UserCheckRequest::source, nullptr);
}

MTOP_API const char* mtop_auth_request_target_host(const mtop_auth_request* req) {
  return string_of(req, &mtop::UserCheckRequest::target_host, nullptr);
}

MTOP_API int mtop_auth_request_target_port(const mtop_auth_request* req) {
  return engine_call([&] {
    if (req == nullptr) return failed(MTOP_ERR_INVALID_ARGUMENT, "auth request: NULL");
    return Outcome{req->request.target_port, {}};
  });
}

MTOP_API int mtop_auth_request_allow_versioned(mtop_auth_request* req, int version,
                                               const mtop_user_grant* grant) {
  return engine_call([&] {
    if (req == nullptr) return failed(MTOP_ERR_INVALID_ARGUMENT, "auth request: NULL");
    const std::size_t size = version_size(kGrantSize, version);
    if (grant != nullptr && size == 0) {
      return failed(MTOP_ERR_INVALID_ARGUMENT,
                    "mtop_user_grant: unknown version " + mtop::capi::decimal(version));
    }
    mtop_user_grant full{};
    if (grant != nullptr) mtop::capi::read_prefix(full, grant, size);
    std::unique_ptr<mtop_auth_request> owned(req);  // freed however this ends, but one way
    mtop::UserGrant g;
    try {
      if (full.publish != nullptr) {
        if (auto ok = mtop::check_publish_grants(full.publish); !ok) {
          // A text that does not parse is the caller's to fix: the request stays theirs.
          (void)owned.release();
          return failed(ok);
        }
      }
      if (full.user != nullptr) g.user = full.user;
      if (full.max_tunnels > 0) g.max_tunnels = full.max_tunnels;
      if (full.rate_limit > 0) g.rate_limit = full.rate_limit;
      if (full.publish != nullptr) g.publish = full.publish;
    } catch (const std::bad_alloc&) {
      owned->reply.unavailable();
      return failed(MTOP_ERR_NOMEM, "out of memory: answered unavailable");
    }
    owned->reply.allow(std::move(g));
    return Outcome{};
  });
}

MTOP_API int mtop_auth_request_deny(mtop_auth_request* req) {
  return engine_call([&] {
    if (req == nullptr) return failed(MTOP_ERR_INVALID_ARGUMENT, "auth request: NULL");
    std::unique_ptr<mtop_auth_request> owned(req);
    owned->reply.deny();
    return Outcome{};
  });
}

MTOP_API int mtop_auth_request_unavailable(mtop_auth_request* req) {
  return engine_call([&] {
    if (req == nullptr) return failed(MTOP_ERR_INVALID_ARGUMENT, "auth request: NULL");
    std::unique_ptr<mtop_auth_request> owned(req);
    owned->reply.unavailable();
    return Outcome{};
  });
}

}  // extern "C"

#endif  // MTOP_C_WITH_ENGINES
