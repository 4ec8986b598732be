// Unit tests of the shared cache's pure parts (shared_cache.hpp): sealed entries (every field under
// the MAC, expiry bounds, malformed values, answers never shared), the URL and the key file checks.
#include "dane/daemon/shared_cache.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include "files.hpp"
#include "temp_dir.hpp"

namespace dane::policyd {
namespace {

using namespace std::chrono_literals;

const std::string k_key = "0123456789abcdef0123456789abcdef";
const std::string k_ctx = "mode=native;fingerprint-digest=sha256";
constexpr std::int64_t k_now = 1'800'000'000;

PolicyAnswer dane_only() {
  return make_answer(PolicyKind::DaneOnly, "dane-only", "every MX host has usable TLSA");
}

TEST(SharedCacheEntry, RoundTripKeepsTheAnswerAndTheRemainingLifetime) {
  std::string v = seal_entry(k_key, k_ctx, "all.test", dane_only(), k_now + 300);
  auto e = open_entry(k_key, k_ctx, "all.test", v, k_now, 3600s);
  ASSERT_TRUE(e) << e.error();
  EXPECT_EQ(e->answer.policy, PolicyKind::DaneOnly);
  EXPECT_EQ(e->answer.answer, "OK dane-only");
  EXPECT_EQ(e->answer.reason, dane_only().reason);
  EXPECT_EQ(e->answer.would_answer, dane_only().would_answer);
  EXPECT_EQ(e->remaining, 300s);
}

TEST(SharedCacheEntry, EverythingUnderTheMacIsChecked) {
  std::string v = seal_entry(k_key, k_ctx, "all.test", dane_only(), k_now + 300);
  EXPECT_EQ(open_entry("another key of 16+ bytes", k_ctx, "all.test", v, k_now, 3600s).error(), "bad MAC");
  EXPECT_EQ(open_entry(k_key, "mode=pinned;fingerprint-digest=sha256", "all.test", v, k_now, 3600s).error(), "bad MAC");
  EXPECT_EQ(open_entry(k_key, k_ctx, "other.test", v, k_now, 3600s).error(), "bad MAC");
  // A weaker answer under the old MAC: NOTFOUND instead of dane-only.
  std::string weaker = v;
  weaker.replace(weaker.find("9:dane-only,"), 12, "8:notfound,");
  weaker.replace(weaker.find("12:OK dane-only,"), 16, "9:NOTFOUND ,");
  EXPECT_EQ(open_entry(k_key, k_ctx, "all.test", weaker, k_now, 3600s).error(), "bad MAC");
  // A later expiry under the old MAC.
  std::string later = v;
  later.replace(later.find(std::to_string(k_now + 300)), 10, std::to_string(k_now + 900));
  EXPECT_EQ(open_entry(k_key, k_ctx, "all.test", later, k_now, 3600s).error(), "bad MAC");
  // A changed reason or would_answer.
  std::string reason = v;
  reason[reason.find("every")] = 'E';
  EXPECT_EQ(open_entry(k_key, k_ctx, "all.test", reason, k_now, 3600s).error(), "bad MAC");
}

TEST(SharedCacheEntry, ExpiredOrTooFarAheadIsRejected) {
  std::string v = seal_entry(k_key, k_ctx, "all.test", dane_only(), k_now + 300);
  EXPECT_EQ(open_entry(k_key, k_ctx, "all.test", v, k_now + 300, 3600s).error(), "expired");
  EXPECT_EQ(open_entry(k_key, k_ctx, "all.test", v, k_now, 299s).error(), "expiry too far ahead");
  EXPECT_TRUE(open_entry(k_key, k_ctx, "all.test", v, k_now, 300s));
}

TEST(SharedCacheEntry, MalformedValuesAreRejected) {
  std::string v = seal_entry(k_key, k_ctx, "all.test", dane_only(), k_now + 300);
  for (const std::string& bad : {std::string(), std::string("x"), v.substr(0, v.size() - 1), v + "1:x,",
                                 std::string("4:dpc2") + v.substr(7), std::string("99999999:x,")}) {
    auto e = open_entry(k_key, k_ctx, "all.test", bad, k_now, 3600s);
    ASSERT_FALSE(e) << bad;
    EXPECT_EQ(e.error(), "malformed") << bad;
  }
}

TEST(SharedCacheEntry, TempAndLocalFileAnswersAreNeverShared) {
  EXPECT_FALSE(shareable(temp_answer("timeout")));
  EXPECT_FALSE(shareable(make_answer(PolicyKind::Secure, "secure tafile=/var/lib/x.pem match=a", "ta")));
  EXPECT_TRUE(shareable(make_answer(PolicyKind::NotFound, "", "no TLSA")));
  EXPECT_TRUE(shareable(dane_only()));
  // Even correctly sealed (a daemon with the key never writes one), a TEMP entry is not used.
  std::string v = seal_entry(k_key, k_ctx, "all.test", temp_answer("timeout"), k_now + 300);
  EXPECT_EQ(open_entry(k_key, k_ctx, "all.test", v, k_now, 3600s).error(), "answer not shareable");
}

TEST(SharedCacheEntry, RedisKeysDependOnTheContext) {
  EXPECT_NE(redis_key(k_ctx, "all.test"), redis_key("mode=pinned;fingerprint-digest=sha256", "all.test"));
  EXPECT_TRUE(redis_key(k_ctx, "all.test").ends_with(":all.test"));
}

TEST(SharedCacheUrl, Parses) {
  auto u = parse_shared_cache_url("redis://127.0.0.1:6380/3");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 6380);
  EXPECT_EQ(u->db, 3u);
  u = parse_shared_cache_url("redis://[::1]");
  ASSERT_TRUE(u) << u.error();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 6379);
  u = parse_shared_cache_url("unix:/run/redis/redis.sock");
  ASSERT_TRUE(u) << u.error();
  EXPECT_TRUE(u->unix_socket);
  for (const char* bad : {"", "redis://", "redis://h:0", "redis://h:x", "redis://h/x", "unix:relative", "http://h"}) {
    EXPECT_FALSE(parse_shared_cache_url(bad)) << bad;
  }
}

