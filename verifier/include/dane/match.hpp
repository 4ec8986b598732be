// dane/match.hpp — offline check of a certificate chain against a TLSA RRset.
//
// Inputs: the TLSA records (usable or not), the chain as the server sent it
// (leaf first), the reference identifiers for DANE-TA name checks, and the
// verification time. Output: a Verdict with status, reason, the matched record
// and its depth, and a per-record account (why each unusable record was skipped).
// Matching is done by OpenSSL's DANE engine (SSL_dane_* / X509_STORE_CTX_set0_dane,
// STYLE.md point 1) with SMTP semantics (RFC 7672 §3.1): DANE-EE ignores names
// and validity dates (DANE_FLAG_NO_DANE_EE_NAMECHECKS); DANE-TA checks the chain,
// dates and names (X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS); PKIX usages are unusable.
// Pure: no I/O, no global state.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "dane/expected.hpp"
#include "dane/handles.hpp"
#include "dane/tlsa.hpp"

namespace dane {

// A parsed certificate chain, leaf first. Parse once, keep it (parsing is ~150 µs a cert).
struct CertChain {
  std::vector<X509Ptr> certs;
};
Expected<CertChain> load_pem_chain_file(const std::string& path);
Expected<CertChain> parse_pem_chain(std::string_view pem);

enum class MatchStatus {
  Verified,       // some usable record matched (and, for DANE-TA, chain/dates/names are fine)
  NotVerified,    // usable records present, none matched / TA checks failed
  NoUsableRecords // nothing usable was given
};

// Why a DANE-TA match failed, when it did (drives probe results).
enum class MatchFailure { None, NoMatch, NameMismatch, Expired, ChainError };

struct RecordOutcome {
  TlsaRecord record;
  TlsaUsability usability = TlsaUsability::Usable;
  std::string note; // "unusable: usage 1 (PKIX-EE) ..." or "no certificate in the chain matches"
};

struct Verdict {
  MatchStatus status = MatchStatus::NotVerified;
  MatchFailure failure = MatchFailure::None;
  std::string reason;                 // "Matched DANE-EE 3 1 1 ab12...cd34 at depth 0" or why not
  std::optional<TlsaRecord> matched;  // the record OpenSSL reports as the authority
  int depth = -1;                     // depth of the matched certificate (0 = leaf)
  std::vector<RecordOutcome> records; // one per input record, in input order
  int x509_error = 0;                 // X509_V_* code, 0 if none
};

struct MatchInput {
  std::vector<TlsaRecord> tlsa;
  const CertChain* chain = nullptr;
  std::vector<std::string> reference_names; // first is the SNI / TLSA base domain
  std::optional<std::time_t> time;          // verification time (default: now)
};

Verdict verify_chain(const MatchInput& input);

} // namespace dane
