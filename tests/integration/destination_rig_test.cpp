// Resolver and destination evaluation against the real DNSSEC rig: libunbound validating
// zones signed by ldns-signzone and served by nsd on loopback (tests/support/dns_rig.hpp).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "dane/dns.hpp"
#include "dane/tlsa.hpp"
#include "dns_rig.hpp"
#include "test_env.hpp"

namespace dane {
namespace {

using test::DnsRig;
using test::LameKind;
using test::ZoneSigning;
using test::ZoneSpec;

constexpr const char* k_hash_a = "0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";

class DnsRigTest : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available()) {
      return;
    }
    s_rig = std::make_unique<DnsRig>();
    s_rig->add_zone({"res.test", std::string(R"(
        @            MX    10 mx
        mx           A     127.0.0.2
        mx           AAAA  ::1
        _25._tcp.mx  TLSA  3 1 1 )") + k_hash_a + R"(
        alias        CNAME mx
        _25._tcp.tlsalias CNAME _25._tcp.mx
        tbad         A     127.0.0.5
        )"});
    s_rig->add_zone({"insec.test", "mx A 127.0.0.3\n", ZoneSigning::Unsigned});
    s_rig->add_zone({"wrongds.test", "mx A 127.0.0.4\n", ZoneSigning::WrongDs});
    s_rig->add_zone({"expired.test", "mx A 127.0.0.6\n", ZoneSigning::Expired});
    s_rig->add_zone({"badsig.test", "mx A 127.0.0.7\nok A 127.0.0.8\n", ZoneSigning::BadSignature, "mx.badsig.test A"});
    s_rig->add_lame_delegation("lame.res.test");
    if (auto started = s_rig->start(); !started) {
      s_start_error = started.error();
      s_rig.reset();
    }
  }
  static void TearDownTestSuite() { s_rig.reset(); }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(DnsRig::tools_available(), DnsRig::missing_tools_message());
    DANE_REQUIRE_OR_SKIP(test::is_root(), "the rig's lame delegations need port 53 on loopback (root)");
    ASSERT_TRUE(s_rig != nullptr) << "rig failed to start: " << s_start_error;
    auto resolver = make_unbound_resolver(s_rig->resolver_config(std::chrono::seconds(5)));
    ASSERT_TRUE(resolver) << resolver.error();
    m_resolver = std::move(*resolver);
  }

  Answer lookup(const std::string& name, RrType type, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    auto answers = m_resolver->resolve({Query{name, type}}, std::chrono::steady_clock::now() + limit);
    EXPECT_EQ(answers.size(), 1u);
    return answers.empty() ? Answer{} : answers.front();
  }

  static std::unique_ptr<DnsRig> s_rig;
  static std::string s_start_error;
  std::unique_ptr<Resolver> m_resolver;
};

std::unique_ptr<DnsRig> DnsRigTest::s_rig;
std::string DnsRigTest::s_start_error;

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

} // namespace
} // namespace dane
