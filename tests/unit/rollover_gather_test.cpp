// Unit tests of how `dane-policyctl rollover` gathers its DNS and live-server facts
// (gather_rollover_facts() and observe(), dane/tools/rollover.hpp) without the program: a fake
// Resolver answers with canned DNSSEC results and a fake Prober with canned reports.
// The real path (libunbound over the DNSSEC rig, live STARTTLS servers) is rollover_rig_test.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon_process.hpp"
#include "dane/tools/rollover.hpp"
#include "dane/tools/rollover_authority.hpp"
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

CertificateRecords records_of(const std::string& file) {
  auto records = certificate_records_from_file(pki(file));
  EXPECT_TRUE(records.has_value()) << file;
  return records ? *records : CertificateRecords{};
}

Answer answer(std::string name, RrType type, DnsSecurity security, std::vector<std::vector<std::uint8_t>> rdata,
              std::string reason = "") {
  Answer out;
  out.query = {std::move(name), type};
  out.security = security;
  out.reason = std::move(reason);
  out.havedata = !rdata.empty();
  out.ttl = 3600;
  out.rdata = std::move(rdata);
  return out;
}

std::vector<std::uint8_t> tlsa_rdata(const TlsaRecord& record) {
  return to_rdata(record);
}

// Answers every query from a table by (name, type); an unknown query is a Failed "not in the table".
class FakeResolver : public Resolver {
public:
  std::vector<Answer> table;
  std::vector<Query> asked;
  bool answer_nothing = false;

  std::vector<Answer> resolve(const std::vector<Query>& queries, std::chrono::steady_clock::time_point) override {
    asked.insert(asked.end(), queries.begin(), queries.end());
    std::vector<Answer> out;
    if (answer_nothing) {
      return out;
    }
    for (const auto& query : queries) {
      Answer found = answer(query.name, query.type, DnsSecurity::Failed, {}, "not in the table");
      for (const auto& row : table) {
        if (row.query.name == query.name && row.query.type == query.type) {
          found = row;
        }
      }
      out.push_back(found);
    }
    return out;
  }
  std::chrono::milliseconds timeout() const override { return std::chrono::milliseconds(1000); }
};

// Answers each request with a report presenting `chain_pem` (empty: connect-failed).
struct FakeProber : test::FakeProber {
  std::vector<std::string> chain_pem;
  FakeProber() {
    answer = [this](const ProbeRequest& request, std::size_t) {
      ProbeReport report;
      report.address = request.address;
      report.port = request.port;
      report.result = chain_pem.empty() ? ProbeResult::ConnectFailed : ProbeResult::Pass;
      report.reason = chain_pem.empty() ? "connection refused" : "";
      report.chain_pem = chain_pem;
      return report;
    };
  }
};

class RolloverGatherTest : public ::testing::Test {
protected:
  void SetUp() override {
    input.host = "mx.example.test";
    input.port = 25;
    input.current = records_of("leaf-p256.crt");
    input.next = records_of("leaf-rsa.crt");
    auto found = input.current.find(TlsaUsage::DaneEe, TlsaSelector::Spki, TlsaMatchingType::Sha2_256);
    ASSERT_TRUE(found.has_value());
    current_record = *found;
  }
  void publish(DnsSecurity security, std::vector<std::vector<std::uint8_t>> rdata) {
    resolver.table.push_back(answer("_25._tcp.mx.example.test", RrType::Tlsa, security, std::move(rdata)));
  }
  void addresses(std::vector<std::vector<std::uint8_t>> a, std::vector<std::vector<std::uint8_t>> aaaa) {
    resolver.table.push_back(answer("mx.example.test", RrType::A, DnsSecurity::Secure, std::move(a)));
    resolver.table.push_back(answer("mx.example.test", RrType::Aaaa, DnsSecurity::Secure, std::move(aaaa)));
  }

  RolloverInput input;
  TlsaRecord current_record;
  FakeResolver resolver;
  FakeProber fake;
  RolloverGather gather;
};

