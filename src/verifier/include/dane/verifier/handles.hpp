// dane/verifier/handles.hpp — the one place that owns every C handle we use.
//
// One named, stateless deleter and one std::unique_ptr alias per OpenSSL and
// libunbound type (docs/style.md point 5); the file descriptor type lives in dane/core/fd.hpp. Use these
// spellings everywhere; never call the *_free functions by hand.
#pragma once

#include <memory>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

struct ub_ctx;
struct ub_result;

namespace dane {

struct X509Deleter {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct SslCtxDeleter {
  void operator()(SSL_CTX* p) const noexcept { SSL_CTX_free(p); }
};
struct SslDeleter {
  void operator()(SSL* p) const noexcept { SSL_free(p); }
};
struct X509StoreDeleter {
  void operator()(X509_STORE* p) const noexcept { X509_STORE_free(p); }
};
struct X509StoreCtxDeleter {
  void operator()(X509_STORE_CTX* p) const noexcept { X509_STORE_CTX_free(p); }
};
struct BioDeleter {
  void operator()(BIO* p) const noexcept { BIO_free_all(p); }
};
struct X509StackDeleter {
  void operator()(STACK_OF(X509) * p) const noexcept { sk_X509_pop_free(p, X509_free); }
};
struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct GeneralNamesDeleter {
  void operator()(GENERAL_NAMES* p) const noexcept { GENERAL_NAMES_free(p); }
};
// libunbound handles (implemented in dns.cpp, the only file that includes unbound.h).
struct UbCtxDeleter {
  void operator()(ub_ctx* p) const noexcept;
};
struct UbResultDeleter {
  void operator()(ub_result* p) const noexcept;
};

using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using SslPtr = std::unique_ptr<SSL, SslDeleter>;
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreDeleter>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, X509StoreCtxDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackDeleter>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, GeneralNamesDeleter>;
using UbCtxPtr = std::unique_ptr<ub_ctx, UbCtxDeleter>;
using UbResultPtr = std::unique_ptr<ub_result, UbResultDeleter>;

} // namespace dane
