// Unit tests of dane-policyctl report's core: time stamps, the streaming reader (plain, gzip, multi-member,
// truncated), verdict-line parsing, aggregation (counts, policy flips, TLSA set changes, filters,
// rotation order) and the table/JSON output. Fixtures: tests/data/report/.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>
#include <zlib.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dane/tools/report.hpp"

namespace rp = dane::tools::report;

namespace {

const std::string k_data = std::string(DANE_TEST_DATA_DIR) + "/report/";

class TempDir {
public:
  TempDir() {
    char tmpl[] = "/tmp/report_test.XXXXXX";
    const char* d = mkdtemp(tmpl);
    if (d != nullptr) {
      m_path = d;
    }
  }
  ~TempDir() {
    if (!m_path.empty()) {
      std::string cmd = "rm -rf '" + m_path + "'";
      [[maybe_unused]] int rc = std::system(cmd.c_str());
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return m_path + "/" + name; }

private:
  std::string m_path;
};

// stdio rather than iostreams: gcc 12's -Wnull-dereference misfires inside <streambuf>.
std::string slurp(const std::string& path) {
  std::string out;
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    char buf[65536];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
      out.append(buf, n);
    }
    std::fclose(f);
  }
  return out;
}

void write_file(const std::string& path, const std::string& data) {
  FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(std::fwrite(data.data(), 1, data.size(), f), data.size());
  std::fclose(f);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string::npos) {
      nl = text.size();
    }
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

// Writes `data` as one gzip member appended to `path`.
void append_gzip(const std::string& path, const std::string& data) {
  gzFile f = gzopen(path.c_str(), "ab");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, data.data(), static_cast<unsigned>(data.size())), static_cast<int>(data.size()));
  gzclose(f);
}

std::vector<std::string> read_all(const std::string& path, std::string* error = nullptr, bool* unterminated = nullptr) {
  auto r = rp::LineReader::open(path);
  EXPECT_TRUE(r) << (r ? "" : r.error());
  std::vector<std::string> lines;
  if (!r) {
    return lines;
  }
  std::string_view line;
  while ((*r)->next(line)) {
    lines.emplace_back(line);
    if (unterminated != nullptr) {
      *unterminated = (*r)->last_line_unterminated();
    }
  }
  if (error != nullptr) {
    *error = (*r)->error();
  }
  return lines;
}

std::string verdict(const std::string& time, const std::string& dest, const std::string& policy,
                    const std::string& hosts = "[]", bool cached = false) {
  nlohmann::json j = {{"time", time},
                      {"destination", dest},
                      {"mode", "native"},
                      {"policy", policy},
                      {"answer", "OK " + policy},
                      {"reason", "reason for " + policy},
                      {"cached", cached},
                      {"hosts", nlohmann::json::parse(hosts)}};
  return j.dump();
}

struct Collect {
  std::vector<std::string> messages;
  rp::WarningSink sink() {
    return [this](const std::string& m) { messages.push_back(m); };
  }
};

} // namespace

// ---- time ------------------------------------------------------------------------------------

TEST(ReportTime, Rfc3339_ParsesZuluOffsetsAndFractions) {
  auto z = dane::parse_rfc3339("2026-11-29T07:23:57Z");
  ASSERT_TRUE(z);
  EXPECT_EQ(*z, 1795937037LL * dane::k_usec_per_sec);
  auto off = dane::parse_rfc3339("2026-11-29T08:23:57.5+01:00");
  ASSERT_TRUE(off);
  EXPECT_EQ(*off, *z + 500000);
  auto micro = dane::parse_rfc3339("2026-11-29T07:23:57.123456+00:00");
  ASSERT_TRUE(micro);
  EXPECT_EQ(*micro - *z, 123456);
  EXPECT_EQ(dane::format_rfc3339(*z), "2026-11-29T07:23:57Z");
  EXPECT_EQ(dane::format_rfc3339(*micro), "2026-11-29T07:23:57.123456Z");
  EXPECT_EQ(dane::format_rfc3339(*dane::parse_rfc3339("2024-02-29T23:59:59Z")), "2024-02-29T23:59:59Z");
}

TEST(ReportTime, Rfc3339_RejectsMissingOffsetAndBadDates) {
  EXPECT_FALSE(dane::parse_rfc3339("2026-11-29T07:23:57"));
  EXPECT_FALSE(dane::parse_rfc3339("2026-02-30T00:00:00Z"));
  EXPECT_FALSE(dane::parse_rfc3339("2025-02-29T00:00:00Z"));
  EXPECT_FALSE(dane::parse_rfc3339("2026-11-29T24:00:00Z"));
  EXPECT_FALSE(dane::parse_rfc3339("2026-11-29T07:23:57Zjunk"));
  EXPECT_FALSE(dane::parse_rfc3339("yesterday"));
}

TEST(ReportTime, RelativeAndDateArguments) {
  const rp::TimePoint now = *dane::parse_rfc3339("2026-11-29T12:00:00Z");
  EXPECT_EQ(dane::format_rfc3339(*rp::parse_time_arg("24h", now)), "2026-11-28T12:00:00Z");
  EXPECT_EQ(dane::format_rfc3339(*rp::parse_time_arg("7d", now)), "2026-11-22T12:00:00Z");
  EXPECT_EQ(dane::format_rfc3339(*rp::parse_time_arg("30m", now)), "2026-11-29T11:30:00Z");
  EXPECT_EQ(dane::format_rfc3339(*rp::parse_time_arg("2026-11-01", now)), "2026-11-01T00:00:00Z");
  EXPECT_EQ(dane::format_rfc3339(*rp::parse_time_arg("2026-11-01T05:00:00+02:00", now)), "2026-11-01T03:00:00Z");
  EXPECT_FALSE(rp::parse_time_arg("24x", now));
  EXPECT_FALSE(rp::parse_time_arg("", now));
  EXPECT_FALSE(rp::parse_time_arg("h", now));
  // Found by report_fuzz: twelve digits of weeks overflowed the microsecond arithmetic (UBSan).
  auto huge = rp::parse_time_arg("222202019w", now);
  ASSERT_FALSE(huge);
  EXPECT_NE(huge.error().find("too large"), std::string::npos) << huge.error();
  EXPECT_FALSE(rp::parse_time_arg("999999999999w", now));
  EXPECT_EQ(dane::format_rfc3339(*rp::parse_time_arg("36500d", now)), "1926-12-24T12:00:00Z");
}

