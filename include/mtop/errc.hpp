// Error codes of libmtop. One enum for the whole library so that the C API can map each
// value one-to-one onto an MTOP_ERR_* constant (MTOP_ERR_x == -(10000 + value)).
//
// Two families, as in h11: *local* errors mean the caller misused the API (a bug in the
// caller); *peer* errors mean the bytes from the other side were bad. The value numbers are
// part of the C ABI: append new codes, never renumber.
//
// Ranges: each layer adds codes only in its own range, so the core's part (1..69, what the
// sans-IO core in libmtop/core can return) holds no code of a later layer:
//     1..9    local: API misuse (every layer)
//    10..29   core: MTop wire protocol
//    30..49   core: SOCKS5
//    50..69   core: HTTP proxy request
//    70..89   store layer: user databases (libmtop/store)
//    90..129  set-up and embedding: TLS/QUIC/socket set-up, servers, climbers, tunnels
//             (libmtop/tls, quic, uv, engine, api; set-up calls return them as Result<T>
//             with a message)
// A new layer gets a new range after these.
#pragma once

#include <string_view>

#include "mtop/export.hpp"

namespace mtop {

enum class Errc : int {
  // --- local: API misuse ---------------------------------------------------------------
  invalid_argument = 1,  ///< a value passed in is out of range (e.g. empty username)
  invalid_state = 2,     ///< the call is not allowed in the object's current state
  no_memory = 3,         ///< allocation failed (C API only)

  // --- peer: MTop wire protocol (docs/PROTOCOL.md) ---------------------------------------
  bad_version = 10,        ///< VER byte is not 0x01
  bad_method = 11,         ///< METHOD unknown, or REVERSE where reverse tunnels are not offered
  bad_username = 12,       ///< ULEN is 0
  bad_password = 13,       ///< PLEN is 0
  bad_address_type = 14,   ///< ATYP is not 0x01, 0x03 or 0x04
  bad_domain = 15,         ///< domain length 0 or a byte outside the accepted host-name set
  bad_port = 16,           ///< port 0
  bad_status = 17,         ///< response STATUS byte is not a known status
  early_data_limit = 18,   ///< the peer sent more early payload than the bound allows
  peer_closed = 19,        ///< the peer closed before a complete message
  bad_frame = 20,          ///< a reverse-tunnel message breaks docs/PROTOCOL.md section 9 (frame
                           ///< length, frame not allowed this way, visitor KIND, keep-alive value)
  keepalive_timeout = 21,  ///< nothing came from the peer on a control tunnel for 3 x keep-alive

  // --- peer: SOCKS5 (RFC 1928 / RFC 1929) -------------------------------------------------
  socks_bad_version = 30,            ///< VER is not 0x05 (or the RFC 1929 sub-version is not 0x01)
  socks_no_methods = 31,             ///< NMETHODS is 0
  socks_bad_reserved = 32,           ///< RSV byte is not 0x00
  socks_bad_address_type = 33,       ///< ATYP unknown
  socks_bad_address = 34,            ///< domain of length 0 / bad bytes, or port 0
  socks_bad_credentials = 35,        ///< RFC 1929 ULEN or PLEN is 0
  socks_auth_failed = 36,            ///< credentials rejected (the machine's own decision)
  socks_no_acceptable_method = 37,   ///< the client offers no method we accept
  socks_command_not_supported = 38,  ///< CMD is not CONNECT (BIND, UDP ASSOCIATE, unknown)

  // --- peer: HTTP proxy request -------------------------------------------------------------
  http_bad_request = 50,       ///< malformed request line or header line
  http_header_too_large = 51,  ///< the head exceeds the configured size limit
  http_too_many_headers = 52,  ///< more header lines than the configured limit
  http_bad_target = 53,        ///< the request target is not authority-form / absolute http URI
  http_unsupported = 54,  ///< a method or feature we do not proxy (e.g. https:// absolute form)
  http_bad_version = 55,  ///< not HTTP/1.0 or HTTP/1.1

  // --- store layer (70..89): user stores (databases) ----------------------------------------
  store_unavailable = 70,     ///< the database cannot be reached (connect failed, connection lost)
  store_duplicate_user = 71,  ///< a user with that name exists already
  store_no_such_user = 72,    ///< no user with that name
  store_query_failed = 73,    ///< the database refused a statement (schema, constraint, data)
  // --- set-up and embedding (90..129): servers, climbers, tunnels, transports ---------------
  config_invalid = 90,    ///< a configuration value is missing, malformed or out of range
  listen_failed = 91,     ///< a listening address cannot be bound (in use, not local, denied)
  tls_setup_failed = 92,  ///< a certificate, key or CA file cannot be read or does not fit
  not_built_in = 93,      ///< the feature was left out of this build (QUIC, a database store)
  system_error = 94,      ///< a system call failed (threads, sockets, files, the event loop)
  tunnel_refused = 95,    ///< the MTop server refused the tunnel (auth, policy, target failure)
  tunnel_failed = 96,     ///< the tunnel could not be set up (server unreachable, TLS, time-out)
  limit_reached = 97,     ///< a configured limit is reached (connections, tunnels, pool)
  cancelled = 98,         ///< the object was stopped or freed while the operation was pending
};

/// A short, stable English description of the code (never null, never empty).
MTOP_CPP_API std::string_view errc_message(Errc e) noexcept;

/// True for codes that mean the *caller* misused the API rather than the peer misbehaving.
constexpr bool is_local_error(Errc e) noexcept {
  return static_cast<int>(e) < 10;
}

}  // namespace mtop