TEST_F(RolloverGatherTest, OneRoundOfLookupsThenAProbeOfEveryAddress) {
  publish(DnsSecurity::Secure, {tlsa_rdata(current_record)});
  addresses({{192, 0, 2, 1}}, {{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}});
  fake.chain_pem = {pem_text("leaf-p256.crt")};
  gather.probe_timeout = std::chrono::milliseconds(2500);
  ASSERT_TRUE(gather_rollover_facts(input, gather, resolver, fake.prober()));

  ASSERT_EQ(resolver.asked.size(), 3u);
  EXPECT_EQ(resolver.asked[0].name, "_25._tcp.mx.example.test");
  EXPECT_EQ(resolver.asked[0].type, RrType::Tlsa);
  EXPECT_EQ(resolver.asked[1].type, RrType::A);
  EXPECT_EQ(resolver.asked[2].type, RrType::Aaaa);

  EXPECT_EQ(input.published.security, DnsSecurity::Secure);
  EXPECT_TRUE(input.published.exists);
  EXPECT_EQ(input.published.records, std::vector<TlsaRecord>{current_record});

  EXPECT_EQ(fake.calls, 1);
  ASSERT_EQ(fake.requests.size(), 2u);
  EXPECT_EQ(fake.requests[0].address, "192.0.2.1");
  EXPECT_EQ(fake.requests[1].address, "2001:db8::1");
  for (const auto& request : fake.requests) {
    EXPECT_EQ(request.port, 25);
    EXPECT_EQ(request.tlsa_base, "mx.example.test");
    EXPECT_EQ(request.tlsa, std::vector<TlsaRecord>{current_record});
    EXPECT_EQ(request.timeout, std::chrono::milliseconds(2500));
  }
  ASSERT_EQ(input.servers.size(), 2u);
  EXPECT_EQ(input.servers[0].presented, Presented::Current);
  EXPECT_EQ(input.servers[0].detail, input.current.spki_sha256);
  EXPECT_EQ(input.servers[1].address, "2001:db8::1");
  EXPECT_EQ(input.servers[1].presented, Presented::Current);
}

TEST_F(RolloverGatherTest, GivenAddressesAreProbedWithoutAddressLookups) {
  publish(DnsSecurity::Secure, {tlsa_rdata(current_record)});
  gather.addresses = {"127.0.0.7"};
  fake.chain_pem = {pem_text("leaf-rsa.crt")};
  ASSERT_TRUE(gather_rollover_facts(input, gather, resolver, fake.prober()));
  ASSERT_EQ(resolver.asked.size(), 1u);
  EXPECT_EQ(resolver.asked[0].type, RrType::Tlsa);
  ASSERT_EQ(fake.requests.size(), 1u);
  EXPECT_EQ(fake.requests[0].address, "127.0.0.7");
  ASSERT_EQ(input.servers.size(), 1u);
  EXPECT_EQ(input.servers[0].presented, Presented::Next);
}

TEST_F(RolloverGatherTest, NoProbeAsksOnlyForTheTlsaRrset) {
  publish(DnsSecurity::Secure, {tlsa_rdata(current_record)});
  gather.probe = false;
  ASSERT_TRUE(gather_rollover_facts(input, gather, resolver, fake.prober()));
  ASSERT_EQ(resolver.asked.size(), 1u);
  EXPECT_EQ(fake.calls, 0);
  EXPECT_TRUE(input.servers.empty());
  EXPECT_EQ(input.published.records.size(), 1u);
}

// Only a Secure RRset that exists is worth probing against (rollover.hpp safety rules).
struct UntrustedRow {
  std::string name;
  DnsSecurity security;
  bool with_records;
};

class RolloverGatherUntrusted : public RolloverGatherTest, public ::testing::WithParamInterface<UntrustedRow> {};

TEST_P(RolloverGatherUntrusted, TheServerIsNotProbed) {
  const UntrustedRow& row = GetParam();
  publish(row.security, row.with_records ? std::vector<std::vector<std::uint8_t>>{tlsa_rdata(current_record)}
                                         : std::vector<std::vector<std::uint8_t>>{});
  addresses({{192, 0, 2, 1}}, {});
  ASSERT_TRUE(gather_rollover_facts(input, gather, resolver, fake.prober()));
  EXPECT_EQ(input.published.security, row.security);
  EXPECT_EQ(fake.calls, 0);
  EXPECT_TRUE(input.servers.empty());
}