// ---- reader ----------------------------------------------------------------------------------

TEST(ReportReader, PlainFileLinesAndUnterminatedLastLine) {
  TempDir dir;
  write_file(dir.file("a"), "one\ntwo\r\n\nthree");
  bool unterminated = false;
  auto lines = read_all(dir.file("a"), nullptr, &unterminated);
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two\r", "", "three"}));
  EXPECT_TRUE(unterminated);
}

TEST(ReportReader, GzipDetectedByMagicNotName) {
  TempDir dir;
  std::string data;
  for (int i = 0; i < 50000; ++i) {
    data += "line " + std::to_string(i) + "\n";
  }
  append_gzip(dir.file("plain-name.log"), data);
  auto r = rp::LineReader::open(dir.file("plain-name.log"));
  ASSERT_TRUE(r);
  EXPECT_TRUE((*r)->compressed());
  std::string error;
  auto lines = read_all(dir.file("plain-name.log"), &error);
  ASSERT_EQ(lines.size(), 50000u);
  EXPECT_EQ(lines[0], "line 0");
  EXPECT_EQ(lines[49999], "line 49999");
  EXPECT_EQ(error, "");
}

TEST(ReportReader, MultiMemberGzipIsReadThrough) {
  TempDir dir;
  append_gzip(dir.file("m.gz"), "first\nsecond\n");
  append_gzip(dir.file("m.gz"), "third\n");
  std::string error;
  auto lines = read_all(dir.file("m.gz"), &error);
  EXPECT_EQ(lines, (std::vector<std::string>{"first", "second", "third"}));
  EXPECT_EQ(error, "");
}

TEST(ReportReader, TruncatedGzipKeepsWhatWasReadAndReportsError) {
  TempDir dir;
  std::string data;
  for (int i = 0; i < 20000; ++i) {
    data += "entry number " + std::to_string(i) + " with some padding to compress\n";
  }
  append_gzip(dir.file("t.gz"), data);
  std::string gz = slurp(dir.file("t.gz"));
  write_file(dir.file("t.gz"), gz.substr(0, gz.size() / 2));
  std::string error;
  auto lines = read_all(dir.file("t.gz"), &error);
  EXPECT_GT(lines.size(), 100u);
  EXPECT_LT(lines.size(), 20000u);
  EXPECT_EQ(lines[0], "entry number 0 with some padding to compress");
  EXPECT_NE(error.find("truncated gzip"), std::string::npos) << error;
}

TEST(ReportReader, CorruptGzipReportsError) {
  TempDir dir;
  write_file(dir.file("c.gz"), std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbagegarbage", 24));
  std::string error;
  auto lines = read_all(dir.file("c.gz"), &error);
  EXPECT_FALSE(error.empty());
}

TEST(ReportReader, MissingFileIsAnError) {
  auto r = rp::LineReader::open("/nonexistent/dir/verdicts.log");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("/nonexistent/dir/verdicts.log"), std::string::npos);
}

// Lines of k_max_line_bytes pass whole; one byte more is skipped (empty, flagged) without losing the
// lines around it, in plain and gzip files alike (issue 13 finding 6: memory grew with the longest line).
void expect_line_bound(const std::string& path) {
  auto r = rp::LineReader::open(path);
  ASSERT_TRUE(r) << (r ? "" : r.error());
  std::string_view line;
  ASSERT_TRUE((*r)->next(line));
  EXPECT_EQ(line, "before");
  ASSERT_TRUE((*r)->next(line));
  EXPECT_EQ(line.size(), rp::k_max_line_bytes);
  EXPECT_FALSE((*r)->last_line_too_long());
  ASSERT_TRUE((*r)->next(line));
  EXPECT_TRUE((*r)->last_line_too_long());
  EXPECT_TRUE(line.empty());
  EXPECT_EQ((*r)->line_number(), 3u);
  ASSERT_TRUE((*r)->next(line));
  EXPECT_FALSE((*r)->last_line_too_long());
  EXPECT_EQ(line, "after");
  ASSERT_TRUE((*r)->next(line)); // 5 MB without a newline at the end of the file
  EXPECT_TRUE((*r)->last_line_too_long());
  EXPECT_TRUE((*r)->last_line_unterminated());
  EXPECT_EQ((*r)->line_number(), 5u);
  EXPECT_FALSE((*r)->next(line));
  EXPECT_EQ((*r)->error(), "");
}

std::string bound_input() {
  return "before\n" + std::string(rp::k_max_line_bytes, 'a') + "\n" + std::string(rp::k_max_line_bytes + 1, 'b') +
         "\nafter\n" + std::string(std::size_t{5} << 20, 'c');
}

TEST(ReportReader, LineLongerThanTheBoundIsSkippedNotBuffered) {
  TempDir dir;
  write_file(dir.file("long.log"), bound_input());
  expect_line_bound(dir.file("long.log"));
}

TEST(ReportReader, LineLongerThanTheBoundIsSkippedInGzip) {
  TempDir dir;
  append_gzip(dir.file("long.gz"), bound_input());
  expect_line_bound(dir.file("long.gz"));
}

