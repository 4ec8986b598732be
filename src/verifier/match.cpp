// Offline DANE verification of a chain through OpenSSL's DANE engine (dane/match.hpp).
//
// Flow (as OpenSSL's own offline DANE tests and Postfix do it, docs/style.md point 1),
// all of the OpenSSL set-up in the shared SMTP DANE profile (dane_profile.hpp, which the
// live probe uses too): SSL_CTX with DANE enabled -> SSL with SSL_dane_enable(basedomain),
// SMTP flags and reference names -> SSL_dane_tlsa_add per usable record -> X509_STORE_CTX
// over the chain with the SSL's DANE state and verify parameters (names, time) ->
// X509_verify_cert -> SSL_get0_dane_authority / SSL_get0_dane_tlsa for which record
// matched where. This file explains the outcome record by record.
#include "dane/verifier/match.hpp"

#include <algorithm>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "dane/core/text.hpp"
#include "dane/verifier/dane_profile.hpp"
#include "dane/verifier/openssl_error.hpp"

namespace dane {
namespace {

// The outcome of one X509_verify_cert run.
struct EngineRun {
  bool setup_ok = false;
  std::string setup_error;
  std::vector<int> add_results; // SSL_dane_tlsa_add result per record given to the run
  std::vector<std::string> add_errors;
  int usable = 0;
  int x509_error = 0;
  int error_depth = -1;
  int match_depth = -1; // SSL_get0_dane_authority
  std::optional<TlsaRecord> matched;
};

// Runs OpenSSL's DANE verification of `chain` with `records` (already filtered by SMTP
// usability), through the one SMTP DANE profile (dane_profile.hpp).
EngineRun run_engine(SSL_CTX* ctx, const std::vector<const TlsaRecord*>& records, const CertChain& chain,
                     const std::vector<std::string>& names, const std::optional<std::time_t>& when) {
  EngineRun run;
  ERR_clear_error();
  SslPtr ssl(SSL_new(ctx));
  if (!ssl) {
    run.setup_error = "SSL_new failed: " + openssl_error_text("SSL_new");
    return run;
  }
  SSL_set_connect_state(ssl.get());
  // The base domain is also the primary reference identifier; no names: no name checks.
  const std::string base = names.empty() ? std::string("invalid") : names.front();
  auto added = apply_smtp_dane(ssl.get(), base, names, records);
  if (!added) {
    run.setup_error = added.error();
    return run;
  }
  run.add_results = std::move(added->results);
  run.add_errors = std::move(added->errors);
  run.usable = added->usable;
  run.setup_ok = true;
  if (run.usable == 0 || chain.certs.empty()) {
    return run;
  }
  auto verified = verify_offline(ssl.get(), chain.certs, when);
  if (!verified) {
    run.setup_ok = false;
    run.setup_error = verified.error();
    return run;
  }
  run.x509_error = verified->x509_error;
  run.error_depth = verified->error_depth;
  run.match_depth = SSL_get0_dane_authority(ssl.get(), nullptr, nullptr);
  if (run.match_depth >= 0) {
    run.matched = dane_matched_record(ssl.get());
  }
  SSL_set_verify_result(ssl.get(), run.x509_error);
  ERR_clear_error();
  return run;
}

std::string x509_text(int x509_error) {
  return X509_verify_cert_error_string(x509_error);
}

// "the certificate at depth 0 does not match any reference name (mx.example.test)" etc.
std::string failure_text(MatchFailure failure, int x509_error, int error_depth, const std::vector<std::string>& names) {
  std::string at = "the certificate at depth " + std::to_string(error_depth);
  switch (failure) {
  case MatchFailure::None:
    return "no error";
  case MatchFailure::NoMatch:
    return "no certificate in the chain matches";
  case MatchFailure::NameMismatch:
    return at + " matches none of the reference names (" + join(names, ", ") + ")";
  case MatchFailure::Expired:
    // classify_verify_error: only these two codes are Expired.
    return at + (x509_error == X509_V_ERR_CERT_NOT_YET_VALID ? " is not yet valid" : " has expired");
  case MatchFailure::ChainError:
    return "chain verification failed at depth " + std::to_string(error_depth) + ": " + x509_text(x509_error);
  }
  return "unknown";
}

// Diagnostics only (never decides a verdict): does a DANE-TA record's data describe the leaf?
// A common operator mistake; OpenSSL (rightly) matches DANE-TA only against issuers.
bool matches_leaf_itself(const TlsaRecord& record, const CertChain& chain) {
  if (chain.certs.empty()) {
    return false;
  }
  auto leaf = make_tlsa(chain.certs.front().get(), record.usage, record.selector, record.mtype);
  return leaf && leaf->data == record.data;
}

// RFC 7671 §9 digest agility: OpenSSL ignores a SHA2-256 record when a SHA2-512 one with
// the same usage and selector is present.
bool outranked_by_sha512(const TlsaRecord& record, const std::vector<const TlsaRecord*>& accepted) {
  return record.mtype == TlsaMatchingType::Sha2_256 &&
         std::any_of(accepted.begin(), accepted.end(), [&](const TlsaRecord* other) {
           return other->usage == record.usage && other->selector == record.selector &&
                  other->mtype == TlsaMatchingType::Sha2_512;
         });
}

// Why a record that matched nothing did not match: the common operator mistakes first.
std::string no_match_note(const TlsaRecord& record, const CertChain& chain) {
  if (record.usage == TlsaUsage::DaneEe) {
    return "does not match the server certificate (depth 0)";
  }
  if (matches_leaf_itself(record, chain)) {
    return "matches the server certificate itself, but a DANE-TA record must match an issuer "
           "(CA) certificate; publish the server's own certificate or key as DANE-EE (usage 3)";
  }
  if (record.mtype != TlsaMatchingType::Full) {
    return "no certificate in the chain matches (a digest can only match a trust anchor the "
           "server sends)";
  }
  return "no certificate in the chain is issued by this trust anchor";
}

// One usable record's outcome from the engine run with that record alone.
void explain_record(RecordOutcome& outcome, const TlsaRecord& record, const EngineRun& one, const CertChain& chain,
                    const std::vector<std::string>& names) {
  outcome.x509_error = one.x509_error;
  outcome.depth = one.match_depth;
  outcome.failure = classify_verify_error(one.x509_error);
  if (!one.setup_ok) {
    outcome.result = RecordResult::NoMatch;
    outcome.failure = MatchFailure::ChainError;
    outcome.note = one.setup_error;
  } else if (one.x509_error == X509_V_OK && one.match_depth >= 0) {
    outcome.result = RecordResult::Matched;
    outcome.note = "matches the certificate at depth " + std::to_string(one.match_depth);
  } else if (one.match_depth >= 0) {
    outcome.result = RecordResult::MatchedButFailed;
    outcome.note = "matches the certificate at depth " + std::to_string(one.match_depth) + ", but " +
                   failure_text(outcome.failure, one.x509_error, one.error_depth, names);
  } else {
    outcome.result = RecordResult::NoMatch;
    outcome.note = outcome.failure == MatchFailure::NoMatch
                       ? no_match_note(record, chain)
                       : failure_text(outcome.failure, one.x509_error, one.error_depth, names);
  }
}

// The overall verdict from the run with every usable record (`usable` of them).
void settle(Verdict& verdict, const EngineRun& all, std::size_t usable, const std::vector<std::string>& names) {
  verdict.x509_error = all.x509_error;
  verdict.error_depth = all.error_depth;
  if (all.x509_error == X509_V_OK && all.match_depth >= 0 && all.matched) {
    verdict.status = MatchStatus::Verified;
    verdict.failure = MatchFailure::None;
    verdict.matched = all.matched;
    verdict.depth = all.match_depth;
    verdict.reason = "Matched " + usage_name(all.matched->usage) + " " + all.matched->short_string() + " at depth " +
                     std::to_string(all.match_depth);
    if (!verdict.names_checked && all.matched->usage == TlsaUsage::DaneTa) {
      verdict.reason += " (no reference names given: certificate names not checked)";
    }
    return;
  }
  verdict.status = MatchStatus::NotVerified;
  verdict.failure = classify_verify_error(all.x509_error);
  if (verdict.failure == MatchFailure::None) {
    verdict.failure = MatchFailure::ChainError; // verified without a DANE authority: cannot happen, be safe
  }
  std::string why = failure_text(verdict.failure, all.x509_error, all.error_depth, names);
  if (verdict.failure == MatchFailure::NoMatch) {
    verdict.reason = "no usable TLSA record matches the chain (" + std::to_string(usable) + " usable)";
  } else if (all.matched) {
    verdict.reason = usage_name(all.matched->usage) + " " + all.matched->short_string() + " matched at depth " +
                     std::to_string(all.match_depth) + ", but " + why;
  } else {
    verdict.reason = why;
  }
}

// SMTP usability first (RFC 7672 §3.1): OpenSSL itself accepts PKIX usages. Adds one
// outcome per record to `verdict`; the usable records go to `candidates` with their index.
void sort_by_usability(const std::vector<TlsaRecord>& records, Verdict& verdict,
                       std::vector<const TlsaRecord*>& candidates, std::vector<std::size_t>& candidate_index) {
  for (const auto& record : records) {
    RecordOutcome outcome;
    outcome.record = record;
    outcome.usability = smtp_usability(record);
    if (outcome.usability == TlsaUsability::Usable) {
      candidates.push_back(&record);
      candidate_index.push_back(verdict.records.size());
    } else {
      outcome.note = "unusable: " + describe(outcome.usability, record);
    }
    verdict.records.push_back(std::move(outcome));
  }
}

} // namespace

const char* to_string(MatchStatus status) {
  switch (status) {
  case MatchStatus::Verified:
    return "verified";
  case MatchStatus::NotVerified:
    return "not-verified";
  case MatchStatus::NoUsableRecords:
    return "no-usable-records";
  }
  return "unknown";
}

const char* to_string(MatchFailure failure) {
  switch (failure) {
  case MatchFailure::None:
    return "none";
  case MatchFailure::NoMatch:
    return "no-match";
  case MatchFailure::NameMismatch:
    return "name-mismatch";
  case MatchFailure::Expired:
    return "expired";
  case MatchFailure::ChainError:
    return "chain-error";
  }
  return "unknown";
}

const char* to_string(RecordResult result) {
  switch (result) {
  case RecordResult::Unusable:
    return "unusable";
  case RecordResult::Matched:
    return "matched";
  case RecordResult::MatchedButFailed:
    return "matched-but-failed";
  case RecordResult::NoMatch:
    return "no-match";
  case RecordResult::Ignored:
    return "ignored";
  }
  return "unknown";
}

Verdict verify_chain(const MatchInput& input) {
  Verdict verdict;
  verdict.names_checked = !input.reference_names.empty();
  verdict.records.reserve(input.tlsa.size());

  std::vector<const TlsaRecord*> candidates;
  std::vector<std::size_t> candidate_index; // index into verdict.records
  sort_by_usability(input.tlsa, verdict, candidates, candidate_index);

  auto ctx = new_dane_client_ctx();
  if (!ctx) {
    verdict.status = MatchStatus::NotVerified;
    verdict.failure = MatchFailure::ChainError;
    verdict.reason = "cannot set up OpenSSL's DANE engine: " + ctx.error();
    return verdict;
  }

  const CertChain empty_chain;
  const CertChain& chain = input.chain != nullptr ? *input.chain : empty_chain;
  EngineRun all = run_engine(ctx->get(), candidates, chain, input.reference_names, input.time);
  if (!all.setup_ok) {
    verdict.status = MatchStatus::NotVerified;
    verdict.failure = MatchFailure::ChainError;
    verdict.reason = all.setup_error;
    return verdict;
  }

  // Records OpenSSL refused (e.g. "2 0 0" data that is not a certificate) are unusable too.
  std::vector<const TlsaRecord*> accepted;
  std::vector<std::size_t> accepted_index;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    RecordOutcome& outcome = verdict.records[candidate_index[i]];
    if (all.add_results[i] > 0) {
      accepted.push_back(candidates[i]);
      accepted_index.push_back(candidate_index[i]);
    } else {
      outcome.result = RecordResult::Unusable;
      outcome.note = "unusable: rejected by OpenSSL: " + all.add_errors[i];
    }
  }
  if (accepted.empty()) {
    verdict.status = MatchStatus::NoUsableRecords;
    verdict.failure = MatchFailure::None;
    verdict.reason = "no usable TLSA record (" + std::to_string(input.tlsa.size()) +
                     " given, none is usable for SMTP: only DANE-TA(2) and DANE-EE(3) with a known selector and "
                     "matching type count)";
    return verdict;
  }
  if (chain.certs.empty()) {
    verdict.status = MatchStatus::NotVerified;
    verdict.failure = MatchFailure::ChainError;
    verdict.reason = "no certificate chain to verify";
    for (std::size_t idx : accepted_index) {
      verdict.records[idx].result = RecordResult::NoMatch;
      verdict.records[idx].failure = MatchFailure::ChainError;
      verdict.records[idx].note = "not checked: no certificate chain";
    }
    return verdict;
  }

  // Explain every usable record on its own, through the same engine.
  for (std::size_t i = 0; i < accepted.size(); ++i) {
    RecordOutcome& outcome = verdict.records[accepted_index[i]];
    const TlsaRecord& record = *accepted[i];
    if (outranked_by_sha512(record, accepted)) {
      outcome.result = RecordResult::Ignored;
      outcome.note = "ignored: a SHA2-512 record with the same usage and selector takes precedence (RFC 7671 "
                     "section 9, digest agility)";
      continue;
    }
    EngineRun one =
        accepted.size() == 1 ? all : run_engine(ctx->get(), {accepted[i]}, chain, input.reference_names, input.time);
    explain_record(outcome, record, one, chain, input.reference_names);
  }

  settle(verdict, all, accepted.size(), input.reference_names);
  return verdict;
}

} // namespace dane
