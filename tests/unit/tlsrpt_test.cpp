// RFC 8460 export of dane-policyctl report: a JSON-schema-level check of every report (required fields,
// types, enumerations, counts that add up), and exact session counts from probe results (verdict
// log) and from the Postfix log. Fixtures: tests/data/report/.
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dane/tools/report.hpp"

namespace rp = dane::tools::report;
using nlohmann::json;

namespace {

const std::string k_data = std::string(DANE_TEST_DATA_DIR) + "/report/";

// RFC 8460 §4.3 result types.
const std::set<std::string> k_result_types = {"starttls-not-supported", "certificate-host-mismatch",
                                              "certificate-expired",    "certificate-not-trusted",
                                              "validation-failure",     "tlsa-invalid",
                                              "dnssec-invalid",         "dane-required",
                                              "sts-policy-fetch-error", "sts-policy-invalid",
                                              "sts-webpki-invalid"};

bool is_count(const json& j) {
  return j.is_number_unsigned() || (j.is_number_integer() && j.get<long long>() >= 0);
}

// Checks one report object against RFC 8460 §4.4's shape; returns the problems found.
std::vector<std::string> check_report(const json& r) {
  std::vector<std::string> bad;
  auto need_string = [&](const json& obj, const char* k, const std::string& where) {
    if (!obj.contains(k) || !obj[k].is_string() || obj[k].get<std::string>().empty()) {
      bad.push_back(where + k + " missing or not a non-empty string");
    }
  };
  if (!r.is_object()) {
    return {"report is not an object"};
  }
  need_string(r, "organization-name", "");
  need_string(r, "contact-info", "");
  need_string(r, "report-id", "");
  if (!r.contains("date-range") || !r["date-range"].is_object()) {
    bad.emplace_back("date-range missing");
  } else {
    need_string(r["date-range"], "start-datetime", "date-range.");
    need_string(r["date-range"], "end-datetime", "date-range.");
    auto s = dane::parse_rfc3339(r["date-range"].value("start-datetime", ""));
    auto e = dane::parse_rfc3339(r["date-range"].value("end-datetime", ""));
    if (!s || !e) {
      bad.emplace_back("date-range times are not RFC 3339");
    } else if (*s > *e) {
      bad.emplace_back("date-range start after end");
    }
  }
  if (!r.contains("policies") || !r["policies"].is_array()) {
    bad.emplace_back("policies missing or not a list");
    return bad;
  }
  for (std::size_t i = 0; i < r["policies"].size(); ++i) {
    const json& p = r["policies"][i];
    const std::string w = "policies[" + std::to_string(i) + "].";
    if (!p.contains("policy") || !p["policy"].is_object()) {
      bad.push_back(w + "policy missing");
      continue;
    }
    const json& pol = p["policy"];
    need_string(pol, "policy-type", w + "policy.");
    need_string(pol, "policy-domain", w + "policy.");
    const std::string type = pol.value("policy-type", "");
    if (type != "tlsa" && type != "sts" && type != "no-policy-found") {
      bad.push_back(w + "policy.policy-type '" + type + "' unknown");
    }
    if (type == "tlsa") {
      if (!pol.contains("policy-string") || !pol["policy-string"].is_array() || pol["policy-string"].empty()) {
        bad.push_back(w + "policy.policy-string missing for tlsa");
      } else {
        for (const auto& s : pol["policy-string"]) {
          if (!s.is_string()) {
            bad.push_back(w + "policy.policy-string holds a non-string");
          }
        }
      }
    }
    if (pol.contains("mx-host") &&
        (!pol["mx-host"].is_array() || pol["mx-host"].empty() || !pol["mx-host"][0].is_string())) {
      bad.push_back(w + "policy.mx-host not a list of strings");
    }
    if (!p.contains("summary") || !is_count(p["summary"].value("total-successful-session-count", json())) ||
        !is_count(p["summary"].value("total-failure-session-count", json()))) {
      bad.push_back(w + "summary counts missing or not non-negative integers");
      continue;
    }
    std::uint64_t failures = 0;
    if (p.contains("failure-details")) {
      if (!p["failure-details"].is_array()) {
        bad.push_back(w + "failure-details not a list");
        continue;
      }
      for (const auto& fd : p["failure-details"]) {
        if (!k_result_types.count(fd.value("result-type", ""))) {
          bad.push_back(w + "failure-details result-type '" + fd.value("result-type", "") + "' not in RFC 8460");
        }
        if (!is_count(fd.value("failed-session-count", json()))) {
          bad.push_back(w + "failure-details failed-session-count not a count");
        } else {
          failures += fd["failed-session-count"].get<std::uint64_t>();
        }
        for (const char* k : {"receiving-mx-hostname", "receiving-ip", "sending-mta-ip", "failure-reason-code",
                              "additional-information"}) {
          if (fd.contains(k) && !fd[k].is_string()) {
            bad.push_back(w + "failure-details " + k + " not a string");
          }
        }
      }
    }
    if (failures != p["summary"]["total-failure-session-count"].get<std::uint64_t>()) {
      bad.push_back(w + "failed-session-counts do not add up to total-failure-session-count");
    }
  }
  return bad;
}

rp::TlsrptOptions options() {
  rp::TlsrptOptions o;
  o.organization = "Example Sender Ltd";
  o.contact = "tlsrpt@sender.example";
  return o;
}

const json* find_policy(const json& report, const std::string& mx, std::size_t nth = 0) {
  for (const auto& p : report["policies"]) {
    if (p["policy"].contains("mx-host") && p["policy"]["mx-host"][0] == mx) {
      if (nth-- == 0) {
        return &p;
      }
    }
  }
  return nullptr;
}

const json* find_detail(const json& policy, const std::string& type) {
  for (const auto& fd : policy["failure-details"]) {
    if (fd["result-type"] == type) {
      return &fd;
    }
  }
  return nullptr;
}

struct Fixture {
  rp::Aggregator agg;
  explicit Fixture(rp::Filter f = {}, bool maillog = false) : agg(std::move(f)) {
    auto ignore = [](const std::string&) {};
    agg.read_verdict_file(k_data + "verdicts-maillog.jsonl", ignore);
    if (maillog) {
      rp::MaillogOptions o;
      o.reference = *dane::parse_rfc3339("2026-11-29T00:00:00Z");
      o.local_time_is_utc = true;
      agg.read_maillog_file(k_data + "maillog-rfc3339.log", o, ignore);
      agg.finish_maillog();
    }
  }
};

} // namespace

