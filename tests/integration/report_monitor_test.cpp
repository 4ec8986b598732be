// Monitor mode made reviewable: the real dane-policyd runs with --mode monitor against the DNSSEC
// rig (a DANE destination, a bogus one, one with a bogus TLSA RRset, one without TLSA), answers
// NOTFOUND to everything, and then the real `dane-policyctl report` reads the verdict log it wrote.
// Each destination must be counted as what enforcement would have answered: the bogus ones as
// tempfail with the failure mark "!" (table), severity 3 (JSON) and a dnssec-invalid failure in the
// RFC 8460 export, every one of them flagged as only monitored.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "daemon_process.hpp"
#include "dns_rig.hpp"
#include "postfix_instance.hpp" // run_command
#include "test_env.hpp"

namespace dane::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::string k_ee = "0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";

std::unique_ptr<DnsRig> s_rig;

std::string policyctl_binary() {
  const char* env = std::getenv("DANE_POLICYCTL");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(DANE_BINARY_DIR) + "/bin/dane-policyctl";
}

// The whitespace-separated cells of the table row of `destination` (after the one-character mark
// column, which is returned as cells[0]); empty when there is no such row.
std::vector<std::string> table_row(const std::string& table, const std::string& destination) {
  std::istringstream lines(table);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() < 2) {
      continue;
    }
    std::istringstream words(line.substr(1));
    std::vector<std::string> cells{line.substr(0, 1)};
    for (std::string w; words >> w;) {
      cells.push_back(w);
    }
    if (cells.size() > 1 && cells[1] == destination) {
      return cells;
    }
  }
  return {};
}

// The position of a column in the table's header line (the mark column being 0).
std::size_t column(const std::string& table, const std::string& name) {
  std::istringstream words(table.substr(0, table.find('\n')));
  std::size_t i = 1;
  for (std::string w; words >> w; ++i) {
    if (w == name) {
      return i;
    }
  }
  return 0;
}

const json* find_destination(const json& report, const std::string& name) {
  for (const auto& d : report["destinations"]) {
    if (d["destination"] == name) {
      return &d;
    }
  }
  return nullptr;
}

