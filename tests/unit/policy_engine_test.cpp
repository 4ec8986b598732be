// Unit tests of the policy engine (src/policy/policy_engine.cpp): every answer column of
// docs/design.md §3 for native, pinned and monitor modes, from hand-built DestinationFacts, plus
// the shared JSON rendering (src/policy/json.cpp).
#include <gtest/gtest.h>

#include "dane/policy/json.hpp"
#include "dane/policy/policy_engine.hpp"

namespace dane::policyd {
namespace {

constexpr const char* k_hash_a = "0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";
constexpr const char* k_hash_b = "1111111111111111111111111111111111111111111111111111111111111111";
// sha256("abc") and sha1("abc"): what `3 x 0 616263` must be pinned as.
constexpr const char* k_sha256_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* k_sha1_abc = "a9993e364706816aba3e25717850c26c9cd0d89d";

TlsaRecord rec(const std::string& text) {
  return *parse_tlsa(text);
}

HostResult host(const std::string& name, std::vector<TlsaRecord> tlsa, HostStatus status = HostStatus::DaneUsable) {
  HostResult h;
  h.name = name;
  h.tlsa_base = name;
  h.tlsa_owner = "_25._tcp." + name;
  h.tlsa = std::move(tlsa);
  h.status = status;
  h.dnssec = DnsSecurity::Secure;
  h.reason = "because";
  return h;
}

DestinationFacts facts(DestinationOutcome outcome, std::vector<HostResult> hosts = {}) {
  DestinationFacts f;
  f.next_hop = *parse_next_hop("example.test");
  f.outcome = outcome;
  f.mx_security = DnsSecurity::Secure;
  f.reason = "the reason";
  f.hosts = std::move(hosts);
  f.reference_names = {"example.test"};
  return f;
}

PinnedOptions with_ta_file(std::string path) {
  PinnedOptions p;
  p.ta_file = [path](const DestinationFacts&) -> std::optional<std::string> { return path; };
  return p;
}

// ---- native ----

TEST(PolicyNative, DecisionTable) {
  EXPECT_EQ(decide(facts(DestinationOutcome::TempFail), Mode::Native).answer, "TEMP 4.7.5 the reason");
  EXPECT_EQ(decide(facts(DestinationOutcome::TempFail), Mode::Native).policy, PolicyKind::TempFail);
  EXPECT_EQ(decide(facts(DestinationOutcome::NotDane), Mode::Native).answer, "NOTFOUND ");
  EXPECT_EQ(decide(facts(DestinationOutcome::NotDane), Mode::Native).policy, PolicyKind::NotFound);
  EXPECT_EQ(decide(facts(DestinationOutcome::DaneOnly), Mode::Native).answer, "OK dane-only");
  EXPECT_EQ(decide(facts(DestinationOutcome::DaneOnly), Mode::Native).policy, PolicyKind::DaneOnly);
  EXPECT_EQ(decide(facts(DestinationOutcome::Dane), Mode::Native).answer, "OK dane");
  // All-unusable: native answers dane and Postfix itself turns that into encrypt.
  auto enc = decide(facts(DestinationOutcome::Encrypt), Mode::Native);
  EXPECT_EQ(enc.answer, "OK dane");
  EXPECT_EQ(enc.policy, PolicyKind::Dane);
  EXPECT_EQ(enc.would_answer, enc.answer);
}

// ---- pinned ----

TEST(PolicyPinned, DaneEeSpkiSha256IsUsedAsTheFingerprint) {
  auto f = facts(DestinationOutcome::DaneOnly, {host("mx.example.test", {rec(std::string("3 1 1 ") + k_hash_a)})});
  auto a = decide(f, Mode::Pinned);
  EXPECT_EQ(a.policy, PolicyKind::Fingerprint);
  EXPECT_EQ(a.answer, std::string("OK fingerprint match=") + k_hash_a);
  EXPECT_EQ(a.answer.find("sha256:"), std::string::npos);
}

TEST(PolicyPinned, PinsFromEveryHostDeduplicatedInOrder) {
  auto f =
      facts(DestinationOutcome::DaneOnly,
            {host("mx1.example.test", {rec(std::string("3 1 1 ") + k_hash_a), rec(std::string("3 0 1 ") + k_hash_b)}),
             host("mx2.example.test", {rec(std::string("3 1 1 ") + k_hash_a), rec("1 1 1 " + std::string(64, 'c'))})});
  EXPECT_EQ(decide(f, Mode::Pinned).answer, std::string("OK fingerprint match=") + k_hash_a + "|" + k_hash_b);
}

TEST(PolicyPinned, FullDataRecordsAreHashedWithTheOperatorsDigest) {
  auto f = facts(DestinationOutcome::DaneOnly, {host("mx.example.test", {rec("3 1 0 616263")})});
  EXPECT_EQ(decide(f, Mode::Pinned).answer, std::string("OK fingerprint match=") + k_sha256_abc);
  PinnedOptions sha1;
  sha1.fingerprint_digest = "sha1";
  EXPECT_EQ(decide(f, Mode::Pinned, sha1).answer, std::string("OK fingerprint match=") + k_sha1_abc);
}

TEST(PolicyPinned, DigestsOfAnotherAlgorithmCannotBePinned) {
  auto only512 =
      facts(DestinationOutcome::DaneOnly, {host("mx.example.test", {rec("3 1 2 " + std::string(128, 'a'))})});
  auto a = decide(only512, Mode::Pinned);
  EXPECT_EQ(a.answer, "OK dane-only");
  EXPECT_EQ(a.policy, PolicyKind::DaneOnly);
  PinnedOptions sha512;
  sha512.fingerprint_digest = "SHA512";
  EXPECT_EQ(decide(only512, Mode::Pinned, sha512).answer, "OK fingerprint match=" + std::string(128, 'a'));
  // Partly convertible: the convertible ones are pinned, the reason names what was left out.
  auto mixed =
      facts(DestinationOutcome::DaneOnly,
            {host("mx.example.test", {rec("3 1 2 " + std::string(128, 'a')), rec(std::string("3 1 1 ") + k_hash_a)})});
  auto m = decide(mixed, Mode::Pinned);
  EXPECT_EQ(m.answer, std::string("OK fingerprint match=") + k_hash_a);
  EXPECT_NE(m.reason.find("left out"), std::string::npos);
}

TEST(PolicyPinned, DaneTaBecomesSecureWithTheReferenceNames) {
  HostResult h = host("mx.example.test", {rec(std::string("2 0 1 ") + k_hash_a)});
  h.tlsa_base = "mx.hosting.test";
  auto f = facts(DestinationOutcome::DaneOnly, {h, host("mx2.example.test", {rec(std::string("2 1 1 ") + k_hash_b)})});
  f.reference_names = {"example.test", "expanded.test"};
  auto a = decide(f, Mode::Pinned, with_ta_file("/var/lib/dane-policyd/ta/example.test.pem"));
  EXPECT_EQ(a.policy, PolicyKind::Secure);
  EXPECT_EQ(a.answer, "OK secure tafile=/var/lib/dane-policyd/ta/example.test.pem "
                      "match=example.test:expanded.test:mx.hosting.test:mx.example.test:mx2.example.test");
}

TEST(PolicyPinned, DaneTaWithoutTrustAnchorFileIsDaneOnly) {
  auto f = facts(DestinationOutcome::DaneOnly, {host("mx.example.test", {rec(std::string("2 0 1 ") + k_hash_a)})});
  EXPECT_EQ(decide(f, Mode::Pinned).answer, "OK dane-only");
  PinnedOptions refuses;
  refuses.ta_file = [](const DestinationFacts&) -> std::optional<std::string> { return std::nullopt; };
  EXPECT_EQ(decide(f, Mode::Pinned, refuses).answer, "OK dane-only");
}

TEST(PolicyPinned, DaneEeAndDaneTaTogetherIsDaneOnly) {
  auto f =
      facts(DestinationOutcome::DaneOnly,
            {host("mx.example.test", {rec(std::string("2 0 1 ") + k_hash_a), rec(std::string("3 1 1 ") + k_hash_b)})});
  EXPECT_EQ(decide(f, Mode::Pinned, with_ta_file("/x.pem")).answer, "OK dane-only");
}

TEST(PolicyPinned, OtherRowsOfTheTable) {
  EXPECT_EQ(decide(facts(DestinationOutcome::Encrypt), Mode::Pinned).answer, "OK encrypt");
  EXPECT_EQ(decide(facts(DestinationOutcome::Encrypt), Mode::Pinned).policy, PolicyKind::Encrypt);
  EXPECT_EQ(decide(facts(DestinationOutcome::Dane), Mode::Pinned).answer, "OK dane");
  EXPECT_EQ(decide(facts(DestinationOutcome::NotDane), Mode::Pinned).answer, "NOTFOUND ");
  EXPECT_EQ(decide(facts(DestinationOutcome::TempFail), Mode::Pinned).answer, "TEMP 4.7.5 the reason");
}

// ---- monitor ----

TEST(PolicyMonitor, AlwaysNotFoundButRemembersTheNativeAnswer) {
  for (auto outcome : {DestinationOutcome::TempFail, DestinationOutcome::NotDane, DestinationOutcome::DaneOnly,
                       DestinationOutcome::Dane, DestinationOutcome::Encrypt}) {
    auto f = facts(outcome);
    auto m = decide(f, Mode::Monitor);
    EXPECT_EQ(m.answer, "NOTFOUND ");
    EXPECT_EQ(m.policy, PolicyKind::NotFound);
    EXPECT_EQ(m.would_answer, decide(f, Mode::Native).answer);
  }
  EXPECT_EQ(decide(facts(DestinationOutcome::DaneOnly), Mode::Monitor).would_answer, "OK dane-only");
}

// ---- JSON ----

TEST(PolicyJson, PinnedFieldsAndTheProbeHook) {
  HostResult h = host("mx.example.test", {rec(std::string("3 1 1 ") + k_hash_a)});
  h.addresses = {"127.0.0.2"};
  auto f = facts(DestinationOutcome::DaneOnly, {h});
  auto j = to_json(f, decide(f, Mode::Pinned), [](const HostResult& hr, nlohmann::json& object) {
    object["addresses"] = nlohmann::json::array({{{"address", hr.addresses.at(0)}, {"port", 25}, {"result", "pass"}}});
  });
  EXPECT_EQ(j["destination"], "example.test");
  EXPECT_EQ(j["policy"], "fingerprint");
  EXPECT_EQ(j["answer"], std::string("OK fingerprint match=") + k_hash_a);
  EXPECT_FALSE(j["reason"].get<std::string>().empty());
  EXPECT_FALSE(j.contains("would_answer"));
  ASSERT_EQ(j["hosts"].size(), 1u);
  const auto& jh = j["hosts"][0];
  EXPECT_EQ(jh["name"], "mx.example.test");
  EXPECT_EQ(jh["dnssec"], "secure");
  EXPECT_EQ(jh["tlsa"], nlohmann::json::array({std::string("3 1 1 ") + k_hash_a}));
  EXPECT_EQ(jh["tlsa_base"], "mx.example.test");
  EXPECT_EQ(jh["status"], "dane");
  EXPECT_EQ(jh["ips"], nlohmann::json::array({"127.0.0.2"}));
  EXPECT_EQ(jh["addresses"][0]["result"], "pass");

  auto monitor = to_json(f, decide(f, Mode::Monitor));
  EXPECT_EQ(monitor["policy"], "notfound");
  EXPECT_EQ(monitor["would_answer"], "OK dane-only");
  EXPECT_FALSE(monitor["hosts"][0].contains("addresses"));
}

TEST(PolicyNames, PinnedSpellings) {
  EXPECT_EQ(to_string(HostStatus::DaneUsable), "dane");
  EXPECT_EQ(to_string(HostStatus::TlsaUnusable), "unusable");
  EXPECT_EQ(to_string(HostStatus::NoTlsa), "no-tlsa");
  EXPECT_EQ(to_string(HostStatus::Insecure), "insecure");
  EXPECT_EQ(to_string(HostStatus::Failed), "failed");
  EXPECT_EQ(to_string(PolicyKind::Fingerprint), "fingerprint");
}

} // namespace
} // namespace dane::policyd
