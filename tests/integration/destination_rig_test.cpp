// Resolver and destination evaluation against the real DNSSEC rig: libunbound validating
// zones signed by ldns-signzone and served by nsd on loopback (tests/support/dns_rig.hpp).
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <openssl/pem.h>
#include <optional>
#include <thread>

#include <sys/wait.h>

#include "dane/policy/json.hpp"
#include "dane/policy/policy_engine.hpp"
#include "dane/policy/ta_store.hpp"
#include "dane/verifier/destination.hpp"
#include "dane/verifier/dns.hpp"
#include "dane/verifier/handles.hpp"
#include "dane/verifier/tlsa.hpp"
#include "dns_rig.hpp"
#include "files.hpp"
#include "process.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace dane {
namespace {

using test::DnsRig;
using test::LameKind;
using test::ZoneSigning;
using test::ZoneSpec;

constexpr const char* k_hash_a = "0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";
constexpr const char* k_hash_b = "1111111111111111111111111111111111111111111111111111111111111111";
constexpr const char* k_hash_c = "2222222222222222222222222222222222222222222222222222222222222222";
constexpr const char* k_hash_d = "3333333333333333333333333333333333333333333333333333333333333333";
constexpr const char* k_hash_e = "4444444444444444444444444444444444444444444444444444444444444444";
// sha256("abc"): the pin a `3 1 0 616263` record must produce.
constexpr const char* k_sha256_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::string tlsa(const std::string& owner, const std::string& rdata) {
  return owner + " TLSA " + rdata + "\n";
}

constexpr const char* k_ta_cert = DANE_TEST_DATA_DIR "/pki/int.crt";

// Hex of the DER form of a PEM certificate file (for `2 0 0` records).
std::string der_hex(const char* pem_file) {
  BioPtr bio(BIO_new_file(pem_file, "r"));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    return "00"; // the TA test then fails loudly
  }
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  std::string hex = to_hex(std::span<const std::uint8_t>(der, static_cast<std::size_t>(len)));
  OPENSSL_free(der);
  return hex;
}