class ReportMonitor : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available()) {
      return;
    }
    s_rig = std::make_unique<DnsRig>();
    // Every MX host has usable TLSA: enforcement would answer dane-only.
    s_rig->add_zone({"dane.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + k_ee + "\n"});
    // DS matches no key: the MX lookup is bogus, enforcement would answer TEMP (defer).
    s_rig->add_zone(
        {"bogus.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + k_ee + "\n", ZoneSigning::WrongDs});
    // The only host's TLSA RRset is bogus: TEMP too, blamed on that host.
    s_rig->add_zone({"tlsabogus.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + k_ee + "\n",
                     ZoneSigning::BadSignature, "_25._tcp.mx.tlsabogus.test. TLSA"});
    // Secure, no TLSA anywhere: NOTFOUND in every mode.
    s_rig->add_zone({"none.test", "@ MX 10 mx\nmx A 127.0.0.2\n"});
    DnsRig::start_or_fail(s_rig);
  }
  static void TearDownTestSuite() { s_rig.reset(); }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(s_rig != nullptr, DnsRig::missing_tools_message());
    ::chmod(m_dir.path().c_str(), 0777); // started as root, the daemon drops privileges
  }

  std::string verdict_log() const { return m_dir.path() + "/verdicts.jsonl"; }

  // Runs dane-policyctl report ARGS... VERDICT-LOG; fails the test unless it exits 0.
  std::string report(std::vector<std::string> args) {
    args.insert(args.begin(), {policyctl_binary(), "report"});
    args.push_back(verdict_log());
    auto run = run_command(args);
    EXPECT_EQ(run.exit_code, 0) << run.output;
    return run.output;
  }

  DaemonTempDir m_dir{"dane-report-monitor"};
};

TEST_F(ReportMonitor, WouldBeTempfailIsReportedAsTempfailAndAsMonitored) {
  const std::string sock = m_dir.path() + "/socketmap";
  std::vector<std::string> args = {"--socketmap", "unix:" + sock,     "--verdict-log", verdict_log(),          "--mode",
                                   "monitor",     "--log-cache-hits", "--state-dir",   m_dir.path() + "/state"};
  auto rig_args = s_rig->cli_args(5);
  args.insert(args.end(), rig_args.begin(), rig_args.end());
  auto daemon = DaemonProcess::start(args);
  ASSERT_TRUE(daemon) << daemon.error();
  {
    auto raw = RawClient::unix_socket(sock);
    ASSERT_TRUE(raw) << raw.error();
    SocketmapClient client(std::move(*raw));
    // Monitor mode never changes what Postfix is told.
    for (const char* key : {"dane.test", "bogus.test", "tlsabogus.test", "none.test", "dane.test"}) {
      auto reply = client.query("tlspolicy", key);
      ASSERT_TRUE(reply) << key << ": " << reply.error();
      EXPECT_EQ(*reply, "NOTFOUND ") << key;
    }
  }
  // Five lines: four evaluations and the cache hit of dane.test (--log-cache-hits). SIGTERM makes
  // the daemon write what it still holds before it exits.
  EXPECT_EQ((*daemon)->stop(), 0) << (*daemon)->output();
  const auto lines = read_text_lines(verdict_log());
  ASSERT_EQ(lines.size(), 5u) << read_text_file(verdict_log());
  if (const char* keep = std::getenv("DANE_KEEP_VERDICT_LOG"); keep != nullptr && *keep != '\0') {
    // How tests/data/report/verdicts-daemon-monitor.jsonl was made (see the README there).
    std::ofstream(keep) << read_text_file(verdict_log());
  }
  for (const auto& line : lines) {
    auto j = json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_EQ(j["mode"], "monitor") << line;
    EXPECT_EQ(j["policy"], "notfound") << line;
    EXPECT_TRUE(j.contains("would_answer")) << "the field the report reads: " << line;
  }

  // --- table
  const std::string table = report({});
  const std::size_t evals = column(table, "EVALS"), monitored = column(table, "MONITORED"),
                    dane_only = column(table, "DANE-ONLY"), notfound = column(table, "NOTFOUND"),
                    tempfail = column(table, "TEMPFAIL");
  ASSERT_TRUE(evals != 0 && monitored != 0 && dane_only != 0 && notfound != 0 && tempfail != 0) << table;
  for (const char* name : {"bogus.test", "tlsabogus.test"}) {
    auto row = table_row(table, name);
    ASSERT_GT(row.size(), tempfail) << name << "\n" << table;
    EXPECT_EQ(row[0], "!") << name << ": the failure mark\n" << table;
    EXPECT_EQ(row[2], "tempfail(monitor)") << name << "\n" << table;
    EXPECT_EQ(row[monitored], "1") << name << "\n" << table;
    EXPECT_EQ(row[tempfail], "1") << name << "\n" << table;
    EXPECT_EQ(row[notfound], "0") << name << ": Postfix was told NOTFOUND, but that is not what is counted\n" << table;
  }
  auto dane = table_row(table, "dane.test");
  ASSERT_GT(dane.size(), tempfail) << table;
  EXPECT_EQ(dane[2], "dane-only(monitor)") << table;
  EXPECT_EQ(dane[evals], "2") << table;
  EXPECT_EQ(dane[monitored], "2") << "the cache hit is monitored too\n" << table;
  EXPECT_EQ(dane[dane_only], "2") << table;
  EXPECT_EQ(dane[tempfail], "0") << table;
  auto none = table_row(table, "none.test");
  ASSERT_GT(none.size(), tempfail) << table;
  EXPECT_EQ(none[2], "notfound(monitor)") << table;
  EXPECT_EQ(none[notfound], "1") << table;
  EXPECT_NE(table.find("5 evaluation(s) made in monitor mode"), std::string::npos) << table;

  // --- JSON
  auto j = json::parse(report({"--json"}), nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["input"]["monitor_lines"], 5);
  EXPECT_EQ(j["input"]["malformed"], 0);
  ASSERT_EQ(j["destinations"].size(), 4u) << j.dump(2);
  EXPECT_EQ(j["destinations"][0]["severity"], 3) << "problems first: " << j.dump(2);
  for (const char* name : {"bogus.test", "tlsabogus.test"}) {
    const json* d = find_destination(j, name);
    ASSERT_NE(d, nullptr) << name;
    EXPECT_EQ((*d)["policy"], "tempfail") << d->dump(2);
    EXPECT_EQ((*d)["policy_monitored"], true) << d->dump(2);
    EXPECT_EQ((*d)["monitored"], 1) << d->dump(2);
    EXPECT_EQ((*d)["severity"], 3) << d->dump(2);
    EXPECT_EQ((*d)["counts"], (json{{"dane-only", 0}, {"dane", 0}, {"pinned", 0}, {"notfound", 0}, {"tempfail", 1}}))
        << d->dump(2);
    ASSERT_TRUE((*d)["last_failure"].is_object()) << d->dump(2);
    EXPECT_EQ((*d)["last_failure"]["reason"].get<std::string>().rfind("monitor mode, would answer 'TEMP", 0), 0u)
        << d->dump(2);
  }
  const json* dj = find_destination(j, "dane.test");
  ASSERT_NE(dj, nullptr);
  EXPECT_EQ((*dj)["counts"]["dane-only"], 2) << dj->dump(2);
  EXPECT_EQ((*dj)["monitored"], 2) << dj->dump(2);
  EXPECT_EQ((*dj)["severity"], 0) << dj->dump(2);

  // --- RFC 8460: the would-be failures, marked as monitored within the RFC's own fields.
  auto bogus = json::parse(report({"--tlsrpt", "--domain", "bogus.test"}), nullptr, false);
  ASSERT_TRUE(bogus.is_object());
  ASSERT_EQ(bogus["policies"].size(), 1u) << bogus.dump(2);
  const json& bp = bogus["policies"][0];
  EXPECT_EQ(bp["policy"]["policy-type"], "no-policy-found") << "the MX lookup failed: no MX host known";
  EXPECT_EQ(bp["summary"]["total-failure-session-count"], 1) << bp.dump(2);
  ASSERT_EQ(bp["failure-details"].size(), 1u) << bp.dump(2);
  const json& fd = bp["failure-details"][0];
  EXPECT_EQ(fd["result-type"], "dnssec-invalid") << fd.dump(2);
  EXPECT_EQ(fd["failure-reason-code"].get<std::string>().rfind("monitor mode", 0), 0u) << fd.dump(2);
  EXPECT_NE(fd["additional-information"].get<std::string>().find("monitor%20mode"), std::string::npos) << fd.dump(2);
  for (const auto& [key, value] : fd.items()) { // RFC 8460 §4.4 names only: no field of our own
    EXPECT_TRUE(key == "result-type" || key == "sending-mta-ip" || key == "receiving-mx-hostname" ||
                key == "receiving-mx-helo" || key == "receiving-ip" || key == "failed-session-count" ||
                key == "additional-information" || key == "failure-reason-code")
        << key;
  }

  auto all = json::parse(report({"--tlsrpt"}), nullptr, false);
  ASSERT_TRUE(all.is_array()) << all.dump(2);
  ASSERT_EQ(all.size(), 4u) << all.dump(2);
  bool tlsa_bogus_seen = false;
  for (const auto& r : all) {
    for (const auto& p : r["policies"]) {
      std::uint64_t failed = 0;
      for (const auto& f : p["failure-details"]) {
        failed += f["failed-session-count"].get<std::uint64_t>();
      }
      EXPECT_EQ(failed, p["summary"]["total-failure-session-count"]) << p.dump(2);
      if (r["policies"][0]["policy"]["policy-domain"] == "tlsabogus.test" &&
          p["policy"].value("mx-host", json::array()) == json::array({"mx.tlsabogus.test"})) {
        ASSERT_EQ(p["failure-details"].size(), 1u) << p.dump(2);
        EXPECT_EQ(p["failure-details"][0]["result-type"], "dnssec-invalid") << p.dump(2);
        EXPECT_EQ(p["failure-details"][0]["receiving-mx-hostname"], "mx.tlsabogus.test") << p.dump(2);
        tlsa_bogus_seen = true;
      }
      if (r["policies"][0]["policy"]["policy-domain"] == "dane.test" ||
          r["policies"][0]["policy"]["policy-domain"] == "none.test") {
        EXPECT_EQ(p["summary"]["total-failure-session-count"], 0) << r.dump(2);
      }
    }
  }
  EXPECT_TRUE(tlsa_bogus_seen) << all.dump(2);
}

} // namespace
} // namespace dane::test
