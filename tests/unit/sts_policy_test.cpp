// Unit tests of the MTA-STS answers of the policy engine (src/policy/policy_engine.cpp, decide()) and of
// the "sts" JSON object (src/policy/json.cpp), from hand-built DestinationFacts with StsFacts: DANE first,
// then enforce -> `OK secure match=<exact MX names> servername=hostname`, testing/none/no policy ->
// NOTFOUND, an unreadable store without a successful refetch -> TEMP; monitor mode wraps all of it.
// The whole table (DANE outcome x STS state x mode) is printed, for the closing note of issue 15.
#include <gtest/gtest.h>

#include <iostream>

#include "dane/policy/json.hpp"
#include "dane/policy/policy_engine.hpp"
#include "dane/policy/sts_scope.hpp"

namespace dane::policyd {
namespace {

using std::chrono::system_clock;

HostResult mx(const std::string& name, std::uint16_t preference) {
  HostResult h;
  h.name = name;
  h.preference = preference;
  h.dnssec = DnsSecurity::Insecure;
  h.status = HostStatus::Insecure;
  h.reason = "MX RRset insecure";
  return h;
}

StsPolicy policy(StsMode mode, std::vector<std::string> patterns) {
  StsPolicy p;
  p.mode = mode;
  p.mx = std::move(patterns);
  p.max_age = 86400;
  p.text = "version: STSv1\r\nmode: " + to_string(mode) + "\r\n";
  for (const auto& m : p.mx) {
    p.text += "mx: " + m + "\r\n";
  }
  p.text += "max_age: 86400\r\n";
  return p;
}

StsFacts sts_with(StsSource source, std::optional<StsPolicy> pol) {
  StsFacts s;
  s.domain = "sts.test";
  s.source = source;
  if (pol) {
    s.txt_id = "20261205";
    s.policy_id = "20261205";
    s.policy = std::move(pol);
    s.fetched = system_clock::time_point(std::chrono::seconds(1796428800)); // 2026-12-05T00:00:00Z
    s.expires = *s.fetched + std::chrono::seconds(86400);
  }
  return s;
}

DestinationFacts facts(DestinationOutcome outcome, std::optional<StsFacts> sts) {
  DestinationFacts f;
  f.next_hop = *parse_next_hop("sts.test");
  f.outcome = outcome;
  f.mx_security = outcome == DestinationOutcome::NotDane ? DnsSecurity::Insecure : DnsSecurity::Secure;
  f.reason = outcome == DestinationOutcome::NotDane ? "MX RRset of sts.test is insecure (not DNSSEC-signed): no DANE"
                                                    : "the DANE reason";
  f.hosts = {mx("MX1.sts.test.", 10), mx("mx2.sts.test", 20), mx("backup.other.test", 30)};
  f.sts = std::move(sts);
  return f;
}

// The STS states of the answer table.
struct StsCase {
  const char* name;
  std::optional<StsFacts> sts;
};

std::vector<StsCase> sts_cases() {
  std::vector<StsCase> cases;
  cases.push_back({"(--mta-sts off)", std::nullopt});
  StsFacts no_txt = sts_with(StsSource::None, std::nullopt);
  no_txt.txt_error = "no _mta-sts TXT record";
  cases.push_back({"no TXT, nothing cached", no_txt});
  StsFacts failed = sts_with(StsSource::None, std::nullopt);
  failed.txt_id = "20261205";
  failed.fetch_error = "certificate not trusted";
  cases.push_back({"fetch failed, nothing cached", failed});
  cases.push_back({"enforce, fetched", sts_with(StsSource::Fetched, policy(StsMode::Enforce, {"*.sts.test"}))});
  cases.push_back({"enforce, cached", sts_with(StsSource::Cached, policy(StsMode::Enforce, {"mx1.sts.test"}))});
  StsFacts refetch = sts_with(StsSource::Cached, policy(StsMode::Enforce, {"*.sts.test"}));
  refetch.fetch_error = "connect failed";
  cases.push_back({"enforce, cached, refetch failed", refetch});
  cases.push_back(
      {"enforce, no MX allowed", sts_with(StsSource::Fetched, policy(StsMode::Enforce, {"mx.elsewhere.test"}))});
  cases.push_back({"testing, fetched", sts_with(StsSource::Fetched, policy(StsMode::Testing, {"*.sts.test"}))});
  cases.push_back({"none, fetched", sts_with(StsSource::Fetched, policy(StsMode::None, {}))});
  StsFacts unreadable = sts_with(StsSource::None, std::nullopt);
  unreadable.store_error = "sts.test.json: not valid JSON";
  unreadable.fetch_error = "timeout";
  cases.push_back({"store unreadable, refetch failed", unreadable});
  StsFacts refetched = sts_with(StsSource::Fetched, policy(StsMode::Enforce, {"*.sts.test"}));
  refetched.store_error = "sts.test.json: not valid JSON";
  cases.push_back({"store unreadable, refetched enforce", refetched});
  return cases;
}

std::string short_answer(const PolicyAnswer& a) {
  return a.answer.size() > 60 ? a.answer.substr(0, 57) + "..." : a.answer;
}

TEST(StsPolicy, AnswerTablePrinted) {
  const std::vector<std::pair<const char*, DestinationOutcome>> outcomes = {{"DaneOnly", DestinationOutcome::DaneOnly},
                                                                            {"Dane", DestinationOutcome::Dane},
                                                                            {"Encrypt", DestinationOutcome::Encrypt},
                                                                            {"TempFail", DestinationOutcome::TempFail},
                                                                            {"NotDane", DestinationOutcome::NotDane}};
  std::cout << "| DANE outcome | MTA-STS state | native / pinned answer | monitor (would_answer) |\n";
  std::cout << "|---|---|---|---|\n";
  for (const auto& [oname, outcome] : outcomes) {
    for (const auto& c : sts_cases()) {
      if (outcome != DestinationOutcome::NotDane && c.sts && std::string(c.name) != "enforce, fetched") {
        continue; // the daemon never attaches STS facts to these outcomes; one row shows decide() ignores them
      }
      auto f = facts(outcome, c.sts);
      PolicyAnswer native = decide(f, Mode::Native);
      PolicyAnswer pinned = decide(f, Mode::Pinned);
      PolicyAnswer monitor = decide(f, Mode::Monitor);
      if (outcome == DestinationOutcome::NotDane) {
        EXPECT_EQ(native.answer, pinned.answer) << c.name;
      }
      EXPECT_EQ(monitor.answer, "NOTFOUND ") << c.name;
      EXPECT_EQ(monitor.would_answer, native.answer) << c.name;
      std::cout << "| " << oname << " | " << c.name << " | `" << short_answer(native) << "` | NOTFOUND (`"
                << short_answer(native) << "`) |\n";
    }
  }
}

TEST(StsPolicy, EnforceListsTheAllowedMxHostsByExactName) {
  auto a =
      decide(facts(DestinationOutcome::NotDane, sts_with(StsSource::Fetched, policy(StsMode::Enforce, {"*.sts.test"}))),
             Mode::Native);
  EXPECT_EQ(a.policy, PolicyKind::Secure);
  EXPECT_EQ(a.answer, "OK secure match=mx1.sts.test:mx2.sts.test servername=hostname");
  EXPECT_NE(a.reason.find("MTA-STS policy 20261205"), std::string::npos) << a.reason;
  EXPECT_NE(a.reason.find("mode enforce"), std::string::npos) << a.reason;
  EXPECT_NE(a.reason.find("backup.other.test"), std::string::npos) << a.reason; // named as left out
}

TEST(StsPolicy, WildcardMatchesOneLabelOnly) {
  auto f = facts(DestinationOutcome::NotDane, sts_with(StsSource::Cached, policy(StsMode::Enforce, {"*.sts.test"})));
  f.hosts = {mx("deep.mx1.sts.test", 10), mx("mx1.sts.test", 20)};
  EXPECT_EQ(decide(f, Mode::Native).answer, "OK secure match=mx1.sts.test servername=hostname");
}

TEST(StsPolicy, EnforceWithNoAllowedMxIsTempNamingThePatterns) {
  auto a = decide(
      facts(DestinationOutcome::NotDane, sts_with(StsSource::Fetched, policy(StsMode::Enforce, {"mx.elsewhere.test"}))),
      Mode::Native);
  EXPECT_EQ(a.policy, PolicyKind::TempFail);
  EXPECT_NE(a.answer.find("mx.elsewhere.test"), std::string::npos) << a.answer;
}

TEST(StsPolicy, TestingIsNotFoundAndSaysWhatEnforceWouldAnswer) {
  auto a = decide(
      facts(DestinationOutcome::NotDane, sts_with(StsSource::Fetched, policy(StsMode::Testing, {"mx1.sts.test"}))),
      Mode::Native);
  EXPECT_EQ(a.policy, PolicyKind::NotFound);
  EXPECT_EQ(a.answer, "NOTFOUND ");
  EXPECT_NE(a.reason.find("mode testing"), std::string::npos) << a.reason;
  EXPECT_NE(a.reason.find("enforce would answer 'OK secure match=mx1.sts.test servername=hostname'"), std::string::npos)
      << a.reason;
}

TEST(StsPolicy, NoPolicyIsNotFoundWithTheReason) {
  StsFacts s = sts_with(StsSource::None, std::nullopt);
  s.fetch_error = "HTTP status 404";
  auto a = decide(facts(DestinationOutcome::NotDane, s), Mode::Native);
  EXPECT_EQ(a.policy, PolicyKind::NotFound);
  EXPECT_NE(a.reason.find("HTTP status 404"), std::string::npos) << a.reason;
}

TEST(StsPolicy, UnreadableStoreWithoutRefetchIsTemp) {
  StsFacts s = sts_with(StsSource::None, std::nullopt);
  s.store_error = "sts.test.json: owned by another user";
  auto a = decide(facts(DestinationOutcome::NotDane, s), Mode::Native);
  EXPECT_EQ(a.policy, PolicyKind::TempFail);
  EXPECT_NE(a.reason.find("owned by another user"), std::string::npos) << a.reason;
  // A successful refetch answers from the new policy.
  StsFacts r = sts_with(StsSource::Fetched, policy(StsMode::Enforce, {"mx2.sts.test"}));
  r.store_error = s.store_error;
  EXPECT_EQ(decide(facts(DestinationOutcome::NotDane, r), Mode::Native).answer,
            "OK secure match=mx2.sts.test servername=hostname");
}

TEST(StsPolicy, DaneComesFirst) {
  auto sts = sts_with(StsSource::Fetched, policy(StsMode::Enforce, {"*.sts.test"}));
  EXPECT_EQ(decide(facts(DestinationOutcome::DaneOnly, sts), Mode::Native).answer, "OK dane-only");
  EXPECT_EQ(decide(facts(DestinationOutcome::TempFail, sts), Mode::Native).policy, PolicyKind::TempFail);
  EXPECT_EQ(decide(facts(DestinationOutcome::Dane, sts), Mode::Native).answer, "OK dane");
}

TEST(StsPolicy, MonitorModeCarriesTheStsAnswerAsWouldAnswer) {
  auto a = decide(
      facts(DestinationOutcome::NotDane, sts_with(StsSource::Cached, policy(StsMode::Enforce, {"mx1.sts.test"}))),
      Mode::Monitor);
  EXPECT_EQ(a.answer, "NOTFOUND ");
  EXPECT_EQ(a.would_answer, "OK secure match=mx1.sts.test servername=hostname");
}

TEST(StsPolicy, ParentKeyNeverConsultsSts) {
  auto f = facts(DestinationOutcome::NotDane, sts_with(StsSource::Fetched, policy(StsMode::Enforce, {"*.sts.test"})));
  f.next_hop = *parse_next_hop(".sts.test");
  EXPECT_EQ(decide(f, Mode::Native).answer, "NOTFOUND ");
}

TEST(StsJson, ObjectHasThePinnedKeysAndLeavesOutEmptyOnes) {
  auto f = facts(DestinationOutcome::NotDane, sts_with(StsSource::Cached, policy(StsMode::Enforce, {"*.sts.test"})));
  auto j = to_json(f, decide(f, Mode::Native));
  ASSERT_TRUE(j.contains("sts")) << j.dump();
  const auto& s = j["sts"];
  EXPECT_EQ(s["domain"], "sts.test");
  EXPECT_EQ(s["txt_id"], "20261205");
  EXPECT_EQ(s["source"], "cached");
  EXPECT_EQ(s["policy_id"], "20261205");
  EXPECT_EQ(s["mode"], "enforce");
  EXPECT_EQ(s["mx"], nlohmann::json::array({"*.sts.test"}));
  EXPECT_EQ(s["max_age"], 86400);
  EXPECT_EQ(s["fetched"], "2026-12-05T00:00:00Z");
  EXPECT_EQ(s["expires"], "2026-12-06T00:00:00Z");
  EXPECT_EQ(s["policy_string"],
            nlohmann::json::array({"version: STSv1", "mode: enforce", "mx: *.sts.test", "max_age: 86400"}));
  EXPECT_FALSE(s.contains("txt_error"));
  EXPECT_FALSE(s.contains("fetch_error"));
  EXPECT_FALSE(s.contains("store_error"));
}

TEST(StsJson, AbsentWithoutStsFacts) {
  auto f = facts(DestinationOutcome::NotDane, std::nullopt);
  EXPECT_FALSE(to_json(f, decide(f, Mode::Native)).contains("sts"));
  StsFacts none = sts_with(StsSource::None, std::nullopt);
  none.txt_error = "no _mta-sts TXT record";
  auto g = facts(DestinationOutcome::NotDane, none);
  auto j = to_json(g, decide(g, Mode::Native));
  EXPECT_EQ(j["sts"],
            nlohmann::json({{"domain", "sts.test"}, {"source", "none"}, {"txt_error", "no _mta-sts TXT record"}}));
}

} // namespace
} // namespace dane::policyd