TEST(ReportReader, GzipWithBadTrailerCrcIsAnError) {
  TempDir dir;
  append_gzip(dir.file("crc.gz"), "one\ntwo\n");
  std::string gz = slurp(dir.file("crc.gz"));
  gz[gz.size() - 8] = static_cast<char>(gz[gz.size() - 8] ^ 1);
  write_file(dir.file("crc.gz"), gz);
  std::string error;
  auto lines = read_all(dir.file("crc.gz"), &error);
  EXPECT_NE(error.find("incorrect data check"), std::string::npos) << error;
}

// ---- verdict lines ---------------------------------------------------------------------------

TEST(ReportVerdict, ParsesPinnedFieldsWithProbes) {
  auto lines = split_lines(slurp(k_data + "verdicts-flips.jsonl"));
  ASSERT_FALSE(lines.empty());
  const std::string last = lines.back();
  auto v = rp::parse_verdict_line(last);
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(v->destination, "[mx.relay.example]:2525");
  EXPECT_EQ(v->policy, "fingerprint");
  EXPECT_EQ(v->mode, "pinned");
  EXPECT_FALSE(v->cached);
  ASSERT_EQ(v->hosts.size(), 1u);
  EXPECT_TRUE(v->hosts[0].probed);
  ASSERT_EQ(v->hosts[0].addresses.size(), 2u);
  EXPECT_EQ(v->hosts[0].addresses[0].result, "tlsa-mismatch");
  EXPECT_EQ(v->hosts[0].addresses[0].port, 2525);
  EXPECT_EQ(v->hosts[0].addresses[0].matched, "");
  EXPECT_EQ(v->hosts[0].addresses[1].address, "2001:db8::20");
  EXPECT_EQ(v->hosts[0].addresses[1].depth, 0);
}

TEST(ReportVerdict, RejectsWithFieldNames) {
  auto missing =
      rp::parse_verdict_line(R"({"time":"2026-11-29T00:00:00Z","policy":"dane","answer":"OK dane","hosts":[]})");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("destination"), std::string::npos);
  auto bad_policy = rp::parse_verdict_line(verdict("2026-11-29T00:00:00Z", "a.example", "maybe"));
  ASSERT_FALSE(bad_policy);
  EXPECT_NE(bad_policy.error().find("policy"), std::string::npos);
  auto bad_dnssec =
      rp::parse_verdict_line(verdict("2026-11-29T00:00:00Z", "a.example", "dane",
                                     R"([{"name":"mx","dnssec":"sure","tlsa":[],"tlsa_base":"mx","status":"dane"}])"));
  ASSERT_FALSE(bad_dnssec);
  EXPECT_NE(bad_dnssec.error().find("hosts[0].dnssec"), std::string::npos);
  auto bad_result = rp::parse_verdict_line(verdict(
      "2026-11-29T00:00:00Z", "a.example", "dane",
      R"([{"name":"mx","dnssec":"secure","tlsa":[],"tlsa_base":"mx","status":"dane","addresses":[{"address":"192.0.2.1","port":25,"result":"fine"}]}])"));
  ASSERT_FALSE(bad_result);
  EXPECT_NE(bad_result.error().find("addresses[0].result"), std::string::npos);
  EXPECT_FALSE(rp::parse_verdict_line("[1,2,3]"));
  EXPECT_FALSE(rp::parse_verdict_line(R"({"time":"2026-11-29T00:00:00Z")"));
  auto cached_not_bool = rp::parse_verdict_line(
      R"({"time":"2026-11-29T00:00:00Z","destination":"a","policy":"dane","answer":"OK dane","cached":"yes","hosts":[]})");
  ASSERT_FALSE(cached_not_bool);
  EXPECT_NE(cached_not_bool.error().find("cached"), std::string::npos);
}

// ---- aggregation -----------------------------------------------------------------------------

TEST(ReportAggregate, CountsOutcomesCachedAndLastFailure) {
  rp::Aggregator agg({});
  Collect c;
  ASSERT_TRUE(agg.read_verdict_file(k_data + "verdicts-basic.jsonl", c.sink()));
  EXPECT_TRUE(c.messages.empty());
  EXPECT_EQ(agg.stats().lines, 5u);
  EXPECT_EQ(agg.stats().malformed, 0u);
  const auto* ex = agg.find("example.com");
  ASSERT_NE(ex, nullptr);
  EXPECT_EQ(ex->evaluations, 3u);
  EXPECT_EQ(ex->cached, 1u);
  EXPECT_EQ(ex->counts.dane_only, 3u);
  EXPECT_EQ(ex->policy, "dane-only");
  EXPECT_EQ(dane::format_rfc3339(ex->first_seen), "2026-11-28T10:00:00Z");
  EXPECT_EQ(dane::format_rfc3339(ex->last_seen), "2026-11-28T14:00:00Z");
  EXPECT_EQ(ex->severity(), 0);
  const auto* broken = agg.find("broken.example");
  ASSERT_NE(broken, nullptr);
  EXPECT_EQ(broken->counts.tempfail, 1u);
  EXPECT_EQ(broken->last_failure, "TLSA lookup for _25._tcp.mx.broken.example bogus: signature expired");
  EXPECT_EQ(broken->severity(), 3);
  auto sorted = agg.sorted();
  ASSERT_EQ(sorted.size(), 3u);
  EXPECT_EQ(sorted[0]->destination, "broken.example"); // problems first
  EXPECT_EQ(sorted[1]->destination, "example.com");
  EXPECT_EQ(sorted[2]->destination, "insecure.example");
}