INSTANTIATE_TEST_SUITE_P(Rrsets, RolloverGatherUntrusted,
                         ::testing::Values(UntrustedRow{"Insecure", DnsSecurity::Insecure, true},
                                           UntrustedRow{"Bogus", DnsSecurity::Bogus, true},
                                           UntrustedRow{"Failed", DnsSecurity::Failed, false},
                                           UntrustedRow{"SecureNoData", DnsSecurity::Secure, false}),
                         [](const ::testing::TestParamInfo<UntrustedRow>& row) { return row.param.name; });

TEST_F(RolloverGatherTest, FailedAddressLookupsAreUnknownServers) {
  publish(DnsSecurity::Secure, {tlsa_rdata(current_record)});
  resolver.table.push_back(answer("mx.example.test", RrType::A, DnsSecurity::Bogus, {}, "signature expired"));
  resolver.table.push_back(answer("mx.example.test", RrType::Aaaa, DnsSecurity::Failed, {}));
  ASSERT_TRUE(gather_rollover_facts(input, gather, resolver, fake.prober()));
  EXPECT_TRUE(fake.requests.empty());
  ASSERT_EQ(input.servers.size(), 2u);
  EXPECT_EQ(input.servers[0].presented, Presented::Unknown);
  EXPECT_EQ(input.servers[0].address, "mx.example.test");
  EXPECT_EQ(input.servers[0].detail, "A lookup bogus: signature expired");
  EXPECT_EQ(input.servers[1].detail, "AAAA lookup error");
}

TEST_F(RolloverGatherTest, AHostWithoutAddressesIsOneUnknownServer) {
  publish(DnsSecurity::Secure, {tlsa_rdata(current_record)});
  addresses({}, {});
  ASSERT_TRUE(gather_rollover_facts(input, gather, resolver, fake.prober()));
  EXPECT_TRUE(fake.requests.empty());
  ASSERT_EQ(input.servers.size(), 1u);
  EXPECT_EQ(input.servers[0].presented, Presented::Unknown);
  EXPECT_EQ(input.servers[0].detail, "no A/AAAA records");
}

TEST_F(RolloverGatherTest, NoAnswerFromTheResolverIsAnError) {
  resolver.answer_nothing = true;
  auto gathered = gather_rollover_facts(input, gather, resolver, fake.prober());
  ASSERT_FALSE(gathered);
  EXPECT_EQ(gathered.error(), "resolver returned no answer");
  EXPECT_EQ(fake.calls, 0);
}

// ---- observe(): what one probe report says the server presents ----

TEST_F(RolloverGatherTest, ObserveClassifiesThePresentedLeaf) {
  ProbeReport report;
  report.address = "192.0.2.1";
  report.chain_pem = {pem_text("leaf-rsa.crt"), pem_text("int.crt")};
  EXPECT_EQ(observe(report, input.current, input.next).presented, Presented::Next);
  report.chain_pem = {pem_text("leaf-ed25519.crt")};
  ServerObservation other = observe(report, input.current, input.next);
  EXPECT_EQ(other.presented, Presented::Other);
  EXPECT_EQ(other.detail, records_of("leaf-ed25519.crt").spki_sha256);
}

TEST_F(RolloverGatherTest, ObserveFallsBackToTheReportedSpkiDigest) {
  ProbeReport report;
  report.address = "192.0.2.1";
  report.leaf_spki_sha256 = input.current.spki_sha256;
  EXPECT_EQ(observe(report, input.current, input.next).presented, Presented::Current);
}

TEST_F(RolloverGatherTest, ObserveWithoutALeafIsUnknownWithTheProbeResult) {
  ProbeReport report;
  report.address = "192.0.2.1";
  report.port = 2525;
  report.result = ProbeResult::StarttlsNotOffered;
  report.reason = "EHLO reply lacks STARTTLS";
  ServerObservation observed = observe(report, input.current, input.next);
  EXPECT_EQ(observed.presented, Presented::Unknown);
  EXPECT_EQ(observed.port, 2525);
  EXPECT_EQ(observed.detail, "starttls-not-offered: EHLO reply lacks STARTTLS");
  report.reason.clear();
  EXPECT_EQ(observe(report, input.current, input.next).detail, "starttls-not-offered");
}

