// Unit tests of `dane-policyctl check`'s logic (dane/tools/check.hpp) without the program, DNS or
// sockets: DestinationFacts are written by hand and a fake Prober answers with canned reports.
// The real path (libunbound over the DNSSEC rig, live STARTTLS servers) is check_rig_test.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon_process.hpp"
#include "dane/tools/check.hpp"
#include "dane/tools/rollover.hpp"
#include "dane/verifier/pem.hpp"
#include "fake_prober.hpp"

namespace dane::tools {
namespace {

std::string pki(const std::string& name) {
  return std::string(DANE_TEST_DATA_DIR) + "/pki/" + name;
}

// A PEM file as a probe report carries it ("" when missing: then the expectations below fail).
std::string pem_text(const std::string& name) {
  return test::read_text_file(pki(name));
}

TlsaRecord record_of(const std::string& cert_file, std::uint8_t usage, std::uint8_t selector, std::uint8_t mtype) {
  auto certs = load_pem_chain_file(pki(cert_file));
  if (!certs || certs->certs.empty()) {
    ADD_FAILURE() << "cannot read " << cert_file;
    return {};
  }
  auto record = make_tlsa(certs->certs.front().get(), static_cast<TlsaUsage>(usage),
                          static_cast<TlsaSelector>(selector), static_cast<TlsaMatchingType>(mtype));
  EXPECT_TRUE(record.has_value());
  return record ? *record : TlsaRecord{};
}

TlsaRecord fake_record(std::uint8_t usage, std::uint8_t seed) {
  return TlsaRecord{static_cast<TlsaUsage>(usage), TlsaSelector::Spki, TlsaMatchingType::Sha2_256,
                    std::vector<std::uint8_t>(32, seed)};
}

HostResult dane_host(std::string name, std::vector<std::string> addresses, std::vector<TlsaRecord> tlsa) {
  HostResult host;
  host.name = name;
  host.preference = 10;
  host.dnssec = DnsSecurity::Secure;
  host.status = HostStatus::DaneUsable;
  host.tlsa = std::move(tlsa);
  host.tlsa_base = name;
  host.tlsa_owner = "_25._tcp." + name;
  host.addresses = std::move(addresses);
  return host;
}

HostResult plain_host(std::string name, std::vector<std::string> addresses) {
  HostResult host;
  host.name = std::move(name);
  host.dnssec = DnsSecurity::Secure;
  host.status = HostStatus::NoTlsa;
  host.addresses = std::move(addresses);
  return host;
}

HostResult failed_host(std::string name) {
  HostResult host;
  host.name = std::move(name);
  host.status = HostStatus::Failed;
  host.reason = "TLSA lookup for _25._tcp." + host.name + " failed: SERVFAIL";
  return host;
}

DestinationFacts facts_of(std::vector<HostResult> hosts, DestinationOutcome outcome = DestinationOutcome::DaneOnly) {
  DestinationFacts facts;
  facts.next_hop = *parse_next_hop("example.test");
  facts.outcome = outcome;
  facts.mx_security = DnsSecurity::Secure;
  facts.hosts = std::move(hosts);
  facts.reference_names = {"example.test"};
  return facts;
}

ProbeReport report(std::string address, ProbeResult result, std::uint16_t port = 25) {
  ProbeReport out;
  out.address = std::move(address);
  out.port = port;
  out.result = result;
  out.reason = to_string(result);
  return out;
}

HostCheck probed(std::vector<ProbeReport> reports) {
  HostCheck check;
  check.probed = true;
  check.reports = std::move(reports);
  return check;
}

// Answers the first request of a batch with `first`, the others with `rest`.
struct FakeProber : test::FakeProber {
  explicit FakeProber(ProbeResult first = ProbeResult::Pass, ProbeResult rest = ProbeResult::Pass) {
    answer = [first, rest](const ProbeRequest& request, std::size_t index) {
      return report(request.address, index == 0 ? first : rest, request.port);
    };
  }
};

// ---- final_verdict: one row per rule, in the order the rules apply ----

struct VerdictRow {
  std::string name;
  DestinationFacts facts;
  std::vector<HostCheck> checks;
  CheckResult result;
  int exit_code;
  std::string text;
};

std::vector<VerdictRow> verdict_rows() {
  DestinationFacts temp = facts_of({failed_host("mx.example.test")}, DestinationOutcome::TempFail);
  temp.reason = "MX lookup for example.test failed: SERVFAIL";
  DestinationFacts not_dane = facts_of({plain_host("mx.example.test", {"192.0.2.1"})}, DestinationOutcome::NotDane);
  not_dane.reason = "no MX host publishes usable TLSA records";
  DestinationFacts one = facts_of({dane_host("mx.example.test", {"192.0.2.1"}, {fake_record(3, 1)})});
  DestinationFacts two_hosts =
      facts_of({dane_host("mx1.example.test", {"192.0.2.1", "2001:db8::1"}, {}), failed_host("mx2.example.test")},
               DestinationOutcome::Dane);
  return {
      {"TempFailDestination_IsTempFail",
       temp,
       {HostCheck{}},
       CheckResult::TempFail,
       3,
       "temporary DNS failure: MX lookup for example.test failed: SERVFAIL"},
      {"OneOfTwoFailed_IsFail",
       one,
       {probed({report("192.0.2.1", ProbeResult::Pass), report("2001:db8::1", ProbeResult::TlsaMismatch)})},
       CheckResult::Fail,
       1,
       "1 of 2 probed addresses failed ([2001:db8::1]:25 tlsa-mismatch)"},
      {"FailureBeatsDnsFailure_IsFail",
       two_hosts,
       {probed({report("192.0.2.1", ProbeResult::ConnectFailed), report("2001:db8::1", ProbeResult::CertExpired)}),
        HostCheck{}},
       CheckResult::Fail,
       1,
       "2 of 2 probed addresses failed (192.0.2.1:25 connect-failed, [2001:db8::1]:25 cert-expired)"},
      {"OneProbeOneFailed_SaysAddress",
       one,
       {probed({report("192.0.2.1", ProbeResult::StarttlsNotOffered)})},
       CheckResult::Fail,
       1,
       "1 of 1 probed address failed (192.0.2.1:25 starttls-not-offered)"},
      {"DnsFailedHostProbesPass_IsTempFail",
       two_hosts,
       {probed({report("192.0.2.1", ProbeResult::Pass), report("2001:db8::1", ProbeResult::Pass)}), HostCheck{}},
       CheckResult::TempFail,
       3,
       "DNS lookups failed for mx2.example.test; the 2 probed addresses pass"},
      {"DnsFailedHostNothingProbed_IsTempFail",
       two_hosts,
       {HostCheck{}, HostCheck{}},
       CheckResult::TempFail,
       3,
       "DNS lookups failed for mx2.example.test"},
      {"NothingProbedWithReason_IsNone",
       not_dane,
       {HostCheck{}},
       CheckResult::None,
       0,
       "nothing to probe: no MX host publishes usable TLSA records"},
      {"NothingProbedNoReason_IsNone",
       one,
       {HostCheck{}},
       CheckResult::None,
       0,
       "nothing to probe: no MX host publishes TLSA records"},
      {"OneProbePasses_IsPass",
       one,
       {probed({report("192.0.2.1", ProbeResult::Pass)})},
       CheckResult::Pass,
       0,
       "the 1 probed address passes"},
      {"EveryProbePasses_IsPass",
       one,
       {probed({report("192.0.2.1", ProbeResult::Pass), report("192.0.2.2", ProbeResult::Pass)})},
       CheckResult::Pass,
       0,
       "all 2 probed addresses pass"},
  };
}

class FinalVerdict : public ::testing::TestWithParam<VerdictRow> {};

TEST_P(FinalVerdict, ResultExitCodeAndText) {
  const VerdictRow& row = GetParam();
  CheckVerdict verdict = final_verdict(row.facts, row.checks);
  EXPECT_EQ(verdict.result, row.result) << to_string(verdict.result);
  EXPECT_EQ(verdict.exit_code, row.exit_code);
  EXPECT_EQ(verdict.text, row.text);
  std::size_t probes = 0;
  for (const auto& check : row.checks) {
    probes += check.reports.size();
  }
  EXPECT_EQ(verdict.probed, probes);
}

INSTANTIATE_TEST_SUITE_P(Rules, FinalVerdict, ::testing::ValuesIn(verdict_rows()),
                         [](const ::testing::TestParamInfo<VerdictRow>& row) { return row.param.name; });

TEST(CheckResultSpelling, PinnedJsonWordsAndExitCodes) {
  EXPECT_EQ(to_string(CheckResult::Pass), "pass");
  EXPECT_EQ(to_string(CheckResult::Fail), "fail");
  EXPECT_EQ(to_string(CheckResult::TempFail), "tempfail");
  EXPECT_EQ(to_string(CheckResult::None), "none");
  EXPECT_EQ(check_exit_code(CheckResult::Pass), 0);
  EXPECT_EQ(check_exit_code(CheckResult::None), 0);
  EXPECT_EQ(check_exit_code(CheckResult::Fail), 1);
  EXPECT_EQ(check_exit_code(CheckResult::TempFail), 3);
}

// ---- plan_probes ----

TEST(PlanProbes, EveryAddressOfATlsaHostWithItsNamesPortAndTimeout) {
  HostResult host = dane_host("mx.example.test", {"192.0.2.1", "2001:db8::1"}, {fake_record(3, 1)});
  host.tlsa_base = "mx.cname-target.test";
  DestinationFacts facts = facts_of({host});
  facts.reference_names = {"example.test", "mx.example.test"};
  CheckSettings settings;
  settings.port = 2525;
  settings.helo = "checker.example.test";
  settings.probe_timeout = std::chrono::milliseconds(1500);
  std::vector<HostCheck> checks(1);
  std::vector<PlannedProbe> plan = plan_probes(facts, settings, checks);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_TRUE(checks[0].probed);
  EXPECT_EQ(checks[0].note, "");
  EXPECT_EQ(plan[0].request.address, "192.0.2.1");
  EXPECT_EQ(plan[1].request.address, "2001:db8::1");
  for (const auto& planned : plan) {
    EXPECT_EQ(planned.host, 0u);
    EXPECT_EQ(planned.request.port, 2525);
    EXPECT_EQ(planned.request.tlsa, host.tlsa);
    EXPECT_EQ(planned.request.tlsa_base, "mx.cname-target.test");
    // TLSA base, host name, then the destination's names, each once.
    EXPECT_EQ(planned.request.reference_names,
              (std::vector<std::string>{"mx.cname-target.test", "mx.example.test", "example.test"}));
    EXPECT_EQ(planned.request.helo_name, "checker.example.test");
    EXPECT_EQ(planned.request.timeout, std::chrono::milliseconds(1500));
  }
}

TEST(PlanProbes, DestinationPortAndHostNameWhenNoTlsaBase) {
  HostResult host = dane_host("mx.example.test", {"192.0.2.1"}, {fake_record(3, 1)});
  host.tlsa_base.clear();
  DestinationFacts facts = facts_of({host});
  facts.next_hop = *parse_next_hop("[mx.example.test]:587");
  std::vector<HostCheck> checks(1);
  std::vector<PlannedProbe> plan = plan_probes(facts, CheckSettings{}, checks);
  ASSERT_EQ(plan.size(), 1u);
  EXPECT_EQ(plan[0].request.port, 587);
  EXPECT_EQ(plan[0].request.tlsa_base, "mx.example.test");
  EXPECT_EQ(plan[0].request.helo_name, "localhost");
}

TEST(PlanProbes, HostsThatAreNotProbedSayWhy) {
  HostResult no_addresses = dane_host("mx-noaddr.example.test", {}, {fake_record(3, 1)});
  HostResult failed_with_address = failed_host("mx-failed2.example.test");
  failed_with_address.addresses = {"192.0.2.9"};
  DestinationFacts facts = facts_of({failed_host("mx-failed.example.test"), failed_with_address,
                                     plain_host("mx-plain.example.test", {"192.0.2.3"}), no_addresses},
                                    DestinationOutcome::Dane);
  std::vector<HostCheck> checks(4);
  EXPECT_TRUE(plan_probes(facts, CheckSettings{}, checks).empty());
  EXPECT_EQ(checks[0].note, "not probed: DNS lookups failed");
  EXPECT_EQ(checks[1].note, "not probed: TLSA lookup failed (--all probes it)");
  EXPECT_EQ(checks[2].note, "not probed: no TLSA records (--all probes it)");
  EXPECT_EQ(checks[3].note, "not probed: no addresses");
  EXPECT_EQ(checks[3].warnings,
            std::vector<std::string>{"mx-noaddr.example.test publishes TLSA records but has no A or AAAA records"});
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_FALSE(checks[i].probed);
    EXPECT_TRUE(checks[i].warnings.empty());
  }
}

TEST(PlanProbes, AllProbesHostsWithoutTlsaButNotHostsWithoutAddresses) {
  HostResult failed_with_address = failed_host("mx-failed2.example.test");
  failed_with_address.addresses = {"192.0.2.9"};
  DestinationFacts facts = facts_of(
      {failed_host("mx-failed.example.test"), failed_with_address, plain_host("mx-plain.example.test", {"192.0.2.3"})},
      DestinationOutcome::Dane);
  CheckSettings settings;
  settings.all = true;
  std::vector<HostCheck> checks(3);
  std::vector<PlannedProbe> plan = plan_probes(facts, settings, checks);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].host, 1u);
  EXPECT_EQ(plan[1].host, 2u);
  EXPECT_EQ(checks[0].note, "not probed: DNS lookups failed");
  EXPECT_FALSE(checks[0].probed);
  EXPECT_TRUE(checks[1].probed);
  EXPECT_TRUE(checks[2].probed);
}

