// Unit tests of the verdict log writer and the verdict JSON shape
// (src/daemon/include/dane/daemon/verdict_log.hpp, docs/design.md §6).
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include "daemon_process.hpp"
#include "dane/daemon/verdict_log.hpp"

namespace dane::policyd {
namespace {

using TempDir = dane::test::DaemonTempDir;
using dane::test::read_text_lines;

DestinationFacts sample_facts() {
  DestinationFacts f;
  f.next_hop.key = "example.test";
  f.next_hop.domain = "example.test";
  f.outcome = DestinationOutcome::DaneOnly;
  f.mx_security = DnsSecurity::Secure;
  f.ttl = 300;
  HostResult h;
  h.name = "mx1.example.test";
  h.dnssec = DnsSecurity::Secure;
  h.tlsa.push_back(*parse_tlsa("3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"));
  h.tlsa_base = "mx1.example.test";
  h.tlsa_owner = "_25._tcp.mx1.example.test";
  h.status = HostStatus::DaneUsable;
  h.addresses = {"127.0.0.2"};
  f.hosts.push_back(h);
  return f;
}

PolicyAnswer sample_answer() {
  return PolicyAnswer{PolicyKind::DaneOnly, "OK dane-only", "every MX host has usable TLSA", "OK dane-only"};
}

TEST(VerdictRecord, RendersThePinnedFields) {
  DestinationFacts facts = sample_facts();
  VerdictRecord rec{std::chrono::system_clock::from_time_t(1798531200),
                    "example.test",
                    Mode::Native,
                    &facts,
                    sample_answer(),
                    false,
                    nullptr,
                    ""};
  auto j = nlohmann::json::parse(render_verdict(rec));
  EXPECT_EQ(j["time"], "2026-12-29T08:00:00Z");
  EXPECT_EQ(j["destination"], "example.test");
  EXPECT_EQ(j["mode"], "native");
  EXPECT_EQ(j["policy"], "dane-only");
  EXPECT_EQ(j["answer"], "OK dane-only");
  EXPECT_EQ(j["reason"], "every MX host has usable TLSA");
  EXPECT_EQ(j["cached"], false);
  ASSERT_EQ(j["hosts"].size(), 1u);
  const auto& h = j["hosts"][0];
  EXPECT_EQ(h["name"], "mx1.example.test");
  EXPECT_EQ(h["dnssec"], "secure");
  EXPECT_EQ(h["tlsa"][0], "3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6");
  EXPECT_EQ(h["tlsa_base"], "mx1.example.test");
  EXPECT_EQ(h["status"], to_string(HostStatus::DaneUsable));
  EXPECT_FALSE(h.contains("addresses")) << "addresses only when a probe ran";
}

TEST(VerdictRecord, ProbeResultsAppearAsAddressesOfTheirHost) {
  DestinationFacts facts = sample_facts();
  std::vector<ProbedHost> probes;
  ProbeReport rep;
  rep.address = "127.0.0.2";
  rep.port = 25;
  rep.result = ProbeResult::Pass;
  rep.matched = facts.hosts[0].tlsa[0];
  rep.depth = 0;
  probes.push_back(ProbedHost{"mx1.example.test", rep});
  ProbeReport failed;
  failed.address = "127.0.0.3";
  failed.port = 25;
  failed.result = ProbeResult::TlsaMismatch;
  failed.reason = "no TLSA record matches";
  probes.push_back(ProbedHost{"mx1.example.test", failed});
  VerdictRecord rec{
      std::chrono::system_clock::now(), "example.test", Mode::Pinned, &facts, sample_answer(), false, &probes, "probe"};
  auto j = nlohmann::json::parse(render_verdict(rec));
  ASSERT_EQ(j["hosts"][0]["addresses"].size(), 2u);
  const auto& f = j["hosts"][0]["addresses"][1];
  EXPECT_EQ(f["result"], "tlsa-mismatch");
  EXPECT_TRUE(f["matched"].is_null());
  EXPECT_TRUE(f["depth"].is_null()) << "no match, no depth";
  EXPECT_EQ(f["reason"], "no TLSA record matches");
  EXPECT_FALSE(f.contains("chain_pem")) << "the verdict log keeps to the summary";
  const auto& a = j["hosts"][0]["addresses"][0];
  EXPECT_EQ(a["address"], "127.0.0.2");
  EXPECT_EQ(a["port"], 25);
  EXPECT_EQ(a["result"], "pass");
  EXPECT_EQ(a["matched"], facts.hosts[0].tlsa[0].to_string());
  EXPECT_EQ(a["depth"], 0);
  EXPECT_EQ(j["event"], "probe");
  EXPECT_TRUE(std::regex_match(j["time"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")));
}

TEST(VerdictRecord, MonitorModeCarriesWhatWouldHaveBeenAnswered) {
  DestinationFacts facts = sample_facts();
  PolicyAnswer a{PolicyKind::NotFound, "NOTFOUND ", "monitor mode", "OK dane-only"};
  VerdictRecord rec{std::chrono::system_clock::now(), "example.test", Mode::Monitor, &facts, a, true, nullptr, ""};
  auto j = nlohmann::json::parse(render_verdict(rec));
  EXPECT_EQ(j["answer"], "NOTFOUND ");
  EXPECT_EQ(j["would_answer"], "OK dane-only");
  EXPECT_EQ(j["cached"], true);
}

TEST(VerdictRecord, SummaryLineIsOneGreppableLineWithoutControlCharacters) {
  DestinationFacts facts = sample_facts();
  VerdictRecord rec{
      std::chrono::system_clock::now(), "evil\n.test\"x", Mode::Native, &facts, sample_answer(), false, nullptr, ""};
  std::string line = summary_line(rec);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.rfind("verdict destination=\"evil%0A.test%22x\" mode=native policy=dane-only "
                       "answer=\"OK dane-only\" cached=no",
                       0),
            0u)
      << line;
}

TEST(LogWriter, WritesOneLinePerVerdictInOrder) {
  TempDir dir;
  std::string path = dir.path() + "/verdicts.jsonl";
  auto w = LogWriter::open(LogOptions{path, false, false, 1000});
  ASSERT_TRUE(w) << w.error();
  (*w)->start();
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE((*w)->verdict("{\"n\":" + std::to_string(i) + "}"));
  }
  (*w)->flush();
  auto lines = read_text_lines(path);
  ASSERT_EQ(lines.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(nlohmann::json::parse(lines[static_cast<std::size_t>(i)])["n"], i);
  }
}

TEST(LogWriter, ReopenFollowsTheRotatedPath) {
  TempDir dir;
  std::string path = dir.path() + "/verdicts.jsonl";
  auto w = LogWriter::open(LogOptions{path, false, false, 1000});
  ASSERT_TRUE(w) << w.error();
  (*w)->start();
  (*w)->verdict("{\"n\":1}");
  (*w)->flush();
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  (*w)->verdict("{\"n\":2}"); // still the old (renamed) file
  (*w)->reopen();
  (*w)->verdict("{\"n\":3}");
  (*w)->flush();
  EXPECT_EQ(read_text_lines(path + ".1"), (std::vector<std::string>{"{\"n\":1}", "{\"n\":2}"}));
  EXPECT_EQ(read_text_lines(path), (std::vector<std::string>{"{\"n\":3}"}));
  EXPECT_EQ((*w)->reopens(), 1u);
}

TEST(VerdictRecord, SummaryLineCodesEveryClientByteOutsidePrintableAscii) {
  DestinationFacts facts = sample_facts();
  VerdictRecord rec{std::chrono::system_clock::now(),
                    "a\xff\x1b[31m\n%b.test",
                    Mode::Native,
                    &facts,
                    sample_answer(),
                    false,
                    nullptr,
                    ""};
  std::string line = summary_line(rec);
  for (char c : line) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << static_cast<int>(static_cast<unsigned char>(c)) << " in " << line;
  }
  EXPECT_EQ(line.rfind("verdict destination=\"a%FF%1B[31m%0A%25b.test\" ", 0), 0u) << line;
}

// RLIMIT_FSIZE makes write() short at a chosen size, as a full disk does (no root needed).
TEST(LogWriter, AShortWriteIsCutBackCountedAndTheNextLinesAreWhole) {
  TempDir dir;
  std::string path = dir.path() + "/verdicts.jsonl";
  auto w = LogWriter::open(LogOptions{path, false, false, 1000});
  ASSERT_TRUE(w) << w.error();
  (*w)->start();
  const std::string line = "{\"pad\":\"" + std::string(95, 'x') + "\"}"; // 105 bytes + newline
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit old_limit {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit small = old_limit;
  small.rlim_cur = 1000; // 9 whole lines (954 bytes), then the 10th is cut short
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  for (int i = 0; i < 20; ++i) {
    (*w)->verdict(line);
  }
  (*w)->flush();
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  std::signal(SIGXFSZ, old_handler);
  for (int i = 0; i < 3; ++i) {
    (*w)->verdict(line);
  }
  (*w)->flush();
  auto lines = read_text_lines(path);
  EXPECT_EQ(lines.size(), 12u);
  for (const auto& l : lines) {
    EXPECT_EQ(l, line) << "a line continues a fragment";
  }
  EXPECT_EQ((*w)->write_errors(), 11u);
}

TEST(LogWriter, ADeletedVerdictLogIsRecreatedWithoutAReopen) {
  TempDir dir;
  std::string path = dir.path() + "/verdicts.jsonl";
  auto w = LogWriter::open(LogOptions{path, false, false, 1000});
  ASSERT_TRUE(w) << w.error();
  (*w)->start();
  (*w)->verdict("{\"n\":1}");
  (*w)->flush();
  ASSERT_EQ(::unlink(path.c_str()), 0);
  (*w)->verdict("{\"n\":2}");
  (*w)->flush();
  EXPECT_EQ(read_text_lines(path), (std::vector<std::string>{"{\"n\":2}"}));
}

TEST(LogWriter, FullQueueDropsAndCountsInsteadOfBlocking) {
  TempDir dir;
  std::string path = dir.path() + "/verdicts.jsonl";
  auto w = LogWriter::open(LogOptions{path, false, false, 3});
  ASSERT_TRUE(w) << w.error();
  // Not started: nothing drains the queue, so the 4th and 5th entries cannot fit.
  EXPECT_TRUE((*w)->verdict("{\"n\":1}"));
  EXPECT_TRUE((*w)->verdict("{\"n\":2}"));
  EXPECT_TRUE((*w)->message(Severity::Info, "hello"));
  EXPECT_FALSE((*w)->verdict("{\"n\":4}"));
  EXPECT_FALSE((*w)->message(Severity::Warning, "dropped"));
  EXPECT_EQ((*w)->dropped(), 2u);
  (*w)->start();
  (*w)->flush();
  EXPECT_EQ(read_text_lines(path), (std::vector<std::string>{"{\"n\":1}", "{\"n\":2}"}));
}

TEST(LogWriter, UnwritableVerdictLogIsAnErrorNamingTheFile) {
  auto w = LogWriter::open(LogOptions{"/nonexistent-dir-dane/v.jsonl", false, false, 10});
  ASSERT_FALSE(w);
  EXPECT_NE(w.error().find("/nonexistent-dir-dane/v.jsonl"), std::string::npos) << w.error();
}

TEST(LogWriter, WithoutAVerdictFileVerdictsAreIgnored) {
  auto w = LogWriter::open(LogOptions{"", false, false, 10});
  ASSERT_TRUE(w) << w.error();
  (*w)->start();
  EXPECT_TRUE((*w)->verdict("{}"));
  (*w)->flush();
  EXPECT_EQ((*w)->dropped(), 0u);
}

} // namespace
} // namespace dane::policyd