TEST(SharedCacheKey, PermissionsOwnerAndLengthAreChecked) {
  test::TempDir dir;
  const std::string path = dir.file("key");
  test::write_text_file_or_throw(path, k_key + "\n");
  ::chmod(path.c_str(), 0600);
  auto key = read_shared_cache_key(path, -1);
  ASSERT_TRUE(key) << key.error();
  EXPECT_EQ(*key, k_key); // the trailing newline is not part of the key
  ::chmod(path.c_str(), 0640);
  EXPECT_FALSE(read_shared_cache_key(path, -1));
  ::chmod(path.c_str(), 0604);
  auto e = read_shared_cache_key(path, -1);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().find("group or other"), std::string::npos) << e.error();
  test::write_text_file_or_throw(path, "short\n");
  ::chmod(path.c_str(), 0600);
  EXPECT_FALSE(read_shared_cache_key(path, -1));
  EXPECT_FALSE(read_shared_cache_key(dir.file("missing"), -1));
  if (::geteuid() == 0) {
    test::write_text_file_or_throw(path, k_key);
    ASSERT_EQ(::chown(path.c_str(), 4242, 4242), 0);
    EXPECT_FALSE(read_shared_cache_key(path, 1000)); // neither root nor the daemon's user
    EXPECT_TRUE(read_shared_cache_key(path, 4242));
  }
}

TEST(SharedCacheEntry, MtaStsDaemonsShareNothingWithOthers) {
  Settings plain;
  Settings sts = plain;
  sts.mta_sts = true;
  Settings other_ca = sts;
  other_ca.mta_sts_ca_file = "/etc/dane-policyd/sts-ca.pem";
  EXPECT_NE(shared_context(plain), shared_context(sts));
  EXPECT_NE(shared_context(sts), shared_context(other_ca));
  EXPECT_EQ(shared_context(plain), "mode=native;fingerprint-digest=sha256"); // keys of daemons without it unchanged
  // An entry sealed by a daemon without MTA-STS does not open in one with it.
  const std::string v = seal_entry(k_key, shared_context(plain), "sts.test",
                                   make_answer(PolicyKind::NotFound, {}, "no DANE"), k_now + 300);
  EXPECT_EQ(open_entry(k_key, shared_context(sts), "sts.test", v, k_now, 3600s).error(), "bad MAC");
  EXPECT_TRUE(open_entry(k_key, shared_context(plain), "sts.test", v, k_now, 3600s));
}

} // namespace
} // namespace dane::policyd
