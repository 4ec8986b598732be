// Warm restarts and shared ports with the real dane-policyd over the DNSSEC rig:
//   * --cache-file round trip: destinations evaluated by one daemon are answered by the next from
//     the file (cache hits, no evaluation), with the TTL they had left (not a fresh one);
//   * expired entries are dropped at load, the others kept;
//   * a corrupt or foreign file (a flipped byte, truncated, garbage, a symbolic link at FILE, a file
//     written in another --mode) is ignored with a warning naming the file and why, and the daemon
//     starts cold and serves;
//   * --reuse-port: two daemons listen on one inet port and both answer; without it the second
//     cannot bind.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <set>
#include <thread>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "daemon_process.hpp"
#include "dane/daemon/cache_file.hpp"
#include "dns_rig.hpp"
#include "files.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace dane::test {
namespace {

using namespace std::chrono_literals;
using policyd::CacheFileContents;
using policyd::parse_cache_file;
using policyd::serialize_cache_file;

constexpr int k_destinations = 5;
const std::string k_ee = "0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";

std::unique_ptr<DnsRig> s_rig;

std::string destination(int i) {
  return "d" + std::to_string(i) + ".warm.test";
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

class WarmRestart : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available()) {
      return;
    }
    s_rig = std::make_unique<DnsRig>();
    std::string records;
    for (int i = 1; i <= k_destinations; ++i) {
      const std::string d = "d" + std::to_string(i);
      records += d + " MX 10 mx." + d + "\nmx." + d + " A 127.0.0.2\n_25._tcp.mx." + d + " TLSA 3 1 1 " + k_ee + "\n";
    }
    s_rig->add_zone({"warm.test", records});
    DnsRig::start_or_fail(s_rig);
  }
  static void TearDownTestSuite() { s_rig.reset(); }
  void SetUp() override { DANE_REQUIRE_OR_SKIP(s_rig != nullptr, DnsRig::missing_tools_message()); }

  std::string sock() const { return m_dir.path() + "/socketmap"; }
  std::string cache_file() const { return m_dir.path() + "/state/cache"; }

  std::unique_ptr<DaemonProcess> start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--socketmap",           "unix:" + sock(), "--state-dir",
                                  m_dir.path() + "/state", "--cache-file",   cache_file()};
    auto rig = s_rig->cli_args(5);
    args.insert(args.end(), rig.begin(), rig.end());
    args.insert(args.end(), extra.begin(), extra.end());
    auto d = DaemonProcess::start(args);
    EXPECT_TRUE(d) << (d ? "" : d.error());
    return d ? std::move(*d) : nullptr;
  }

  std::string query(const std::string& key) {
    auto c = RawClient::unix_socket(sock());
    if (!c) {
      return "connect failed: " + c.error();
    }
    SocketmapClient client(std::move(*c));
    auto r = client.query("tlspolicy", key);
    return r ? *r : "error: " + r.error();
  }

  nlohmann::json stats() {
    auto c = RawClient::unix_socket(sock());
    if (!c) {
      return {};
    }
    SocketmapClient client(std::move(*c));
    auto r = client.query("stats", "all");
    return r && r->rfind("OK ", 0) == 0 ? nlohmann::json::parse(r->substr(3)) : nlohmann::json{};
  }

  // A daemon evaluates `n` destinations and stops: the cache file then holds them.
  void fill(int n, std::vector<std::string> extra = {}) {
    auto d = start(std::move(extra));
    ASSERT_TRUE(d);
    for (int i = 1; i <= n; ++i) {
      ASSERT_EQ(query(destination(i)), "OK dane-only");
    }
    ASSERT_EQ(d->stop(), 0) << d->output();
    ASSERT_TRUE(file_exists(cache_file())) << d->output();
  }

  CacheFileContents read_file() {
    auto parsed = parse_cache_file(read_text_file(cache_file()));
    EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error());
    return parsed ? *parsed : CacheFileContents{};
  }

  // Writes `text` at the cache file as the daemon's user would (same owner, mode 0600).
  void replace_file(const std::string& text) {
    struct stat st {};
    ASSERT_EQ(::stat(cache_file().c_str(), &st), 0);
    ASSERT_TRUE(policyd::write_cache_file(cache_file(), text));
    ASSERT_EQ(::chown(cache_file().c_str(), st.st_uid, st.st_gid), 0);
  }

  // The daemon ignores the file with a warning naming it and `why`, starts cold and serves.
  void expect_cold_start(const std::string& why, std::vector<std::string> extra = {},
                         const std::string& answer = "OK dane-only") {
    auto d = start(std::move(extra));
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->wait_for_output("cache-file-rejected file=\"" + cache_file() + "\"", 10s)) << d->output();
    EXPECT_NE(d->output().find(why), std::string::npos) << d->output();
    auto s = stats();
    EXPECT_EQ(s["cache_file"]["rejected"], 1) << s.dump();
    EXPECT_EQ(s["cache_file"]["loaded"], 0) << s.dump();
    EXPECT_EQ(s["cache"]["entries"], 0) << s.dump();
    EXPECT_EQ(query(destination(1)), answer);
    EXPECT_EQ(stats()["evaluations"], 1);
    EXPECT_EQ(d->stop(), 0);
  }

  TempDir m_dir{"warm-restart"};
};

