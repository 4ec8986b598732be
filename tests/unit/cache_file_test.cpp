// Unit tests of warm restarts (src/daemon/include/dane/daemon/cache_file.hpp): the file format's
// strict parser, the safe reading and atomic writing of the file, the cache's snapshot() and
// restore(), and CacheFileKeeper's load and save through a real PolicyService cache.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <span>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "dane/core/text.hpp"
#include "dane/daemon/cache.hpp"
#include "dane/daemon/cache_file.hpp"
#include "dane/daemon/service.hpp"
#include "dane/verifier/tlsa.hpp"
#include "temp_dir.hpp"

namespace dane::policyd {
namespace {

using namespace std::chrono_literals;
using test::TempDir;

CacheFileContents sample() {
  CacheFileContents c;
  c.identity = std::string(64, 'a');
  c.mode = Mode::Native;
  c.saved_ms = 1'700'000'000'000;
  c.entries.push_back({1'700'000'300'000, 300, PolicyKind::DaneOnly, "example.test", "OK dane-only",
                       "every MX host has usable TLSA records", ""});
  c.entries.push_back({1'700'000'100'000, 120, PolicyKind::NotFound, "[mx.example.test]:2525", "NOTFOUND ",
                       "no TLSA records: 100% plain \x01 text", "-"});
  return c;
}

// The body of a file (everything before its checksum line) sealed with a correct checksum, so that
// a test's edit is judged on its content.
std::string seal(const std::string& text) {
  std::string body = text.substr(0, text.rfind("sha256 "));
  const std::span<const std::uint8_t> data(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
  return body + "sha256 " + to_hex(*tlsa_digest(TlsaMatchingType::Sha2_256, data)) + "\n";
}

TEST(CacheFile, RoundTripKeepsEveryField) {
  const auto c = sample();
  const std::string text = serialize_cache_file(c);
  auto parsed = parse_cache_file(text);
  ASSERT_TRUE(parsed) << parsed.error();
  EXPECT_EQ(parsed->identity, c.identity);
  EXPECT_EQ(parsed->mode, Mode::Native);
  EXPECT_EQ(parsed->saved_ms, c.saved_ms);
  ASSERT_EQ(parsed->entries.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(parsed->entries[i].key, c.entries[i].key);
    EXPECT_EQ(parsed->entries[i].answer, c.entries[i].answer);
    EXPECT_EQ(parsed->entries[i].reason, c.entries[i].reason);
    EXPECT_EQ(parsed->entries[i].would_answer, c.entries[i].would_answer);
    EXPECT_EQ(parsed->entries[i].expires_ms, c.entries[i].expires_ms);
    EXPECT_EQ(parsed->entries[i].lifetime_s, c.entries[i].lifetime_s);
    EXPECT_EQ(parsed->entries[i].policy, c.entries[i].policy);
  }
  EXPECT_EQ(text.find('\x01'), std::string::npos) << "control bytes are escaped";
}

TEST(CacheFile, AFlippedByteAnywhereIsRejected) {
  const std::string text = serialize_cache_file(sample());
  for (std::size_t i = 0; i < text.size(); ++i) {
    std::string bad = text;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EXPECT_FALSE(parse_cache_file(bad)) << "byte " << i << " flipped";
  }
}

TEST(CacheFile, TruncationAnywhereIsRejected) {
  const std::string text = serialize_cache_file(sample());
  for (std::size_t n = 0; n < text.size(); ++n) {
    EXPECT_FALSE(parse_cache_file(text.substr(0, n))) << "cut at " << n;
  }
}

TEST(CacheFile, GarbageAndOtherVersionsAreNamed) {
  auto garbage = parse_cache_file("hello world\n");
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().find("not a dane-policyd cache file"), std::string::npos) << garbage.error();
  std::string v2 = serialize_cache_file(sample());
  v2.replace(0, 25, "dane-policyd cache-file 2");
  auto other = parse_cache_file(v2);
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().find("format version"), std::string::npos) << other.error();
  auto flipped = parse_cache_file(serialize_cache_file(sample()).replace(120, 1, "Z"));
  ASSERT_FALSE(flipped);
}

// Entries this daemon never writes are refused even with a valid checksum.
TEST(CacheFile, EntriesTheDaemonNeverWritesAreRefused) {
  auto with = [](CacheFileEntry e) {
    auto c = sample();
    c.entries.push_back(std::move(e));
    return parse_cache_file(serialize_cache_file(c));
  };
  EXPECT_FALSE(with({1, 10, PolicyKind::TempFail, "t.test", "TEMP 4.7.5 bogus", "bogus", ""}));
  EXPECT_FALSE(with({1, 10, PolicyKind::NotFound, "m.test", "NOTFOUND ", "monitor", "TEMP 4.7.5 timeout"}));
  EXPECT_FALSE(with({1, 10, PolicyKind::DaneOnly, "d.test", "OK dane", "wrong word", ""}));
  EXPECT_FALSE(with({1, 10, PolicyKind::NotFound, "d.test", "OK dane-only", "weaker than it says", ""}));
  EXPECT_FALSE(with({1, 10, PolicyKind::DaneOnly, "UPPER.test", "OK dane-only", "", ""}));
  EXPECT_FALSE(with({1, 10, PolicyKind::NotFound, ".parent.test", "NOTFOUND ", "", ""}));
  EXPECT_FALSE(with({1, 10, PolicyKind::DaneOnly, "bad..name", "OK dane-only", "", ""}));
  EXPECT_TRUE(with({1, 10, PolicyKind::Fingerprint, "f.test", "OK fingerprint match=aa:bb", "pinned", ""}));
}

TEST(CacheFile, MalformedLinesAreRefused) {
  const std::string good = serialize_cache_file(sample());
  ASSERT_TRUE(parse_cache_file(seal(good))) << "seal() computes the checksum as the writer does";
  auto edited = [&good](const std::string& from, const std::string& to) {
    std::string text = good;
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    return parse_cache_file(seal(text));
  };
  EXPECT_FALSE(edited("entries 2", "entries 3"));
  EXPECT_FALSE(edited("entries 2", "entries 02"));
  EXPECT_FALSE(edited("mode native", "mode strict"));
  EXPECT_FALSE(edited("identity a", "identity A"));
  EXPECT_FALSE(edited("E 1700000300000 300", "E 1700000300000  300"));
  EXPECT_FALSE(edited("E 1700000300000 300", "E -1 300"));
  EXPECT_FALSE(edited("E 1700000300000 300 dane-only", "E 1700000300000 300 strict"));
  EXPECT_FALSE(edited("OK%20dane-only", "OK%2"));
  EXPECT_FALSE(edited("OK%20dane-only", "OK%ZZdane-only"));
  EXPECT_FALSE(edited("OK%20dane-only", "OK%20dane-only extra"));
  EXPECT_FALSE(edited("OK%20dane-only", "OK%0Adane-only"));
  EXPECT_FALSE(edited("\nE 1700000100000", "\r\nE 1700000100000"));
}

TEST(CacheFile, WrittenWithMode0600AndReadBack) {
  TempDir dir("cachefile");
  const std::string path = dir.path() + "/cache";
  ASSERT_TRUE(write_cache_file(path, "content\n"));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto read = read_cache_file(path, 1000);
  ASSERT_TRUE(read) << read.error();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ(**read, "content\n");
  auto missing = read_cache_file(dir.path() + "/none", 1000);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());
  auto big = read_cache_file(path, 3);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().find("larger"), std::string::npos);
}