// ---- rollover warnings ----

TEST(RolloverWarnings, SingleUsableRecordHasNoPartner) {
  // A PKIX-EE record (usage 1) is not usable for SMTP: only the 3 1 1 counts.
  HostResult host = dane_host("mx.example.test", {"192.0.2.1"}, {fake_record(3, 1), fake_record(1, 2)});
  HostCheck check;
  add_rollover_warnings(host, check);
  ASSERT_EQ(check.warnings.size(), 1u);
  EXPECT_EQ(check.warnings[0].rfind("mx.example.test publishes a single TLSA record (3 1 1 ", 0), 0u)
      << check.warnings[0];
  EXPECT_NE(check.warnings[0].find("with no rollover partner"), std::string::npos);
}

TEST(RolloverWarnings, RecordsThatAllMatchThePresentedKeyWarn) {
  HostResult host = dane_host("mx.example.test", {"192.0.2.1"},
                              {record_of("leaf-p256.crt", 3, 1, 1), record_of("leaf-p256.crt", 3, 0, 1)});
  HostCheck check = probed({report("192.0.2.1", ProbeResult::Pass)});
  check.reports[0].chain_pem = {pem_text("leaf-p256.crt"), pem_text("int.crt")};
  add_rollover_warnings(host, check);
  EXPECT_EQ(check.warnings,
            std::vector<std::string>{"mx.example.test publishes 2 TLSA records that all match only the current key "
                                     "(192.0.2.1): a key change will break delivery; publish the next key's record "
                                     "(current + next) or a DANE-TA record for the issuer (current + issuer)"});
}

