// Unit tests of RFC 7672 destination evaluation (src/verifier/destination.cpp) over a fake
// Resolver: every row of docs/design.md §3's DNS column, the CNAME rules for the TLSA base domain,
// the lookup rounds (concurrency) and the shared deadline. The same cases run against real
// signed zones in tests/integration/destination_rig_test.cpp.
#include <gtest/gtest.h>

#include <cctype>
#include <map>

#include "dane/core/text.hpp"
#include "dane/verifier/destination.hpp"

namespace dane {
namespace {

using Clock = std::chrono::steady_clock;
using V = std::vector<std::string>;

constexpr const char* k_hash = "0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";

// A Resolver answering from a table; unknown queries are Failed("no fake answer").
class FakeResolver final : public Resolver {
public:
  std::vector<Answer> resolve(const std::vector<Query>& queries, Clock::time_point deadline) override {
    rounds.push_back(queries);
    deadlines.push_back(deadline);
    std::vector<Answer> out;
    for (const auto& q : queries) {
      auto it = table.find(key(q.name, q.type));
      Answer a;
      if (it != table.end()) {
        a = it->second;
      } else {
        a.security = DnsSecurity::Failed;
        a.reason = "no fake answer";
      }
      a.query = q;
      out.push_back(a);
    }
    return out;
  }
  std::chrono::milliseconds timeout() const override { return std::chrono::milliseconds(7000); }

  static std::string key(const std::string& name, RrType type) { return name + "|" + to_string(type); }
  void set(const std::string& name, RrType type, Answer a) { table[key(name, type)] = std::move(a); }