TEST(ReportAggregate, PolicyFlipsAndTlsaSetChanges) {
  rp::Aggregator agg({});
  Collect c;
  ASSERT_TRUE(agg.read_verdict_file(k_data + "verdicts-flips.jsonl", c.sink()));
  const auto* flip = agg.find("flip.example");
  ASSERT_NE(flip, nullptr);
  EXPECT_EQ(flip->evaluations, 4u);
  EXPECT_EQ(flip->counts.dane_only, 2u);
  EXPECT_EQ(flip->counts.tempfail, 1u);
  EXPECT_EQ(flip->counts.notfound, 1u);
  EXPECT_EQ(flip->policy, "notfound");
  // tempfail in between is a failure, not a policy change; dane-only -> notfound is.
  EXPECT_EQ(flip->policy_changes, 1u);
  EXPECT_TRUE(flip->lost_dane);
  EXPECT_FALSE(flip->gained_dane);
  // The TLSA set grew (rollover: new key published next to the old one), case-insensitively compared.
  EXPECT_EQ(flip->tlsa_changes, 1u);
  ASSERT_TRUE(flip->last_change);
  EXPECT_EQ(flip->last_change->kind, "lost-dane");
  EXPECT_EQ(flip->last_change->detail, "dane-only -> notfound");
  // mx.flip.example, and the destination itself (empty name): the failed MX lookup (SERVFAIL, no
  // host known) is its TLSRPT failure.
  ASSERT_EQ(flip->hosts.size(), 2u);
  EXPECT_EQ(flip->hosts[1].name, "");
  ASSERT_EQ(flip->hosts[1].epochs.size(), 1u);
  EXPECT_EQ(flip->hosts[1].epochs[0].from_probes.failed, 1u);
  EXPECT_EQ(flip->hosts[1].epochs[0].from_probes.failures.begin()->first.result_type, "dnssec-invalid");
  ASSERT_EQ(flip->hosts[0].epochs.size(), 2u);
  EXPECT_EQ(flip->hosts[0].epochs[1].records,
            (std::vector<std::string>{"3 1 1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                      "3 1 1 bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}));
  EXPECT_EQ(flip->severity(), 2);

  const auto* gain = agg.find("gain.example");
  ASSERT_NE(gain, nullptr);
  EXPECT_TRUE(gain->gained_dane);
  EXPECT_FALSE(gain->lost_dane);
  EXPECT_EQ(gain->policy_changes, 1u);
  EXPECT_EQ(gain->tlsa_changes, 1u); // no TLSA -> 2 1 1 cc...

  const auto* relay = agg.find("[mx.relay.example]:2525");
  ASSERT_NE(relay, nullptr);
  EXPECT_EQ(relay->counts.pinned, 1u);
  EXPECT_EQ(relay->probe_failures, 1u);
  EXPECT_EQ(relay->last_failure, "mx.relay.example[192.0.2.20]:2525: tlsa-mismatch");
  EXPECT_EQ(relay->severity(), 3);
  EXPECT_EQ(agg.sorted()[0]->destination, "[mx.relay.example]:2525");
}

TEST(ReportAggregate, MalformedLinesAreCountedAndNamedTheRestIsRead) {
  rp::Aggregator agg({});
  Collect c;
  const std::string path = k_data + "verdicts-junk.jsonl";
  ASSERT_TRUE(agg.read_verdict_file(path, c.sink()));
  EXPECT_EQ(agg.stats().lines, 7u);
  EXPECT_EQ(agg.stats().malformed, 5u);
  ASSERT_EQ(c.messages.size(), 5u);
  EXPECT_EQ(c.messages[0].rfind(path + ":2: malformed verdict line: not valid JSON", 0), 0u) << c.messages[0];
  EXPECT_EQ(c.messages[1].rfind(path + ":3: malformed", 0), 0u) << c.messages[1];
  EXPECT_NE(c.messages[1].find("policy"), std::string::npos);
  EXPECT_EQ(c.messages[2].rfind(path + ":4: malformed", 0), 0u);
  EXPECT_NE(c.messages[2].find("time"), std::string::npos);
  EXPECT_EQ(c.messages[3], path + ":5: malformed verdict line: empty line");
  EXPECT_EQ(c.messages[4].rfind(path + ":7: malformed verdict line (truncated last line, no newline)", 0), 0u)
      << c.messages[4];
  const auto* j = agg.find("junk.example");
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->evaluations, 2u);
  EXPECT_EQ(j->counts.dane, 2u);
  // mx2 dropped out of the MX set: not a TLSA change of mx1.
  EXPECT_EQ(j->tlsa_changes, 0u);
}

TEST(ReportAggregate, DomainFilterIsExact) {
  rp::Filter f;
  f.domain = "example.com";
  rp::Aggregator agg(f);
  Collect c;
  ASSERT_TRUE(agg.read_verdict_file(k_data + "verdicts-basic.jsonl", c.sink()));
  EXPECT_NE(agg.find("example.com"), nullptr);
  EXPECT_EQ(agg.find("broken.example"), nullptr);
  EXPECT_EQ(agg.find("insecure.example"), nullptr);
  EXPECT_EQ(agg.sorted().size(), 1u);
  EXPECT_EQ(agg.stats().filtered, 2u);

  rp::Filter sub;
  sub.domain = "com"; // a suffix is not a match
  rp::Aggregator none(sub);
  ASSERT_TRUE(none.read_verdict_file(k_data + "verdicts-basic.jsonl", c.sink()));
  EXPECT_TRUE(none.sorted().empty());
  EXPECT_EQ(none.stats().filtered, 5u);
}

TEST(ReportAggregate, TimeFilterIsInclusive) {
  rp::Filter f;
  f.since = *dane::parse_rfc3339("2026-11-28T11:00:00Z");
  f.until = *dane::parse_rfc3339("2026-11-28T13:00:00Z");
  rp::Aggregator agg(f);
  Collect c;
  ASSERT_TRUE(agg.read_verdict_file(k_data + "verdicts-basic.jsonl", c.sink()));
  const auto* ex = agg.find("example.com");
  ASSERT_NE(ex, nullptr);
  EXPECT_EQ(ex->evaluations, 1u); // only the 11:00 cached line
  EXPECT_NE(agg.find("insecure.example"), nullptr);
  EXPECT_NE(agg.find("broken.example"), nullptr);
  EXPECT_EQ(agg.stats().filtered, 2u);
}

