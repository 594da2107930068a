#include "mtop/errc.hpp"

namespace mtop {

std::string_view errc_message(Errc e) noexcept {
  switch (e) {
    case Errc::invalid_argument:
      return "invalid argument";
    case Errc::invalid_state:
      return "call not allowed in the current state";
    case Errc::no_memory:
      return "out of memory";
    case Errc::bad_version:
      return "unsupported protocol version";
    case Errc::bad_method:
      return "unsupported method";
    case Errc::bad_username:
      return "empty username";
    case Errc::bad_password:
      return "empty password";
    case Errc::bad_address_type:
      return "unknown address type";
    case Errc::bad_domain:
      return "invalid domain name";
    case Errc::bad_port:
      return "port 0 is not allowed";
    case Errc::bad_status:
      return "unknown status";
    case Errc::early_data_limit:
      return "early data exceeds the limit";
    case Errc::peer_closed:
      return "peer closed before a complete message";
    case Errc::bad_frame:
      return "malformed reverse-tunnel message";
    case Errc::keepalive_timeout:
      return "peer silent for three keep-alive intervals";
    case Errc::socks_bad_version:
      return "SOCKS: bad version";
    case Errc::socks_no_methods:
      return "SOCKS: no authentication methods offered";
    case Errc::socks_bad_reserved:
      return "SOCKS: reserved byte is not zero";
    case Errc::socks_bad_address_type:
      return "SOCKS: unknown address type";
    case Errc::socks_bad_address:
      return "SOCKS: invalid address or port";
    case Errc::socks_bad_credentials:
      return "SOCKS: empty username or password";
    case Errc::socks_auth_failed:
      return "SOCKS: authentication failed";
    case Errc::socks_no_acceptable_method:
      return "SOCKS: no acceptable authentication method";
    case Errc::socks_command_not_supported:
      return "SOCKS: command not supported";
    case Errc::http_bad_request:
      return "HTTP: malformed request";
    case Errc::http_header_too_large:
      return "HTTP: request head too large";
    case Errc::http_too_many_headers:
      return "HTTP: too many header lines";
    case Errc::http_bad_target:
      return "HTTP: invalid request target";
    case Errc::http_unsupported:
      return "HTTP: unsupported request";
    case Errc::http_bad_version:
      return "HTTP: unsupported version";
    case Errc::store_unavailable:
      return "user store: database unavailable";
    case Errc::store_duplicate_user:
      return "user store: user exists already";
    case Errc::store_no_such_user:
      return "user store: no such user";
    case Errc::store_query_failed:
      return "user store: statement failed";
    case Errc::config_invalid:
      return "invalid configuration";
    case Errc::listen_failed:
      return "cannot listen on the address";
    case Errc::tls_setup_failed:
      return "TLS set-up failed (certificate, key or CA)";
    case Errc::not_built_in:
      return "not built into this library";
    case Errc::system_error:
      return "system call failed";
    case Errc::tunnel_refused:
      return "the server refused the tunnel";
    case Errc::tunnel_failed:
      return "the tunnel could not be set up";
    case Errc::limit_reached:
      return "a configured limit is reached";
    case Errc::cancelled:
      return "cancelled";
  }
  return "unknown error";
}

}  // namespace mtop