// ---- check_authoritative() up to the point where servers would be asked (no packet is sent) ----

std::vector<std::uint8_t> wire_name(const std::string& name) {
  std::vector<std::uint8_t> out;
  std::size_t start = 0;
  while (start < name.size()) {
    const auto dot = name.find('.', start);
    const std::string label = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    out.push_back(static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    start = dot == std::string::npos ? name.size() : dot + 1;
  }
  out.push_back(0);
  return out;
}

class AuthorityCheckTest : public ::testing::Test {
protected:
  void SetUp() override {
    // The zone example.test: no SOA at the owner or the host, one at the apex.
    for (const char* name : {"_25._tcp.mx.example.test", "mx.example.test", "_tcp.mx.example.test"}) {
      resolver.table.push_back(answer(name, RrType::Soa, DnsSecurity::Secure, {}));
    }
    std::vector<std::uint8_t> soa = wire_name("ns1.example.test");
    const auto rname = wire_name("hostmaster.example.test");
    soa.insert(soa.end(), rname.begin(), rname.end());
    soa.resize(soa.size() + 20, 1);
    resolver.table.push_back(answer("example.test", RrType::Soa, DnsSecurity::Secure, {soa}));
    resolver.table.push_back(answer("example.test", static_cast<RrType>(2), DnsSecurity::Secure,
                                    {wire_name("ns1.example.test"), wire_name("ns2.example.test")}));
    resolver.table.push_back(
        answer("example.test", static_cast<RrType>(48), DnsSecurity::Secure, {{1, 1, 3, 13, 0xaa, 0xbb, 0xcc, 0xdd}}));
  }
  FakeResolver resolver;
};

// An NS host without addresses and one whose address lookup failed both lag, named with the reason.
TEST_F(AuthorityCheckTest, NsHostsWithoutAddressesLagWithTheReason) {
  resolver.table.push_back(answer("ns1.example.test", RrType::A, DnsSecurity::Secure, {}));
  resolver.table.push_back(answer("ns1.example.test", RrType::Aaaa, DnsSecurity::Secure, {}));
  resolver.table.push_back(answer("ns2.example.test", RrType::A, DnsSecurity::Failed, {}, "timeout"));
  resolver.table.push_back(answer("ns2.example.test", RrType::Aaaa, DnsSecurity::Secure, {}));
  auto check = check_authoritative("_25._tcp.mx.example.test", {}, resolver, std::chrono::milliseconds(500));
  ASSERT_EQ(check.security, DnsSecurity::Secure) << check.error;
  EXPECT_EQ(check.zone, "example.test");
  const auto lagging = check.lagging();
  ASSERT_EQ(lagging.size(), 2u);
  EXPECT_EQ(lagging[0], "ns1.example.test: no A/AAAA records for the NS host");
  EXPECT_EQ(lagging[1].rfind("ns2.example.test: A lookup of ns2.example.test error (timeout)", 0), 0u) << lagging[1];
}

// The NS or DNSKEY set not secure: the check did not run (bogus stays bogus, everything else is a failure).
TEST_F(AuthorityCheckTest, UnvalidatedNsOrDnskeySetMeansNoCheck) {
  resolver.table.push_back(answer("example.test", static_cast<RrType>(48), DnsSecurity::Bogus, {{1}}, "sig expired"));
  auto check = check_authoritative("_25._tcp.mx.example.test", {}, resolver, std::chrono::milliseconds(500));
  EXPECT_EQ(check.security, DnsSecurity::Bogus);
  EXPECT_NE(check.error.find("DNSKEY lookup of example.test bogus (sig expired)"), std::string::npos) << check.error;
  EXPECT_TRUE(check.servers.empty());

  resolver.table.push_back(
      answer("example.test", static_cast<RrType>(2), DnsSecurity::Insecure, {wire_name("ns1.example.test")}));
  check = check_authoritative("_25._tcp.mx.example.test", {}, resolver, std::chrono::milliseconds(500));
  EXPECT_EQ(check.security, DnsSecurity::Failed);
  EXPECT_NE(check.error.find("NS lookup of example.test insecure"), std::string::npos) << check.error;
}

} // namespace
} // namespace dane::tools