TEST(Tlsrpt, Rfc8460_4_4_AllReportsPassSchemaCheck) {
  for (bool maillog : {false, true}) {
    Fixture fx({}, maillog);
    json all = rp::build_tlsrpt_all(fx.agg, options());
    ASSERT_TRUE(all.is_array());
    std::set<std::string> domains;
    for (const auto& r : all) {
      auto problems = check_report(r);
      EXPECT_TRUE(problems.empty()) << r.dump(2) << "\n" << ::testing::PrintToString(problems);
      domains.insert(r["policies"].empty() ? "" : r["policies"][0]["policy"]["policy-domain"].get<std::string>());
    }
    EXPECT_EQ(all.size(), maillog ? 6u : 5u);
    EXPECT_TRUE(domains.count("mx.relay.example")); // bracketed next hop -> its host name
    EXPECT_TRUE(domains.count("example.com"));
  }
}

TEST(Tlsrpt, HeaderFieldsAndDateRange) {
  rp::Filter f;
  f.since = *dane::parse_rfc3339("2026-11-08T00:00:00Z");
  f.until = *dane::parse_rfc3339("2026-11-09T00:00:00Z");
  Fixture fx(f);
  const auto* d = fx.agg.find("example.com");
  ASSERT_NE(d, nullptr);
  json r = rp::build_tlsrpt(fx.agg, *d, options());
  EXPECT_EQ(r["organization-name"], "Example Sender Ltd");
  EXPECT_EQ(r["contact-info"], "tlsrpt@sender.example");
  EXPECT_EQ(r["date-range"]["start-datetime"], "2026-11-08T00:00:00Z");
  EXPECT_EQ(r["date-range"]["end-datetime"], "2026-11-09T00:00:00Z");
  EXPECT_EQ(r["report-id"], "20261108T000000Z_20261109T000000Z_example.com");
  // Without a filter: the observed range.
  Fixture open;
  json r2 = rp::build_tlsrpt(open.agg, *open.agg.find("example.com"), options());
  EXPECT_EQ(r2["date-range"]["start-datetime"], "2026-11-08T09:59:00Z");
  EXPECT_EQ(r2["date-range"]["end-datetime"], "2026-11-08T09:59:40Z");
}

TEST(Tlsrpt, SessionCountsFromProbesWhenNoPostfixLog) {
  Fixture fx;
  json r = rp::build_tlsrpt(fx.agg, *fx.agg.find("example.com"), options());
  ASSERT_TRUE(check_report(r).empty());
  ASSERT_EQ(r["policies"].size(), 1u);
  const json& p = r["policies"][0];
  EXPECT_EQ(p["policy"]["policy-type"], "tlsa");
  EXPECT_EQ(p["policy"]["policy-string"],
            json::array({"3 1 1 2bb183af6ba7d1a8b5a4a3c4f4e0ae2b6d5f4c3b2a190817263544536271809a"}));
  EXPECT_EQ(p["policy"]["policy-domain"], "example.com");
  EXPECT_EQ(p["policy"]["mx-host"], json::array({"mx1.example.com"}));
  EXPECT_EQ(p["summary"]["total-successful-session-count"], 2);
  EXPECT_EQ(p["summary"]["total-failure-session-count"], 1);
  ASSERT_EQ(p["failure-details"].size(), 1u);
  const json& fd = p["failure-details"][0];
  EXPECT_EQ(fd["result-type"], "certificate-host-mismatch");
  EXPECT_EQ(fd["receiving-mx-hostname"], "mx1.example.com");
  EXPECT_EQ(fd["receiving-ip"], "192.0.2.2");
  EXPECT_EQ(fd["failed-session-count"], 1);
  EXPECT_NE(fd["additional-information"].get<std::string>().find("verdict%20log"), std::string::npos);
  EXPECT_EQ(fd["additional-information"].get<std::string>().rfind("data:,", 0), 0u);

  // Every probe result maps to an RFC result type; connect failures are no TLS session.
  json st = rp::build_tlsrpt(fx.agg, *fx.agg.find("starttls.example"), options());
  ASSERT_TRUE(check_report(st).empty());
  const json* sp = find_policy(st, "mx.starttls.example");
  ASSERT_NE(sp, nullptr);
  EXPECT_EQ((*sp)["summary"]["total-successful-session-count"], 0);
  EXPECT_EQ((*sp)["summary"]["total-failure-session-count"], 3);
  ASSERT_NE(find_detail(*sp, "starttls-not-supported"), nullptr);
  EXPECT_EQ((*find_detail(*sp, "starttls-not-supported"))["receiving-ip"], "192.0.2.30");
  ASSERT_NE(find_detail(*sp, "tlsa-invalid"), nullptr);
  EXPECT_EQ((*find_detail(*sp, "tlsa-invalid"))["receiving-ip"], "192.0.2.33");
  ASSERT_NE(find_detail(*sp, "validation-failure"), nullptr);
  EXPECT_EQ((*find_detail(*sp, "validation-failure"))["failure-reason-code"], "tls-failed");

  json relay = rp::build_tlsrpt(fx.agg, *fx.agg.find("[mx.relay.example]:2525"), options());
  ASSERT_NE(find_policy(relay, "mx.relay.example"), nullptr);
  EXPECT_NE(find_detail(*find_policy(relay, "mx.relay.example"), "certificate-expired"), nullptr);

  json broken = rp::build_tlsrpt(fx.agg, *fx.agg.find("broken.example"), options());
  const json* bp = find_policy(broken, "mx.broken.example");
  ASSERT_NE(bp, nullptr);
  ASSERT_NE(find_detail(*bp, "dnssec-invalid"), nullptr);
  EXPECT_EQ((*find_detail(*bp, "dnssec-invalid"))["failure-reason-code"],
            "TLSA lookup for _25._tcp.mx.broken.example bogus: signature expired");

  json insecure = rp::build_tlsrpt(fx.agg, *fx.agg.find("insecure.example"), options());
  const json* ip = find_policy(insecure, "mx.insecure.example");
  ASSERT_NE(ip, nullptr);
  EXPECT_EQ((*ip)["policy"]["policy-type"], "no-policy-found");
  EXPECT_FALSE((*ip)["policy"].contains("policy-string"));
  EXPECT_EQ((*ip)["summary"]["total-successful-session-count"], 1);
}