// ---- sts_scope.hpp: when MTA-STS is consulted, the MX hosts of an insecure MX RRset, the cache lifetime ----

namespace dane::policyd {
namespace {

DestinationFacts not_dane(const std::string& key) {
  DestinationFacts f;
  f.next_hop = *parse_next_hop(key);
  f.outcome = DestinationOutcome::NotDane;
  f.mx_security = DnsSecurity::Insecure;
  f.ttl = 300;
  return f;
}

std::vector<std::uint8_t> mx_rdata(std::uint16_t preference, const std::string& exchange) {
  std::vector<std::uint8_t> out{static_cast<std::uint8_t>(preference >> 8), static_cast<std::uint8_t>(preference)};
  std::size_t start = 0;
  while (start < exchange.size()) {
    std::size_t dot = exchange.find('.', start);
    if (dot == std::string::npos) {
      dot = exchange.size();
    }
    out.push_back(static_cast<std::uint8_t>(dot - start));
    out.insert(out.end(), exchange.begin() + static_cast<std::ptrdiff_t>(start),
               exchange.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

TEST(StsScope, OnlyNotDaneMxResolvedNextHopsConsultSts) {
  EXPECT_TRUE(consults_sts(not_dane("sts.test")));
  EXPECT_TRUE(needs_mx_hosts(not_dane("sts.test")));
  EXPECT_FALSE(consults_sts(not_dane("[mx.sts.test]")));
  EXPECT_FALSE(consults_sts(not_dane("[192.0.2.1]")));
  EXPECT_FALSE(consults_sts(not_dane(".sts.test")));
  auto dane_only = not_dane("sts.test");
  dane_only.outcome = DestinationOutcome::DaneOnly;
  EXPECT_FALSE(consults_sts(dane_only));
  auto temp = not_dane("sts.test");
  temp.outcome = DestinationOutcome::TempFail;
  EXPECT_FALSE(consults_sts(temp));
  DestinationFacts malformed;
  malformed.next_hop.key = "bad..key";
  malformed.outcome = DestinationOutcome::NotDane;
  EXPECT_FALSE(consults_sts(malformed));
  auto secure = not_dane("sts.test");
  secure.mx_security = DnsSecurity::Secure;
  secure.hosts.push_back(HostResult{});
  EXPECT_TRUE(consults_sts(secure));
  EXPECT_FALSE(needs_mx_hosts(secure)); // the DANE evaluation listed them already
}

TEST(StsScope, MxHostsOfAnInsecureRrsetInPreferenceOrder) {
  Answer mx;
  mx.security = DnsSecurity::Insecure;
  mx.havedata = true;
  mx.ttl = 60;
  mx.rdata = {mx_rdata(20, "mx2.sts.test"), mx_rdata(10, "mx1.sts.test"), mx_rdata(30, "mx1.sts.test")};
  auto hosts = mx_hosts_from(not_dane("sts.test"), mx);
  ASSERT_EQ(hosts.size(), 2u);
  EXPECT_EQ(hosts[0].name, "mx1.sts.test");
  EXPECT_EQ(hosts[0].preference, 10);
  EXPECT_EQ(hosts[1].name, "mx2.sts.test");
  EXPECT_EQ(hosts[0].status, HostStatus::Insecure);
  // No MX records: the implicit MX is the domain itself; a null MX or a failed lookup: no hosts.
  Answer none;
  none.security = DnsSecurity::Insecure;
  EXPECT_EQ(mx_hosts_from(not_dane("sts.test"), none).at(0).name, "sts.test");
  Answer null_mx = mx;
  null_mx.rdata = {mx_rdata(0, "")};
  EXPECT_TRUE(mx_hosts_from(not_dane("sts.test"), null_mx).empty());
  Answer failed = mx;
  failed.security = DnsSecurity::Failed;
  EXPECT_TRUE(mx_hosts_from(not_dane("sts.test"), failed).empty());
}

TEST(StsScope, CacheLifetimeIsBoundedByThePolicysRemainingLifetime) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1796428800));
  StsFacts sts;
  sts.domain = "sts.test";
  sts.source = StsSource::Cached;
  sts.policy = StsPolicy{};
  sts.expires = now + std::chrono::seconds(100);
  auto f = not_dane("sts.test");
  attach_sts(f, sts, now);
  EXPECT_EQ(f.ttl, 100u); // below the DNS TTL of 300
  ASSERT_TRUE(f.sts.has_value());
  sts.expires = now + std::chrono::hours(48);
  auto g = not_dane("sts.test");
  attach_sts(g, sts, now);
  EXPECT_EQ(g.ttl, 300u); // the DNS TTL is shorter
  StsFacts none;
  none.source = StsSource::None;
  auto h = not_dane("sts.test");
  attach_sts(h, none, now);
  EXPECT_EQ(h.ttl, 300u);
}

} // namespace
} // namespace dane::policyd
