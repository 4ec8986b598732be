// Offline DANE verification of a chain through OpenSSL's DANE engine (dane/match.hpp).
//
// Flow (as OpenSSL's own offline DANE tests and Postfix do it, docs/style.md point 1):
// SSL_CTX with DANE enabled -> SSL with SSL_dane_enable(basedomain) and SMTP flags ->
// SSL_dane_tlsa_add per usable record -> X509_STORE_CTX over the chain with the SSL's
// DANE state and verify parameters (names, time) -> X509_verify_cert ->
// SSL_get0_dane_authority / SSL_get0_dane_tlsa for which record matched where.
#include "dane/verifier/match.hpp"

#include <algorithm>

#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace dane {
namespace {

std::string openssl_reason() {
  unsigned long code = ERR_peek_last_error();
  std::string text;
  if (code != 0) {
    const char* reason = ERR_reason_error_string(code);
    if (reason != nullptr) {
      text = reason;
    } else {
      char buf[256];
      ERR_error_string_n(code, buf, sizeof buf);
      text = buf;
    }
  }
  ERR_clear_error();
  return text.empty() ? "unknown OpenSSL error" : text;
}

MatchFailure classify(int x509_error) {
  switch (x509_error) {
  case X509_V_OK:
    return MatchFailure::None;
  case X509_V_ERR_DANE_NO_MATCH:
    return MatchFailure::NoMatch;
  case X509_V_ERR_HOSTNAME_MISMATCH:
    return MatchFailure::NameMismatch;
  case X509_V_ERR_CERT_HAS_EXPIRED:
  case X509_V_ERR_CERT_NOT_YET_VALID:
  case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
  case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
    return MatchFailure::Expired;
  default:
    return MatchFailure::ChainError;
  }
}

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

// Runs OpenSSL's DANE verification of `chain` with `records` (already filtered by SMTP usability).
EngineRun run_engine(SSL_CTX* ctx, const std::vector<const TlsaRecord*>& records, const CertChain& chain,
                     const std::vector<std::string>& names, const std::optional<std::time_t>& when) {
  EngineRun run;
  ERR_clear_error();
  SslPtr ssl(SSL_new(ctx));
  if (!ssl) {
    run.setup_error = "SSL_new failed: " + openssl_reason();
    return run;
  }
  SSL_set_connect_state(ssl.get());
  // The base domain is also the primary reference identifier; replaced below anyway.
  const std::string base = names.empty() ? std::string("invalid") : names.front();
  if (SSL_dane_enable(ssl.get(), base.c_str()) <= 0) {
    run.setup_error = "cannot enable DANE for '" + base + "': " + openssl_reason();
    return run;
  }
  // RFC 7672 §3.1.1: DANE-EE(3) ignores names (and OpenSSL ignores its dates too).
  SSL_dane_set_flags(ssl.get(), DANE_FLAG_NO_DANE_EE_NAMECHECKS);
  for (const TlsaRecord* record : records) {
    int rc = SSL_dane_tlsa_add(ssl.get(), octet(record->usage), octet(record->selector), octet(record->mtype),
                               record->data.data(), record->data.size());
    run.add_results.push_back(rc);
    run.add_errors.push_back(rc > 0 ? std::string() : openssl_reason());
    if (rc > 0) {
      ++run.usable;
    }
  }
  run.setup_ok = true;
  if (run.usable == 0 || chain.certs.empty()) {
    return run;
  }

  X509StackPtr untrusted(sk_X509_new_null());
  if (!untrusted) {
    run.setup_ok = false;
    run.setup_error = "out of memory";
    return run;
  }
  for (std::size_t i = 1; i < chain.certs.size(); ++i) {
    X509* cert = chain.certs[i].get();
    if (X509_up_ref(cert) != 1 || sk_X509_push(untrusted.get(), cert) <= 0) {
      X509_free(cert);
      run.setup_ok = false;
      run.setup_error = "out of memory";
      return run;
    }
  }
  X509StoreCtxPtr store_ctx(X509_STORE_CTX_new());
  if (!store_ctx || X509_STORE_CTX_init(store_ctx.get(), SSL_CTX_get_cert_store(ctx), chain.certs.front().get(),
                                        untrusted.get()) != 1) {
    run.setup_ok = false;
    run.setup_error = "cannot set up chain verification: " + openssl_reason();
    return run;
  }
  // As the TLS client would: verify a server certificate, with the SSL's parameters and DANE state.
  X509_STORE_CTX_set_default(store_ctx.get(), "ssl_server");
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(store_ctx.get());
  X509_VERIFY_PARAM_set1(param, SSL_get0_param(ssl.get()));
  X509_STORE_CTX_set_ex_data(store_ctx.get(), SSL_get_ex_data_X509_STORE_CTX_idx(), ssl.get());
  X509_STORE_CTX_set0_dane(store_ctx.get(), SSL_get0_dane(ssl.get()));
  // Reference identifiers for DANE-TA (RFC 7672 §3.2.2): no partial wildcards.
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (names.empty()) {
    X509_VERIFY_PARAM_set1_host(param, nullptr, 0);
  } else {
    bool first = true;
    for (const auto& name : names) {
      int ok = first ? X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size())
                     : X509_VERIFY_PARAM_add1_host(param, name.c_str(), name.size());
      if (ok != 1) {
        run.setup_ok = false;
        run.setup_error = "bad reference name '" + name + "'";
        return run;
      }
      first = false;
    }
  }
  if (when) {
    X509_VERIFY_PARAM_set_time(param, *when);
  }

