// The SMTP DANE profile on OpenSSL (contract: dane/verifier/dane_profile.hpp).
//
// Offline verification follows OpenSSL's own offline DANE tests and Postfix: an
// X509_STORE_CTX over the chain that borrows the SSL's DANE state and verify
// parameters, run as the TLS client would ("ssl_server" purpose).
#include "dane/verifier/dane_profile.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "dane/core/text.hpp"
#include "dane/verifier/openssl_error.hpp"

namespace dane {
namespace {

// Reference identifiers on the SSL (OpenSSL copies them into every verification).
Status set_reference_names(SSL* ssl, const std::vector<std::string>& names) {
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (names.empty()) {
    X509_VERIFY_PARAM_set1_host(param, nullptr, 0); // drops the base domain SSL_dane_enable set
    return Ok{};
  }
  bool first = true;
  for (const auto& name : names) {
    // With the length, so a name with an embedded NUL is refused, never silently shortened.
    int ok = first ? X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size())
                   : X509_VERIFY_PARAM_add1_host(param, name.c_str(), name.size());
    if (ok != 1) {
      ERR_clear_error();
      return make_error("bad reference name '" + quote_untrusted(name) + "'");
    }
    first = false;
  }
  return Ok{};
}

// The certificates after the leaf, each with its own reference, for X509_STORE_CTX_init.
Expected<X509StackPtr> untrusted_stack(const std::vector<X509Ptr>& chain) {
  X509StackPtr stack(sk_X509_new_null());
  if (!stack) {
    return make_error("out of memory");
  }
  for (std::size_t i = 1; i < chain.size(); ++i) {
    X509* cert = chain[i].get();
    if (X509_up_ref(cert) != 1) {
      return make_error("out of memory"); // no reference taken: nothing to release
    }
    X509Ptr held(cert); // owns the reference just taken until the stack does
    if (sk_X509_push(stack.get(), held.get()) <= 0) {
      return make_error("out of memory"); // `held` releases it
    }
    static_cast<void>(held.release()); // the stack owns it now (freed by X509StackDeleter)
  }
  return stack;
}

} // namespace

Expected<SslCtxPtr> new_dane_client_ctx() {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    return make_error("cannot create a TLS context: " + openssl_error_text("SSL_CTX_new"));
  }
  // The verification outcome is read afterwards (SSL_get_verify_result / X509_verify_cert).
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  if (SSL_CTX_dane_enable(ctx.get()) <= 0) {
    return make_error("cannot enable DANE: " + openssl_error_text("SSL_CTX_dane_enable"));
  }
  return ctx;
}

Expected<DaneRecordsAdded> apply_smtp_dane(SSL* ssl, const std::string& base, const std::vector<std::string>& names,
                                           const std::vector<const TlsaRecord*>& records) {
  ERR_clear_error();
  if (SSL_dane_enable(ssl, base.c_str()) <= 0) { // also the SNI name and first reference name
    return make_error("cannot enable DANE for '" + quote_untrusted(base) +
                      "': " + openssl_error_text("SSL_dane_enable"));
  }
  SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS); // RFC 7672 §3.1.1
  if (auto named = set_reference_names(ssl, names); !named) {
    return make_error(named.error());
  }
  DaneRecordsAdded added;
  for (const TlsaRecord* record : records) {
    int rc = SSL_dane_tlsa_add(ssl, octet(record->usage), octet(record->selector), octet(record->mtype),
                               record->data.data(), record->data.size());
    added.results.push_back(rc);
    added.errors.push_back(rc > 0 ? std::string() : openssl_error_text("SSL_dane_tlsa_add"));
    if (rc > 0) {
      ++added.usable;
    }
  }
  ERR_clear_error();
  return added;
}

Expected<OfflineVerification> verify_offline(SSL* ssl, const std::vector<X509Ptr>& chain,
                                             const std::optional<std::time_t>& when) {
  if (chain.empty()) {
    return make_error("no certificate chain to verify");
  }
  auto untrusted = untrusted_stack(chain);
  if (!untrusted) {
    return make_error(untrusted.error());
  }
  ERR_clear_error();
  X509StoreCtxPtr store_ctx(X509_STORE_CTX_new());
  if (!store_ctx || X509_STORE_CTX_init(store_ctx.get(), SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl)),
                                        chain.front().get(), untrusted->get()) != 1) {
    return make_error("cannot set up chain verification: " + openssl_error_text("X509_STORE_CTX_init"));
  }
  // As the TLS client would: verify a server certificate, with the SSL's parameters and DANE state.
  X509_STORE_CTX_set_default(store_ctx.get(), "ssl_server");
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(store_ctx.get());
  X509_VERIFY_PARAM_set1(param, SSL_get0_param(ssl)); // reference names and host flags
  X509_STORE_CTX_set_ex_data(store_ctx.get(), SSL_get_ex_data_X509_STORE_CTX_idx(), ssl);
  X509_STORE_CTX_set0_dane(store_ctx.get(), SSL_get0_dane(ssl));
  if (when) {
    X509_VERIFY_PARAM_set_time(param, *when);
  }
  OfflineVerification out;
  int rc = X509_verify_cert(store_ctx.get());
  out.x509_error = X509_STORE_CTX_get_error(store_ctx.get());
  if (rc <= 0 && out.x509_error == X509_V_OK) {
    out.x509_error = X509_V_ERR_UNSPECIFIED; // internal failure without a verify code
  }
  if (out.x509_error != X509_V_OK) {
    out.error_depth = X509_STORE_CTX_get_error_depth(store_ctx.get());
  }
  // Matches are hidden while the verify result is an error; leave a clean result (as
  // OpenSSL's danetest does), so a DANE-TA match with a failed name check is visible.
  SSL_set_verify_result(ssl, X509_V_OK);
  ERR_clear_error();
  return out;
}

std::optional<TlsaRecord> dane_matched_record(SSL* ssl) {
  std::uint8_t usage = 0;
  std::uint8_t selector = 0;
  std::uint8_t mtype = 0;
  const unsigned char* data = nullptr;
  std::size_t length = 0;
  if (SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, &data, &length) < 0 || data == nullptr) {
    return std::nullopt;
  }
  return TlsaRecord{TlsaUsage{usage}, TlsaSelector{selector}, TlsaMatchingType{mtype},
                    std::vector<std::uint8_t>(data, data + length)};
}

MatchFailure classify_verify_error(long x509_error) {
  switch (x509_error) {
  case X509_V_OK:
    return MatchFailure::None;
  case X509_V_ERR_DANE_NO_MATCH:
    return MatchFailure::NoMatch;
  case X509_V_ERR_HOSTNAME_MISMATCH:
    return MatchFailure::NameMismatch;
  case X509_V_ERR_CERT_HAS_EXPIRED:
  case X509_V_ERR_CERT_NOT_YET_VALID:
    return MatchFailure::Expired;
  default: // including X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE/AFTER_FIELD: a malformed certificate
    return MatchFailure::ChainError;
  }
}

ProbeResult probe_result_for(MatchFailure failure) {
  switch (failure) {
  case MatchFailure::NameMismatch:
    return ProbeResult::NameMismatch;
  case MatchFailure::Expired:
    return ProbeResult::CertExpired;
  case MatchFailure::None:
  case MatchFailure::NoMatch:
  case MatchFailure::ChainError:
    return ProbeResult::TlsaMismatch;
  }
  return ProbeResult::TlsaMismatch;
}

} // namespace dane