TEST(CacheFile, ASymbolicLinkIsNeverFollowed) {
  TempDir dir("cachefile");
  const std::string target = dir.path() + "/target";
  const std::string path = dir.path() + "/cache";
  ASSERT_TRUE(write_cache_file(target, "target\n"));
  ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0);
  auto read = read_cache_file(path, 1000);
  ASSERT_FALSE(read);
  EXPECT_NE(read.error().find("symbolic link"), std::string::npos) << read.error();
  // Saving replaces the link itself; the file it pointed to is left alone.
  ASSERT_TRUE(write_cache_file(path, "new\n"));
  struct stat st {};
  ASSERT_EQ(::lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  std::ifstream in(target);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "target");
}

TEST(CacheFile, GroupWritableFilesAreRefused) {
  TempDir dir("cachefile");
  const std::string path = dir.path() + "/cache";
  ASSERT_TRUE(write_cache_file(path, "x\n"));
  ASSERT_EQ(::chmod(path.c_str(), 0620), 0);
  EXPECT_FALSE(read_cache_file(path, 1000));
}

TEST(CacheFile, SnapshotSkipsTemporaryAndExpiredAndRestoreKeepsTheRemainingTime) {
  auto now = std::chrono::steady_clock::time_point{} + 1000s;
  Cache<int> cache(CacheLimits{10, 1s, 3600s, 60s, false, 2}, [&now] { return now; }); // TEMP kept 60 s
  cache.complete("a.test", 1, 100s, false);
  cache.complete("t.test", 2, 100s, true); // temporary
  cache.complete("b.test", 3, 10s, false);
  now += 20s; // b expired
  auto snap = cache.snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].key, "a.test");
  EXPECT_EQ(snap[0].expires - now, 80s);
  EXPECT_EQ(snap[0].lifetime, 100s);

  Cache<int> fresh(CacheLimits{10, 1s, 3600s, 5s, false, 2}, [&now] { return now; });
  EXPECT_TRUE(fresh.restore("a.test", 1, 80000ms, 100s));
  EXPECT_FALSE(fresh.restore("a.test", 9, 80000ms, 100s)) << "never replaces what is there";
  EXPECT_FALSE(fresh.restore("z.test", 9, 0ms, 100s)) << "nothing left";
  auto hit = fresh.lookup("a.test", [](const int&) {});
  ASSERT_EQ(hit.kind, Cache<int>::Kind::Hit);
  EXPECT_EQ(*hit.value, 1);
  now += 81s;
  EXPECT_EQ(fresh.lookup("a.test", [](const int&) {}).kind, Cache<int>::Kind::Evaluate) << "expires on time";
}

