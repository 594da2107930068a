// RAII for the C handles of the QUIC layer: ngtcp2_conn*, gnutls_session_t and
// gnutls_certificate_credentials_t. Each owner is a unique_ptr with a deleter, so it moves,
// never copies, and frees exactly once.
#pragma once

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>

#include <memory>
#include <type_traits>

namespace mtop::quic {

struct ConnDeleter {
  void operator()(ngtcp2_conn* c) const noexcept { ngtcp2_conn_del(c); }
};
/// Owns an ngtcp2 connection (ngtcp2_conn_del).
using ConnPtr = std::unique_ptr<ngtcp2_conn, ConnDeleter>;

// gnutls_session_t and gnutls_certificate_credentials_t are pointers to incomplete structs.
struct SessionDeleter {
  void operator()(std::remove_pointer_t<gnutls_session_t>* s) const noexcept { gnutls_deinit(s); }
};
/// Owns a GnuTLS session (gnutls_deinit).
using SessionPtr = std::unique_ptr<std::remove_pointer_t<gnutls_session_t>, SessionDeleter>;

struct CredentialsDeleter {
  void operator()(std::remove_pointer_t<gnutls_certificate_credentials_t>* c) const noexcept {
    gnutls_certificate_free_credentials(c);
  }
};
/// Owns GnuTLS certificate credentials (gnutls_certificate_free_credentials). A session that
/// uses them must be freed first.
using CredentialsPtr =
    std::unique_ptr<std::remove_pointer_t<gnutls_certificate_credentials_t>, CredentialsDeleter>;

}  // namespace mtop::quic