TEST_F(WarmRestart, RestartAnswersFromTheFileWithTheRemainingTtl) {
  fill(k_destinations);
  const auto first = read_file();
  ASSERT_EQ(first.entries.size(), static_cast<std::size_t>(k_destinations));
  struct stat st {};
  ASSERT_EQ(::stat(cache_file().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  std::this_thread::sleep_for(1500ms); // a restart that takes a while: the TTL keeps running meanwhile
  auto d = start();
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->wait_for_output("cache-file-loaded", 10s)) << d->output();
  auto s = stats();
  EXPECT_EQ(s["cache_file"]["loaded"], k_destinations) << s.dump();
  EXPECT_EQ(s["cache_file"]["rejected"], 0) << s.dump();
  for (int i = 1; i <= k_destinations; ++i) {
    EXPECT_EQ(query(destination(i)), "OK dane-only");
  }
  s = stats();
  EXPECT_EQ(s["evaluations"], 0) << "answered from the file, without DNS: " << s.dump();
  EXPECT_EQ(s["cache"]["hits"], k_destinations) << s.dump();
  ASSERT_EQ(d->stop(), 0);

  // Saved again at the second stop: each entry expires when it did in the first file (the TTL went
  // on running through the restart), not 1.5 s later as a fresh TTL would.
  const auto second = read_file();
  ASSERT_EQ(second.entries.size(), first.entries.size());
  for (const auto& e : second.entries) {
    bool found = false;
    for (const auto& f : first.entries) {
      if (f.key == e.key) {
        found = true;
        EXPECT_NEAR(static_cast<double>(e.expires_ms), static_cast<double>(f.expires_ms), 500.0) << e.key;
        EXPECT_EQ(e.answer, f.answer);
      }
    }
    EXPECT_TRUE(found) << e.key;
  }
}

// Saved while running (--cache-file-interval), so even a daemon that is killed restarts warm.
TEST_F(WarmRestart, PeriodicSavesSurviveAKill) {
  auto d = start({"--cache-file-interval", "1"});
  ASSERT_TRUE(d);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(query(destination(i)), "OK dane-only");
  }
  // Wait (generously) for a save that holds all three; the daemon keeps running meanwhile.
  bool saved = false;
  for (int i = 0; i < 300 && !saved; ++i) {
    auto parsed = parse_cache_file(read_text_file(cache_file()));
    saved = parsed && parsed->entries.size() == 3;
    if (!saved) {
      std::this_thread::sleep_for(100ms);
    }
  }
  ASSERT_TRUE(saved) << d->output();
  EXPECT_GE(stats()["cache_file"]["saved"], 1);
  d->signal(SIGKILL);
  d->wait(10s);

  auto again = start();
  ASSERT_TRUE(again);
  EXPECT_EQ(stats()["cache_file"]["loaded"], 3);
  EXPECT_EQ(query(destination(2)), "OK dane-only");
  EXPECT_EQ(stats()["evaluations"], 0);
  EXPECT_EQ(again->stop(), 0);
}