// A keeper over a PolicyService's settings and a cache: save, then load into another cache.
struct KeeperRig {
  KeeperRig() {
    settings.cache_file = dir.path() + "/cache";
    settings.state_dir = dir.path();
    settings.resolver.trust_anchor_file = dir.path() + "/anchor"; // missing: its name counts
    LogOptions lo;
    lo.to_syslog = false;
    auto opened = LogWriter::open(lo);
    if (opened) {
      log = std::move(*opened);
      log->start();
    }
  }
  nlohmann::json counters() const { return nlohmann::json::parse(stats.to_json())["cache_file"]; }
  TempDir dir{"keeper"};
  Settings settings;
  Stats stats;
  std::unique_ptr<LogWriter> log;
};

VerdictPtr verdict(PolicyKind kind, const std::string& answer) {
  return std::make_shared<const Verdict>(PolicyAnswer{kind, answer, "reason", ""});
}

TEST(CacheFileKeeper, SavesAndLoadsWithTheRemainingTime) {
  KeeperRig rig;
  ASSERT_TRUE(rig.log);
  Cache<VerdictPtr> before(CacheLimits{});
  before.complete("a.test", verdict(PolicyKind::DaneOnly, "OK dane-only"), 600s, false);
  before.complete("t.test", verdict(PolicyKind::TempFail, "TEMP 4.7.5 x"), 600s, true);
  CacheFileKeeper saver(rig.settings, before, *rig.log, rig.stats);
  ASSERT_TRUE(saver.save());
  Cache<VerdictPtr> after(CacheLimits{});
  CacheFileKeeper loader(rig.settings, after, *rig.log, rig.stats);
  loader.load();
  auto c = rig.counters();
  EXPECT_EQ(c["saved"], 1);
  EXPECT_EQ(c["loaded"], 1);
  EXPECT_EQ(c["rejected"], 0);
  auto snap = after.snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].key, "a.test");
  const auto left = snap[0].expires - std::chrono::steady_clock::now();
  EXPECT_GT(left, 590s);
  EXPECT_LE(left, 600s);
}

