// Unit tests of the one SMTP DANE profile (src/verifier/dane_profile.cpp).
//
// The X509_V_* classification is pinned once, in a table, for both users: the offline
// check (match.cpp: MatchFailure, `dane-policyctl verify`) and the live probe
// (probe.cpp: the pinned probe result names). A certificate whose notAfter field is
// malformed is built and signed here (with the fixture intermediate's key) to show the
// offline path really reports such a certificate as a chain error, not as expired.
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>

#include "dane/verifier/dane_profile.hpp"
#include "dane/verifier/handles.hpp"
#include "dane/verifier/match.hpp"
#include "dane/verifier/openssl_error.hpp"
#include "dane/verifier/pem.hpp"
#include "dane/verifier/probe.hpp"
#include "dane/verifier/tlsa.hpp"

namespace dane {
namespace {

const std::string k_pki = std::string(DANE_TEST_DATA_DIR) + "/pki/";

// ---- one classification for offline verify and the probe ----

struct ClassificationRow {
  const char* name;
  long x509_error;
  MatchFailure failure;     // offline verify (verify_chain, `dane-policyctl verify`)
  const char* probe_result; // live probe, pinned name
};

class VerifyErrorClassification : public ::testing::TestWithParam<ClassificationRow> {};

TEST_P(VerifyErrorClassification, SameMeaningOfflineAndInTheProbe) {
  const ClassificationRow& row = GetParam();
  const MatchFailure failure = classify_verify_error(row.x509_error);
  EXPECT_EQ(failure, row.failure) << to_string(failure);
  EXPECT_EQ(to_string(probe_result_for(failure)), row.probe_result);
  EXPECT_NE(to_string(probe_result_for(failure)), "pass"); // a failed verification never passes
}

INSTANTIATE_TEST_SUITE_P(
    Rfc7672, VerifyErrorClassification,
    ::testing::Values(
        ClassificationRow{"Ok_WithoutAuthorityIsTlsaMismatch", X509_V_OK, MatchFailure::None, "tlsa-mismatch"},
        ClassificationRow{"DaneNoMatch_IsNoMatch", X509_V_ERR_DANE_NO_MATCH, MatchFailure::NoMatch, "tlsa-mismatch"},
        ClassificationRow{"HostnameMismatch_IsNameMismatch", X509_V_ERR_HOSTNAME_MISMATCH, MatchFailure::NameMismatch,
                          "name-mismatch"},
        ClassificationRow{"CertHasExpired_IsExpired", X509_V_ERR_CERT_HAS_EXPIRED, MatchFailure::Expired,
                          "cert-expired"},
        ClassificationRow{"CertNotYetValid_IsExpired", X509_V_ERR_CERT_NOT_YET_VALID, MatchFailure::Expired,
                          "cert-expired"},
        ClassificationRow{"MalformedNotBefore_IsChainError", X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD,
                          MatchFailure::ChainError, "tlsa-mismatch"},
        ClassificationRow{"MalformedNotAfter_IsChainError", X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD,
                          MatchFailure::ChainError, "tlsa-mismatch"},
        ClassificationRow{"SignatureFailure_IsChainError", X509_V_ERR_CERT_SIGNATURE_FAILURE, MatchFailure::ChainError,
                          "tlsa-mismatch"},
        ClassificationRow{"InvalidCa_IsChainError", X509_V_ERR_INVALID_CA, MatchFailure::ChainError, "tlsa-mismatch"},
        ClassificationRow{"Unspecified_IsChainError", X509_V_ERR_UNSPECIFIED, MatchFailure::ChainError,
                          "tlsa-mismatch"}),
    [](const ::testing::TestParamInfo<ClassificationRow>& row_info) { return std::string(row_info.param.name); });

TEST(ProbeResultFor, EveryFailureMapsToAPinnedNonPassResult) {
  EXPECT_EQ(probe_result_for(MatchFailure::None), ProbeResult::TlsaMismatch);
  EXPECT_EQ(probe_result_for(MatchFailure::NoMatch), ProbeResult::TlsaMismatch);
  EXPECT_EQ(probe_result_for(MatchFailure::NameMismatch), ProbeResult::NameMismatch);
  EXPECT_EQ(probe_result_for(MatchFailure::Expired), ProbeResult::CertExpired);
  EXPECT_EQ(probe_result_for(MatchFailure::ChainError), ProbeResult::TlsaMismatch);
}

X509Ptr read_cert(const std::string& file) {
  BioPtr bio(BIO_new_file((k_pki + file).c_str(), "r"));
  return X509Ptr(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

EvpPkeyPtr read_key(const std::string& file) {
  BioPtr bio(BIO_new_file((k_pki + file).c_str(), "r"));
  return EvpPkeyPtr(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

// The fixture leaf, re-issued by the fixture intermediate with a notAfter field that
// is not a time at all (well-formed DER, so only the date check can object).
X509Ptr leaf_with_malformed_not_after() {
  X509Ptr leaf = read_cert("leaf-p256.crt");
  EvpPkeyPtr ca_key = read_key("int.key");
  if (!leaf || !ca_key) {
    ADD_FAILURE() << "cannot read the fixture PKI";
    return nullptr;
  }
  static constexpr char k_garbage[] = "not-a-date!!!"; // 13 octets, as long as a UTCTime
  ASN1_TIME* not_after = X509_getm_notAfter(leaf.get());
  if (ASN1_STRING_set(not_after, k_garbage, static_cast<int>(std::strlen(k_garbage))) != 1 ||
      X509_sign(leaf.get(), ca_key.get(), EVP_sha256()) <= 0) {
    ADD_FAILURE() << "cannot re-sign the leaf: " << openssl_error_text("X509_sign");
    return nullptr;
  }
  return leaf;
}

// DANE-TA (the only usage whose dates count, RFC 7672 §3.1.2) with a malformed notAfter
// on the leaf: the offline check says chain-error, and the probe would say tlsa-mismatch.
TEST(OfflineVerify, MalformedValidityFieldIsAChainErrorNotExpired) {
  X509Ptr leaf = leaf_with_malformed_not_after();
  X509Ptr issuer = read_cert("int.crt");
  ASSERT_TRUE(leaf);
  ASSERT_TRUE(issuer);
  auto ta = make_tlsa(issuer.get(), TlsaUsage::DaneTa, TlsaSelector::Spki, TlsaMatchingType::Sha2_256);
  ASSERT_TRUE(ta.has_value()) << ta.error();
  CertChain chain;
  chain.certs.push_back(std::move(leaf));
  chain.certs.push_back(std::move(issuer));
  MatchInput input;
  input.tlsa = {*ta};
  input.chain = &chain;
  input.reference_names = {"mx.example.test"};
  Verdict verdict = verify_chain(input);
  EXPECT_EQ(verdict.status, MatchStatus::NotVerified);
  EXPECT_EQ(verdict.x509_error, X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD);
  EXPECT_EQ(verdict.error_depth, 0);
  EXPECT_EQ(verdict.failure, MatchFailure::ChainError);
  EXPECT_STREQ(to_string(verdict.failure), "chain-error");
  EXPECT_EQ(to_string(probe_result_for(classify_verify_error(verdict.x509_error))), "tlsa-mismatch");
  ASSERT_EQ(verdict.records.size(), 1u);
  EXPECT_EQ(verdict.records[0].result, RecordResult::MatchedButFailed);
  EXPECT_NE(verdict.records[0].note.find("chain verification failed at depth 0"), std::string::npos)
      << verdict.records[0].note;
}

// The same chain through verify_offline, repeatedly: the untrusted stack takes and
// releases its own references (ASan reports any imbalance), and the chain stays usable.
TEST(OfflineVerify, RepeatedRunsLeaveTheChainIntact) {
  auto chain = load_pem_chain_file(k_pki + "leaf-p256.chain.pem");
  ASSERT_TRUE(chain.has_value()) << chain.error();
  ASSERT_GE(chain->certs.size(), 2u);
  auto ctx = new_dane_client_ctx();
  ASSERT_TRUE(ctx.has_value()) << ctx.error();
  auto ee = make_tlsa(chain->certs.front().get(), TlsaUsage::DaneEe, TlsaSelector::Spki, TlsaMatchingType::Sha2_256);
  ASSERT_TRUE(ee.has_value()) << ee.error();
  for (int i = 0; i < 3; ++i) {
    SslPtr ssl(SSL_new(ctx->get()));
    ASSERT_TRUE(ssl);
    auto added = apply_smtp_dane(ssl.get(), "mx.example.test", {"mx.example.test"}, {&*ee});
    ASSERT_TRUE(added.has_value()) << added.error();
    EXPECT_EQ(added->usable, 1);
    auto run = verify_offline(ssl.get(), chain->certs, std::nullopt);
    ASSERT_TRUE(run.has_value()) << run.error();
    EXPECT_EQ(run->x509_error, X509_V_OK);
    EXPECT_EQ(SSL_get0_dane_authority(ssl.get(), nullptr, nullptr), 0);
    auto matched = dane_matched_record(ssl.get());
    ASSERT_TRUE(matched.has_value());
    EXPECT_EQ(*matched, *ee);
  }
}

TEST(ApplySmtpDane, ReferenceNameWithANulIsRefusedNotShortened) {
  auto ctx = new_dane_client_ctx();
  ASSERT_TRUE(ctx.has_value()) << ctx.error();
  SslPtr ssl(SSL_new(ctx->get()));
  ASSERT_TRUE(ssl);
  const std::string evil("mx.example.test\0.attacker.test", 30);
  auto added = apply_smtp_dane(ssl.get(), "mx.example.test", {"mx.example.test", evil}, {});
  ASSERT_FALSE(added.has_value());
  EXPECT_NE(added.error().find("bad reference name"), std::string::npos) << added.error();
}

TEST(ApplySmtpDane, RefusedRecordsCarryOpenSslsReason) {
  auto ctx = new_dane_client_ctx();
  ASSERT_TRUE(ctx.has_value()) << ctx.error();
  SslPtr ssl(SSL_new(ctx->get()));
  ASSERT_TRUE(ssl);
  // SHA2-256 with one octet of data: OpenSSL refuses it.
  const TlsaRecord short_digest{TlsaUsage::DaneEe, TlsaSelector::Spki, TlsaMatchingType::Sha2_256, {0xab}};
  auto added = apply_smtp_dane(ssl.get(), "mx.example.test", {"mx.example.test"}, {&short_digest});
  ASSERT_TRUE(added.has_value()) << added.error();
  EXPECT_EQ(added->usable, 0);
  ASSERT_EQ(added->results.size(), 1u);
  EXPECT_LE(added->results[0], 0);
  EXPECT_EQ(added->errors[0], "dane tlsa bad digest length");
  EXPECT_EQ(ERR_peek_error(), 0u);
}

} // namespace
} // namespace dane