TEST_F(WarmRestart, ExpiredEntriesAreDropped) {
  fill(3);
  auto contents = read_file();
  ASSERT_EQ(contents.entries.size(), 3u);
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  contents.entries[0].expires_ms = now_ms - 1000;
  const std::string expired_key = contents.entries[0].key;
  replace_file(serialize_cache_file(contents));

  auto d = start();
  ASSERT_TRUE(d);
  auto s = stats();
  EXPECT_EQ(s["cache_file"]["loaded"], 2) << s.dump();
  EXPECT_EQ(s["cache_file"]["dropped_expired"], 1) << s.dump();
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(query(destination(i)), "OK dane-only");
  }
  EXPECT_EQ(stats()["evaluations"], 1) << "only " << expired_key << " is evaluated again";
  EXPECT_EQ(d->stop(), 0);
}

TEST_F(WarmRestart, AFlippedByteIsACorruptFile) {
  fill(2);
  std::string text = read_text_file(cache_file());
  text[text.size() / 2] = static_cast<char>(text[text.size() / 2] ^ 0x04);
  replace_file(text);
  expect_cold_start("checksum mismatch");
}

TEST_F(WarmRestart, ATruncatedFileIsIgnored) {
  fill(2);
  std::string text = read_text_file(cache_file());
  replace_file(text.substr(0, text.size() - 30));
  expect_cold_start("truncated");
}

TEST_F(WarmRestart, GarbageIsIgnored) {
  fill(1);
  replace_file("\x7f"
               "ELF garbage\n\x01\x02\x03 not a cache\n");
  expect_cold_start("not a dane-policyd cache file");
}

TEST_F(WarmRestart, ASymbolicLinkAtTheFileIsNeverFollowed) {
  fill(2);
  const std::string real = m_dir.path() + "/state/real-cache";
  ASSERT_EQ(::rename(cache_file().c_str(), real.c_str()), 0);
  ASSERT_EQ(::symlink(real.c_str(), cache_file().c_str()), 0);
  expect_cold_start("symbolic link");
}

TEST_F(WarmRestart, AFileFromADaemonInAnotherModeIsIgnored) {
  fill(2); // native
  expect_cold_start("written in mode native, this daemon runs in mode monitor", {"--mode", "monitor"}, "NOTFOUND ");
}

// A free TCP port on 127.0.0.1 (bound and released at once).
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  ::close(fd);
  return port;
}

TEST_F(WarmRestart, TwoDaemonsShareOnePortWithReusePort) {
  const std::uint16_t port = free_port();
  ASSERT_NE(port, 0);
  const std::string listen = "inet:127.0.0.1:" + std::to_string(port);
  auto args = s_rig->cli_args(5);
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), args.begin(), args.end());
    return DaemonProcess::start(extra);
  };
  auto a = with({"--socketmap", listen, "--reuse-port"});
  ASSERT_TRUE(a) << a.error();
  auto refused = with({"--socketmap", listen}); // without it: the port is taken
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("in use"), std::string::npos) << refused.error();
  auto b = with({"--socketmap", listen, "--reuse-port"});
  ASSERT_TRUE(b) << b.error();

  // The kernel spreads connections over both (by the client's port): each answers on its own.
  std::set<long> pids;
  for (int i = 0; i < 64 && pids.size() < 2; ++i) {
    auto c = RawClient::tcp("127.0.0.1", port);
    ASSERT_TRUE(c) << c.error();
    SocketmapClient client(std::move(*c));
    auto r = client.query("stats", "all");
    ASSERT_TRUE(r && r->rfind("OK ", 0) == 0) << (r ? *r : r.error());
    pids.insert(nlohmann::json::parse(r->substr(3))["pid"].get<long>());
  }
  EXPECT_EQ(pids, (std::set<long>{static_cast<long>((*a)->pid()), static_cast<long>((*b)->pid())}));
  EXPECT_EQ((*a)->stop(), 0);
  // The other one goes on serving the port alone.
  auto c = RawClient::tcp("127.0.0.1", port);
  ASSERT_TRUE(c) << c.error();
  SocketmapClient client(std::move(*c));
  auto r = client.query("tlspolicy", destination(1));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, "OK dane-only");
  EXPECT_EQ((*b)->stop(), 0);
}

} // namespace
} // namespace dane::test