TEST(Tlsrpt, SessionCountsFromPostfixLogWhenGiven) {
  Fixture fx({}, true);
  json r = rp::build_tlsrpt(fx.agg, *fx.agg.find("example.com"), options());
  ASSERT_TRUE(check_report(r).empty()) << r.dump(2);
  EXPECT_NE(r["additional-information"].get<std::string>().find("Postfix%20log"), std::string::npos);
  const json* p = find_policy(r, "mx1.example.com");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ((*p)["summary"]["total-successful-session-count"], 2);
  EXPECT_EQ((*p)["summary"]["total-failure-session-count"], 1);
  const json* fd = find_detail(*p, "certificate-host-mismatch");
  ASSERT_NE(fd, nullptr);
  EXPECT_EQ((*fd)["receiving-ip"], "192.0.2.2");
  EXPECT_EQ((*fd)["failure-reason-code"], "num=62:hostname mismatch");

  json relay = rp::build_tlsrpt(fx.agg, *fx.agg.find("[mx.relay.example]:2525"), options());
  const json* rpol = find_policy(relay, "mx.relay.example");
  ASSERT_NE(rpol, nullptr);
  // The Untrusted session, its verification failure and its 4.7.5 deferral are one failed session.
  EXPECT_EQ((*rpol)["summary"]["total-failure-session-count"], 1);
  EXPECT_EQ((*rpol)["summary"]["total-successful-session-count"], 1);
  ASSERT_NE(find_detail(*rpol, "certificate-expired"), nullptr);

  json trusted = rp::build_tlsrpt(fx.agg, *fx.agg.find("trusted.example"), options());
  const json* tp = find_policy(trusted, "mx.trusted.example");
  ASSERT_NE(tp, nullptr);
  EXPECT_EQ((*tp)["policy"]["policy-type"], "no-policy-found");
  EXPECT_EQ((*tp)["summary"]["total-successful-session-count"], 1);
}

TEST(Tlsrpt, TlsaSetChangeGivesOnePolicyPerSet) {
  rp::Aggregator agg({});
  agg.read_verdict_file(k_data + "verdicts-flips.jsonl", [](const std::string&) {});
  json r = rp::build_tlsrpt(agg, *agg.find("flip.example"), options());
  ASSERT_TRUE(check_report(r).empty()) << r.dump(2);
  const json* first = find_policy(r, "mx.flip.example", 0);
  const json* second = find_policy(r, "mx.flip.example", 1);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ((*first)["policy"]["policy-string"].size(), 1u);
  EXPECT_EQ((*second)["policy"]["policy-string"].size(), 2u);
}

TEST(Tlsrpt, ResultTypeMapping) {
  EXPECT_EQ(rp::tlsrpt_result_type_for_probe("tlsa-mismatch"), "tlsa-invalid");
  EXPECT_EQ(rp::tlsrpt_result_type_for_probe("name-mismatch"), "certificate-host-mismatch");
  EXPECT_EQ(rp::tlsrpt_result_type_for_probe("cert-expired"), "certificate-expired");
  EXPECT_EQ(rp::tlsrpt_result_type_for_probe("starttls-not-offered"), "starttls-not-supported");
  EXPECT_EQ(rp::tlsrpt_result_type_for_probe("tls-failed"), "validation-failure");
  EXPECT_EQ(rp::tlsrpt_result_type_for_text("num=10:certificate has expired"), "certificate-expired");
  EXPECT_EQ(rp::tlsrpt_result_type_for_text("num=62:hostname mismatch"), "certificate-host-mismatch");
  EXPECT_EQ(rp::tlsrpt_result_type_for_text("num=20:unable to get local issuer certificate"),
            "certificate-not-trusted");
  EXPECT_EQ(rp::tlsrpt_result_type_for_text("TLS is required, but was not offered by host x[1.2.3.4]"),
            "starttls-not-supported");
  EXPECT_EQ(rp::tlsrpt_result_type_for_text("Server certificate not verified"), "validation-failure");
}

TEST(Tlsrpt, StreamedArrayEqualsBuiltArray) {
  Fixture fx({}, true);
  std::ostringstream out;
  rp::write_tlsrpt_all(fx.agg, options(), out);
  EXPECT_EQ(json::parse(out.str()), rp::build_tlsrpt_all(fx.agg, options()));
  rp::Aggregator empty({});
  std::ostringstream none;
  rp::write_tlsrpt_all(empty, options(), none);
  EXPECT_EQ(none.str(), "[]\n");
}

// ---- RFC 8460 §4.3.2.1 dane-required ----------------------------------------------------------

