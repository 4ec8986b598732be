// dane/verifier/dane_profile.hpp — the SMTP DANE profile (RFC 7672) on OpenSSL, in
// one place: how an SSL is set up for DANE, how a chain is verified offline with
// that SSL's DANE state, and what a verification error means.
//
// This is the OpenSSL-facing part of the verifier; match.cpp (offline check) and
// probe.cpp (live STARTTLS probe) both use it so they cannot drift apart. Other
// libraries should use dane/verifier/match.hpp or probe.hpp instead.
//
// The profile: SSL_CTX_dane_enable on a TLS client context whose verify mode is
// SSL_VERIFY_NONE (the outcome is read afterwards, the handshake is never aborted by
// it); SSL_dane_enable(base) (also the SNI name); DANE_FLAG_NO_DANE_EE_NAMECHECKS
// (RFC 7672 §3.1.1: DANE-EE ignores names, and OpenSSL then ignores its dates too);
// reference identifiers for DANE-TA with X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS
// (RFC 7672 §3.2.2); each record added with SSL_dane_tlsa_add, in order. Callers
// filter records by SMTP usability (tlsa.hpp smtp_usability) first: OpenSSL itself
// would accept the PKIX usages.
//
// Inputs are trusted to be what the caller means (records already parsed; names
// are DNS names). Failure modes are Expected errors naming what could not be set
// up (out of memory, a reference name OpenSSL refuses, e.g. with an embedded NUL);
// a record OpenSSL refuses is not a failure, it is reported per record.
// Thread-safe: everything works on the SSL / store context it is given.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "dane/core/expected.hpp"
#include "dane/verifier/handles.hpp"
#include "dane/verifier/match.hpp"
#include "dane/verifier/probe.hpp"
#include "dane/verifier/tlsa.hpp"

namespace dane {

// A TLS client context with DANE enabled and SSL_VERIFY_NONE. The error says which step failed.
Expected<SslCtxPtr> new_dane_client_ctx();

// What OpenSSL made of each record given to apply_smtp_dane, in input order.
struct DaneRecordsAdded {
  std::vector<int> results;        // SSL_dane_tlsa_add result (> 0: usable)
  std::vector<std::string> errors; // why OpenSSL refused a record; "" when it accepted it
  int usable = 0;                  // how many results are > 0
};

// Puts the SMTP DANE profile on `ssl` (of a context from new_dane_client_ctx):
// `base` is the TLSA base domain; `names` are the reference identifiers, the first
// normally being `base`. Empty `names` clears every reference identifier, so DANE-TA
// name checks are skipped (offline use without names only; see match.hpp).
Expected<DaneRecordsAdded> apply_smtp_dane(SSL* ssl, const std::string& base, const std::vector<std::string>& names,
                                           const std::vector<const TlsaRecord*>& records);

// The result of one offline X509_verify_cert run.
struct OfflineVerification {
  int x509_error = 0;   // X509_V_*; X509_V_ERR_UNSPECIFIED when OpenSSL failed without a code
  int error_depth = -1; // where it failed, -1 when it did not
};

// Verifies `chain` (leaf first, not empty) as the TLS client would, with the DANE state,
// reference names and flags of `ssl` (set up by apply_smtp_dane), at `when` (default:
// now). Afterwards SSL_get0_dane_authority(ssl) / dane_matched_record(ssl) tell what
// matched (the verify result on `ssl` is left at X509_V_OK so they can).
Expected<OfflineVerification> verify_offline(SSL* ssl, const std::vector<X509Ptr>& chain,
                                             const std::optional<std::time_t>& when);

// The record OpenSSL reports as the DANE authority of the last verification, if any.
std::optional<TlsaRecord> dane_matched_record(SSL* ssl);

// What an X509_V_* verification error means for DANE, decided once for both paths:
//   X509_V_OK                              -> None
//   X509_V_ERR_DANE_NO_MATCH               -> NoMatch
//   X509_V_ERR_HOSTNAME_MISMATCH           -> NameMismatch
//   X509_V_ERR_CERT_HAS_EXPIRED,
//   X509_V_ERR_CERT_NOT_YET_VALID          -> Expired (a well-formed date outside the validity period)
//   anything else, including X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE/AFTER_FIELD
//                                          -> ChainError
// The two ERROR_IN_CERT_* codes say the validity field could not be parsed at all: the
// certificate is malformed, not out of date, and no clock setting would make it valid,
// so it is a broken chain (RFC 7672 §3.1.2 requires a valid chain below a DANE-TA
// anchor), not "expired".
MatchFailure classify_verify_error(long x509_error);

// The pinned probe result for a DANE verification that did not pass: NameMismatch ->
// `name-mismatch`, Expired -> `cert-expired`, everything else (NoMatch, ChainError, and
// None, i.e. a verified chain without a DANE authority) -> `tlsa-mismatch`. Never `pass`.
ProbeResult probe_result_for(MatchFailure failure);

} // namespace dane