// The destinations of the RFC 7672 cases (see the tests below for what each one means).
void add_destination_zones(DnsRig& rig) {
  using std::string;
  rig.add_zone({"ee.test", "@ MX 10 mx\nmx A 127.0.0.2\nmx AAAA ::2\nplain A 127.0.0.12\n" +
                               tlsa("_25._tcp.mx", string("3 1 1 ") + k_hash_a)});
  rig.add_zone({"ee0.test", "@ MX 10 mx\nmx A 127.0.0.2\n" + tlsa("_25._tcp.mx", "3 1 0 616263")});
  rig.add_zone(
      {"ee512.test", "@ MX 10 mx\nmx A 127.0.0.2\n" + tlsa("_25._tcp.mx", string("3 1 2 ") + k_hash_a + k_hash_b)});
  rig.add_zone({"ta.test", "@ MX 10 mx\nmx A 127.0.0.3\n" + tlsa("_25._tcp.mx", string("2 0 1 ") + k_hash_b)});
  rig.add_zone({"eeta.test", "@ MX 10 mx\nmx A 127.0.0.3\n" + tlsa("_25._tcp.mx", string("2 0 1 ") + k_hash_b) +
                                 tlsa("_25._tcp.mx", string("3 1 1 ") + k_hash_a)});
  rig.add_zone({"cn.test", "@ MX 10 mail\nmail CNAME mx.ee.test.\n"});
  rig.add_zone(
      {"cnfb.test", "@ MX 10 mail\nmail CNAME plain.ee.test.\n" + tlsa("_25._tcp.mail", string("3 1 1 ") + k_hash_c)});
  rig.add_zone({"cninsec.test",
                "@ MX 10 mail\nmail CNAME mx.insec.test.\n" + tlsa("_25._tcp.mail", string("3 1 1 ") + k_hash_d)});
  rig.add_zone({"cnerr.test",
                "@ MX 10 mail\nmail CNAME mx.badtlsa.test.\n" + tlsa("_25._tcp.mail", string("3 1 1 ") + k_hash_d)});
  rig.add_zone({"tlsacname.test", "@ MX 10 mx\nmx A 127.0.0.4\n_25._tcp.mx CNAME _25._tcp.mx.ee.test.\n"});
  rig.add_zone({"insec.test", "@ MX 10 mx\nmx A 127.0.0.3\n" + tlsa("_25._tcp.mx", string("3 1 1 ") + k_hash_a),
                ZoneSigning::Unsigned});
  rig.add_zone({"wrongds.test", "@ MX 10 mx\nmx A 127.0.0.4\n", ZoneSigning::WrongDs});
  rig.add_zone({"expired.test", "@ MX 10 mx\nmx A 127.0.0.6\n", ZoneSigning::Expired});
  rig.add_zone({"badsig.test", "mx A 127.0.0.7\nok A 127.0.0.8\n", ZoneSigning::BadSignature, "mx.badsig.test A"});
  rig.add_zone({"badmx.test", "@ MX 10 mx\nmx A 127.0.0.5\n" + tlsa("_25._tcp.mx", string("3 1 1 ") + k_hash_a),
                ZoneSigning::BadSignature, "badmx.test MX"});
  rig.add_zone({"badaddr.test",
                "@ MX 10 mx1\n@ MX 20 mx2\nmx1 A 127.0.0.5\nmx2 A 127.0.0.6\n" +
                    tlsa("_25._tcp.mx1", string("3 1 1 ") + k_hash_a) +
                    tlsa("_25._tcp.mx2", string("3 1 1 ") + k_hash_b),
                ZoneSigning::BadSignature, "mx1.badaddr.test A"});
  rig.add_zone({"badtlsa.test", "@ MX 10 mx\nmx A 127.0.0.5\n" + tlsa("_25._tcp.mx", string("3 1 1 ") + k_hash_a),
                ZoneSigning::BadSignature, "_25._tcp.mx.badtlsa.test TLSA"});
  rig.add_zone({"sfail.test", "@ MX 10 mx.lame.sfail.test.\n@ MX 20 mx\nmx A 127.0.0.7\n" +
                                  tlsa("_25._tcp.mx", string("3 1 1 ") + k_hash_e)});
  rig.add_lame_delegation("lame.sfail.test");
  rig.add_zone({"tlsafail.test", "@ MX 10 mx\nmx A 127.0.0.7\n"});
  rig.add_lame_delegation("_tcp.mx.tlsafail.test");
  rig.add_zone({"nullmx.test", "@ MX 0 .\n"});
  rig.add_zone({"implicit.test", "@ A 127.0.0.9\n" + tlsa("_25._tcp", string("3 1 1 ") + k_hash_a)});
  rig.add_zone({"mixed.test", "@ MX 10 mx1\n@ MX 20 mx2\n@ MX 30 mx.insec.test.\nmx1 A 127.0.0.10\nmx2 A 127.0.0.11\n" +
                                  tlsa("_25._tcp.mx1", string("3 1 1 ") + k_hash_a)});
  rig.add_zone({"unusable.test", "@ MX 10 mx\nmx A 127.0.0.12\n" + tlsa("_25._tcp.mx", string("1 1 1 ") + k_hash_a) +
                                     tlsa("_25._tcp.mx", "3 1 1 0c72ac70b745ac19") +
                                     tlsa("_25._tcp.mx", string("3 2 1 ") + k_hash_b)});
  rig.add_zone({"tafull.test", "@ MX 10 mx\nmx A 127.0.0.14\n" + tlsa("_25._tcp.mx", "2 0 0 " + der_hex(k_ta_cert))});
  rig.add_zone({"port.test", "mx A 127.0.0.13\n" + tlsa("_2525._tcp.mx", string("3 1 1 ") + k_hash_c)});
}

class DnsRigTest : public ::testing::Test {
protected:
  // One rig for the whole file (both suites): started on first use, stopped at exit.
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available() || s_tried) {
      return;
    }
    s_tried = true;
    s_rig = std::make_unique<DnsRig>();
    s_rig->add_zone({"res.test", std::string(R"(
        @            MX    10 mx
        mx           A     127.0.0.2
        mx           AAAA  ::1
        _25._tcp.mx  TLSA  3 1 1 )") +
                                     k_hash_a + R"(
        alias        CNAME mx
        _25._tcp.tlsalias CNAME _25._tcp.mx
        tbad         A     127.0.0.5
        )"});
    s_rig->add_lame_delegation("lame.res.test");
    s_rig->add_lame_delegation("silent.res.test", LameKind::NoServer);
    add_destination_zones(*s_rig);
    DnsRig::start_or_fail(s_rig);
  }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(DnsRig::tools_available(), DnsRig::missing_tools_message());
    DANE_REQUIRE_OR_SKIP(test::is_root(), "the rig's lame delegations need port 53 on loopback (root)");
    ASSERT_TRUE(s_rig != nullptr) << "the rig did not start (its error is reported at the start of the suite)";
    auto resolver = make_unbound_resolver(s_rig->resolver_config(std::chrono::seconds(5)));
    ASSERT_TRUE(resolver) << resolver.error();
    m_resolver = std::move(*resolver);
  }

  Answer lookup(const std::string& name, RrType type, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    auto answers = m_resolver->resolve({Query{name, type}}, std::chrono::steady_clock::now() + limit);
    EXPECT_EQ(answers.size(), 1u);
    return answers.empty() ? Answer{} : answers.front();
  }