namespace {

// A destination whose answer requires DANE at every MX host while one host has no DNSSEC-validated
// TLSA records; the same under `dane` (opportunistic for that host: no failure); a cached repeat.
const char* const k_required_lines[] = {
    R"({"time":"2026-11-08T10:00:00Z","destination":"required.example","mode":"native","policy":"dane-only","answer":"OK dane-only","reason":"","cached":false,"hosts":[)"
    R"({"name":"mx1.required.example","dnssec":"secure","tlsa":["3 1 1 aa"],"tlsa_base":"mx1.required.example","status":"dane"},)"
    R"({"name":"mx2.required.example","dnssec":"secure","tlsa":[],"tlsa_base":"mx2.required.example","status":"no-tlsa"},)"
    R"({"name":"mx3.required.example","dnssec":"insecure","tlsa":[],"tlsa_base":"mx3.required.example","status":"insecure"},)"
    R"({"name":"mx4.required.example","dnssec":"bogus","tlsa":[],"tlsa_base":"mx4.required.example","status":"failed"}]})",
    R"({"time":"2026-11-08T10:05:00Z","destination":"required.example","mode":"native","policy":"dane-only","answer":"OK dane-only","reason":"","cached":true,"hosts":[)"
    R"({"name":"mx2.required.example","dnssec":"secure","tlsa":[],"tlsa_base":"mx2.required.example","status":"no-tlsa"}]})",
    R"({"time":"2026-11-08T10:00:00Z","destination":"optional.example","mode":"native","policy":"dane","answer":"OK dane","reason":"","cached":false,"hosts":[)"
    R"({"name":"mx1.optional.example","dnssec":"secure","tlsa":["3 1 1 bb"],"tlsa_base":"mx1.optional.example","status":"dane"},)"
    R"({"name":"mx2.optional.example","dnssec":"secure","tlsa":[],"tlsa_base":"mx2.optional.example","status":"no-tlsa"}]})",
};

} // namespace

TEST(Tlsrpt, Rfc8460_4_3_2_1_DaneRequiredFromVerdictLog) {
  rp::Aggregator agg({});
  for (const char* line : k_required_lines) {
    auto v = rp::parse_verdict_line(line);
    ASSERT_TRUE(v) << v.error();
    agg.add_verdict(*v);
  }
  json r = rp::build_tlsrpt(agg, *agg.find("required.example"), options());
  ASSERT_TRUE(check_report(r).empty()) << r.dump(2);
  const json* mx1 = find_policy(r, "mx1.required.example");
  ASSERT_NE(mx1, nullptr);
  EXPECT_EQ((*mx1)["summary"]["total-failure-session-count"], 0);
  for (const char* host : {"mx2.required.example", "mx3.required.example"}) {
    const json* p = find_policy(r, host);
    ASSERT_NE(p, nullptr) << host;
    EXPECT_EQ((*p)["policy"]["policy-type"], "no-policy-found");
    EXPECT_EQ((*p)["summary"]["total-failure-session-count"], 1) << host << " (the cached repeat is no new session)";
    const json* fd = find_detail(*p, "dane-required");
    ASSERT_NE(fd, nullptr) << p->dump(2);
    EXPECT_EQ((*fd)["receiving-mx-hostname"], host);
    EXPECT_EQ((*fd)["failed-session-count"], 1);
    EXPECT_NE((*fd)["failure-reason-code"].get<std::string>().find("dane-only policy, but no DNSSEC-validated TLSA"),
              std::string::npos)
        << fd->dump();
  }
  // A failed lookup is dnssec-invalid, not "no records".
  const json* mx4 = find_policy(r, "mx4.required.example");
  ASSERT_NE(mx4, nullptr);
  EXPECT_EQ(find_detail(*mx4, "dane-required"), nullptr);
  EXPECT_NE(find_detail(*mx4, "dnssec-invalid"), nullptr);

  // Under `dane` a host without TLSA gets opportunistic TLS (RFC 7672 §2.2): not a failure.
  json o = rp::build_tlsrpt(agg, *agg.find("optional.example"), options());
  ASSERT_TRUE(check_report(o).empty()) << o.dump(2);
  for (const auto& p : o["policies"]) {
    EXPECT_EQ(p["summary"]["total-failure-session-count"], 0) << p.dump();
  }
}

TEST(Tlsrpt, Rfc8460_4_3_2_1_DaneRequiredFromPostfixDaneOnlyDeferrals) {
  // Postfix's dane-only level defers with these texts (smtp_tls_policy.c) when the MX host has no
  // DNSSEC-validated TLSA records; a TLSA lookup error is the resolver's failure instead.
  EXPECT_EQ(rp::tlsrpt_result_type_for_text("no TLSA records found"), "dane-required");
  EXPECT_EQ(rp::tlsrpt_result_type_for_text("non DNSSEC destination"), "dane-required");
  EXPECT_EQ(rp::tlsrpt_result_type_for_text("TLSA lookup error for mx.example.com:25"), "dnssec-invalid");
  EXPECT_EQ(rp::tlsrpt_result_type_for_text("TLSA records unusable"), "tlsa-invalid");
  // The policy table's (dane-policyd's) TEMP text after Postfix's deferral: a DNS failure, even when
  // the validator's reason mentions an expired signature.
  EXPECT_EQ(rp::tlsrpt_result_type_for_text("client TLS configuration problem (policy table: 4.7.5 TLSA lookup for "
                                            "_25._tcp.mx.a.example bogus: signature expired)"),
            "dnssec-invalid");
  EXPECT_EQ(rp::tlsrpt_result_type_for_text(
                "client TLS configuration problem (policy table: 4.7.5 MX lookup for a.example failed: timeout)"),
            "dnssec-invalid");
  EXPECT_EQ(rp::tlsrpt_result_type_for_text("client TLS configuration problem"), "validation-failure");

  rp::Aggregator agg({});
  rp::MaillogOptions o;
  o.reference = *dane::parse_rfc3339("2026-11-29T00:00:00Z");
  o.local_time_is_utc = true;
  rp::MaillogPrefixParser p(o);
  auto ignore = [](const std::string&) {};
  agg.add_maillog_line("Nov 28 10:00:00 mail postfix/smtp[3]: ABCDE12345: to=<u@lost.example>, relay=none, "
                       "delay=1, delays=0/0/1/0, dsn=4.7.5, status=deferred (no TLSA records found)",
                       p, "t:1", ignore);
  agg.finish_maillog();
  ++agg.stats().maillog_files; // as read_maillog_file counts a file: session counts from the Postfix log
  json r = rp::build_tlsrpt(agg, *agg.find("lost.example"), options());
  ASSERT_TRUE(check_report(r).empty()) << r.dump(2);
  ASSERT_EQ(r["policies"].size(), 1u) << r.dump(2);
  const json& pol = r["policies"][0];
  EXPECT_EQ(pol["summary"]["total-failure-session-count"], 1);
  ASSERT_EQ(pol["failure-details"].size(), 1u);
  EXPECT_EQ(pol["failure-details"][0]["result-type"], "dane-required");
  EXPECT_EQ(pol["failure-details"][0]["failure-reason-code"], "no TLSA records found");
}