  int rc = X509_verify_cert(store_ctx.get());
  run.x509_error = X509_STORE_CTX_get_error(store_ctx.get());
  if (rc <= 0 && run.x509_error == X509_V_OK) {
    run.x509_error = X509_V_ERR_UNSPECIFIED; // internal failure without a verify code
  }
  if (run.x509_error != X509_V_OK) {
    run.error_depth = X509_STORE_CTX_get_error_depth(store_ctx.get());
  }
  // Matches are hidden while the verify result is an error; look with a clean result
  // (as OpenSSL's danetest does), so a DANE-TA match with a failed name check is visible.
  SSL_set_verify_result(ssl.get(), X509_V_OK);
  run.match_depth = SSL_get0_dane_authority(ssl.get(), nullptr, nullptr);
  std::uint8_t usage = 0;
  std::uint8_t selector = 0;
  std::uint8_t mtype = 0;
  const unsigned char* data = nullptr;
  std::size_t dlen = 0;
  if (run.match_depth >= 0 && SSL_get0_dane_tlsa(ssl.get(), &usage, &selector, &mtype, &data, &dlen) >= 0 &&
      data != nullptr) {
    run.matched = TlsaRecord{TlsaUsage{usage}, TlsaSelector{selector}, TlsaMatchingType{mtype},
                             std::vector<std::uint8_t>(data, data + dlen)};
  }
  SSL_set_verify_result(ssl.get(), run.x509_error);
  ERR_clear_error();
  return run;
}

std::string x509_text(int x509_error) { return X509_verify_cert_error_string(x509_error); }

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) {
      out += ", ";
    }
    out += name;
  }
  return out;
}

