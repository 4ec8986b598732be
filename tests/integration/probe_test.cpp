// Live probe (dane/probe.hpp) against real STARTTLS servers on loopback
// (tests/support/smtp_server.hpp) serving the fixture PKI (tests/data/pki/).
// A few verdicts are cross-checked against `openssl s_client -dane_tlsa_*`.
#include "dane/verifier/probe.hpp"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dane/verifier/handles.hpp"
#include "dane/verifier/pem.hpp"
#include "smtp_server.hpp"
#include "test_env.hpp"

namespace dane {
namespace {

using test::SmtpBehaviour;
using test::SmtpServer;
using test::SmtpServerOptions;

// Every step bounded well below ctest's limits; the silent-server tests use shorter ones.
constexpr std::chrono::milliseconds k_step_timeout{10000};

std::string pki(const std::string& name) {
  return std::string(DANE_TEST_DATA_DIR) + "/pki/" + name;
}

X509Ptr load_cert(const std::string& name) {
  auto chain = load_pem_chain_file(pki(name));
  if (!chain) {
    ADD_FAILURE() << chain.error();
    return {};
  }
  return std::move(chain->certs.front());
}

TlsaRecord record_for(const std::string& cert_file, std::uint8_t usage, std::uint8_t selector, std::uint8_t mtype) {
  X509Ptr cert = load_cert(cert_file);
  EXPECT_TRUE(cert) << cert_file;
  auto record = make_tlsa(cert.get(), TlsaUsage{usage}, TlsaSelector{selector}, TlsaMatchingType{mtype});
  EXPECT_TRUE(record.has_value()) << cert_file;
  return record ? *record : TlsaRecord{};
}

std::unique_ptr<SmtpServer> start_server(const std::string& leaf, const std::string& chain_suffix = ".chain.pem",
                                         SmtpBehaviour behaviour = SmtpBehaviour::StartTls,
                                         const std::string& address = "127.0.0.1") {
  SmtpServerOptions options;
  options.address = address;
  options.key_file = pki(leaf + ".key");
  options.chain_file = pki(leaf + chain_suffix);
  options.behaviour = behaviour;
  return std::make_unique<SmtpServer>(options);
}

ProbeRequest request_for(const SmtpServer& server, std::vector<TlsaRecord> tlsa,
                         std::string tlsa_base = "mx.example.test") {
  ProbeRequest request;
  request.address = server.address();
  request.port = server.port();
  request.tlsa = std::move(tlsa);
  request.tlsa_base = std::move(tlsa_base);
  request.timeout = k_step_timeout;
  return request;
}

// OpenSSL's CLI must agree: same pass/fail and, on failure, the same X509_V_* error.
void expect_s_client_agrees(const SmtpServer& server, const std::string& base, const std::vector<TlsaRecord>& tlsa,
                            const ProbeReport& report) {
  std::vector<std::string> records;
  for (const auto& record : tlsa) {
    records.push_back(record.to_string());
  }
  auto verdict = test::openssl_s_client_dane(server.address(), server.port(), base, records);
  ASSERT_TRUE(verdict.ran) << "openssl s_client did not run to completion: " << verdict.process.output;
  EXPECT_EQ(verdict.verified, report.result == ProbeResult::Pass) << "openssl s_client output:\n"
                                                                  << verdict.process.output;
  EXPECT_EQ(verdict.verify_error, report.x509_error) << "openssl s_client output:\n" << verdict.process.output;
}

TEST(Probe, ResultSpellingsArePinned) {
  EXPECT_EQ(to_string(ProbeResult::Pass), "pass");
  EXPECT_EQ(to_string(ProbeResult::TlsaMismatch), "tlsa-mismatch");
  EXPECT_EQ(to_string(ProbeResult::NameMismatch), "name-mismatch");
  EXPECT_EQ(to_string(ProbeResult::CertExpired), "cert-expired");
  EXPECT_EQ(to_string(ProbeResult::StarttlsNotOffered), "starttls-not-offered");
  EXPECT_EQ(to_string(ProbeResult::ConnectFailed), "connect-failed");
  EXPECT_EQ(to_string(ProbeResult::TlsFailed), "tls-failed");
}

TEST(Probe, DaneEe_Rfc7672_3_1_1_MatchesLeafSpki) {
  auto server = start_server("leaf-p256");
  TlsaRecord ee = record_for("leaf-p256.crt", 3, 1, 1);
  auto report = probe(request_for(*server, {ee}));
  EXPECT_EQ(report.result, ProbeResult::Pass) << report.reason;
  ASSERT_TRUE(report.matched.has_value());
  EXPECT_EQ(*report.matched, ee);
  EXPECT_EQ(report.depth, 0);
  EXPECT_TRUE(report.authenticated);
  EXPECT_EQ(report.usable_records, 1u);
  EXPECT_EQ(report.reason, "Matched DANE-EE " + ee.short_string() + " at depth 0");
  EXPECT_EQ(report.address, "127.0.0.1");
  EXPECT_EQ(report.port, server->port());
  // The leaf's SPKI SHA-256 is exactly the 3 1 1 data.
  EXPECT_EQ(report.leaf_spki_sha256, to_hex(ee.data));
  EXPECT_EQ(report.leaf_san, (std::vector<std::string>{"mx.example.test", "mail.example.test"}));
  EXPECT_EQ(report.leaf_not_before, "2025-01-01T00:00:00Z");
  EXPECT_EQ(report.leaf_not_after, "2125-01-01T00:00:00Z");
  EXPECT_NE(report.leaf_subject.find("mx.example.test"), std::string::npos) << report.leaf_subject;
  EXPECT_NE(report.leaf_issuer.find("Intermediate"), std::string::npos) << report.leaf_issuer;
  EXPECT_EQ(report.chain_pem.size(), 2u); // leaf + intermediate, as the server sent them
  EXPECT_FALSE(report.tls_version.empty());
  EXPECT_FALSE(report.cipher.empty());
  EXPECT_NE(report.banner.find("mx.example.test"), std::string::npos);
  // SNI is the TLSA base domain; the session ended with QUIT.
  EXPECT_EQ(server->last_sni(), "mx.example.test");
  EXPECT_EQ(server->tls_handshakes(), 1u);
  server->stop();
  EXPECT_EQ(server->quits(), 1u);
}

TEST(Probe, DaneEe_MatchesEveryKeyTypeAndSelector) {
  for (const std::string leaf : {"leaf-rsa", "leaf-p384", "leaf-ed25519"}) {
    SCOPED_TRACE(leaf);
    auto server = start_server(leaf);
    for (std::uint8_t selector : {0, 1}) {
      for (std::uint8_t mtype : {0, 1, 2}) {
        TlsaRecord ee = record_for(leaf + ".crt", 3, selector, mtype);
        auto report = probe(request_for(*server, {ee}));
        EXPECT_EQ(report.result, ProbeResult::Pass) << report.reason;
        ASSERT_TRUE(report.matched.has_value());
        EXPECT_EQ(*report.matched, ee);
        EXPECT_EQ(report.depth, 0);
      }
    }
  }
}

TEST(Probe, DaneEe_Rfc7672_3_1_1_IgnoresNamesAndExpiry) {
  {
    auto server = start_server("leaf-wrongname");
    TlsaRecord ee = record_for("leaf-wrongname.crt", 3, 1, 1);
    auto report = probe(request_for(*server, {ee}));
    EXPECT_EQ(report.result, ProbeResult::Pass) << report.reason;
  }
  auto server = start_server("leaf-expired");
  TlsaRecord ee = record_for("leaf-expired.crt", 3, 1, 1);
  auto report = probe(request_for(*server, {ee}));
  EXPECT_EQ(report.result, ProbeResult::Pass) << report.reason;
  EXPECT_EQ(report.leaf_not_after, "2001-01-01T00:00:00Z");
  expect_s_client_agrees(*server, "mx.example.test", {ee}, report);
}

TEST(Probe, DaneEe_WrongKeyIsTlsaMismatch) {
  auto server = start_server("leaf-p256");
  TlsaRecord other = record_for("leaf-p384.crt", 3, 1, 1);
  auto report = probe(request_for(*server, {other}));
  EXPECT_EQ(report.result, ProbeResult::TlsaMismatch) << report.reason;
  EXPECT_FALSE(report.matched.has_value());
  EXPECT_EQ(report.depth, -1);
  EXPECT_FALSE(report.authenticated);
  EXPECT_EQ(report.x509_error, X509_V_ERR_DANE_NO_MATCH);
  EXPECT_EQ(report.reason, "no TLSA record matches the presented chain (1 usable record)");
  // The chain is captured even when it does not verify.
  EXPECT_EQ(report.chain_pem.size(), 2u);
  EXPECT_FALSE(report.leaf_spki_sha256.empty());
  expect_s_client_agrees(*server, "mx.example.test", {other}, report);
}

TEST(Probe, RolledKey_PublishedRecordNoLongerMatches) {
  auto server = start_server("leaf-p256");
  TlsaRecord published = record_for("leaf-p256.crt", 3, 1, 1);
  EXPECT_EQ(probe(request_for(*server, {published})).result, ProbeResult::Pass);
  server->set_credentials(pki("leaf-rsa.key"), pki("leaf-rsa.chain.pem"));
  auto report = probe(request_for(*server, {published}));
  EXPECT_EQ(report.result, ProbeResult::TlsaMismatch) << report.reason;
  // "current + next" published: the new key matches the second record.
  TlsaRecord next = record_for("leaf-rsa.crt", 3, 1, 1);
  report = probe(request_for(*server, {published, next}));
  EXPECT_EQ(report.result, ProbeResult::Pass) << report.reason;
  ASSERT_TRUE(report.matched.has_value());
  EXPECT_EQ(*report.matched, next);
  EXPECT_EQ(report.usable_records, 2u);
}

TEST(Probe, DaneTa_Rfc7672_3_1_2_IntermediateInChain) {
  auto server = start_server("leaf-p256");
  for (std::uint8_t selector : {0, 1}) {
    TlsaRecord ta = record_for("int.crt", 2, selector, 1);
    auto report = probe(request_for(*server, {ta}));
    EXPECT_EQ(report.result, ProbeResult::Pass) << report.reason;
    ASSERT_TRUE(report.matched.has_value());
    EXPECT_EQ(*report.matched, ta);
    EXPECT_EQ(report.depth, 1);
    EXPECT_EQ(report.reason, "Matched DANE-TA " + ta.short_string() + " at depth 1");
    expect_s_client_agrees(*server, "mx.example.test", {ta}, report);
  }
}

TEST(Probe, DaneTa_RootSentInFullChain) {
  auto server = start_server("leaf-p256", ".fullchain.pem");
  TlsaRecord ta = record_for("root.crt", 2, 0, 1);
  auto report = probe(request_for(*server, {ta}));
  EXPECT_EQ(report.result, ProbeResult::Pass) << report.reason;
  EXPECT_EQ(report.depth, 2);
  EXPECT_EQ(report.chain_pem.size(), 3u);
}

TEST(Probe, DaneTa_RootDigestNotSentIsMismatch) {
  // A digest of a TA certificate the server does not send cannot be matched (RFC 7671 §5.2.2).
  auto server = start_server("leaf-p256");
  TlsaRecord ta = record_for("root.crt", 2, 0, 1);
  auto report = probe(request_for(*server, {ta}));
  EXPECT_EQ(report.result, ProbeResult::TlsaMismatch) << report.reason;
  expect_s_client_agrees(*server, "mx.example.test", {ta}, report);
}

TEST(Probe, DaneTa_WrongNameIsNameMismatch) {
  auto server = start_server("leaf-wrongname");
  TlsaRecord ta = record_for("int.crt", 2, 0, 1);
  auto report = probe(request_for(*server, {ta}));
  EXPECT_EQ(report.result, ProbeResult::NameMismatch) << report.reason;
  EXPECT_EQ(report.x509_error, X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_NE(report.reason.find("mx.example.test"), std::string::npos) << report.reason;
  EXPECT_NE(report.reason.find("other.example.net"), std::string::npos) << report.reason;
  expect_s_client_agrees(*server, "mx.example.test", {ta}, report);
}

TEST(Probe, DaneTa_FurtherReferenceNamesAreAccepted) {
  auto server = start_server("leaf-p256");
  TlsaRecord ta = record_for("int.crt", 2, 0, 1);
  auto request = request_for(*server, {ta}, "relay.example.test");
  EXPECT_EQ(probe(request).result, ProbeResult::NameMismatch);
  request.reference_names = {"example.test", "mail.example.test"};
  auto report = probe(request);
  EXPECT_EQ(report.result, ProbeResult::Pass) << report.reason;
  EXPECT_EQ(server->last_sni(), "relay.example.test"); // SNI stays the TLSA base domain
}

TEST(Probe, DaneTa_WildcardCoversOneLabelOnly) {
  auto server = start_server("leaf-wildcard");
  TlsaRecord ta = record_for("int.crt", 2, 0, 1);
  EXPECT_EQ(probe(request_for(*server, {ta}, "mx.example.test")).result, ProbeResult::Pass);
  EXPECT_EQ(probe(request_for(*server, {ta}, "a.mx.example.test")).result, ProbeResult::NameMismatch);
}

TEST(Probe, DaneTa_ExpiredLeafIsCertExpired) {
  auto server = start_server("leaf-expired");
  TlsaRecord ta = record_for("int.crt", 2, 0, 1);
  auto report = probe(request_for(*server, {ta}));
  EXPECT_EQ(report.result, ProbeResult::CertExpired) << report.reason;
  EXPECT_EQ(report.x509_error, X509_V_ERR_CERT_HAS_EXPIRED);
  expect_s_client_agrees(*server, "mx.example.test", {ta}, report);
}

TEST(Probe, DaneTa_NotYetValidLeafIsCertExpired) {
  auto server = start_server("leaf-notyet");
  TlsaRecord ta = record_for("int.crt", 2, 0, 1);
  auto report = probe(request_for(*server, {ta}));
  EXPECT_EQ(report.result, ProbeResult::CertExpired) << report.reason;
  EXPECT_EQ(report.x509_error, X509_V_ERR_CERT_NOT_YET_VALID);
  expect_s_client_agrees(*server, "mx.example.test", {ta}, report);
}

TEST(Probe, DaneTa_ExpiredIntermediateIsCertExpired) {
  auto server = start_server("leaf-under-expired-int", ".fullchain.pem");
  TlsaRecord ta = record_for("root.crt", 2, 0, 1);
  auto report = probe(request_for(*server, {ta}));
  EXPECT_EQ(report.result, ProbeResult::CertExpired) << report.reason;
  expect_s_client_agrees(*server, "mx.example.test", {ta}, report);
}

TEST(Probe, FirstMatchingRecordOfSeveralIsReported) {
  auto server = start_server("leaf-p256");
  TlsaRecord wrong = record_for("leaf-rsa.crt", 3, 1, 1);
  TlsaRecord pkix = record_for("leaf-p256.crt", 1, 1, 1); // unusable for SMTP: never handed to OpenSSL
  TlsaRecord ta = record_for("int.crt", 2, 1, 1);
  auto report = probe(request_for(*server, {wrong, pkix, ta}));
  EXPECT_EQ(report.result, ProbeResult::Pass) << report.reason;
  EXPECT_EQ(report.usable_records, 2u);
  ASSERT_TRUE(report.matched.has_value());
  EXPECT_EQ(*report.matched, ta);
  expect_s_client_agrees(*server, "mx.example.test", {wrong, ta}, report);
}

TEST(Probe, OnlyUnusableRecords_TlsWithoutAuthentication) {
  auto server = start_server("leaf-p256");
  TlsaRecord pkix = record_for("leaf-p256.crt", 1, 1, 1);
  auto report = probe(request_for(*server, {pkix}));
  EXPECT_EQ(report.result, ProbeResult::Pass) << report.reason;
  EXPECT_FALSE(report.authenticated);
  EXPECT_FALSE(report.matched.has_value());
  EXPECT_EQ(report.usable_records, 0u);
  EXPECT_EQ(report.reason, "TLS established; no TLSA record is usable for SMTP, not authenticated");
  EXPECT_EQ(server->last_sni(), "mx.example.test");
}

TEST(Probe, NoTlsaRecords_TlsWithoutAuthentication) {
  auto server = start_server("leaf-p256");
  auto report = probe(request_for(*server, {}));
  EXPECT_EQ(report.result, ProbeResult::Pass) << report.reason;
  EXPECT_FALSE(report.authenticated);
  EXPECT_EQ(report.reason, "TLS established; no TLSA records, not authenticated");
}

TEST(Probe, MultiLineBanner) {
  auto server = start_server("leaf-p256", ".chain.pem", SmtpBehaviour::MultiLineBanner);
  TlsaRecord ee = record_for("leaf-p256.crt", 3, 1, 1);
  auto report = probe(request_for(*server, {ee}));
  EXPECT_EQ(report.result, ProbeResult::Pass) << report.reason;
  EXPECT_EQ(report.banner, "mx.example.test ESMTP dane-policyd test server");
}

TEST(Probe, StarttlsNotOffered) {
  SmtpServerOptions options;
  options.behaviour = SmtpBehaviour::NoStartTls;
  SmtpServer server(options);
  auto report = probe(request_for(server, {record_for("leaf-p256.crt", 3, 1, 1)}));
  EXPECT_EQ(report.result, ProbeResult::StarttlsNotOffered) << report.reason;
  EXPECT_EQ(report.reason, "the EHLO reply does not offer STARTTLS");
  EXPECT_TRUE(report.tls_version.empty());
  EXPECT_EQ(server.tls_handshakes(), 0u);
}

TEST(Probe, StarttlsRefusedIsTlsFailed) {
  auto server = start_server("leaf-p256", ".chain.pem", SmtpBehaviour::RefuseStartTls);
  auto report = probe(request_for(*server, {record_for("leaf-p256.crt", 3, 1, 1)}));
  EXPECT_EQ(report.result, ProbeResult::TlsFailed) << report.reason;
  EXPECT_EQ(report.reason.rfind("STARTTLS refused: 454", 0), 0u) << report.reason;
}

TEST(Probe, PlaintextAfterStarttlsReplyIsRefused) {
  auto server = start_server("leaf-p256", ".chain.pem", SmtpBehaviour::InjectAfterStartTls);
  auto report = probe(request_for(*server, {record_for("leaf-p256.crt", 3, 1, 1)}));
  EXPECT_EQ(report.result, ProbeResult::TlsFailed) << report.reason;
  EXPECT_NE(report.reason.find("injection"), std::string::npos) << report.reason;
}

TEST(Probe, NothingListeningIsConnectFailed) {
  test::ClosedPort closed;
  ProbeRequest request;
  request.address = "127.0.0.1";
  request.port = closed.port();
  request.tlsa = {record_for("leaf-p256.crt", 3, 1, 1)};
  request.tlsa_base = "mx.example.test";
  auto report = probe(request);
  EXPECT_EQ(report.result, ProbeResult::ConnectFailed) << report.reason;
  EXPECT_EQ(report.reason, "connect: Connection refused");
}

TEST(Probe, NotAnAddressIsConnectFailed) {
  ProbeRequest request;
  request.address = "mx.example.test";
  auto report = probe(request);
  EXPECT_EQ(report.result, ProbeResult::ConnectFailed);
  EXPECT_EQ(report.reason, "'mx.example.test' is not an IPv4 or IPv6 address");
}

TEST(Probe, SilentServerTimesOutWaitingForTheGreeting) {
  SmtpServerOptions options;
  options.behaviour = SmtpBehaviour::Silent;
  SmtpServer server(options);
  auto request = request_for(server, {record_for("leaf-p256.crt", 3, 1, 1)});
  request.timeout = std::chrono::milliseconds(300);
  auto report = probe(request);
  EXPECT_EQ(report.result, ProbeResult::ConnectFailed) << report.reason;
  EXPECT_EQ(report.reason, "timed out after 300 ms waiting for the 220 greeting");
  EXPECT_EQ(server.connections(), 1u);
}

TEST(Probe, StalledHandshakeTimesOut) {
  auto server = start_server("leaf-p256", ".chain.pem", SmtpBehaviour::StallHandshake);
  auto request = request_for(*server, {record_for("leaf-p256.crt", 3, 1, 1)});
  request.timeout = std::chrono::milliseconds(300);
  auto report = probe(request);
  EXPECT_EQ(report.result, ProbeResult::TlsFailed) << report.reason;
  EXPECT_EQ(report.reason, "TLS handshake failed: timed out after 300 ms");
}

TEST(Probe, Ipv6Loopback) {
  std::unique_ptr<SmtpServer> server;
  try {
    server = start_server("leaf-p256", ".chain.pem", SmtpBehaviour::StartTls, "::1");
  } catch (const std::exception& e) {
    DANE_REQUIRE_OR_SKIP(false, std::string("no IPv6 loopback: ") + e.what());
  }
  TlsaRecord ee = record_for("leaf-p256.crt", 3, 1, 1);
  auto report = probe(request_for(*server, {ee}));
  EXPECT_EQ(report.result, ProbeResult::Pass) << report.reason;
  EXPECT_EQ(report.address, "::1");
}

TEST(Probe, ProbeAllKeepsOrderWithMixedResults) {
  std::string address = "127.0.0.1";
  auto good = start_server("leaf-p256", ".chain.pem", SmtpBehaviour::StartTls, address);
  auto rolled = start_server("leaf-rsa", ".chain.pem", SmtpBehaviour::StartTls, address);
  SmtpServerOptions plain_options;
  plain_options.address = address;
  plain_options.behaviour = SmtpBehaviour::NoStartTls;
  SmtpServer plain(plain_options);
  SmtpServerOptions silent_options;
  silent_options.address = address;
  silent_options.behaviour = SmtpBehaviour::Silent;
  SmtpServer silent(silent_options);
  test::ClosedPort closed(address);

  TlsaRecord ee = record_for("leaf-p256.crt", 3, 1, 1);
  std::vector<ProbeRequest> requests = {request_for(*good, {ee}), request_for(*rolled, {ee}), request_for(plain, {ee}),
                                        request_for(silent, {ee}), request_for(*good, {ee})};
  requests[3].timeout = std::chrono::milliseconds(300);
  ProbeRequest refused = request_for(*good, {ee});
  refused.port = closed.port();
  requests.push_back(refused);
  for (std::size_t in_flight : {std::size_t{1}, std::size_t{3}, std::size_t{16}}) {
    SCOPED_TRACE(in_flight);
    auto reports = probe_all(requests, in_flight);
    ASSERT_EQ(reports.size(), requests.size());
    std::vector<ProbeResult> results;
    for (std::size_t i = 0; i < reports.size(); ++i) {
      EXPECT_EQ(reports[i].port, requests[i].port);
      results.push_back(reports[i].result);
    }
    EXPECT_EQ(results,
              (std::vector<ProbeResult>{ProbeResult::Pass, ProbeResult::TlsaMismatch, ProbeResult::StarttlsNotOffered,
                                        ProbeResult::ConnectFailed, ProbeResult::Pass, ProbeResult::ConnectFailed}));
  }
  EXPECT_TRUE(probe_all({}, 4).empty());
}

} // namespace
} // namespace dane