TEST(RolloverWarnings, AnIssuerRecordOrAnotherKeyIsAPartner) {
  std::vector<std::string> chain = {pem_text("leaf-p256.crt"), pem_text("int.crt")};
  for (const TlsaRecord& partner : {record_of("int.crt", 2, 0, 1), record_of("leaf-rsa.crt", 3, 1, 1)}) {
    HostResult host = dane_host("mx.example.test", {"192.0.2.1"}, {record_of("leaf-p256.crt", 3, 1, 1), partner});
    HostCheck check = probed({report("192.0.2.1", ProbeResult::Pass)});
    check.reports[0].chain_pem = chain;
    add_rollover_warnings(host, check);
    EXPECT_TRUE(check.warnings.empty()) << partner.to_string() << ": " << check.warnings.front();
  }
}

TEST(RolloverWarnings, WithoutAPresentedChainTwoRecordsSayNothing) {
  HostResult host = dane_host("mx.example.test", {"192.0.2.1"},
                              {record_of("leaf-p256.crt", 3, 1, 1), record_of("leaf-p256.crt", 3, 0, 1)});
  HostCheck check = probed({report("192.0.2.1", ProbeResult::ConnectFailed)});
  add_rollover_warnings(host, check);
  EXPECT_TRUE(check.warnings.empty());
}