TEST(ReportAggregate, RotatedFilesInAnyOrderAreReadOldestFirst) {
  TempDir dir;
  // Oldest (gzip, rotated twice), middle (plain, rotated once), current.
  append_gzip(dir.file("verdicts.log.2.gz"), verdict("2026-11-20T00:00:00Z", "rot.example", "dane-only") + "\n" +
                                                 verdict("2026-11-21T00:00:00Z", "rot.example", "dane-only") + "\n");
  write_file(dir.file("verdicts.log.1"), verdict("2026-11-22T00:00:00Z", "rot.example", "notfound") + "\n");
  write_file(dir.file("verdicts.log"), verdict("2026-11-23T00:00:00Z", "rot.example", "dane-only") + "\n");
  std::vector<std::string> given = {dir.file("verdicts.log"), dir.file("verdicts.log.2.gz"), dir.file("verdicts.log.1"),
                                    dir.file("verdicts.log")};
  auto order = rp::plan_input_order(given, rp::verdict_stamp);
  ASSERT_EQ(order.size(), 3u); // the duplicate is read once
  EXPECT_EQ(order[0], dir.file("verdicts.log.2.gz"));
  EXPECT_EQ(order[1], dir.file("verdicts.log.1"));
  EXPECT_EQ(order[2], dir.file("verdicts.log"));
  rp::Aggregator agg({});
  Collect c;
  for (const auto& p : order) {
    ASSERT_TRUE(agg.read_verdict_file(p, c.sink()));
  }
  const auto* d = agg.find("rot.example");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->evaluations, 4u);
  // dane-only -> notfound -> dane-only: lost then regained, in time order.
  EXPECT_EQ(d->policy_changes, 2u);
  EXPECT_TRUE(d->lost_dane);
  EXPECT_TRUE(d->gained_dane);
  EXPECT_EQ(d->policy, "dane-only");
  ASSERT_TRUE(d->last_change);
  EXPECT_EQ(dane::format_rfc3339(d->last_change->time), "2026-11-23T00:00:00Z");
  EXPECT_EQ(d->last_change->kind, "gained-dane");
}

TEST(ReportAggregate, UnreadableFileIsReportedNotFatal) {
  rp::Aggregator agg({});
  Collect c;
  EXPECT_FALSE(agg.read_verdict_file("/nonexistent/verdicts.log", c.sink()));
  EXPECT_EQ(agg.stats().unreadable, 1u);
  EXPECT_EQ(agg.stats().files, 0u);
  ASSERT_EQ(c.messages.size(), 1u);
  EXPECT_NE(c.messages[0].find("/nonexistent/verdicts.log"), std::string::npos);
}

TEST(ReportAggregate, ManyMalformedLinesAreCountedEvenWhenNotAllShown) {
  TempDir dir;
  std::string data;
  for (int i = 0; i < 250; ++i) {
    data += "junk\n";
  }
  data += verdict("2026-11-20T00:00:00Z", "ok.example", "dane") + "\n";
  write_file(dir.file("j"), data);
  rp::Aggregator agg({});
  Collect c;
  ASSERT_TRUE(agg.read_verdict_file(dir.file("j"), c.sink()));
  EXPECT_EQ(agg.stats().malformed, 250u);
  ASSERT_EQ(c.messages.size(), 101u);
  EXPECT_EQ(c.messages.back(), dir.file("j") + ": 150 more malformed lines not shown (250 in this file)");
  ASSERT_NE(agg.find("ok.example"), nullptr);
}

TEST(ReportRender, TableMarksProblemsAndChanges) {
  rp::Aggregator agg({});
  Collect c;
  ASSERT_TRUE(agg.read_verdict_file(k_data + "verdicts-flips.jsonl", c.sink()));
  std::string table = agg.sorted().empty() ? "" : rp::render_table(agg);
  auto lines = split_lines(table);
  ASSERT_GE(lines.size(), 3u);
  const std::string& header = lines[0];
  const std::string& first = lines[1];
  const std::string& second = lines[2];
  EXPECT_EQ(header.find("DESTINATION"), 3u);
  EXPECT_EQ(first.rfind("!  [mx.relay.example]:2525", 0), 0u) << first;
  EXPECT_NE(first.find("tlsa-mismatch"), std::string::npos);
  EXPECT_EQ(second.rfind("*  flip.example", 0), 0u) << second;
  EXPECT_NE(second.find("lost-dane,tlsa"), std::string::npos) << second;
}

TEST(ReportRender, JsonHasPinnedShape) {
  rp::Aggregator agg({});
  Collect c;
  ASSERT_TRUE(agg.read_verdict_file(k_data + "verdicts-flips.jsonl", c.sink()));
  auto j = rp::render_json(agg);
  ASSERT_TRUE(j["destinations"].is_array());
  ASSERT_EQ(j["destinations"].size(), 3u);
  const auto& flip = j["destinations"][1];
  EXPECT_EQ(flip["destination"], "flip.example");
  EXPECT_EQ(flip["policy"], "notfound");
  EXPECT_EQ(flip["evaluations"], 4);
  EXPECT_EQ(flip["counts"]["dane-only"], 2);
  EXPECT_EQ(flip["counts"]["tempfail"], 1);
  EXPECT_EQ(flip["counts"]["notfound"], 1);
  EXPECT_EQ(flip["changes"]["lost_dane"], true);
  EXPECT_EQ(flip["changes"]["tlsa_changes"], 1);
  EXPECT_EQ(flip["changed"], true);
  EXPECT_EQ(flip["first_seen"], "2026-11-27T08:00:00Z");
  EXPECT_EQ(flip["last_seen"], "2026-11-27T11:00:00Z");
  EXPECT_EQ(flip["last_failure"]["reason"], "MX lookup for flip.example: SERVFAIL");
  EXPECT_TRUE(flip["maillog"].is_null());
  EXPECT_EQ(j["input"]["lines"], 7);
  EXPECT_EQ(j["input"]["malformed"], 0);
}