public:
  static std::vector<std::string> rig_args() { return s_rig ? s_rig->cli_args(5) : std::vector<std::string>{}; }

protected:
  static std::unique_ptr<DnsRig> s_rig;
  static bool s_tried;
  std::unique_ptr<Resolver> m_resolver;
};

std::unique_ptr<DnsRig> DnsRigTest::s_rig;
std::vector<std::string> DnsRigTest_rig_args() {
  return DnsRigTest::rig_args();
}
bool DnsRigTest::s_tried = false;

TEST_F(DnsRigTest, SignedZoneAnswersAreSecureWithData) {
  auto a = lookup("mx.res.test", RrType::A);
  EXPECT_EQ(a.security, DnsSecurity::Secure) << a.reason;
  ASSERT_TRUE(a.havedata);
  ASSERT_EQ(a.rdata.size(), 1u);
  EXPECT_EQ(*parse_address_rdata(RrType::A, a.rdata[0]), "127.0.0.2");
  EXPECT_EQ(a.ttl, 300u);
  EXPECT_TRUE(a.canonname.empty());

  auto aaaa = lookup("mx.res.test.", RrType::Aaaa);
  EXPECT_EQ(aaaa.security, DnsSecurity::Secure);
  ASSERT_EQ(aaaa.rdata.size(), 1u);
  EXPECT_EQ(*parse_address_rdata(RrType::Aaaa, aaaa.rdata[0]), "::1");

  auto mx = lookup("res.test", RrType::Mx);
  EXPECT_EQ(mx.security, DnsSecurity::Secure);
  ASSERT_EQ(mx.rdata.size(), 1u);
  auto rec = parse_mx_rdata(mx.rdata[0]);
  ASSERT_TRUE(rec) << rec.error();
  EXPECT_EQ(rec->preference, 10);
  EXPECT_EQ(rec->exchange, "mx.res.test");

  auto tlsa = lookup("_25._tcp.mx.res.test", RrType::Tlsa);
  EXPECT_EQ(tlsa.security, DnsSecurity::Secure);
  ASSERT_EQ(tlsa.rdata.size(), 1u);
  EXPECT_EQ(parse_tlsa_rdata(tlsa.rdata[0])->to_string(), std::string("3 1 1 ") + k_hash_a);
}

TEST_F(DnsRigTest, CnameExpansionIsReportedAsCanonname) {
  auto a = lookup("alias.res.test", RrType::A);
  EXPECT_EQ(a.security, DnsSecurity::Secure);
  EXPECT_EQ(a.canonname, "mx.res.test");
  auto tlsa = lookup("_25._tcp.tlsalias.res.test", RrType::Tlsa);
  EXPECT_EQ(tlsa.security, DnsSecurity::Secure);
  EXPECT_EQ(tlsa.canonname, "_25._tcp.mx.res.test");
  EXPECT_EQ(tlsa.rdata.size(), 1u);
  auto cname = lookup("alias.res.test", RrType::Cname);
  EXPECT_EQ(cname.security, DnsSecurity::Secure);
  ASSERT_EQ(cname.rdata.size(), 1u);
}

TEST_F(DnsRigTest, SecureDenialsKeepNxdomainAndNodataApart) {
  auto nx = lookup("nothere.res.test", RrType::A);
  EXPECT_EQ(nx.security, DnsSecurity::Secure);
  EXPECT_TRUE(nx.nxdomain);
  EXPECT_FALSE(nx.havedata);
  EXPECT_EQ(nx.rcode, 3);

  auto nodata = lookup("tbad.res.test", RrType::Tlsa);
  EXPECT_EQ(nodata.security, DnsSecurity::Secure);
  EXPECT_FALSE(nodata.nxdomain);
  EXPECT_FALSE(nodata.havedata);
  EXPECT_EQ(nodata.rcode, 0);
}

TEST_F(DnsRigTest, UnsignedDelegationIsInsecure) {
  auto a = lookup("mx.insec.test", RrType::A);
  EXPECT_EQ(a.security, DnsSecurity::Insecure) << a.reason;
  EXPECT_TRUE(a.havedata);
}

TEST_F(DnsRigTest, BrokenSignaturesAreBogusWithAReason) {
  for (const char* name : {"mx.wrongds.test", "mx.expired.test", "mx.badsig.test"}) {
    auto a = lookup(name, RrType::A);
    EXPECT_EQ(a.security, DnsSecurity::Bogus) << name;
    EXPECT_FALSE(a.reason.empty()) << name;
    EXPECT_EQ(a.rcode, 0) << name << ": bogus answers arrive with rcode 0";
  }
  // Only the edited RRset is bogus; the rest of that zone validates.
  EXPECT_EQ(lookup("ok.badsig.test", RrType::A).security, DnsSecurity::Secure);
  EXPECT_NE(lookup("mx.expired.test", RrType::A).reason.find("expired"), std::string::npos);
}

