// The MTA-STS policy cache (RFC 8461 §5): a policy saved by one PolicyStore is read back by another on
// the same directory (a restart), written 0600 in a 0700 directory; every file it must not trust is
// refused with a message naming the file and the reason, never read as "no policy".
#include <chrono>
#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>

#include "dane/sts/policy_store.hpp"
#include "files.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace {

using dane::sts::PolicyStore;
using dane::sts::StoredPolicy;
using std::chrono::system_clock;

const std::string k_body = "version: STSv1\nmode: enforce\nmx: mx1.sts.test\nmx: *.sts.test\nmax_age: 86400\n";

StoredPolicy make_policy(const std::string& domain, const std::string& id = "20261205",
                         const std::string& body = k_body) {
  auto parsed = dane::parse_sts_policy(body);
  EXPECT_TRUE(parsed) << parsed.error();
  StoredPolicy p;
  p.domain = domain;
  p.id = id;
  p.policy = *parsed;
  p.fetched = system_clock::time_point(std::chrono::seconds(1796400000)); // 2026-12-04T16:00:00Z
  p.expires = p.fetched + std::chrono::seconds(p.policy.max_age);
  return p;
}

std::string store_file_for(const std::string& dir, const StoredPolicy& p) {
  // Written by one store, read back as text: the on-disk form the refusal cases start from.
  PolicyStore writer(dir);
  EXPECT_TRUE(writer.save(p));
  return dane::test::read_text_file(dir + "/" + p.domain + ".json");
}

