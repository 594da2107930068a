// Self-signed server certificates for `mtop-server gen-cert --name NAME [--ip IP]...`.
//
// Writes an ECDSA P-256 key and a self-signed X.509 v3 certificate, both PEM. The certificate
// names the server in subjectAltName (DNS for the name, IP for each address; a name that is
// itself an IP address goes in as an IP), is valid from an hour ago (clock skew) for
// `valid_days`, has a random 159-bit serial, and is marked for TLS server use. Clients trust
// it by loading it as their CA file or by pinning the printed SHA-256 fingerprint. The key
// file is created with mode 0600; existing files are never replaced unless `overwrite`.
#pragma once

#include <openssl/x509.h>

#include <string>
#include <vector>

#include "mtop/admin.hpp"
#include "mtop/result.hpp"

namespace mtop::tls {

/// The options of the public generate_self_signed_cert() (mtop/admin.hpp).
using CertGenOptions = ::mtop::CertGenOptions;

/// Generates the key and certificate and writes both files; returns the SHA-256 fingerprint
/// ("AB:CD:...") of the DER certificate. On failure nothing new is left behind (a file this
/// call created is removed). Errors: tls_setup_failed with a short, log-safe reason.
Result<std::string> generate_self_signed(const CertGenOptions& options);

/// "AB:CD:..." (SHA-256 of the DER certificate), as gen-cert prints it; empty if `cert` is null
/// or cannot be encoded.
std::string sha256_fingerprint(X509* cert);

}  // namespace mtop::tls