// A line written by the real dane-policyd (--stdio socketmap, DNS answering NXDOMAIN insecure):
// extra fields (outcome, ttl, mx_dnssec) are skipped, the pinned ones read.
TEST(ReportVerdict, RealDaemonLineParses) {
  rp::Aggregator agg({});
  Collect c;
  ASSERT_TRUE(agg.read_verdict_file(k_data + "verdicts-daemon-real.jsonl", c.sink()));
  EXPECT_TRUE(c.messages.empty()) << (c.messages.empty() ? std::string() : c.messages[0]);
  EXPECT_EQ(agg.stats().malformed, 0u);
  const auto* d = agg.find("example.test");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->policy, "notfound");
  EXPECT_EQ(d->counts.notfound, 1u);
  EXPECT_EQ(d->cached, 0u);
}

// ---- dane-policyd --probe lines ("event":"probe") -----------------------------------------------

namespace {

const std::string k_probe_destination = "[mx.example.test]:36563";

std::vector<std::string> probe_fixture_lines() {
  return split_lines(slurp(k_data + "verdicts-daemon-probe.jsonl"));
}

} // namespace

TEST(ReportProbe, RealDaemonProbeLineIsNotAnEvaluation) {
  rp::Aggregator agg({});
  Collect c;
  ASSERT_TRUE(agg.read_verdict_file(k_data + "verdicts-daemon-probe.jsonl", c.sink()));
  EXPECT_TRUE(c.messages.empty()) << (c.messages.empty() ? std::string() : c.messages[0]);
  EXPECT_EQ(agg.stats().lines, 3u);
  EXPECT_EQ(agg.stats().malformed, 0u);
  EXPECT_EQ(agg.stats().probe_lines, 1u);
  const auto* d = agg.find(k_probe_destination);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->evaluations, 2u) << "dane-only, then secure tafile=...; the probe line is not one";
  EXPECT_EQ(d->probes, 1u);
  EXPECT_EQ(d->counts.dane_only, 1u);
  EXPECT_EQ(d->counts.pinned, 1u);
  EXPECT_EQ(d->policy, "secure");
  EXPECT_EQ(d->policy_changes, 1u) << "dane-only -> secure, the probe line's dane-only in between is no change";
  EXPECT_EQ(d->tlsa_changes, 0u);
  EXPECT_EQ(d->probe_failures, 0u);
  EXPECT_EQ(dane::format_rfc3339(d->first_seen), "2026-11-29T11:17:18Z");
  EXPECT_EQ(dane::format_rfc3339(d->last_seen), "2026-11-29T11:17:19Z");

  auto j = rp::render_json(agg);
  EXPECT_EQ(j["destinations"][0]["evaluations"], 2);
  EXPECT_EQ(j["destinations"][0]["probes"], 1);
  EXPECT_EQ(j["input"]["probe_lines"], 1);
  EXPECT_NE(rp::render_table(agg).find("3 verdict line(s) in 1 file(s), 0 malformed, 0 outside "
                                       "--domain/--since/--until; 1 of them probe line(s)"),
            std::string::npos)
      << rp::render_table(agg);

  // Without a Postfix log, the probe's result is the TLSRPT session count.
  rp::TlsrptOptions o;
  o.organization = "o";
  o.contact = "c";
  auto r = rp::build_tlsrpt(agg, *d, o);
  ASSERT_EQ(r["policies"].size(), 1u) << r.dump(2);
  const auto& p = r["policies"][0];
  EXPECT_EQ(p["policy"]["policy-type"], "tlsa");
  EXPECT_EQ(p["policy"]["policy-string"][0], "2 0 1 ca567ae0bc30cfad7db0472bd062bf9a448f7f8b2e166677a3853cfa48e38a1f");
  EXPECT_EQ(p["policy"]["policy-domain"], "mx.example.test");
  EXPECT_EQ(p["summary"]["total-successful-session-count"], 1);
  EXPECT_EQ(p["summary"]["total-failure-session-count"], 0);
  EXPECT_NE(r["additional-information"].get<std::string>().find("probe%20results"), std::string::npos);
}

TEST(ReportProbe, FailedProbeCountsAsProbeFailureAndTlsrptFailure) {
  // The real probe line with the result a mismatching certificate would give.
  auto lines = probe_fixture_lines();
  ASSERT_EQ(lines.size(), 3u);
  std::string failed = lines[1];
  const std::string pass = "\"result\":\"pass\"";
  ASSERT_NE(failed.find(pass), std::string::npos);
  failed.replace(failed.find(pass), pass.size(), "\"result\":\"tlsa-mismatch\"");
  rp::Aggregator agg({});
  for (const auto& line : {lines[0], failed}) {
    auto v = rp::parse_verdict_line(line);
    ASSERT_TRUE(v) << v.error();
    agg.add_verdict(*v);
  }
  const auto* d = agg.find(k_probe_destination);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->evaluations, 1u);
  EXPECT_EQ(d->probes, 1u);
  EXPECT_EQ(d->probe_failures, 1u);
  EXPECT_EQ(d->last_failure, "mx.example.test[127.160.120.1]:36563: tlsa-mismatch");
  EXPECT_EQ(d->severity(), 3);
  auto r = rp::build_tlsrpt(agg, *d, {});
  ASSERT_EQ(r["policies"].size(), 1u);
  const auto& p = r["policies"][0];
  EXPECT_EQ(p["summary"]["total-successful-session-count"], 0);
  EXPECT_EQ(p["summary"]["total-failure-session-count"], 1);
  EXPECT_EQ(p["failure-details"][0]["result-type"], "tlsa-invalid");
  EXPECT_EQ(p["failure-details"][0]["receiving-ip"], "127.160.120.1");
}