TEST(CacheFileKeeper, AnotherModeOrResolverIdentityIsRejected) {
  KeeperRig rig;
  ASSERT_TRUE(rig.log);
  Cache<VerdictPtr> before(CacheLimits{});
  before.complete("a.test", verdict(PolicyKind::DaneOnly, "OK dane-only"), 600s, false);
  CacheFileKeeper saver(rig.settings, before, *rig.log, rig.stats);
  ASSERT_TRUE(saver.save());

  Settings pinned = rig.settings;
  pinned.mode = Mode::Pinned;
  Cache<VerdictPtr> after(CacheLimits{});
  CacheFileKeeper(pinned, after, *rig.log, rig.stats).load();
  EXPECT_EQ(after.size(), 0u);
  EXPECT_EQ(rig.counters()["rejected"], 1);

  Settings other = rig.settings;
  other.resolver.forwarders = {"127.0.0.1@5353"};
  CacheFileKeeper(other, after, *rig.log, rig.stats).load();
  EXPECT_EQ(after.size(), 0u);
  EXPECT_EQ(rig.counters()["rejected"], 2);

  // A cache saved without --mta-sts holds NOTFOUND for destinations an enforce policy now covers.
  Settings sts = rig.settings;
  sts.mta_sts = true;
  CacheFileKeeper(sts, after, *rig.log, rig.stats).load();
  EXPECT_EQ(after.size(), 0u);
  EXPECT_EQ(rig.counters()["rejected"], 3);
  EXPECT_EQ(cache_identity(rig.settings), cache_identity(Settings(rig.settings))); // unchanged without it
}

TEST(CacheFileKeeper, ExpiredAndTooLongEntriesAreDropped) {
  KeeperRig rig;
  ASSERT_TRUE(rig.log);
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  CacheFileContents c;
  c.identity = cache_identity(rig.settings);
  c.saved_ms = now_ms;
  c.entries.push_back({now_ms - 1000, 60, PolicyKind::DaneOnly, "old.test", "OK dane-only", "", ""});
  c.entries.push_back({now_ms + 7200'000, 7200, PolicyKind::DaneOnly, "long.test", "OK dane-only", "", ""});
  c.entries.push_back({now_ms + 60'000, 60, PolicyKind::Dane, "ok.test", "OK dane", "", ""});
  ASSERT_TRUE(write_cache_file(rig.settings.cache_file, serialize_cache_file(c)));
  Cache<VerdictPtr> after(CacheLimits{});
  CacheFileKeeper(rig.settings, after, *rig.log, rig.stats).load(); // --cache-max-ttl 3600
  auto counters = rig.counters();
  EXPECT_EQ(counters["loaded"], 1);
  EXPECT_EQ(counters["dropped_expired"], 1);
  EXPECT_EQ(counters["dropped"], 1);
  EXPECT_EQ(after.size(), 1u);
}

TEST(CacheFileKeeper, PinnedEntriesNeedTheirTrustAnchorFile) {
  KeeperRig rig;
  ASSERT_TRUE(rig.log);
  rig.settings.mode = Mode::Pinned;
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  const std::string kept = rig.dir.path() + "/ta-kept.pem";
  std::ofstream(kept) << "pem\n";
  CacheFileContents c;
  c.identity = cache_identity(rig.settings);
  c.mode = Mode::Pinned;
  c.saved_ms = now_ms;
  c.entries.push_back(
      {now_ms + 60'000, 60, PolicyKind::Secure, "kept.test", "OK secure tafile=" + kept + " match=kept.test", "", ""});
  c.entries.push_back({now_ms + 60'000, 60, PolicyKind::Secure, "gone.test",
                       "OK secure tafile=" + rig.dir.path() + "/ta-gone.pem match=gone.test", "", ""});
  ASSERT_TRUE(write_cache_file(rig.settings.cache_file, serialize_cache_file(c)));
  Cache<VerdictPtr> after(CacheLimits{});
  CacheFileKeeper(rig.settings, after, *rig.log, rig.stats).load();
  EXPECT_EQ(rig.counters()["loaded"], 1);
  EXPECT_EQ(rig.counters()["dropped"], 1);

  // A trust-anchor file outside --state-dir: the whole file is refused.
  c.entries.push_back(
      {now_ms + 60'000, 60, PolicyKind::Secure, "out.test", "OK secure tafile=/etc/passwd match=out.test", "", ""});
  ASSERT_TRUE(write_cache_file(rig.settings.cache_file, serialize_cache_file(c)));
  Cache<VerdictPtr> third(CacheLimits{});
  CacheFileKeeper(rig.settings, third, *rig.log, rig.stats).load();
  EXPECT_EQ(third.size(), 0u);
  EXPECT_EQ(rig.counters()["rejected"], 1);
}

} // namespace
} // namespace dane::policyd