TEST(Tlsrpt, RealPostfix37DaneOnlyWithoutTlsaIsDaneRequired) {
  // Lines written by Postfix 3.7 and dane-policyd in tests/integration/postfix_e2e_test.cpp.
  rp::Aggregator agg({});
  auto ignore = [](const std::string&) {};
  for (const char* mode : {"pinned", "native", "monitor"}) {
    ASSERT_TRUE(agg.read_verdict_file(k_data + "postfix37-e2e-verdicts-" + mode + ".jsonl", ignore));
  }
  rp::MaillogOptions o;
  o.reference = *dane::parse_rfc3339("2026-11-30T00:00:00Z");
  o.local_time_is_utc = true;
  ASSERT_TRUE(agg.read_maillog_file(k_data + "postfix37-e2e-maillog.log", o, ignore));
  agg.finish_maillog();
  json all = rp::build_tlsrpt_all(agg, options());
  ASSERT_EQ(all.size(), 9u);
  for (const auto& r : all) {
    EXPECT_TRUE(check_report(r).empty()) << r.dump(2);
  }

  // native.test: two Verified sessions under the dane-only policy, then Postfix's own TLSA lookup
  // found none ("no TLSA records found", 4.7.5), then the control delivery without the daemon.
  json native = rp::build_tlsrpt(agg, *agg.find("native.test"), options());
  std::uint64_t ok = 0, failed = 0;
  const json* required = nullptr;
  for (const auto& p : native["policies"]) {
    ok += p["summary"]["total-successful-session-count"].get<std::uint64_t>();
    failed += p["summary"]["total-failure-session-count"].get<std::uint64_t>();
    if (const json* fd = find_detail(p, "dane-required")) {
      required = fd;
    }
  }
  EXPECT_EQ(failed, 2u) << native.dump(2) << " (dane-required, and the Untrusted control session under a TLSA policy)";
  EXPECT_EQ(ok, 2u) << native.dump(2);
  ASSERT_NE(required, nullptr) << native.dump(2);
  EXPECT_EQ((*required)["failed-session-count"], 1);
  EXPECT_EQ((*required)["failure-reason-code"], "no TLSA records found");
  // The MX host comes from Postfix's "TLS policy lookup for native.test/mx.native.test" warning; the
  // policy in force there was the daemon's dane-only answer for the TLSA set it had seen.
  EXPECT_EQ((*required)["receiving-mx-hostname"], "mx.native.test");
  const json* mx = find_policy(native, "mx.native.test");
  ASSERT_NE(mx, nullptr);
  EXPECT_EQ((*mx)["policy"]["policy-type"], "tlsa");
  ASSERT_NE(find_detail(*mx, "dane-required"), nullptr) << mx->dump(2);

  // bogus.test: the pinned daemon's TEMP (DNSSEC bogus) deferred the message.
  json bogus = rp::build_tlsrpt(agg, *agg.find("bogus.test"), options());
  const json* bp = find_policy(bogus, "mx.bogus.test");
  ASSERT_NE(bp, nullptr) << bogus.dump(2);
  ASSERT_NE(find_detail(*bp, "dnssec-invalid"), nullptr) << bp->dump(2);

  // rolled.e2e.test: the rolled key fails DANE ("num=65:no matching DANE TLSA records").
  json rolled = rp::build_tlsrpt(agg, *agg.find("rolled.e2e.test"), options());
  const json* rp_ = find_policy(rolled, "mx-rolled.e2e.test");
  ASSERT_NE(rp_, nullptr) << rolled.dump(2);
  EXPECT_EQ((*rp_)["summary"]["total-failure-session-count"], 1);
  ASSERT_NE(find_detail(*rp_, "tlsa-invalid"), nullptr) << rp_->dump(2);
  EXPECT_EQ((*find_detail(*rp_, "tlsa-invalid"))["receiving-ip"], "127.162.214.2");
}

TEST(Tlsrpt, TlsaSetThatComesBackIsOnePolicyAndMemoryDoesNotGrowWithFlips) {
  // A zone flapping between two TLSA sets: RFC 8460 wants one policy per set, and the aggregator
  // keeps one entry per distinct set (plus a 16-byte change point per flip), not one per flip.
  rp::Aggregator agg({});
  const char* sets[] = {"3 1 1 aa", "3 1 1 bb"};
  for (int i = 0; i < 1000; ++i) {
    const std::string t = dane::format_rfc3339(*dane::parse_rfc3339("2026-11-08T10:00:00Z") + i * dane::k_usec_per_sec);
    const std::string probe = i == 500 ? R"(,"addresses":[{"address":"192.0.2.7","port":25,"result":"pass"}])" : "";
    auto v = rp::parse_verdict_line(
        R"({"time":")" + t +
        R"(","destination":"flap.example","policy":"dane-only","answer":"OK dane-only","cached":false,"hosts":[{"name":"mx.flap.example","dnssec":"secure","tlsa":[")" +
        sets[i % 2] + R"("],"status":"dane")" + probe + "}]}");
    ASSERT_TRUE(v) << v.error();
    agg.add_verdict(*v);
  }
  const auto* d = agg.find("flap.example");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->tlsa_changes, 999u);
  ASSERT_EQ(d->hosts.size(), 1u);
  EXPECT_EQ(d->hosts[0].epochs.size(), 2u);
  EXPECT_EQ(d->hosts[0].timeline.size(), 1000u);
  json r = rp::build_tlsrpt(agg, *d, options());
  ASSERT_TRUE(check_report(r).empty()) << r.dump(2);
  ASSERT_EQ(r["policies"].size(), 2u) << r.dump(2);
  // The probe ran while "3 1 1 aa" (even lines) was in force.
  EXPECT_EQ(r["policies"][0]["policy"]["policy-string"], json::array({"3 1 1 aa"}));
  EXPECT_EQ(r["policies"][0]["summary"]["total-successful-session-count"], 1);
  EXPECT_EQ(r["policies"][1]["summary"]["total-successful-session-count"], 0);
  EXPECT_EQ(rp::render_json(agg)["destinations"][0]["hosts"][0]["tlsa"], json::array({"3 1 1 bb"}))
      << "the set in force after the last evaluation";
}