// A file replaced behind the store's back, then loaded by a fresh store (no memory copy).
std::string load_error(const std::string& dir, const std::string& domain) {
  PolicyStore fresh(dir);
  auto loaded = fresh.load(domain);
  if (loaded) {
    return loaded->has_value() ? "loaded a policy" : "loaded nothing";
  }
  return loaded.error();
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

TEST(PolicyStore, Rfc8461_5_SurvivesARestart) {
  dane::test::TempDir tmp("sts-store");
  const std::string dir = tmp.file("mta-sts");
  {
    PolicyStore first(dir);
    auto none = first.load("sts.test");
    ASSERT_TRUE(none) << none.error();
    EXPECT_FALSE(none->has_value());
    ASSERT_TRUE(first.save(make_policy("STS.Test.")));
  }
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700U);
  ASSERT_EQ(::stat((dir + "/sts.test.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600U);
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) {
    ++entries;
  }
  EXPECT_EQ(entries, 1U) << "no temporary file left behind";

  PolicyStore second(dir); // a restart: nothing in memory
  auto loaded = second.load("sts.test");
  ASSERT_TRUE(loaded) << loaded.error();
  ASSERT_TRUE(loaded->has_value());
  const StoredPolicy& p = **loaded;
  const StoredPolicy want = make_policy("sts.test");
  EXPECT_EQ(p.domain, "sts.test");
  EXPECT_EQ(p.id, "20261205");
  EXPECT_EQ(p.policy.mode, dane::StsMode::Enforce);
  EXPECT_EQ(p.policy.mx, want.policy.mx);
  EXPECT_EQ(p.policy.max_age, 86400U);
  EXPECT_EQ(p.policy.text, k_body);
  EXPECT_EQ(p.fetched, want.fetched);
  EXPECT_EQ(p.expires, want.expires);
  // Case and a trailing dot do not make another domain.
  auto again = second.load("STS.TEST.");
  ASSERT_TRUE(again && again->has_value());
}

TEST(PolicyStore, SaveReplacesAndMemoryOnlyWritesNothing) {
  dane::test::TempDir tmp("sts-store");
  const std::string dir = tmp.file("mta-sts");
  PolicyStore store(dir);
  ASSERT_TRUE(store.save(make_policy("sts.test", "one")));
  ASSERT_TRUE(store.save(make_policy("sts.test", "two")));
  PolicyStore reread(dir);
  auto loaded = reread.load("sts.test");
  ASSERT_TRUE(loaded && loaded->has_value());
  EXPECT_EQ((*loaded)->id, "two");

  PolicyStore memory("");
  ASSERT_TRUE(memory.save(make_policy("sts.test")));
  auto mem = memory.load("sts.test");
  ASSERT_TRUE(mem && mem->has_value());

  const std::string ro_dir = tmp.file("ro");
  PolicyStore read_only(ro_dir, true);
  ASSERT_TRUE(read_only.save(make_policy("sts.test")));
  EXPECT_FALSE(std::filesystem::exists(ro_dir)) << "a read-only store never writes";
  auto ro = read_only.load("sts.test");
  ASSERT_TRUE(ro && ro->has_value());
}

TEST(PolicyStore, InvalidDomainNamesNeverBecomeFileNames) {
  dane::test::TempDir tmp("sts-store");
  PolicyStore store(tmp.file("mta-sts"));
  for (const std::string& bad :
       std::vector<std::string>{"", ".", "../etc", "a/b", "a..b", "-a.test", "a-.test", "a_b.test", "a b",
                                std::string(64, 'a') + ".test", "*.test", ".hidden"}) {
    SCOPED_TRACE(bad);
    auto loaded = store.load(bad);
    ASSERT_FALSE(loaded);
    EXPECT_NE(loaded.error().find("invalid domain name"), std::string::npos) << loaded.error();
    auto saved = store.save(make_policy(bad));
    ASSERT_FALSE(saved);
  }
  EXPECT_FALSE(std::filesystem::exists(tmp.file("mta-sts")));
}

struct Refusal {
  std::string name;
  std::string content; // "" keeps the file the store wrote
  std::string expect;
};

TEST(PolicyStore, RefusesFilesItCannotTrust) {
  dane::test::TempDir tmp("sts-store");
  const std::string dir = tmp.file("mta-sts");
  const std::string good = store_file_for(dir, make_policy("sts.test"));
  ASSERT_NE(good.find("\"domain\": \"sts.test\""), std::string::npos) << good;
  const std::vector<Refusal> cases = {
      {"bad JSON", good.substr(0, good.size() / 2), "not a JSON object"},
      {"another domain", replace_all(good, "\"domain\": \"sts.test\"", "\"domain\": \"evil.test\""), "another domain"},
      {"body refused", replace_all(good, "mode: enforce", "mode: enforced"), "policy is refused"},
      {"bad id", replace_all(good, "\"id\": \"20261205\"", "\"id\": \"2026-12-05\""), "not a valid MTA-STS id"},
      {"bad time", replace_all(good, "\"fetched\": \"2026", "\"fetched\": \"x026"), "field \"fetched\""},
      {"expires moved", replace_all(good, "\"expires\": \"2026-12-05", "\"expires\": \"2027-12-05"),
       "\"expires\" is not"},
      {"no format", replace_all(good, "\"format\"", "\"formal\""), "not format 1"},
      {"missing id", replace_all(good, "\"id\"", "\"ib\""), "no string field \"id\""},
      {"too large", good.substr(0, good.size() - 2) + std::string(300 * 1024, ' ') + "}\n", "larger than 262144"},
  };
  const std::string path = dir + "/sts.test.json";
  for (const Refusal& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_TRUE(dane::test::write_text_file(path, c.content));
    ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
    const std::string error = load_error(dir, "sts.test");
    EXPECT_NE(error.find(c.expect), std::string::npos) << error;
    EXPECT_NE(error.find(path), std::string::npos) << "names the file: " << error;
  }
  // The unchanged file loads (the cases above fail for their own reason only).
  ASSERT_TRUE(dane::test::write_text_file(path, good));
  EXPECT_EQ(load_error(dir, "sts.test"), "loaded a policy");

  ASSERT_EQ(::chmod(path.c_str(), 0620), 0);
  EXPECT_NE(load_error(dir, "sts.test").find("writable by group or others"), std::string::npos);
  ASSERT_EQ(::chmod(path.c_str(), 0602), 0);
  EXPECT_NE(load_error(dir, "sts.test").find("writable by group or others"), std::string::npos);
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);

  const std::string elsewhere = tmp.file("elsewhere.json");
  ASSERT_TRUE(dane::test::write_text_file(elsewhere, good));
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_EQ(::symlink(elsewhere.c_str(), path.c_str()), 0);
  EXPECT_NE(load_error(dir, "sts.test").find("symbolic link"), std::string::npos);
}

TEST(PolicyStore, RefusesAFileOfAnotherOwner) {
  DANE_REQUIRE_OR_SKIP(dane::test::is_root(), "chown to another user needs root");
  dane::test::TempDir tmp("sts-store");
  const std::string dir = tmp.file("mta-sts");
  store_file_for(dir, make_policy("sts.test"));
  const std::string path = dir + "/sts.test.json";
  ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  const std::string error = load_error(dir, "sts.test");
  EXPECT_NE(error.find("owned by uid 65534"), std::string::npos) << error;
}

TEST(PolicyStore, AMemoryCopyIsServedWithoutTheDisk) {
  dane::test::TempDir tmp("sts-store");
  const std::string dir = tmp.file("mta-sts");
  PolicyStore store(dir);
  ASSERT_TRUE(store.save(make_policy("sts.test")));
  ASSERT_TRUE(dane::test::write_text_file(dir + "/sts.test.json", "garbage"));
  auto loaded = store.load("sts.test");
  ASSERT_TRUE(loaded && loaded->has_value()) << "the store that saved it answers from memory";
}

} // namespace
