// The QUIC server's secret (QuicServerOptions::secret), derived from the TLS private key file.
//
// Why: with a random secret per process, a restarted server (crash, kill -9, upgrade) cannot
// send stateless resets that clients recognise, so every climber keeps sending into its dead
// connection until the 30 s idle time-out; session tickets and Retry tokens of the previous
// instance are refused too. A secret derived from the key file stays the same across restarts
// and needs no extra configuration. Whoever holds the private key can impersonate the server
// anyway, so it gives nothing new away; replacing the key file changes the secret (clients then
// do one full handshake).
#pragma once

#include <string>

#include "mtop/result.hpp"

namespace mtop {

/// HMAC-SHA256 over a fixed label keyed with the bytes of `key_file`: 32 bytes. Errors:
/// tls_setup_failed when the file cannot be read or is empty (the message names it).
Result<std::string> quic_secret_from_key_file(const std::string& key_file);

}  // namespace mtop