// Monitor mode: the real daemon's verdict log of a bogus destination (tests/data/report/README).
// The DNS failure was real, so it is reported, as MTA-STS "testing" failures are; but Postfix did
// not enforce, and the report says so within RFC 8460's fields: failure-reason-code begins with
// "monitor mode" and the detail's additional-information says enforcement was off.
TEST(Tlsrpt, MonitorModeBogusDestinationIsAWouldBeDnssecInvalidFailure) {
  rp::Aggregator agg({});
  auto ignore = [](const std::string&) {};
  ASSERT_TRUE(agg.read_verdict_file(k_data + "postfix37-e2e-verdicts-monitor.jsonl", ignore));
  ASSERT_TRUE(agg.read_verdict_file(k_data + "verdicts-daemon-monitor.jsonl", ignore));
  json bogus = rp::build_tlsrpt(agg, *agg.find("bogus.test"), options());
  ASSERT_TRUE(check_report(bogus).empty()) << bogus.dump(2);
  ASSERT_EQ(bogus["policies"].size(), 1u) << bogus.dump(2);
  const json& p = bogus["policies"][0];
  EXPECT_EQ(p["policy"]["policy-type"], "no-policy-found") << "the MX lookup failed: no MX host is known";
  EXPECT_FALSE(p["policy"].contains("mx-host"));
  EXPECT_EQ(p["summary"]["total-failure-session-count"], 2) << "one evaluation in each fixture";
  ASSERT_EQ(p["failure-details"].size(), 1u) << "the same failure, with the same reason, twice: " << p.dump(2);
  EXPECT_EQ(p["failure-details"][0]["failed-session-count"], 2) << p.dump(2);
  for (const auto& fd : p["failure-details"]) {
    EXPECT_EQ(fd["result-type"], "dnssec-invalid") << fd.dump(2);
    const std::string reason = fd["failure-reason-code"].get<std::string>();
    EXPECT_EQ(reason.rfind("monitor mode, would answer 'TEMP 4.7.5 MX lookup for bogus.test bogus", 0), 0u) << reason;
    EXPECT_NE(fd["additional-information"].get<std::string>().find("did%20not%20enforce"), std::string::npos)
        << fd.dump(2);
  }
  EXPECT_EQ(bogus["additional-information"].get<std::string>().find("monitor"), std::string::npos)
      << "the report-level note stays about the source of the counts";

  // A bogus TLSA RRset is blamed on its MX host.
  json tlsa = rp::build_tlsrpt(agg, *agg.find("tlsabogus.test"), options());
  ASSERT_TRUE(check_report(tlsa).empty()) << tlsa.dump(2);
  const json* mx = find_policy(tlsa, "mx.tlsabogus.test");
  ASSERT_NE(mx, nullptr) << tlsa.dump(2);
  const json* fd = find_detail(*mx, "dnssec-invalid");
  ASSERT_NE(fd, nullptr) << mx->dump(2);
  EXPECT_EQ((*fd)["failure-reason-code"].get<std::string>().rfind("monitor mode", 0), 0u) << fd->dump(2);

  // Would-be successes stay clean: the DANE destination and the one without TLSA have no failures.
  for (const char* name : {"dane.test", "mon-rolled.e2e.test", "none.test"}) {
    json r = rp::build_tlsrpt(agg, *agg.find(name), options());
    ASSERT_TRUE(check_report(r).empty()) << r.dump(2);
    for (const auto& pol : r["policies"]) {
      EXPECT_EQ(pol["summary"]["total-failure-session-count"], 0) << name << "\n" << r.dump(2);
    }
  }
}

TEST(Tlsrpt, MonitorModeDaneOnlyWithoutTlsaIsAWouldBeDaneRequired) {
  // A monitor line that would have answered dane-only while a host had no validated TLSA records.
  rp::Aggregator agg({});
  auto v = rp::parse_verdict_line(
      R"({"time":"2026-11-29T00:00:00Z","destination":"m.example","mode":"monitor","policy":"notfound",)"
      R"("answer":"NOTFOUND ","would_answer":"OK dane-only","reason":"monitor mode, would answer 'OK dane-only': x",)"
      R"("cached":false,"hosts":[{"name":"mx.m.example","dnssec":"insecure","tlsa":[],"status":"insecure"}]})");
  ASSERT_TRUE(v) << v.error();
  agg.add_verdict(*v);
  json r = rp::build_tlsrpt(agg, *agg.find("m.example"), options());
  ASSERT_TRUE(check_report(r).empty()) << r.dump(2);
  const json* mx = find_policy(r, "mx.m.example");
  ASSERT_NE(mx, nullptr) << r.dump(2);
  const json* fd = find_detail(*mx, "dane-required");
  ASSERT_NE(fd, nullptr) << mx->dump(2);
  EXPECT_EQ((*fd)["failure-reason-code"],
            "monitor mode, not enforced: dane-only policy, but no DNSSEC-validated TLSA records for mx.m.example "
            "(insecure)");
}