  std::map<std::string, Answer> table;
  std::vector<std::vector<Query>> rounds;
  std::vector<Clock::time_point> deadlines;
};

Answer answer(DnsSecurity security, std::vector<std::vector<std::uint8_t>> rdata = {}) {
  Answer a;
  a.security = security;
  a.havedata = !rdata.empty();
  a.rdata = std::move(rdata);
  a.ttl = 300;
  return a;
}
Answer secure(std::vector<std::vector<std::uint8_t>> rdata = {}) {
  return answer(DnsSecurity::Secure, std::move(rdata));
}
Answer insecure(std::vector<std::vector<std::uint8_t>> rdata = {}) {
  return answer(DnsSecurity::Insecure, std::move(rdata));
}
Answer bogus(const std::string& why) {
  Answer a = answer(DnsSecurity::Bogus, {{127, 0, 0, 1}}); // bogus answers come with data
  a.reason = why;
  return a;
}
Answer failed(const std::string& why) {
  Answer a = answer(DnsSecurity::Failed);
  a.reason = why;
  return a;
}
Answer nxdomain(DnsSecurity security) {
  Answer a = answer(security);
  a.nxdomain = true;
  a.rcode = 3;
  return a;
}
Answer with_canon(Answer a, const std::string& canon) {
  a.canonname = canon;
  return a;
}

std::vector<std::uint8_t> wire(const std::string& name) {
  std::vector<std::uint8_t> out;
  std::size_t start = name == "." ? name.size() : 0; // the root is the empty name
  while (start < name.size()) {
    auto dot = name.find('.', start);
    std::string label = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    out.push_back(static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    start = dot == std::string::npos ? name.size() : dot + 1;
  }
  out.push_back(0);
  return out;
}
std::vector<std::uint8_t> mx(std::uint16_t pref, const std::string& host) {
  std::vector<std::uint8_t> out = {static_cast<std::uint8_t>(pref >> 8), static_cast<std::uint8_t>(pref & 0xff)};
  auto name = wire(host);
  out.insert(out.end(), name.begin(), name.end());
  return out;
}
std::vector<std::uint8_t> a4(std::uint8_t last) {
  return {127, 0, 0, last};
}
std::vector<std::uint8_t> tlsa(const std::string& text) {
  return to_rdata(*parse_tlsa(text));
}

std::vector<std::string> statuses(const DestinationFacts& f) {
  std::vector<std::string> out;
  for (const auto& h : f.hosts) {
    out.push_back(h.name + "=" + to_string(h.status));
  }
  return out;
}

// A secure host with one address and the given TLSA answer at port 25.
void secure_host(FakeResolver& r, const std::string& host, std::uint8_t last, Answer tlsa_answer) {
  r.set(host, RrType::A, secure({a4(last)}));
  r.set(host, RrType::Aaaa, secure());
  r.set("_25._tcp." + host, RrType::Tlsa, std::move(tlsa_answer));
}

// ---- lookup keys ----

TEST(NextHop, PostfixLookupKeys) {
  auto plain = parse_next_hop("Example.TEST.");
  ASSERT_TRUE(plain) << plain.error();
  EXPECT_EQ(plain->domain, "example.test");
  EXPECT_EQ(plain->key, "Example.TEST.");
  EXPECT_FALSE(plain->bracketed);
  EXPECT_EQ(plain->port, 25);

  auto bracket = parse_next_hop("[mx.example.test]:2525");
  ASSERT_TRUE(bracket);
  EXPECT_TRUE(bracket->bracketed);
  EXPECT_EQ(bracket->domain, "mx.example.test");
  EXPECT_EQ(bracket->port, 2525);

  auto parent = parse_next_hop(".example.test");
  ASSERT_TRUE(parent);
  EXPECT_TRUE(parent->parent_key);
  EXPECT_EQ(parent->domain, "example.test");

  auto ip = parse_next_hop("[127.0.0.2]:2525");
  ASSERT_TRUE(ip);
  EXPECT_TRUE(ip->ip_literal);
  EXPECT_TRUE(parse_next_hop("[ipv6:2001:db8::1]")->ip_literal);
}

TEST(NextHop, MalformedKeysNameTheProblem) {
  for (const char* key : {"", "a..b", "[mx.example.test", "[mx]x", "mx.example.test:0", "mx.example.test:99999",
                          "mx.example.test:", "bad name.test", "mx!.test", "[]"}) {
    EXPECT_FALSE(parse_next_hop(key)) << key;
  }
  EXPECT_NE(parse_next_hop("a..b").error().find("empty label"), std::string::npos);
  EXPECT_NE(parse_next_hop(std::string(64, 'a') + ".test").error().find("63"), std::string::npos);
  std::string long_name;
  for (int i = 0; i < 50; ++i) {
    long_name += "abcd.";
  }
  EXPECT_NE(parse_next_hop(long_name + "test").error().find("253"), std::string::npos);
}

// ---- the MX row ----

TEST(NextHop, ErrorsQuoteUntrustedBytes) {
  // A key with a newline must not be able to forge a second log line.
  auto forged = parse_next_hop("evil.test\nwarning: forged");
  ASSERT_FALSE(forged);
  EXPECT_EQ(forged.error().find('\n'), std::string::npos) << forged.error();
  EXPECT_NE(forged.error().find("evil.test%0Awarning: forged"), std::string::npos) << forged.error();
  auto port = parse_next_hop("[mx.test]:25\r");
  ASSERT_FALSE(port);
  EXPECT_NE(port.error().find("bad port '25%0D'"), std::string::npos) << port.error();
  auto high = parse_next_hop(std::string("mx.t\xC3\xA9st"));
  ASSERT_FALSE(high);
  EXPECT_NE(high.error().find("'%C3' not allowed"), std::string::npos) << high.error();
}

TEST(Text, QuoteUntrusted) {
  EXPECT_EQ(quote_untrusted("plain text 1.2"), "plain text 1.2");
  EXPECT_EQ(quote_untrusted(std::string_view("a\0b%\x7f", 5)), "a%00b%25%7F");
  EXPECT_EQ(quote_untrusted(std::string(300, 'x'), 10), "xxxxxxxxxx...");
  EXPECT_EQ(quote_untrusted("abcdefgh\n", 10), "abcdefgh...") << "never cut inside %XX";
  std::string line = "one\ntwo\rthree\x7f";
  scrub_control_bytes(line);
  EXPECT_EQ(line, "one?two?three?");
}

TEST(Destination, ParentMalformedAndIpKeysMakeNoLookups) {
  FakeResolver r;
  for (const char* key : {".example.test", "bad..test", "[192.0.2.1]"}) {
    auto f = evaluate_destination(r, key);
    EXPECT_EQ(f.outcome, DestinationOutcome::NotDane) << key;
    EXPECT_FALSE(f.reason.empty()) << key;
  }
  EXPECT_TRUE(r.rounds.empty());
}

TEST(Destination, MxBogusOrFailedIsTempFail) {
  FakeResolver r;
  r.set("bogus.test", RrType::Mx, bogus("signature expired"));
  r.set("fail.test", RrType::Mx, failed("SERVFAIL"));
  r.set("late.test", RrType::Mx, failed("timeout"));
  auto b = evaluate_destination(r, "bogus.test");
  EXPECT_EQ(b.outcome, DestinationOutcome::TempFail);
  EXPECT_EQ(b.mx_security, DnsSecurity::Bogus);
  EXPECT_EQ(b.reason, "MX lookup for bogus.test bogus: signature expired");
  EXPECT_EQ(evaluate_destination(r, "fail.test").reason, "MX lookup for fail.test failed: SERVFAIL");
  EXPECT_EQ(evaluate_destination(r, "late.test").outcome, DestinationOutcome::TempFail);
  EXPECT_EQ(r.rounds.size(), 3u); // nothing asked after a failed MX lookup
}

TEST(Destination, Rfc7672_2_2_1_InsecureMxIsNotDane) {
  FakeResolver r;
  r.set("insecure.test", RrType::Mx, insecure({mx(10, "mx.insecure.test")}));
  auto f = evaluate_destination(r, "insecure.test");
  EXPECT_EQ(f.outcome, DestinationOutcome::NotDane);
  EXPECT_EQ(f.mx_security, DnsSecurity::Insecure);
  EXPECT_TRUE(f.hosts.empty());
  r.set("insecurenodata.test", RrType::Mx, insecure());
  EXPECT_EQ(evaluate_destination(r, "insecurenodata.test").outcome, DestinationOutcome::NotDane);
  r.set("insecurenx.test", RrType::Mx, nxdomain(DnsSecurity::Insecure));
  EXPECT_EQ(evaluate_destination(r, "insecurenx.test").outcome, DestinationOutcome::NotDane);
}

TEST(Destination, Rfc7505_NullMxAndSecureNxdomain) {
  FakeResolver r;
  r.set("null.test", RrType::Mx, secure({mx(0, ".")}));
  auto n = evaluate_destination(r, "null.test");
  EXPECT_EQ(n.outcome, DestinationOutcome::NotDane);
  EXPECT_EQ(n.reason, "null.test has a null MX (RFC 7505): it accepts no mail");
  r.set("gone.test", RrType::Mx, nxdomain(DnsSecurity::Secure));
  auto g = evaluate_destination(r, "gone.test");
  EXPECT_EQ(g.outcome, DestinationOutcome::NotDane);
  EXPECT_EQ(g.reason, "gone.test does not exist (secure NXDOMAIN)");
}

TEST(Destination, SecureNodataMeansImplicitMx) {
  FakeResolver r;
  r.set("implicit.test", RrType::Mx, secure());
  secure_host(r, "implicit.test", 9, secure({tlsa(std::string("3 1 1 ") + k_hash)}));
  auto f = evaluate_destination(r, "implicit.test");
  EXPECT_EQ(statuses(f), V{"implicit.test=dane"});
  EXPECT_EQ(f.outcome, DestinationOutcome::DaneOnly);
  EXPECT_EQ(f.hosts[0].tlsa_owner, "_25._tcp.implicit.test");
}

// ---- hosts: addresses ----

TEST(Destination, HostsSortedByPreferenceAndLookedUpInThreeConcurrentRounds) {
  FakeResolver r;
  r.set("d.test", RrType::Mx, secure({mx(30, "c.d.test"), mx(10, "a.d.test"), mx(20, "b.d.test"), mx(20, "B.d.test")}));
  for (const char* h : {"a.d.test", "b.d.test", "c.d.test"}) {
    secure_host(r, h, 1, secure({tlsa(std::string("3 1 1 ") + k_hash)}));
  }
  auto before = Clock::now();
  auto f = evaluate_destination(r, "d.test");
  EXPECT_EQ(statuses(f), (V{"a.d.test=dane", "b.d.test=dane", "c.d.test=dane"}));
  EXPECT_EQ(f.hosts[1].preference, 20);
  ASSERT_EQ(r.rounds.size(), 3u);
  EXPECT_EQ(r.rounds[0].size(), 1u); // MX
  EXPECT_EQ(r.rounds[1].size(), 6u); // A + AAAA of every host at once
  EXPECT_EQ(r.rounds[2].size(), 3u); // every TLSA at once
  // One deadline (now + the resolver's timeout) bounds the whole evaluation.
  EXPECT_EQ(r.deadlines[0], r.deadlines[1]);
  EXPECT_EQ(r.deadlines[1], r.deadlines[2]);
  EXPECT_GE(r.deadlines[0], before + std::chrono::milliseconds(7000));
  EXPECT_EQ(f.outcome, DestinationOutcome::DaneOnly);
}

TEST(Destination, InsecureAddressesMeanNoDaneForThatHostAndNoTlsaLookup) {
  FakeResolver r;
  r.set("d.test", RrType::Mx, secure({mx(10, "mx.d.test"), mx(20, "mx.insecure.test")}));
  secure_host(r, "mx.d.test", 1, secure({tlsa(std::string("3 1 1 ") + k_hash)}));
  r.set("mx.insecure.test", RrType::A, insecure({a4(2)}));
  r.set("mx.insecure.test", RrType::Aaaa, insecure());
  auto f = evaluate_destination(r, "d.test");
  EXPECT_EQ(statuses(f), (V{"mx.d.test=dane", "mx.insecure.test=insecure"}));
  EXPECT_EQ(f.hosts[1].dnssec, DnsSecurity::Insecure);
  EXPECT_EQ(f.outcome, DestinationOutcome::Dane);
  ASSERT_EQ(r.rounds.size(), 3u);
  EXPECT_EQ(r.rounds[2].size(), 1u);
}

TEST(Destination, AddressLookupErrorFailsTheHost) {
  FakeResolver r;
  r.set("d.test", RrType::Mx, secure({mx(10, "mx1.d.test"), mx(20, "mx2.d.test")}));
  r.set("mx1.d.test", RrType::A, secure({a4(1)}));
  r.set("mx1.d.test", RrType::Aaaa, failed("SERVFAIL")); // one of A/AAAA failing is enough
  r.set("mx2.d.test", RrType::A, bogus("signature crypto failed"));
  r.set("mx2.d.test", RrType::Aaaa, secure());
  auto f = evaluate_destination(r, "d.test");
  EXPECT_EQ(statuses(f), (V{"mx1.d.test=failed", "mx2.d.test=failed"}));
  EXPECT_EQ(f.hosts[0].reason, "address lookup (AAAA) for mx1.d.test failed: SERVFAIL");
  EXPECT_EQ(f.hosts[1].reason, "address lookup (A) for mx2.d.test bogus: signature crypto failed");
  EXPECT_EQ(f.hosts[1].dnssec, DnsSecurity::Bogus);
  EXPECT_EQ(f.outcome, DestinationOutcome::TempFail);
  EXPECT_EQ(r.rounds.size(), 2u); // no TLSA lookups for failed hosts
}

TEST(Destination, Rfc7672_2_2_2_SecureAliasIntoInsecureZoneKeepsItsOwnName) {
  FakeResolver r;
  r.set("d.test", RrType::Mx, secure({mx(10, "mail.d.test")}));
  r.set("mail.d.test", RrType::A, with_canon(insecure({a4(3)}), "mx.insecure.test"));
  r.set("mail.d.test", RrType::Aaaa, with_canon(insecure(), "mx.insecure.test"));
  r.set("mail.d.test", RrType::Cname, secure({wire("mx.insecure.test")}));
  r.set("_25._tcp.mail.d.test", RrType::Tlsa, secure({tlsa(std::string("3 1 1 ") + k_hash)}));
  auto f = evaluate_destination(r, "d.test");
  EXPECT_EQ(statuses(f), V{"mail.d.test=dane"});
  EXPECT_EQ(f.hosts[0].tlsa_base, "mail.d.test");
  EXPECT_EQ(f.hosts[0].canonname, "mx.insecure.test");
  EXPECT_EQ(f.hosts[0].dnssec, DnsSecurity::Secure);

  // The same alias, but the CNAME itself is insecure: no DANE for the host.
  r.set("mail.d.test", RrType::Cname, insecure({wire("mx.insecure.test")}));
  auto g = evaluate_destination(r, "d.test");
  EXPECT_EQ(statuses(g), V{"mail.d.test=insecure"});
  EXPECT_EQ(g.outcome, DestinationOutcome::NotDane);
}

// ---- hosts: the TLSA base domain (RFC 7672 §2.2.3) ----

class TlsaBase : public ::testing::Test {
protected:
  void SetUp() override {
    r.set("d.test", RrType::Mx, secure({mx(10, "alias.d.test")}));
    r.set("alias.d.test", RrType::A, with_canon(secure({a4(4)}), "real.d.test"));
    r.set("alias.d.test", RrType::Aaaa, with_canon(secure(), "real.d.test"));
    r.set("_25._tcp.alias.d.test", RrType::Tlsa, secure({tlsa(std::string("3 1 1 ") + k_hash)}));
  }
  FakeResolver r;
};

TEST_F(TlsaBase, ExpandedNameWithTlsaIsTheBase) {
  r.set("_25._tcp.real.d.test", RrType::Tlsa, secure({tlsa("3 1 1 " + std::string(64, 'a'))}));
  auto f = evaluate_destination(r, "d.test");
  EXPECT_EQ(f.hosts.at(0).tlsa_base, "real.d.test");
  EXPECT_EQ(f.hosts[0].tlsa.at(0).to_string(), "3 1 1 " + std::string(64, 'a'));
  EXPECT_EQ(r.rounds.at(2).size(), 2u); // both candidates asked at once
}

TEST_F(TlsaBase, SecureNodataNxdomainOrInsecureAtExpansionFallsBack) {
  const std::vector<std::pair<Answer, std::string>> cases = {
      {secure(), "no TLSA records at _25._tcp.real.d.test (secure NODATA)"},
      {nxdomain(DnsSecurity::Secure), "no TLSA records at _25._tcp.real.d.test (secure NXDOMAIN)"},
      {insecure(), "TLSA lookup for _25._tcp.real.d.test insecure"},
      {insecure({tlsa(std::string("3 1 1 ") + k_hash)}), "TLSA lookup for _25._tcp.real.d.test insecure"},
      {nxdomain(DnsSecurity::Insecure), "TLSA lookup for _25._tcp.real.d.test insecure"},
  };
  for (const auto& [at_expansion, passed_over] : cases) {
    r.set("_25._tcp.real.d.test", RrType::Tlsa, at_expansion);
    auto f = evaluate_destination(r, "d.test");
    EXPECT_EQ(statuses(f), V{"alias.d.test=dane"});
    EXPECT_EQ(f.hosts.at(0).tlsa_base, "alias.d.test");
    EXPECT_EQ(f.hosts[0].tlsa_owner, "_25._tcp.alias.d.test");
    // Decided by secure addresses and secure TLSA at the alias: secure; the passed-over candidate stays visible.
    EXPECT_EQ(to_string(f.hosts[0].dnssec), "secure") << passed_over;
    EXPECT_EQ(f.hosts[0].reason, passed_over + "; 1 usable TLSA record at _25._tcp.alias.d.test");
  }
}

TEST_F(TlsaBase, LookupErrorAtExpansionIsAnErrorWithoutFallBack) {
  r.set("_25._tcp.real.d.test", RrType::Tlsa, bogus("no signatures"));
  auto f = evaluate_destination(r, "d.test");
  EXPECT_EQ(statuses(f), V{"alias.d.test=failed"});
  EXPECT_EQ(f.hosts[0].reason, "TLSA lookup for _25._tcp.real.d.test bogus: no signatures");
  EXPECT_EQ(f.outcome, DestinationOutcome::TempFail);
}

TEST_F(TlsaBase, InsecureAtExpansionAndNoTlsaAtTheAliasIsInsecure) {
  r.set("_25._tcp.real.d.test", RrType::Tlsa, insecure());
  r.set("_25._tcp.alias.d.test", RrType::Tlsa, secure());
  auto f = evaluate_destination(r, "d.test");
  EXPECT_EQ(statuses(f), V{"alias.d.test=no-tlsa"});
  EXPECT_EQ(f.hosts[0].dnssec, DnsSecurity::Insecure); // nothing secure decided it: every candidate counts
}

TEST_F(TlsaBase, NoTlsaAnywhereIsNoTlsa) {
  r.set("_25._tcp.real.d.test", RrType::Tlsa, secure());
  r.set("_25._tcp.alias.d.test", RrType::Tlsa, nxdomain(DnsSecurity::Secure));
  auto f = evaluate_destination(r, "d.test");
  EXPECT_EQ(statuses(f), V{"alias.d.test=no-tlsa"});
  EXPECT_EQ(f.outcome, DestinationOutcome::NotDane);
  EXPECT_NE(f.hosts[0].reason.find("no TLSA records at _25._tcp.real.d.test (secure NODATA)"), std::string::npos);
  EXPECT_NE(f.hosts[0].reason.find("_25._tcp.alias.d.test (secure NXDOMAIN)"), std::string::npos);
}

TEST(Destination, CnameAtTheTlsaOwnerDoesNotChangeTheBase) {
  FakeResolver r;
  r.set("d.test", RrType::Mx, secure({mx(10, "mx.d.test")}));
  secure_host(r, "mx.d.test", 1, with_canon(secure({tlsa(std::string("3 1 1 ") + k_hash)}), "_25._tcp.elsewhere.test"));
  auto f = evaluate_destination(r, "d.test");
  EXPECT_EQ(f.hosts.at(0).tlsa_base, "mx.d.test");
  EXPECT_EQ(f.hosts[0].status, HostStatus::DaneUsable);
}

// ---- TLSA usability and the aggregate ----

TEST(Destination, TlsaUsabilityAndAggregate) {
  FakeResolver r;
  r.set("d.test", RrType::Mx,
        secure({mx(10, "usable.d.test"), mx(20, "unusable.d.test"), mx(30, "none.d.test"), mx(40, "insec.d.test"),
                mx(50, "failed.d.test")}));
  secure_host(r, "usable.d.test", 1,
              secure({tlsa(std::string("1 1 1 ") + k_hash), tlsa(std::string("3 1 1 ") + k_hash)}));
  secure_host(r, "unusable.d.test", 2,
              secure({tlsa(std::string("0 0 1 ") + k_hash), tlsa("3 1 1 0011"), tlsa("3 2 1 00")}));
  secure_host(r, "none.d.test", 3, secure());
  secure_host(r, "insec.d.test", 4, insecure());
  secure_host(r, "failed.d.test", 5, failed("timeout"));
  auto f = evaluate_destination(r, "d.test");
  EXPECT_EQ(statuses(f), (V{"usable.d.test=dane", "unusable.d.test=unusable", "none.d.test=no-tlsa",
                            "insec.d.test=no-tlsa", "failed.d.test=failed"}));
  EXPECT_EQ(f.hosts[0].reason, "1 usable TLSA record at _25._tcp.usable.d.test (1 unusable ignored)");
  EXPECT_EQ(f.hosts[0].tlsa.size(), 2u);
  EXPECT_EQ(f.hosts[1].tlsa.size(), 3u);
  EXPECT_EQ(f.hosts[3].dnssec, DnsSecurity::Insecure);
  EXPECT_EQ(f.hosts[4].reason, "TLSA lookup for _25._tcp.failed.d.test failed: timeout");
  EXPECT_EQ(f.outcome, DestinationOutcome::Dane);
  EXPECT_EQ(f.reason, "1 of 5 MX hosts have usable TLSA records, 1 only unusable ones, 1 failed");
}

struct AggregateRow {
  std::vector<std::string> tlsa; // per host: "usable", "unusable", "none", "failed"
  DestinationOutcome outcome;
};

class Aggregate : public ::testing::TestWithParam<AggregateRow> {};

TEST_P(Aggregate, DecisionTableRow) {
  FakeResolver r;
  std::vector<std::vector<std::uint8_t>> mxs;
  const auto& row = GetParam();
  for (std::size_t i = 0; i < row.tlsa.size(); ++i) {
    std::string host = "h" + std::to_string(i) + ".d.test";
    mxs.push_back(mx(static_cast<std::uint16_t>(10 * (i + 1)), host));
    Answer t = row.tlsa[i] == "usable"     ? secure({tlsa(std::string("3 1 1 ") + k_hash)})
               : row.tlsa[i] == "unusable" ? secure({tlsa(std::string("1 1 1 ") + k_hash)})
               : row.tlsa[i] == "none"     ? secure()
                                           : failed("SERVFAIL");
    secure_host(r, host, static_cast<std::uint8_t>(i + 1), t);
  }
  r.set("d.test", RrType::Mx, secure(mxs));
  EXPECT_EQ(evaluate_destination(r, "d.test").outcome, row.outcome);
}

INSTANTIATE_TEST_SUITE_P(DesignTable, Aggregate,
                         ::testing::Values(AggregateRow{{"usable"}, DestinationOutcome::DaneOnly},
                                           AggregateRow{{"usable", "usable"}, DestinationOutcome::DaneOnly},
                                           AggregateRow{{"usable", "none"}, DestinationOutcome::Dane},
                                           AggregateRow{{"usable", "failed"}, DestinationOutcome::Dane},
                                           AggregateRow{{"none", "failed"}, DestinationOutcome::Dane},
                                           AggregateRow{{"usable", "unusable"}, DestinationOutcome::Dane},
                                           AggregateRow{{"unusable"}, DestinationOutcome::Encrypt},
                                           AggregateRow{{"unusable", "unusable"}, DestinationOutcome::Encrypt},
                                           AggregateRow{{"unusable", "none"}, DestinationOutcome::Dane},
                                           AggregateRow{{"none"}, DestinationOutcome::NotDane},
                                           AggregateRow{{"none", "none"}, DestinationOutcome::NotDane},
                                           AggregateRow{{"failed"}, DestinationOutcome::TempFail},
                                           AggregateRow{{"failed", "failed"}, DestinationOutcome::TempFail}),
                         // "NoneAndFailed_IsDane": the hosts' TLSA kinds, then the expected outcome.
                         [](const ::testing::TestParamInfo<AggregateRow>& row) {
                           auto capitalised = [](std::string word) {
                             if (!word.empty()) {
                               word[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(word[0])));
                             }
                             return word;
                           };
                           std::string name;
                           for (const auto& kind : row.param.tlsa) {
                             name += (name.empty() ? "" : "And") + capitalised(kind);
                           }
                           switch (row.param.outcome) {
                           case DestinationOutcome::NotDane:
                             return name + "_IsNotDane";
                           case DestinationOutcome::DaneOnly:
                             return name + "_IsDaneOnly";
                           case DestinationOutcome::Dane:
                             return name + "_IsDane";
                           case DestinationOutcome::Encrypt:
                             return name + "_IsEncrypt";
                           case DestinationOutcome::TempFail:
                             return name + "_IsTempFail";
                           }
                           return name + "_IsUnknown";
                         });

TEST(Destination, BracketedKeySkipsMxAndUsesItsPort) {
  FakeResolver r;
  r.set("mx.d.test", RrType::A, secure({a4(1)}));
  r.set("mx.d.test", RrType::Aaaa, secure());
  r.set("_2525._tcp.mx.d.test", RrType::Tlsa, secure({tlsa(std::string("3 1 1 ") + k_hash)}));
  auto f = evaluate_destination(r, "[mx.d.test]:2525");
  EXPECT_EQ(statuses(f), V{"mx.d.test=dane"});
  EXPECT_EQ(f.hosts[0].tlsa_owner, "_2525._tcp.mx.d.test");
  EXPECT_EQ(f.outcome, DestinationOutcome::DaneOnly);
  EXPECT_EQ(f.mx_security, DnsSecurity::Secure);
  ASSERT_EQ(r.rounds.size(), 2u);
  EXPECT_EQ(r.rounds[0][0].type, RrType::A); // no MX lookup
  EXPECT_EQ(f.reason, "the host has usable TLSA records");
}

TEST(Destination, UnbracketedPortKeepsTheMxLookup) {
  FakeResolver r;
  r.set("d.test", RrType::Mx, secure({mx(10, "mx.d.test")}));
  r.set("mx.d.test", RrType::A, secure({a4(1)}));
  r.set("mx.d.test", RrType::Aaaa, secure());
  r.set("_2525._tcp.mx.d.test", RrType::Tlsa, secure({tlsa(std::string("3 1 1 ") + k_hash)}));
  EXPECT_EQ(evaluate_destination(r, "d.test:2525").outcome, DestinationOutcome::DaneOnly);
}

TEST(Destination, ReferenceNamesIncludeTheExpandedNextHop) {
  FakeResolver r;
  r.set("d.test", RrType::Mx, with_canon(secure({mx(10, "mx.d.test")}), "real.test"));
  secure_host(r, "mx.d.test", 1, secure({tlsa(std::string("2 0 1 ") + k_hash)}));
  auto f = evaluate_destination(r, "d.test");
  EXPECT_EQ(f.reference_names, (V{"d.test", "real.test"}));
  EXPECT_EQ(f.ttl, 300u);
}

TEST(Destination, Rfc7672_3_2_2_OnlyASecureExpansionOfTheNextHopIsAReferenceName) {
  FakeResolver r;
  // "[mail.d.test]": a secure alias of a host in an insecure zone. The expansion is no reference identifier.
  r.set("mail.d.test", RrType::A, with_canon(insecure({a4(3)}), "mx.insecure.test"));
  r.set("mail.d.test", RrType::Aaaa, with_canon(insecure(), "mx.insecure.test"));
  r.set("mail.d.test", RrType::Cname, secure({wire("mx.insecure.test")}));
  r.set("_25._tcp.mail.d.test", RrType::Tlsa, secure({tlsa(std::string("2 0 1 ") + k_hash)}));
  auto f = evaluate_destination(r, "[mail.d.test]");
  EXPECT_EQ(statuses(f), V{"mail.d.test=dane"});
  EXPECT_EQ(f.hosts[0].canonname, "mx.insecure.test");
  EXPECT_EQ(f.reference_names, V{"mail.d.test"});
  // "[alias.d.test]" expands securely: the expansion is one.
  r.set("alias.d.test", RrType::A, with_canon(secure({a4(4)}), "real.d.test"));
  r.set("alias.d.test", RrType::Aaaa, with_canon(secure(), "real.d.test"));
  r.set("_25._tcp.real.d.test", RrType::Tlsa, secure({tlsa(std::string("2 0 1 ") + k_hash)}));
  EXPECT_EQ(evaluate_destination(r, "[alias.d.test]").reference_names, (V{"alias.d.test", "real.d.test"}));
}

TEST(Destination, HostWithoutAddressesIsNotADaneHost) {
  FakeResolver r;
  r.set("d.test", RrType::Mx, secure({mx(10, "gone.d.test")}));
  r.set("gone.d.test", RrType::A, nxdomain(DnsSecurity::Secure));
  r.set("gone.d.test", RrType::Aaaa, nxdomain(DnsSecurity::Secure));
  auto f = evaluate_destination(r, "d.test");
  EXPECT_EQ(statuses(f), V{"gone.d.test=no-tlsa"});
  EXPECT_EQ(f.outcome, DestinationOutcome::NotDane);
}

} // namespace
} // namespace dane