// "the certificate at depth 0 does not match any reference name (mx.example.test)" etc.
std::string failure_text(MatchFailure failure, int x509_error, int error_depth,
                         const std::vector<std::string>& names) {
  std::string at = "the certificate at depth " + std::to_string(error_depth);
  switch (failure) {
  case MatchFailure::None:
    return "no error";
  case MatchFailure::NoMatch:
    return "no certificate in the chain matches";
  case MatchFailure::NameMismatch:
    return at + " matches none of the reference names (" + join_names(names) + ")";
  case MatchFailure::Expired:
    return at + (x509_error == X509_V_ERR_CERT_NOT_YET_VALID ? " is not yet valid"
                 : x509_error == X509_V_ERR_CERT_HAS_EXPIRED ? " has expired"
                                                             : " has a bad validity date: " + x509_text(x509_error));
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

  // SMTP usability first (RFC 7672 §3.1): OpenSSL itself accepts PKIX usages.
  std::vector<const TlsaRecord*> candidates;
  std::vector<std::size_t> candidate_index; // index into verdict.records
  for (const auto& record : input.tlsa) {
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

  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx || SSL_CTX_dane_enable(ctx.get()) <= 0) {
    verdict.status = MatchStatus::NotVerified;
    verdict.failure = MatchFailure::ChainError;
    verdict.reason = "cannot set up OpenSSL's DANE engine: " + openssl_reason();
    return verdict;
  }

  const CertChain empty_chain;
  const CertChain& chain = input.chain != nullptr ? *input.chain : empty_chain;
  EngineRun all = run_engine(ctx.get(), candidates, chain, input.reference_names, input.time);
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
    bool outranked = record.mtype == TlsaMatchingType::Sha2_256 &&
                     std::any_of(accepted.begin(), accepted.end(), [&](const TlsaRecord* other) {
                       return other->usage == record.usage && other->selector == record.selector &&
                              other->mtype == TlsaMatchingType::Sha2_512;
                     });
    if (outranked) {
      outcome.result = RecordResult::Ignored;
      outcome.note = "ignored: a SHA2-512 record with the same usage and selector takes precedence (RFC 7671 "
                     "section 9, digest agility)";
      continue;
    }
    EngineRun one = accepted.size() == 1
                        ? all
                        : run_engine(ctx.get(), {accepted[i]}, chain, input.reference_names, input.time);
    outcome.x509_error = one.x509_error;
    outcome.depth = one.match_depth;
    outcome.failure = classify(one.x509_error);
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
                     failure_text(outcome.failure, one.x509_error, one.error_depth, input.reference_names);
    } else {
      outcome.result = RecordResult::NoMatch;
      if (outcome.failure == MatchFailure::NoMatch) {
        if (accepted[i]->usage == TlsaUsage::DaneEe) {
          outcome.note = "does not match the server certificate (depth 0)";
        } else if (matches_leaf_itself(*accepted[i], chain)) {
          outcome.note = "matches the server certificate itself, but a DANE-TA record must match an issuer "
                         "(CA) certificate; publish the server's own certificate or key as DANE-EE (usage 3)";
        } else if (accepted[i]->mtype != TlsaMatchingType::Full) {
          outcome.note = "no certificate in the chain matches (a digest can only match a trust anchor the "
                         "server sends)";
        } else {
          outcome.note = "no certificate in the chain is issued by this trust anchor";
        }
      } else {
        outcome.note = failure_text(outcome.failure, one.x509_error, one.error_depth, input.reference_names);
      }
    }
  }

  verdict.x509_error = all.x509_error;
  verdict.error_depth = all.error_depth;
  if (all.x509_error == X509_V_OK && all.match_depth >= 0 && all.matched) {
    verdict.status = MatchStatus::Verified;
    verdict.failure = MatchFailure::None;
    verdict.matched = all.matched;
    verdict.depth = all.match_depth;
    verdict.reason = "Matched " + usage_name(all.matched->usage) + " " + all.matched->short_string() +
                     " at depth " + std::to_string(all.match_depth);
    if (!verdict.names_checked && all.matched->usage == TlsaUsage::DaneTa) {
      verdict.reason += " (no reference names given: certificate names not checked)";
    }
    return verdict;
  }
  verdict.status = MatchStatus::NotVerified;
  verdict.failure = classify(all.x509_error);
  if (verdict.failure == MatchFailure::None) {
    verdict.failure = MatchFailure::ChainError; // verified without a DANE authority: cannot happen, be safe
  }
  std::string why = failure_text(verdict.failure, all.x509_error, all.error_depth, input.reference_names);
  if (verdict.failure == MatchFailure::NoMatch) {
    verdict.reason = "no usable TLSA record matches the chain (" + std::to_string(accepted.size()) + " usable)";
  } else if (all.matched) {
    verdict.reason = usage_name(all.matched->usage) + " " + all.matched->short_string() +
                     " matched at depth " + std::to_string(all.match_depth) + ", but " + why;
  } else {
    verdict.reason = why;
  }
  return verdict;
}

} // namespace dane