TEST(ReportProbe, ProbeLineAloneInTheTimeWindowGivesTheHostItsTlsaSet) {
  // --since after the evaluation, at the probe line: the evaluation is filtered, the probe is not.
  rp::Filter f;
  f.since = *dane::parse_rfc3339("2026-11-29T11:17:18Z");
  f.until = *dane::parse_rfc3339("2026-11-29T11:17:18Z");
  rp::Aggregator agg(f);
  auto lines = probe_fixture_lines();
  auto probe = rp::parse_verdict_line(lines[1]);
  ASSERT_TRUE(probe) << probe.error();
  agg.add_verdict(*probe);
  const auto* d = agg.find(k_probe_destination);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->evaluations, 0u);
  EXPECT_EQ(d->probes, 1u);
  EXPECT_TRUE(d->policy.empty()) << "a probe line is no evaluation: no current policy";
  ASSERT_EQ(d->hosts.size(), 1u);
  ASSERT_EQ(d->hosts[0].epochs.size(), 1u);
  EXPECT_EQ(d->hosts[0].epochs[0].records.size(), 1u);
  EXPECT_EQ(d->hosts[0].epochs[0].from_probes.successful, 1u);
  EXPECT_NE(rp::render_table(agg).find("2026-11-29T11:17:18Z"), std::string::npos) << "first/last seen of the probe";
}

TEST(ReportProbe, UnknownEventIsMalformedNotAnEvaluation) {
  auto lines = probe_fixture_lines();
  std::string other = lines[1];
  other.replace(other.find("\"event\":\"probe\""), std::string("\"event\":\"probe\"").size(), "\"event\":\"reload\"");
  auto v = rp::parse_verdict_line(other);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error(), "field 'event' has unknown value 'reload'");
}

// ---- monitor mode: counted as what enforcement would have answered ---------------------------------

TEST(ReportMonitor, PolicyOfAnswerCoversEveryReplyTheDaemonGives) {
  EXPECT_EQ(rp::policy_of_answer("TEMP 4.7.5 MX lookup for a.example bogus: x"), "tempfail");
  EXPECT_EQ(rp::policy_of_answer("TIMEOUT dns"), "tempfail");
  EXPECT_EQ(rp::policy_of_answer("PERM x"), "tempfail") << "Postfix defers on a table error too";
  EXPECT_EQ(rp::policy_of_answer("NOTFOUND "), "notfound");
  EXPECT_EQ(rp::policy_of_answer("OK dane-only"), "dane-only");
  EXPECT_EQ(rp::policy_of_answer("OK dane"), "dane");
  EXPECT_EQ(rp::policy_of_answer("OK encrypt"), "encrypt");
  EXPECT_EQ(rp::policy_of_answer("OK fingerprint match=ab|cd"), "fingerprint");
  EXPECT_EQ(rp::policy_of_answer("OK secure tafile=/x match=a:b"), "secure");
  EXPECT_FALSE(rp::policy_of_answer("OK may"));
  EXPECT_FALSE(rp::policy_of_answer("OK danger"));
  EXPECT_FALSE(rp::policy_of_answer("TEMPORARY"));
  EXPECT_FALSE(rp::policy_of_answer(""));
}

namespace {

std::string monitor_line(const std::string& extra) {
  return R"({"time":"2026-11-29T00:00:00Z","destination":"a.example","mode":"monitor","policy":"notfound",)"
         R"("answer":"NOTFOUND ","reason":"monitor mode","cached":false,"hosts":[])" +
         extra + "}";
}

} // namespace