// ---- run_check: the whole flow with a fake prober ----

TEST(RunCheck, TempFailDestinationIsNotProbed) {
  DestinationFacts facts =
      facts_of({dane_host("mx.example.test", {"192.0.2.1"}, {fake_record(3, 1)})}, DestinationOutcome::TempFail);
  facts.reason = "MX lookup for example.test bogus";
  FakeProber fake;
  CheckOutcome outcome = run_check(facts, CheckSettings{}, fake.prober());
  EXPECT_TRUE(fake.requests.empty());
  ASSERT_EQ(outcome.hosts.size(), 1u);
  EXPECT_FALSE(outcome.hosts[0].probed);
  EXPECT_EQ(outcome.hosts[0].note, "not probed: temporary DNS failure");
  EXPECT_EQ(outcome.verdict.result, CheckResult::TempFail);
  EXPECT_EQ(outcome.verdict.exit_code, 3);
  EXPECT_EQ(outcome.answer.policy, policyd::PolicyKind::TempFail);
}

TEST(RunCheck, ReportsGoToTheirHostsAndDecideTheVerdict) {
  DestinationFacts facts = facts_of({dane_host("mx1.example.test", {"192.0.2.1", "192.0.2.2"}, {fake_record(3, 1)}),
                                     plain_host("mx2.example.test", {"192.0.2.3"}),
                                     dane_host("mx3.example.test", {"192.0.2.4"}, {fake_record(3, 2)})},
                                    DestinationOutcome::Dane);
  FakeProber fake(ProbeResult::TlsaMismatch);
  CheckOutcome outcome = run_check(facts, CheckSettings{}, fake.prober());
  EXPECT_EQ(fake.calls, 1); // one batch: the probes run concurrently
  ASSERT_EQ(fake.requests.size(), 3u);
  ASSERT_EQ(outcome.hosts.size(), 3u);
  ASSERT_EQ(outcome.hosts[0].reports.size(), 2u);
  EXPECT_EQ(outcome.hosts[0].reports[0].address, "192.0.2.1");
  EXPECT_EQ(outcome.hosts[0].reports[1].address, "192.0.2.2");
  EXPECT_TRUE(outcome.hosts[1].reports.empty());
  EXPECT_EQ(outcome.hosts[1].note, "not probed: no TLSA records (--all probes it)");
  ASSERT_EQ(outcome.hosts[2].reports.size(), 1u);
  EXPECT_EQ(outcome.hosts[2].reports[0].address, "192.0.2.4");
  // Each TLSA host has a single record: each gets the rollover warning.
  EXPECT_EQ(outcome.hosts[0].warnings.size(), 1u);
  EXPECT_TRUE(outcome.hosts[1].warnings.empty());
  EXPECT_EQ(outcome.hosts[2].warnings.size(), 1u);
  EXPECT_EQ(outcome.verdict.result, CheckResult::Fail);
  EXPECT_EQ(outcome.verdict.text, "1 of 3 probed addresses failed (192.0.2.1:25 tlsa-mismatch)");
  EXPECT_EQ(outcome.answer.policy, policyd::PolicyKind::Dane);
}

TEST(RunCheck, ThePolicyLineIsTheNativeModeAnswer) {
  DestinationFacts facts = facts_of({dane_host("mx.example.test", {"192.0.2.1"}, {fake_record(3, 1)})});
  FakeProber fake;
  CheckOutcome outcome = run_check(facts, CheckSettings{}, fake.prober());
  policyd::PolicyAnswer native = policyd::decide(facts, policyd::Mode::Native);
  EXPECT_EQ(outcome.answer.policy, native.policy);
  EXPECT_EQ(outcome.answer.answer, native.answer);
  EXPECT_EQ(outcome.answer.reason, native.reason);
  EXPECT_EQ(outcome.verdict.result, CheckResult::Pass);
  EXPECT_EQ(outcome.verdict.exit_code, 0);
}

} // namespace
} // namespace dane::tools
