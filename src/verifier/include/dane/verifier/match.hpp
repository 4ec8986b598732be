// dane/verifier/match.hpp — offline check of a certificate chain against a TLSA RRset.
//
// Inputs: the TLSA records (usable or not), the chain as the server sent it
// (leaf first), the reference identifiers for DANE-TA name checks, and the
// verification time. Output: a Verdict with status, reason, the matched record
// and its depth, and a per-record account (why each unusable record was skipped).
// Matching is done by OpenSSL's DANE engine (SSL_dane_* / X509_STORE_CTX_set0_dane,
// docs/style.md point 1) with SMTP semantics (RFC 7672 §3.1): DANE-EE ignores names
// and validity dates (DANE_FLAG_NO_DANE_EE_NAMECHECKS); DANE-TA checks the chain,
// dates and names (X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS); PKIX usages are unusable.
// DANE-TA records match only issuer (CA) certificates, never the leaf itself; `2 x 0`
// records work when the server does not send the trust anchor, digests (`2 x 1`, `2 x 2`)
// only match certificates the server sends.
// Pure: no I/O, no global state. Thread-safe (each call builds its own SSL_CTX/SSL).
// Cost: one X509_verify_cert per usable record plus one for the set (certificates are
// never re-parsed; the chain is borrowed, not copied).
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "dane/core/expected.hpp"
#include "dane/verifier/handles.hpp"
#include "dane/verifier/pem.hpp"
#include "dane/verifier/tlsa.hpp"

namespace dane {

// CertChain and its loaders (load_pem_chain_file, parse_pem_chain): dane/verifier/pem.hpp.

enum class MatchStatus {
  Verified,       // some usable record matched (and, for DANE-TA, chain/dates/names are fine)
  NotVerified,    // usable records present, none matched / TA checks failed
  NoUsableRecords // nothing usable was given
};

// Why a DANE-TA match failed, when it did (drives probe results). The X509_V_* codes
// are classified once, for this check and the probe alike (dane_profile.hpp).
// Probe mapping: NoMatch -> `tlsa-mismatch`, NameMismatch -> `name-mismatch`,
// Expired -> `cert-expired` (expired or not yet valid), ChainError -> `tlsa-mismatch`
// (a broken chain below a matched trust anchor: bad signature, CA flags, purpose, or a
// malformed certificate, including a validity field that cannot be parsed).
enum class MatchFailure { None, NoMatch, NameMismatch, Expired, ChainError };

// What one record did on its own (each usable record is also verified alone,
// through the same OpenSSL engine, so every record gets an exact explanation).
enum class RecordResult {
  Unusable,         // not usable for SMTP (see `usability`) or refused by OpenSSL (see `note`)
  Matched,          // this record alone verifies the chain
  MatchedButFailed, // DANE-TA: matched a certificate, but chain/dates/names failed (`failure`)
  NoMatch,          // no certificate in the chain matches it
  Ignored,          // RFC 7671 §9 digest agility: a SHA2-512 record with the same usage and
                    // selector is present, so OpenSSL ignores this SHA2-256 one
};

struct RecordOutcome {
  TlsaRecord record;
  TlsaUsability usability = TlsaUsability::Usable; // SMTP rules (RFC 7672 §3.1), before OpenSSL
  std::string note; // "unusable: usage 1 (PKIX-EE) ..." or "no certificate in the chain matches"
  RecordResult result = RecordResult::Unusable;
  int depth = -1;                            // depth of the certificate it matched, -1 if none
  MatchFailure failure = MatchFailure::None; // for NoMatch / MatchedButFailed
  int x509_error = 0;                        // X509_V_* of verifying with this record alone
};

struct Verdict {
  MatchStatus status = MatchStatus::NotVerified;
  MatchFailure failure = MatchFailure::None;
  std::string reason;                // "Matched DANE-EE 3 1 1 ab12...cd34 at depth 0" or why not
  std::optional<TlsaRecord> matched; // the record OpenSSL reports as the authority (Verified only)
  // Depth of the matched certificate (0 = leaf), as SSL_get0_dane_authority reports it. A DANE-TA
  // `2 0 0` certificate the server did not send counts as one above the top of the chain (depth =
  // chain length); a `2 1 0` bare public key reports the depth of the top certificate it signed.
  int depth = -1;
  std::vector<RecordOutcome> records; // one per input record, in input order
  int x509_error = 0;                 // X509_V_* code, 0 if none
  int error_depth = -1;               // depth X509_verify_cert reported the error at, -1 if none
  bool names_checked = true;          // false when no reference names were given (see MatchInput)
};

struct MatchInput {
  std::vector<TlsaRecord> tlsa;
  const CertChain* chain = nullptr;
  // First is the SNI / TLSA base domain; all are accepted for DANE-TA name checks
  // (RFC 7672 §3.2.2; no partial wildcards, "*.example.com" matches one label).
  // When empty, DANE-TA name checks are SKIPPED (Verdict::names_checked = false):
  // callers evaluating a real destination must always pass names.
  std::vector<std::string> reference_names;
  std::optional<std::time_t> time; // verification time (default: now)
};

// Never throws for bad records or chains: everything is reported in the Verdict.
// Digest agility (RFC 7671 §9) is OpenSSL's default and applies: among usable records
// with the same usage and selector, SHA2-256 ones are ignored when a SHA2-512 one exists.
// A null or empty chain gives NotVerified / ChainError (NoUsableRecords wins when
// no record is usable). Records are added to OpenSSL in input order.
Verdict verify_chain(const MatchInput& input);

// Stable names for output and JSON: "verified" / "not-verified" / "no-usable-records";
// "none" / "no-match" / "name-mismatch" / "expired" / "chain-error";
// "unusable" / "matched" / "matched-but-failed" / "no-match" / "ignored".
const char* to_string(MatchStatus status);
const char* to_string(MatchFailure failure);
const char* to_string(RecordResult result);

} // namespace dane