// ---------------------------------------------------------------------------------------------
// MTA-STS policies (issue 15): verdict lines with an "sts" object.
namespace {

const char* const k_sts_policy =
    R"("sts":{"domain":"sts.example","txt_id":"20261205","source":"fetched","policy_id":"20261205",)"
    R"("mode":"MODE","mx":["mx1.sts.example","*.backup.sts.example"],"max_age":86400,)"
    R"("fetched":"2026-12-04T00:00:00Z","expires":"2026-12-05T00:00:00Z",)"
    R"("policy_string":["version: STSv1","mode: MODE","mx: mx1.sts.example","mx: *.backup.sts.example",)"
    R"("max_age: 86400"]})";

std::string sts_line(const std::string& time, const std::string& mode, const std::string& event,
                     const std::string& mx1_result, const std::string& mx2_result) {
  std::string sts = k_sts_policy;
  for (auto pos = sts.find("MODE"); pos != std::string::npos; pos = sts.find("MODE")) {
    sts.replace(pos, 4, mode);
  }
  const std::string answer = mode == "enforce" ? "OK secure match=mx1.sts.example:a.backup.sts.example "
                                                 "servername=hostname"
                                               : "NOTFOUND ";
  const std::string policy = mode == "enforce" ? "secure" : "notfound";
  auto host = [&](const std::string& name, const std::string& addr, const std::string& result) {
    std::string h = R"({"name":")" + name + R"(","dnssec":"insecure","tlsa":[],"status":"insecure")";
    if (!result.empty()) {
      h += R"(,"addresses":[{"address":")" + addr + R"(","port":25,"result":")" + result + R"("}])";
    }
    return h + "}";
  };
  return R"({"time":")" + time + R"(","destination":"sts.example","mode":"native","policy":")" + policy +
         R"(","answer":")" + answer + R"(","reason":"MTA-STS policy","cached":false,)" +
         (event.empty() ? std::string() : R"("event":")" + event + R"(",)") + R"("hosts":[)" +
         host("mx1.sts.example", "192.0.2.31", mx1_result) + "," +
         host("a.backup.sts.example", "192.0.2.32", mx2_result) + "]," + sts + "}";
}

void add_line(rp::Aggregator& agg, const std::string& line) {
  auto v = rp::parse_verdict_line(line);
  ASSERT_TRUE(v) << v.error() << "\n" << line;
  agg.add_verdict(*v);
}

const json* find_sts(const json& report) {
  for (const auto& p : report["policies"]) {
    if (p["policy"]["policy-type"] == "sts") {
      return &p;
    }
  }
  return nullptr;
}

} // namespace

TEST(Tlsrpt, Rfc8460_4_3_StsEnforcePolicyWithProbeFailures) {
  rp::Aggregator agg({});
  add_line(agg, sts_line("2026-12-04T10:00:00Z", "enforce", "", "", ""));
  add_line(agg, sts_line("2026-12-04T10:00:01Z", "enforce", "probe", "pass", "cert-untrusted"));
  add_line(agg, sts_line("2026-12-04T11:00:01Z", "enforce", "probe", "mx-mismatch", "pass"));
  json r = rp::build_tlsrpt(agg, *agg.find("sts.example"), options());
  ASSERT_TRUE(check_report(r).empty()) << r.dump(2) << ::testing::PrintToString(check_report(r));
  // One policy for the domain (not one per MX host), no "no-policy-found" beside it and no
  // dane-required failure (an STS "secure" answer does not require DANE).
  ASSERT_EQ(r["policies"].size(), 1u) << r.dump(2);
  const json* p = find_sts(r);
  ASSERT_NE(p, nullptr) << r.dump(2);
  EXPECT_EQ((*p)["policy"]["policy-domain"], "sts.example");
  EXPECT_EQ((*p)["policy"]["mx-host"], json::array({"mx1.sts.example", "*.backup.sts.example"}));
  EXPECT_EQ((*p)["policy"]["policy-string"], json::array({"version: STSv1", "mode: enforce", "mx: mx1.sts.example",
                                                          "mx: *.backup.sts.example", "max_age: 86400"}));
  EXPECT_EQ((*p)["summary"]["total-successful-session-count"], 2);
  EXPECT_EQ((*p)["summary"]["total-failure-session-count"], 2);
  const json* untrusted = find_detail(*p, "certificate-not-trusted");
  ASSERT_NE(untrusted, nullptr) << p->dump(2);
  EXPECT_EQ((*untrusted)["receiving-mx-hostname"], "a.backup.sts.example");
  EXPECT_EQ((*untrusted)["receiving-ip"], "192.0.2.32");
  const json* mismatch = find_detail(*p, "validation-failure");
  ASSERT_NE(mismatch, nullptr) << p->dump(2);
  EXPECT_EQ((*mismatch)["receiving-mx-hostname"], "mx1.sts.example");
  EXPECT_EQ((*mismatch)["failure-reason-code"], "mx-mismatch");
}

TEST(Tlsrpt, StsTestingPolicyIsReportedAndNoneIsNoPolicy) {
  rp::Aggregator agg({});
  add_line(agg, sts_line("2026-12-04T10:00:00Z", "testing", "", "", ""));
  add_line(agg, sts_line("2026-12-04T10:00:01Z", "testing", "probe", "cert-untrusted", "pass"));
  json r = rp::build_tlsrpt(agg, *agg.find("sts.example"), options());
  ASSERT_TRUE(check_report(r).empty()) << r.dump(2);
  const json* p = find_sts(r);
  ASSERT_NE(p, nullptr) << r.dump(2);
  EXPECT_EQ((*p)["policy"]["policy-string"][1], "mode: testing");
  EXPECT_EQ((*p)["summary"]["total-failure-session-count"], 1);
  EXPECT_NE(find_detail(*p, "certificate-not-trusted"), nullptr);

  // mode none: RFC 8461 §3.2, as though there were no policy.
  rp::Aggregator none({});
  add_line(none, sts_line("2026-12-04T10:00:00Z", "none", "", "", ""));
  json n = rp::build_tlsrpt(none, *none.find("sts.example"), options());
  ASSERT_TRUE(check_report(n).empty()) << n.dump(2);
  EXPECT_EQ(find_sts(n), nullptr) << n.dump(2);
}