TEST_F(DnsRigTest, LameDelegationIsServfailAndStrayNamesFailFast) {
  auto lame = lookup("mx.lame.res.test", RrType::A);
  EXPECT_EQ(lame.security, DnsSecurity::Failed);
  EXPECT_EQ(lame.reason, "SERVFAIL");
  auto stray = lookup("www.example.com", RrType::A);
  EXPECT_EQ(stray.security, DnsSecurity::Failed);
  EXPECT_EQ(stray.reason, "REFUSED");
}

TEST_F(DnsRigTest, ManyConcurrentLookupsFromSeveralThreads) {
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Query> queries;
      for (int i = 0; i < 10; ++i) {
        queries.push_back({"mx.res.test", RrType::A});
        queries.push_back({"mx.insec.test", RrType::A});
        queries.push_back({"n" + std::to_string(t * 100 + i) + ".res.test", RrType::A});
      }
      auto answers = m_resolver->resolve(queries, std::chrono::steady_clock::now() + std::chrono::seconds(5));
      for (std::size_t i = 0; i < answers.size(); i += 3) {
        if (answers[i].security == DnsSecurity::Secure && answers[i + 1].security == DnsSecurity::Insecure &&
            answers[i + 2].nxdomain && answers[i + 2].security == DnsSecurity::Secure) {
          ++ok[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  EXPECT_EQ(ok, std::vector<int>(4, 10));
}

TEST_F(DnsRigTest, ServerDownIsATimeoutNeverInsecureAndRecoversAfterRestart) {
  s_rig->stop();
  auto down = lookup("down1.res.test", RrType::A, std::chrono::milliseconds(300));
  EXPECT_EQ(down.security, DnsSecurity::Failed);
  EXPECT_EQ(down.reason, "timeout");
  ASSERT_TRUE(s_rig->start());
  auto fresh = make_unbound_resolver(s_rig->resolver_config());
  ASSERT_TRUE(fresh);
  auto up = (*fresh)->resolve({{"mx.res.test", RrType::A}}, std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(up.at(0).security, DnsSecurity::Secure) << up.at(0).reason;
}

// ---- RFC 7672 destination evaluation over the rig, native and pinned answers ----

using policyd::decide;
using policyd::Mode;

std::vector<std::string> statuses(const DestinationFacts& f) {
  std::vector<std::string> out;
  for (const auto& h : f.hosts) {
    out.push_back(h.name + "=" + to_string(h.status));
  }
  return out;
}

struct Run {
  int status = -1;
  std::string out;
};
Run run_policyctl(const std::vector<std::string>& args);
std::vector<std::string> with_rig(std::vector<std::string> args);

class DestinationRigTest : public DnsRigTest {
protected:
  DestinationFacts eval(const std::string& key) { return evaluate_destination(*m_resolver, key); }
  static std::string native(const DestinationFacts& f) { return decide(f, Mode::Native).answer; }
  static std::string pinned(const DestinationFacts& f) {
    policyd::PinnedOptions options;
    options.ta_file = [](const DestinationFacts&) -> std::optional<std::string> {
      return std::string("/var/lib/dane/ta.pem");
    };
    return decide(f, Mode::Pinned, options).answer;
  }
  using V = std::vector<std::string>;
};

TEST_F(DestinationRigTest, Rfc7672_SecureMxSecureDaneEe) {
  auto f = eval("ee.test");
  EXPECT_EQ(f.outcome, DestinationOutcome::DaneOnly) << f.reason;
  EXPECT_EQ(f.mx_security, DnsSecurity::Secure);
  EXPECT_EQ(statuses(f), V{"mx.ee.test=dane"});
  ASSERT_EQ(f.hosts.size(), 1u);
  EXPECT_EQ(f.hosts[0].tlsa_base, "mx.ee.test");
  EXPECT_EQ(f.hosts[0].tlsa_owner, "_25._tcp.mx.ee.test");
  EXPECT_EQ(f.hosts[0].dnssec, DnsSecurity::Secure);
  EXPECT_EQ(f.hosts[0].addresses, (V{"127.0.0.2", "::2"}));
  EXPECT_EQ(f.hosts[0].tlsa.at(0).to_string(), std::string("3 1 1 ") + k_hash_a);
  EXPECT_EQ(native(f), "OK dane-only");
  EXPECT_EQ(pinned(f), std::string("OK fingerprint match=") + k_hash_a);
}

TEST_F(DestinationRigTest, Pinned_FullSpkiRecordIsHashedWithTheOperatorsDigest) {
  auto f = eval("ee0.test");
  EXPECT_EQ(native(f), "OK dane-only");
  EXPECT_EQ(pinned(f), std::string("OK fingerprint match=") + k_sha256_abc);
  // A sha512 record cannot become a sha256 pin: dane-only.
  auto g = eval("ee512.test");
  EXPECT_EQ(native(g), "OK dane-only");
  EXPECT_EQ(pinned(g), "OK dane-only");
  policyd::PinnedOptions sha512;
  sha512.fingerprint_digest = "sha512";
  EXPECT_EQ(decide(g, Mode::Pinned, sha512).answer, std::string("OK fingerprint match=") + k_hash_a + k_hash_b);
}

TEST_F(DestinationRigTest, Rfc7672_SecureDaneTa) {
  auto f = eval("ta.test");
  EXPECT_EQ(f.outcome, DestinationOutcome::DaneOnly);
  EXPECT_EQ(statuses(f), V{"mx.ta.test=dane"});
  EXPECT_EQ(native(f), "OK dane-only");
  EXPECT_EQ(pinned(f), "OK secure tafile=/var/lib/dane/ta.pem match=ta.test:mx.ta.test");
  EXPECT_EQ(decide(f, Mode::Pinned).answer, "OK dane-only"); // no trust-anchor file can be made
  auto mixed = eval("eeta.test");
  EXPECT_EQ(native(mixed), "OK dane-only");
  EXPECT_EQ(pinned(mixed), "OK dane-only");
}

TEST_F(DestinationRigTest, Pinned_DaneTaWithFullCertificateWritesATrustAnchorFile) {
  auto f = eval("tafull.test");
  EXPECT_EQ(statuses(f), V{"mx.tafull.test=dane"});
  EXPECT_EQ(native(f), "OK dane-only");
  test::TempDir ta_dir("ta");
  const std::string dir = ta_dir.path();
  policyd::PinnedOptions options;
  policyd::TrustAnchorStore store(dir);
  options.ta_file = [&](const DestinationFacts& facts) { return store.file_for(facts); };
  auto a = decide(f, Mode::Pinned, options);
  EXPECT_EQ(a.policy, policyd::PolicyKind::Secure);
  const std::string prefix = std::string("OK secure tafile=") + dir + "/ta-";
  ASSERT_EQ(a.answer.rfind(prefix, 0), 0u) << a.answer;
  auto space = a.answer.find(' ', prefix.size());
  ASSERT_NE(space, std::string::npos);
  EXPECT_EQ(a.answer.substr(space), " match=tafull.test:mx.tafull.test");
  std::string path =
      a.answer.substr(std::string("OK secure tafile=").size(), space - std::string("OK secure tafile=").size());
  EXPECT_EQ(test::read_text_file(path), test::read_text_file(k_ta_cert)); // the anchor itself, as PEM
  // A digest-only DANE-TA record cannot become a file: dane-only.
  auto g = eval("ta.test");
  EXPECT_EQ(decide(g, Mode::Pinned, options).answer, "OK dane-only");
  auto cli = run_policyctl(with_rig({"policy", "tafull.test", "--mode", "pinned", "--ta-dir", dir}));
  EXPECT_EQ(cli.status, 0) << cli.out;
  EXPECT_NE(cli.out.find("answer:      OK secure tafile=" + path + " match=tafull.test:mx.tafull.test\n"),
            std::string::npos)
      << cli.out;
}

TEST_F(DestinationRigTest, Rfc7672_2_2_3_SecureCnameExpansionWithTlsaIsTheBase) {
  auto f = eval("cn.test");
  EXPECT_EQ(statuses(f), V{"mail.cn.test=dane"});
  ASSERT_EQ(f.hosts.size(), 1u);
  EXPECT_EQ(f.hosts[0].canonname, "mx.ee.test");
  EXPECT_EQ(f.hosts[0].tlsa_base, "mx.ee.test");
  EXPECT_EQ(native(f), "OK dane-only");
  EXPECT_EQ(pinned(f), "OK fingerprint match=" + std::string(k_hash_a));
}

TEST_F(DestinationRigTest, Rfc7672_2_2_3_NoTlsaAtExpansionFallsBackToOriginalName) {
  auto f = eval("cnfb.test");
  EXPECT_EQ(statuses(f), V{"mail.cnfb.test=dane"});
  EXPECT_EQ(f.hosts.at(0).tlsa_base, "mail.cnfb.test");
  EXPECT_EQ(pinned(f), "OK fingerprint match=" + std::string(k_hash_c));
}

TEST_F(DestinationRigTest, Rfc7672_2_2_2_SecureCnameIntoInsecureZoneKeepsOriginalName) {
  auto f = eval("cninsec.test");
  EXPECT_EQ(statuses(f), V{"mail.cninsec.test=dane"});
  EXPECT_EQ(f.hosts.at(0).canonname, "mx.insec.test");
  EXPECT_EQ(f.hosts.at(0).tlsa_base, "mail.cninsec.test");
  EXPECT_EQ(native(f), "OK dane-only");
  EXPECT_EQ(pinned(f), "OK fingerprint match=" + std::string(k_hash_d));
}

TEST_F(DestinationRigTest, Rfc7672_2_2_3_LookupErrorAtExpansionIsAnErrorWithoutFallBack) {
  auto f = eval("cnerr.test");
  EXPECT_EQ(statuses(f), V{"mail.cnerr.test=failed"});
  EXPECT_NE(f.hosts.at(0).reason.find("TLSA lookup for _25._tcp.mx.badtlsa.test bogus"), std::string::npos)
      << f.hosts.at(0).reason;
  EXPECT_EQ(native(f).rfind("TEMP 4.7.5 ", 0), 0u);
  EXPECT_EQ(pinned(f).rfind("TEMP ", 0), 0u);
}

TEST_F(DestinationRigTest, CnameAtTheTlsaOwnerIsFollowedButKeepsTheBase) {
  auto f = eval("tlsacname.test");
  EXPECT_EQ(statuses(f), V{"mx.tlsacname.test=dane"});
  EXPECT_EQ(f.hosts.at(0).tlsa_base, "mx.tlsacname.test");
  EXPECT_EQ(pinned(f), "OK fingerprint match=" + std::string(k_hash_a));
}

TEST_F(DestinationRigTest, Rfc7672_2_2_1_InsecureDelegationIsNotDane) {
  auto f = eval("insec.test");
  EXPECT_EQ(f.outcome, DestinationOutcome::NotDane);
  EXPECT_EQ(f.mx_security, DnsSecurity::Insecure);
  EXPECT_TRUE(f.hosts.empty());
  EXPECT_EQ(native(f), "NOTFOUND ");
  EXPECT_EQ(pinned(f), "NOTFOUND ");
}

TEST_F(DestinationRigTest, BogusMxIsTempNeverADowngrade) {
  for (const char* key : {"wrongds.test", "expired.test", "badmx.test"}) {
    auto f = eval(key);
    EXPECT_EQ(f.outcome, DestinationOutcome::TempFail) << key;
    EXPECT_EQ(f.mx_security, DnsSecurity::Bogus) << key;
    EXPECT_NE(f.reason.find(std::string("MX lookup for ") + key + " bogus: "), std::string::npos) << f.reason;
    EXPECT_EQ(native(f), "TEMP 4.7.5 " + f.reason) << key;
    EXPECT_EQ(pinned(f), "TEMP 4.7.5 " + f.reason) << key;
  }
}

TEST_F(DestinationRigTest, BadSignatureOnOneHostsAddressGivesDane) {
  auto f = eval("badaddr.test");
  EXPECT_EQ(statuses(f), (V{"mx1.badaddr.test=failed", "mx2.badaddr.test=dane"}));
  EXPECT_EQ(f.hosts[0].dnssec, DnsSecurity::Bogus);
  EXPECT_NE(f.hosts[0].reason.find("address lookup (A) for mx1.badaddr.test bogus"), std::string::npos)
      << f.hosts[0].reason;
  EXPECT_EQ(native(f), "OK dane");
  EXPECT_EQ(pinned(f), "OK dane");
}

TEST_F(DestinationRigTest, BadSignatureOnTheOnlyTlsaRrsetIsTemp) {
  auto f = eval("badtlsa.test");
  EXPECT_EQ(statuses(f), V{"mx.badtlsa.test=failed"});
  EXPECT_EQ(f.hosts[0].dnssec, DnsSecurity::Bogus);
  EXPECT_NE(f.hosts[0].reason.find("TLSA lookup for _25._tcp.mx.badtlsa.test bogus: "), std::string::npos);
  EXPECT_EQ(native(f).rfind("TEMP 4.7.5 ", 0), 0u);
  EXPECT_EQ(pinned(f).rfind("TEMP 4.7.5 ", 0), 0u);
}

TEST_F(DestinationRigTest, ServfailForOneOfSeveralMxHosts) {
  auto f = eval("sfail.test");
  EXPECT_EQ(statuses(f), (V{"mx.lame.sfail.test=failed", "mx.sfail.test=dane"}));
  EXPECT_EQ(f.hosts[0].dnssec, DnsSecurity::Failed);
  EXPECT_NE(f.hosts[0].reason.find("SERVFAIL"), std::string::npos);
  EXPECT_EQ(native(f), "OK dane");
  EXPECT_EQ(pinned(f), "OK dane");
  auto t = eval("tlsafail.test");
  EXPECT_EQ(statuses(t), V{"mx.tlsafail.test=failed"});
  EXPECT_EQ(t.hosts[0].reason, "TLSA lookup for _25._tcp.mx.tlsafail.test failed: SERVFAIL");
  EXPECT_EQ(native(t), "TEMP 4.7.5 the MX host failed: TLSA lookup for _25._tcp.mx.tlsafail.test failed: SERVFAIL");
}

TEST_F(DestinationRigTest, Rfc7505_NullMxAndSecureNxdomainAreNotFound) {
  auto n = eval("nullmx.test");
  EXPECT_EQ(n.outcome, DestinationOutcome::NotDane);
  EXPECT_NE(n.reason.find("null MX"), std::string::npos);
  EXPECT_EQ(native(n), "NOTFOUND ");
  EXPECT_EQ(pinned(n), "NOTFOUND ");
  auto x = eval("nothere.test");
  EXPECT_EQ(x.outcome, DestinationOutcome::NotDane);
  EXPECT_EQ(x.mx_security, DnsSecurity::Secure);
  EXPECT_EQ(x.reason, "nothere.test does not exist (secure NXDOMAIN)");
  EXPECT_EQ(native(x), "NOTFOUND ");
}

TEST_F(DestinationRigTest, Rfc5321_ImplicitMxUsesTheDomainItself) {
  auto f = eval("implicit.test");
  EXPECT_EQ(statuses(f), V{"implicit.test=dane"});
  EXPECT_EQ(f.hosts[0].tlsa_owner, "_25._tcp.implicit.test");
  EXPECT_EQ(native(f), "OK dane-only");
  EXPECT_EQ(pinned(f), "OK fingerprint match=" + std::string(k_hash_a));
}

TEST_F(DestinationRigTest, MixedMxSetIsDane) {
  auto f = eval("mixed.test");
  EXPECT_EQ(statuses(f), (V{"mx1.mixed.test=dane", "mx2.mixed.test=no-tlsa", "mx.insec.test=insecure"}));
  EXPECT_EQ(f.outcome, DestinationOutcome::Dane);
  EXPECT_EQ(native(f), "OK dane");
  EXPECT_EQ(pinned(f), "OK dane");
}

TEST_F(DestinationRigTest, AllUnusableTlsaIsEncrypt) {
  auto f = eval("unusable.test");
  EXPECT_EQ(statuses(f), V{"mx.unusable.test=unusable"});
  EXPECT_EQ(f.hosts[0].tlsa.size(), 3u);
  EXPECT_EQ(f.outcome, DestinationOutcome::Encrypt);
  EXPECT_EQ(native(f), "OK dane");
  EXPECT_EQ(pinned(f), "OK encrypt");
}

TEST_F(DestinationRigTest, BracketedKeysSkipMxAndUseTheirPort) {
  auto plain = eval("[mx.ee.test]");
  EXPECT_EQ(statuses(plain), V{"mx.ee.test=dane"});
  EXPECT_EQ(native(plain), "OK dane-only");
  auto port = eval("[mx.port.test]:2525");
  EXPECT_EQ(statuses(port), V{"mx.port.test=dane"});
  EXPECT_EQ(port.hosts[0].tlsa_owner, "_2525._tcp.mx.port.test");
  EXPECT_EQ(pinned(port), "OK fingerprint match=" + std::string(k_hash_c));
  auto other = eval("[mx.ee.test]:2525");
  EXPECT_EQ(statuses(other), V{"mx.ee.test=no-tlsa"});
  EXPECT_EQ(native(other), "NOTFOUND ");
  auto insecure = eval("[mx.insec.test]");
  EXPECT_EQ(statuses(insecure), V{"mx.insec.test=insecure"});
  EXPECT_EQ(native(insecure), "NOTFOUND ");
}

TEST_F(DestinationRigTest, ParentAndMalformedKeysAreNotFoundWithoutDns) {
  s_rig->stop(); // any lookup would now time out (5 s) and fail the outcome below
  auto parent = eval(".ee.test");
  auto malformed = eval("bad..test");
  ASSERT_TRUE(s_rig->start());
  EXPECT_EQ(parent.outcome, DestinationOutcome::NotDane);
  EXPECT_EQ(native(parent), "NOTFOUND ");
  EXPECT_EQ(malformed.outcome, DestinationOutcome::NotDane);
  EXPECT_NE(malformed.reason.find("empty label"), std::string::npos);
}

TEST_F(DestinationRigTest, DnsTimeoutBoundsTheWholeEvaluationAndIsTemp) {
  // The only slow name server in the file: nothing answers at silent.res.test's address, and
  // libunbound would keep trying for ~17 s. A 1 s --dns-timeout turns that into TEMP.
  auto quick = make_unbound_resolver(s_rig->resolver_config(std::chrono::seconds(1)));
  ASSERT_TRUE(quick) << quick.error();
  auto f = evaluate_destination(**quick, "[mx.silent.res.test]");
  EXPECT_EQ(statuses(f), V{"mx.silent.res.test=failed"});
  EXPECT_EQ(f.hosts.at(0).reason, "address lookup (A) for mx.silent.res.test failed: timeout");
  EXPECT_EQ(native(f), "TEMP 4.7.5 the host failed: address lookup (A) for mx.silent.res.test failed: timeout");
  EXPECT_EQ(pinned(f).rfind("TEMP 4.7.5 ", 0), 0u);
}

TEST_F(DestinationRigTest, JsonCarriesThePinnedFields) {
  auto f = eval("badaddr.test");
  auto j = policyd::to_json(f, decide(f, Mode::Native));
  EXPECT_EQ(j["destination"], "badaddr.test");
  EXPECT_EQ(j["policy"], "dane");
  EXPECT_EQ(j["answer"], "OK dane");
  EXPECT_EQ(j["reason"], f.reason);
  ASSERT_EQ(j["hosts"].size(), 2u);
  EXPECT_EQ(j["hosts"][0]["name"], "mx1.badaddr.test");
  EXPECT_EQ(j["hosts"][0]["dnssec"], "bogus");
  EXPECT_EQ(j["hosts"][0]["status"], "failed");
  EXPECT_EQ(j["hosts"][1]["dnssec"], "secure");
  EXPECT_EQ(j["hosts"][1]["tlsa"], nlohmann::json::array({std::string("3 1 1 ") + k_hash_b}));
  EXPECT_EQ(j["hosts"][1]["tlsa_base"], "mx2.badaddr.test");
  EXPECT_EQ(j["hosts"][1]["status"], "dane");
}

// ---- dane-policyctl policy over the rig (the real binary, --unbound-config) ----

Run run_policyctl(const std::vector<std::string>& args) {
  const char* ctl = std::getenv("DANE_POLICYCTL");
  std::vector<std::string> argv{ctl != nullptr ? ctl : DANE_BINARY_DIR "/bin/dane-policyctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto p = test::run_process(argv, std::chrono::seconds(120), true);
  return Run{p.exit_code, p.output + p.error_output};
}

std::vector<std::string> with_rig(std::vector<std::string> args) {
  auto extra = DnsRigTest_rig_args();
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST_F(DestinationRigTest, DanectlPolicyAnswersAndExitCodes) {
  auto ok = run_policyctl(with_rig({"policy", "ee.test"}));
  EXPECT_EQ(ok.status, 0) << ok.out;
  EXPECT_NE(ok.out.find("answer:      OK dane-only\n"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("host mx.ee.test (MX preference 10): dane, dnssec secure"), std::string::npos) << ok.out;

  auto temp = run_policyctl(with_rig({"policy", "wrongds.test"}));
  EXPECT_EQ(temp.status, 3) << temp.out;
  EXPECT_NE(temp.out.find("answer:      TEMP 4.7.5 MX lookup for wrongds.test bogus"), std::string::npos) << temp.out;

  auto notfound = run_policyctl(with_rig({"policy", "insec.test"}));
  EXPECT_EQ(notfound.status, 0) << notfound.out;
  EXPECT_NE(notfound.out.find("answer:      NOTFOUND \n"), std::string::npos) << notfound.out;

  auto json = run_policyctl(with_rig({"policy", "[mx.port.test]:2525", "--mode", "pinned", "--json"}));
  EXPECT_EQ(json.status, 0) << json.out;
  auto j = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << json.out;
  EXPECT_EQ(j["destination"], "[mx.port.test]:2525");
  EXPECT_EQ(j["policy"], "fingerprint");
  EXPECT_EQ(j["answer"], "OK fingerprint match=" + std::string(k_hash_c));
  EXPECT_EQ(j["mode"], "pinned");
  EXPECT_EQ(j["hosts"][0]["tlsa_base"], "mx.port.test");

  auto bad = run_policyctl(with_rig({"policy", "bad..test"}));
  EXPECT_EQ(bad.status, 2) << bad.out;
  EXPECT_NE(bad.out.find("empty label"), std::string::npos) << bad.out;
}

} // namespace
} // namespace dane
