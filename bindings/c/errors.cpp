// mtop_strerror(), mtop_version*() and the compile-time proofs that every MTOP_ERR_* constant
// of mtop.h is -(10000 + its mtop::Errc value) and that mtop.h's MTOP_VERSION_* macros are
// the version the build says (the CMake project version, passed as MTOP_VERSION_STRING).
#include <string_view>

#include "shim.hpp"

#ifndef MTOP_VERSION_STRING
#error "MTOP_VERSION_STRING must be defined by the build (bindings/c/CMakeLists.txt)"
#endif

namespace {

using mtop::Errc;
using mtop::capi::to_c;

#define MTOP_CHECK_CODE(macro, errc) \
  static_assert((macro) == to_c(Errc::errc), #macro " must be -(10000 + Errc::" #errc ")")

MTOP_CHECK_CODE(MTOP_ERR_INVALID_ARGUMENT, invalid_argument);
MTOP_CHECK_CODE(MTOP_ERR_INVALID_STATE, invalid_state);
MTOP_CHECK_CODE(MTOP_ERR_NO_MEMORY, no_memory);
MTOP_CHECK_CODE(MTOP_ERR_NOMEM, no_memory);
MTOP_CHECK_CODE(MTOP_ERR_BAD_VERSION, bad_version);
MTOP_CHECK_CODE(MTOP_ERR_BAD_METHOD, bad_method);
MTOP_CHECK_CODE(MTOP_ERR_BAD_USERNAME, bad_username);
MTOP_CHECK_CODE(MTOP_ERR_BAD_PASSWORD, bad_password);
MTOP_CHECK_CODE(MTOP_ERR_BAD_ADDRESS_TYPE, bad_address_type);
MTOP_CHECK_CODE(MTOP_ERR_BAD_DOMAIN, bad_domain);
MTOP_CHECK_CODE(MTOP_ERR_BAD_PORT, bad_port);
MTOP_CHECK_CODE(MTOP_ERR_BAD_STATUS, bad_status);
MTOP_CHECK_CODE(MTOP_ERR_EARLY_DATA_LIMIT, early_data_limit);
MTOP_CHECK_CODE(MTOP_ERR_PEER_CLOSED, peer_closed);
MTOP_CHECK_CODE(MTOP_ERR_BAD_FRAME, bad_frame);
MTOP_CHECK_CODE(MTOP_ERR_KEEPALIVE_TIMEOUT, keepalive_timeout);
MTOP_CHECK_CODE(MTOP_ERR_SOCKS_BAD_VERSION, socks_bad_version);
MTOP_CHECK_CODE(MTOP_ERR_SOCKS_NO_METHODS, socks_no_methods);
MTOP_CHECK_CODE(MTOP_ERR_SOCKS_BAD_RESERVED, socks_bad_reserved);
MTOP_CHECK_CODE(MTOP_ERR_SOCKS_BAD_ADDRESS_TYPE, socks_bad_address_type);
MTOP_CHECK_CODE(MTOP_ERR_SOCKS_BAD_ADDRESS, socks_bad_address);
MTOP_CHECK_CODE(MTOP_ERR_SOCKS_BAD_CREDENTIALS, socks_bad_credentials);
MTOP_CHECK_CODE(MTOP_ERR_SOCKS_AUTH_FAILED, socks_auth_failed);
MTOP_CHECK_CODE(MTOP_ERR_SOCKS_NO_ACCEPTABLE_METHOD, socks_no_acceptable_method);
MTOP_CHECK_CODE(MTOP_ERR_SOCKS_COMMAND_NOT_SUPPORTED, socks_command_not_supported);
MTOP_CHECK_CODE(MTOP_ERR_HTTP_BAD_REQUEST, http_bad_request);
MTOP_CHECK_CODE(MTOP_ERR_HTTP_HEADER_TOO_LARGE, http_header_too_large);
MTOP_CHECK_CODE(MTOP_ERR_HTTP_TOO_MANY_HEADERS, http_too_many_headers);
MTOP_CHECK_CODE(MTOP_ERR_HTTP_BAD_TARGET, http_bad_target);
MTOP_CHECK_CODE(MTOP_ERR_HTTP_UNSUPPORTED, http_unsupported);
MTOP_CHECK_CODE(MTOP_ERR_HTTP_BAD_VERSION, http_bad_version);
MTOP_CHECK_CODE(MTOP_ERR_STORE_UNAVAILABLE, store_unavailable);
MTOP_CHECK_CODE(MTOP_ERR_STORE_DUPLICATE_USER, store_duplicate_user);
MTOP_CHECK_CODE(MTOP_ERR_STORE_NO_SUCH_USER, store_no_such_user);
MTOP_CHECK_CODE(MTOP_ERR_STORE_QUERY_FAILED, store_query_failed);
MTOP_CHECK_CODE(MTOP_ERR_CONFIG_INVALID, config_invalid);
MTOP_CHECK_CODE(MTOP_ERR_LISTEN_FAILED, listen_failed);
MTOP_CHECK_CODE(MTOP_ERR_TLS_SETUP_FAILED, tls_setup_failed);
MTOP_CHECK_CODE(MTOP_ERR_NOT_BUILT_IN, not_built_in);
MTOP_CHECK_CODE(MTOP_ERR_SYSTEM, system_error);
MTOP_CHECK_CODE(MTOP_ERR_TUNNEL_REFUSED, tunnel_refused);
MTOP_CHECK_CODE(MTOP_ERR_TUNNEL_FAILED, tunnel_failed);
MTOP_CHECK_CODE(MTOP_ERR_LIMIT_REACHED, limit_reached);
MTOP_CHECK_CODE(MTOP_ERR_CANCELLED, cancelled);

#undef MTOP_CHECK_CODE

// "MAJOR.MINOR.PATCH" -> 0xMMmmpp, or -1 if the text is not three dot-separated numbers.
constexpr int version_num_of(std::string_view v) {
  int parts[3] = {0, 0, 0};
  int part = 0;
  bool digit = false;
  for (char c : v) {
    if (c == '.') {
      if (!digit || ++part > 2) return -1;
      digit = false;
    } else if (c >= '0' && c <= '9') {
      parts[part] = parts[part] * 10 + (c - '0');
      if (parts[part] > 255) return -1;
      digit = true;
    } else {
      return -1;
    }
  }
  if (!digit || part != 2) return -1;
  return (parts[0] << 16) | (parts[1] << 8) | parts[2];
}
static_assert(version_num_of("1.22.3") == 0x011603 && version_num_of("1.2") == -1);
static_assert(version_num_of(MTOP_VERSION_STRING) == MTOP_VERSION_NUM,
              "mtop.h's MTOP_VERSION_MAJOR/MINOR/PATCH must equal the CMake project version");

// The Errc range of MTOP_ERR_* codes: -(10000 + e) for 0 <= e < 10000.
constexpr int kErrcBase = 10000;
constexpr int kErrcSpan = 10000;
static_assert(MTOP_ERR_INTERNAL <= -(kErrcBase + kErrcSpan), "INTERNAL must lie outside Errc");

}  // namespace

extern "C" MTOP_API const char* mtop_strerror(int code) {
  if (code >= 0) return "success";
  if (code == MTOP_ERR_INTERNAL) return "internal error in libmtop";
  if (code > -(kErrcBase + kErrcSpan) && code <= -kErrcBase) {
    // errc_message() returns views of string literals, so data() is NUL-terminated.
    const std::string_view msg = mtop::errc_message(static_cast<Errc>(-code - kErrcBase));
    return msg.data();
  }
  return "unknown error";
}

extern "C" MTOP_API const char* mtop_version(void) {
  return MTOP_VERSION_STRING;
}

extern "C" MTOP_API int mtop_version_num(void) {
  return MTOP_VERSION_NUM;
}

extern "C" MTOP_API int mtop_version_check(int major, int minor) {
  return major == MTOP_VERSION_MAJOR && minor >= 0 && minor <= MTOP_VERSION_MINOR ? 1 : 0;
}