TEST(Tlsrpt, DaneHostKeepsTlsaPolicyBesideSts) {
  // DANE first (RFC 8461 §2): a host with TLSA records is reported under its TLSA set.
  std::string line = sts_line("2026-12-04T10:00:00Z", "enforce", "", "", "");
  const std::string insecure_mx1 = R"({"name":"mx1.sts.example","dnssec":"insecure","tlsa":[],"status":"insecure"})";
  line.replace(line.find(insecure_mx1), insecure_mx1.size(),
               R"({"name":"mx1.sts.example","dnssec":"secure","tlsa":["3 1 1 aabbccdd"],"status":"dane"})");
  rp::Aggregator agg({});
  add_line(agg, line);
  json r = rp::build_tlsrpt(agg, *agg.find("sts.example"), options());
  ASSERT_TRUE(check_report(r).empty()) << r.dump(2);
  const json* tlsa = find_policy(r, "mx1.sts.example");
  ASSERT_NE(tlsa, nullptr) << r.dump(2);
  EXPECT_EQ((*tlsa)["policy"]["policy-type"], "tlsa");
  EXPECT_NE(find_sts(r), nullptr) << r.dump(2);
}

TEST(Tlsrpt, StsSessionsFromPostfixLog) {
  rp::Aggregator agg({});
  add_line(agg, sts_line("2026-11-28T09:00:00Z", "enforce", "", "", ""));
  rp::MaillogOptions o;
  o.reference = *dane::parse_rfc3339("2026-11-29T00:00:00Z");
  o.local_time_is_utc = true;
  rp::MaillogPrefixParser p(o);
  auto ignore = [](const std::string&) {};
  agg.add_maillog_line("Nov 28 10:00:00 mail postfix/smtp[3]: Verified TLS connection established to "
                       "mx1.sts.example[192.0.2.31]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                       p, "t:1", ignore);
  agg.add_maillog_line("Nov 28 10:00:01 mail postfix/smtp[3]: ABCDE12345: to=<u@sts.example>, "
                       "relay=mx1.sts.example[192.0.2.31]:25, delay=1, delays=0/0/1/0, dsn=2.0.0, status=sent (250 ok)",
                       p, "t:2", ignore);
  agg.add_maillog_line("Nov 28 10:05:00 mail postfix/smtp[4]: server certificate verification failed for "
                       "a.backup.sts.example[192.0.2.32]:25: num=20:unable to get local issuer certificate",
                       p, "t:3", ignore);
  agg.add_maillog_line("Nov 28 10:05:01 mail postfix/smtp[4]: ABCDE12346: to=<u@sts.example>, "
                       "relay=a.backup.sts.example[192.0.2.32]:25, delay=1, delays=0/0/1/0, dsn=4.7.5, "
                       "status=deferred (Server certificate not verified)",
                       p, "t:4", ignore);
  agg.finish_maillog();
  ++agg.stats().maillog_files;
  json r = rp::build_tlsrpt(agg, *agg.find("sts.example"), options());
  ASSERT_TRUE(check_report(r).empty()) << r.dump(2);
  const json* s = find_sts(r);
  ASSERT_NE(s, nullptr) << r.dump(2);
  EXPECT_EQ((*s)["summary"]["total-successful-session-count"], 1) << r.dump(2);
  EXPECT_EQ((*s)["summary"]["total-failure-session-count"], 1) << r.dump(2);
  const json* fd = find_detail(*s, "certificate-not-trusted");
  ASSERT_NE(fd, nullptr) << s->dump(2);
  EXPECT_EQ((*fd)["receiving-mx-hostname"], "a.backup.sts.example");
}

TEST(Tlsrpt, StsObjectFieldsAreTypeChecked) {
  std::string line = sts_line("2026-12-04T10:00:00Z", "enforce", "", "", "");
  std::string bad = line;
  bad.replace(bad.find(R"("source":"fetched")"), 18, R"("source":"guessed")");
  auto v = rp::parse_verdict_line(bad);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().find("sts.source"), std::string::npos) << v.error();
  bad = line;
  bad.replace(bad.find(R"("mx":[)"), 6, R"("mx":[1,)");
  v = rp::parse_verdict_line(bad);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().find("sts.mx"), std::string::npos) << v.error();
  EXPECT_EQ(rp::tlsrpt_result_type_for_probe("cert-untrusted"), "certificate-not-trusted");
  EXPECT_EQ(rp::tlsrpt_result_type_for_probe("mx-mismatch"), "validation-failure");
}

TEST(Tlsrpt, StsEnforceWithNoMatchingMxIsAValidationFailure) {
  // The daemon answers TEMP when no MX host matches an enforce policy's patterns: Postfix defers.
  std::string line = sts_line("2026-12-04T10:00:00Z", "enforce", "", "", "");
  const std::string answer = R"("policy":"secure","answer":"OK secure match=mx1.sts.example:a.backup.sts.example )"
                             R"(servername=hostname","reason":"MTA-STS policy")";
  ASSERT_NE(line.find(answer), std::string::npos) << line;
  line.replace(line.find(answer), answer.size(),
               R"("policy":"tempfail","answer":"TEMP no MX host matches the MTA-STS policy)"
               R"x(","reason":"no MX host matches the MTA-STS policy (mx1.sts.example, *.backup.sts.example)")x");
  rp::Aggregator agg({});
  add_line(agg, line);
  json r = rp::build_tlsrpt(agg, *agg.find("sts.example"), options());
  ASSERT_TRUE(check_report(r).empty()) << r.dump(2);
  const json* p = find_sts(r);
  ASSERT_NE(p, nullptr) << r.dump(2);
  EXPECT_EQ((*p)["summary"]["total-failure-session-count"], 2) << p->dump(2);
  const json* fd = find_detail(*p, "validation-failure");
  ASSERT_NE(fd, nullptr) << p->dump(2);
  EXPECT_NE((*fd)["failure-reason-code"].get<std::string>().find("no MX host matches"), std::string::npos);
}