TEST(ReportMonitor, MonitorLineCarriesItsWouldBePolicy) {
  auto temp = rp::parse_verdict_line(monitor_line(R"(,"outcome":"tempfail","would_answer":"TEMP 4.7.5 x")"));
  ASSERT_TRUE(temp) << temp.error();
  EXPECT_TRUE(temp->monitored);
  EXPECT_EQ(temp->policy, "notfound") << "what Postfix was told stays readable";
  EXPECT_EQ(temp->would_policy, "tempfail");
  EXPECT_EQ(temp->counted_policy(), "tempfail");
  // Cache-hit lines carry would_answer but no outcome; evaluations both. Either is enough.
  auto hit = rp::parse_verdict_line(monitor_line(R"(,"would_answer":"OK dane-only")"));
  ASSERT_TRUE(hit) << hit.error();
  EXPECT_EQ(hit->counted_policy(), "dane-only");
  auto outcome_only = rp::parse_verdict_line(monitor_line(R"(,"outcome":"encrypt")"));
  ASSERT_TRUE(outcome_only) << outcome_only.error();
  EXPECT_EQ(outcome_only->counted_policy(), "dane") << "native answers `dane` for TLS-required hosts";
  // Not knowing what it would have answered is an error, never a silent notfound.
  auto neither = rp::parse_verdict_line(monitor_line(""));
  ASSERT_FALSE(neither);
  EXPECT_NE(neither.error().find("would_answer"), std::string::npos) << neither.error();
  auto bad = rp::parse_verdict_line(monitor_line(R"(,"would_answer":"OK maybe")"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("field 'would_answer'"), std::string::npos) << bad.error();
  auto bad_outcome = rp::parse_verdict_line(monitor_line(R"(,"outcome":"great","would_answer":"NOTFOUND ")"));
  ASSERT_FALSE(bad_outcome);
  EXPECT_NE(bad_outcome.error().find("field 'outcome'"), std::string::npos) << bad_outcome.error();
  // Other modes count what was answered.
  auto native = rp::parse_verdict_line(verdict("2026-11-29T00:00:00Z", "a.example", "dane"));
  ASSERT_TRUE(native) << native.error();
  EXPECT_FALSE(native->monitored);
  EXPECT_EQ(native->counted_policy(), "dane");
}

// Written by the real dane-policyd --mode monitor (tests/data/report/README): a bogus destination
// (would be TEMP) and a DANE destination (would be dane-only), plus, in verdicts-daemon-monitor.jsonl,
// a host whose TLSA RRset is bogus, a destination without TLSA and a cache hit.
TEST(ReportMonitor, RealDaemonMonitorLogCountsWouldBeAnswers) {
  rp::Aggregator agg({});
  Collect c;
  ASSERT_TRUE(agg.read_verdict_file(k_data + "postfix37-e2e-verdicts-monitor.jsonl", c.sink()));
  ASSERT_TRUE(agg.read_verdict_file(k_data + "verdicts-daemon-monitor.jsonl", c.sink()));
  EXPECT_TRUE(c.messages.empty()) << c.messages.front();
  EXPECT_EQ(agg.stats().malformed, 0u);
  EXPECT_EQ(agg.stats().monitor_lines, 7u);
  for (const char* name : {"bogus.test", "tlsabogus.test"}) {
    const auto* d = agg.find(name);
    ASSERT_NE(d, nullptr) << name;
    EXPECT_EQ(d->policy, "tempfail") << name;
    EXPECT_TRUE(d->policy_monitored) << name;
    EXPECT_EQ(d->monitored, d->evaluations) << name;
    EXPECT_EQ(d->counts.tempfail, d->evaluations) << name;
    EXPECT_EQ(d->counts.notfound, 0u) << name << ": NOTFOUND is what Postfix was told, not what is counted";
    EXPECT_EQ(d->severity(), 3) << name;
    EXPECT_EQ(d->last_failure.rfind("monitor mode, would answer 'TEMP 4.7.5 ", 0), 0u) << d->last_failure;
  }
  const auto* dane = agg.find("dane.test");
  ASSERT_NE(dane, nullptr);
  EXPECT_EQ(dane->counts.dane_only, 2u) << "the evaluation and its cache hit";
  EXPECT_EQ(dane->monitored, 2u);
  EXPECT_EQ(dane->cached, 1u);
  EXPECT_EQ(dane->severity(), 0);
  const auto* rolled = agg.find("mon-rolled.e2e.test");
  ASSERT_NE(rolled, nullptr);
  EXPECT_EQ(rolled->counts.dane_only, 1u);
  EXPECT_EQ(agg.find("none.test")->counts.notfound, 1u);

  // Table: the failure mark, "(monitor)" on the policy, and the MONITORED column.
  const std::string table = rp::render_table(agg);
  auto lines = split_lines(table);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_NE(lines[0].find("EVALS  MONITORED  FIRST-SEEN"), std::string::npos) << lines[0];
  bool bogus_row = false;
  for (const auto& line : lines) {
    if (line.rfind("!  bogus.test ", 0) == 0) {
      bogus_row = true;
      auto after = line.substr(std::string("!  bogus.test").size());
      EXPECT_EQ(after.find_first_not_of(' '), after.find("tempfail(monitor)")) << line;
      EXPECT_NE(line.find("monitor mode, would answer 'TEMP 4.7.5 MX lookup for bogus.test bogus"), std::string::npos)
          << line;
    }
  }
  EXPECT_TRUE(bogus_row) << table;
  EXPECT_NE(table.find("7 evaluation(s) made in monitor mode"), std::string::npos) << table;

  // JSON: counts, the flag and the count of monitored evaluations.
  auto j = rp::render_json(agg);
  EXPECT_EQ(j["input"]["monitor_lines"], 7);
  bool seen = false;
  for (const auto& d : j["destinations"]) {
    if (d["destination"] == "bogus.test") {
      seen = true;
      EXPECT_EQ(d["policy"], "tempfail");
      EXPECT_EQ(d["policy_monitored"], true);
      EXPECT_EQ(d["monitored"], 2) << "one evaluation in each fixture";
      EXPECT_EQ(d["counts"]["tempfail"], 2);
      EXPECT_EQ(d["counts"]["notfound"], 0);
      EXPECT_EQ(d["severity"], 3);
    }
  }
  EXPECT_TRUE(seen) << j.dump(2);
}

TEST(ReportMonitor, WithoutMonitorLinesTheTableIsUnchanged) {
  rp::Aggregator agg({});
  Collect c;
  ASSERT_TRUE(agg.read_verdict_file(k_data + "verdicts-basic.jsonl", c.sink()));
  const std::string table = rp::render_table(agg);
  EXPECT_EQ(table.find("MONITORED"), std::string::npos) << table;
  EXPECT_EQ(table.find("(monitor)"), std::string::npos) << table;
  EXPECT_EQ(rp::render_json(agg)["destinations"][0]["monitored"], 0);
  EXPECT_EQ(rp::render_json(agg)["destinations"][0]["policy_monitored"], false);
}

TEST(ReportMonitor, SwitchingFromMonitorToEnforcementIsNotAPolicyChange) {
  // Monitor said it would answer dane-only; then pinned mode really answers dane-only: the same
  // policy, so no change is flagged, and the latest policy is no longer a monitored one.
  rp::Aggregator agg({});
  auto mon = rp::parse_verdict_line(
      R"({"time":"2026-11-29T00:00:00Z","destination":"s.example","mode":"monitor","policy":"notfound","answer":"NOTFOUND ","would_answer":"OK dane-only","cached":false,"hosts":[]})");
  ASSERT_TRUE(mon) << mon.error();
  agg.add_verdict(*mon);
  auto pinned = rp::parse_verdict_line(
      R"({"time":"2026-11-30T00:00:00Z","destination":"s.example","mode":"pinned","policy":"dane-only","answer":"OK dane-only","cached":false,"hosts":[]})");
  ASSERT_TRUE(pinned) << pinned.error();
  agg.add_verdict(*pinned);
  const auto* d = agg.find("s.example");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->policy_changes, 0u);
  EXPECT_EQ(d->counts.dane_only, 2u);
  EXPECT_EQ(d->monitored, 1u);
  EXPECT_FALSE(d->policy_monitored);
}
