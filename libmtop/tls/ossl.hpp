// RAII for OpenSSL handles: unique_ptr with the matching *_free as deleter, so every
// SSL_CTX, SSL, X509, EVP_PKEY, BIO and SSL_SESSION we hold is freed on every path.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

namespace mtop::tls {

template <class T, void (*Free)(T*)>
struct OsslDeleter {
  void operator()(T* p) const noexcept {
    if (p) Free(p);
  }
};

using SslCtxPtr = std::unique_ptr<SSL_CTX, OsslDeleter<SSL_CTX, SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, OsslDeleter<SSL, SSL_free>>;
using X509Ptr = std::unique_ptr<X509, OsslDeleter<X509, X509_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OsslDeleter<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, OsslDeleter<BIO, BIO_free_all>>;
using BioMethodPtr = std::unique_ptr<BIO_METHOD, OsslDeleter<BIO_METHOD, BIO_meth_free>>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, OsslDeleter<SSL_SESSION, SSL_SESSION_free>>;

/// The reason text of the most recent error on this thread's OpenSSL error queue ("no start
/// line", "wrong version number", ...), or `fallback` when the queue is empty. Clears the queue.
std::string last_ossl_error(const char* fallback);

}  // namespace mtop::tls
