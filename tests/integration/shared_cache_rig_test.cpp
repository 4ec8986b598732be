// Integration tests of --shared-cache (shared_cache.hpp) with a real redis-server on loopback and
// real dane-policyd processes over the DNSSEC rig: a second daemon answers from Redis without DNS;
// forged entries (a weaker answer under the old MAC, a MAC under another key, garbage) are ignored
// and counted and the daemon evaluates itself (TEMP while its DNS is down, never the forged
// NOTFOUND); Redis killed mid-run and an unresponsive Redis leave answers correct and counted; a
// key file readable by others, or none at all, stops the start with exit code 2.
#include <gtest/gtest.h>

#include <csignal>
#include <future>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "daemon_process.hpp"
#include "dane/daemon/shared_cache.hpp"
#include "dns_rig.hpp"
#include "files.hpp"
#include "process.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace dane::test {
namespace {

using namespace std::chrono_literals;
using policyd::PolicyKind;

const std::string k_ee1 = "0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";
const std::string k_key = "a fleet's shared-cache key, 32+ bytes long";

std::unique_ptr<DnsRig> s_rig;

// A port on `address` that was free a moment ago (bind to 0, read it, close).
std::uint16_t free_port(const std::string& address) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
  socklen_t len = sizeof sa;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  ::close(fd);
  return port;
}

// A private redis-server on 127.x.y.z:PORT: no persistence, stopped with the object.
class RedisServer {
public:
  RedisServer(const std::string& dir, std::string address, std::uint16_t port)
      : m_dir(dir), m_address(std::move(address)), m_port(port) {}
  Status start() {
    auto child =
        ChildProcess::start({find_program("redis-server"), "--bind", m_address, "--port", std::to_string(m_port),
                             "--save", "", "--appendonly", "no", "--dir", m_dir, "--daemonize", "no"},
                            SpawnOptions{m_dir + "/redis.log", "", {}, {}, "", SIGKILL, true});
    if (!child) {
      return make_error(child.error());
    }
    m_child = std::move(*child);
    for (int i = 0; i < 500; ++i) {
      if (cli({"PING"}) == "PONG\n") {
        return Ok{};
      }
      std::this_thread::sleep_for(10ms);
    }
    return make_error("redis-server did not answer PING: " + read_text_file(m_dir + "/redis.log"));
  }
  void kill() {
    m_child.signal(SIGKILL);
    m_child.wait(10s);
  }
  std::string cli(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{find_program("redis-cli"), "-h", m_address, "-p", std::to_string(m_port)};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, 10s, false).output;
  }
  // SET with the value on stdin (-x): binary-safe, no shell.
  void set(const std::string& key, const std::string& value) const {
    RunOptions o;
    o.timeout = 10s;
    o.stdin_data = value;
    run_process({find_program("redis-cli"), "-h", m_address, "-p", std::to_string(m_port), "-x", "SET", key}, o);
  }
  std::string url() const { return "redis://" + m_address + ":" + std::to_string(m_port); }

private:
  std::string m_dir;
  std::string m_address;
  std::uint16_t m_port;
  ChildProcess m_child;
};

class SharedCacheRig : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available()) {
      return;
    }
    s_rig = std::make_unique<DnsRig>();
    s_rig->add_zone({"all.test", "@ MX 10 mx1\n@ MX 20 mx2\nmx1 A 127.0.0.2\nmx2 A 127.0.0.3\n"
                                 "_25._tcp.mx1 TLSA 3 1 1 " +
                                     k_ee1 + "\n_25._tcp.mx2 TLSA 3 1 1 " + k_ee1 + "\n"});
    s_rig->add_zone({"some.test", "@ MX 10 mx1\n@ MX 20 mx2\nmx1 A 127.0.0.2\nmx2 A 127.0.0.3\n"
                                  "_25._tcp.mx1 TLSA 3 1 1 " +
                                      k_ee1 + "\n"});
    s_rig->add_zone({"none.test", "@ MX 10 mx\nmx A 127.0.0.2\n"});
    DnsRig::start_or_fail(s_rig);
  }
  static void TearDownTestSuite() { s_rig.reset(); }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(s_rig != nullptr, DnsRig::missing_tools_message());
    DANE_REQUIRE_OR_SKIP(is_root(), "the daemon tests bind sockets as root and drop privileges");
    DANE_REQUIRE_OR_SKIP(!find_program("redis-server").empty() && !find_program("redis-cli").empty(),
                         "redis-server and redis-cli (Debian package redis-server)");
    ::chmod(m_dir.path().c_str(), 0777);
    write_text_file_or_throw(key_file(), k_key + "\n");
    ::chmod(key_file().c_str(), 0600);
    const std::string address = unique_loopback_address();
    m_redis = std::make_unique<RedisServer>(m_dir.path(), address, free_port(address));
    auto st = m_redis->start();
    ASSERT_TRUE(st) << st.error();
  }
  void TearDown() override {
    if (s_rig && !s_rig->running()) {
      ASSERT_TRUE(s_rig->start()); // a test that stopped DNS gives it back
    }
  }

  std::string key_file() const { return m_dir.file("shared.key"); }
  std::string sock(const std::string& name) const { return m_dir.file(name + ".sock"); }

  std::unique_ptr<DaemonProcess> start(const std::string& name, const std::string& url,
                                       std::vector<std::string> extra = {}, int dns_timeout = 5) {
    std::vector<std::string> args{
        "--socketmap", "unix:" + sock(name), "--state-dir", m_dir.file(name + "-state"), "--shared-cache",
        url,           "--shared-cache-key", key_file()};
    auto rig_args = s_rig->cli_args(dns_timeout);
    args.insert(args.end(), rig_args.begin(), rig_args.end());
    args.insert(args.end(), extra.begin(), extra.end());
    auto d = DaemonProcess::start(args);
    EXPECT_TRUE(d) << (d ? "" : d.error());
    return d ? std::move(*d) : nullptr;
  }

  std::string query(const std::string& name, const std::string& key) {
    auto c = RawClient::unix_socket(sock(name));
    if (!c) {
      return "connect failed: " + c.error();
    }
    SocketmapClient client(std::move(*c));
    auto r = client.query("tlspolicy", key);
    return r ? *r : "error: " + r.error();
  }
  nlohmann::json stats(const std::string& name) {
    auto c = RawClient::unix_socket(sock(name));
    if (!c) {
      return {};
    }
    SocketmapClient client(std::move(*c));
    auto s = client.query("stats", "all");
    return s && s->rfind("OK ", 0) == 0 ? nlohmann::json::parse(s->substr(3)) : nlohmann::json{};
  }
  // Waits (generously) until the daemon's shared_cache counter `field` reaches `at_least`.
  std::uint64_t wait_counter(const std::string& name, const std::string& field, std::uint64_t at_least) {
    std::uint64_t n = 0;
    for (int i = 0; i < 1000; ++i) {
      n = stats(name)["shared_cache"][field].get<std::uint64_t>();
      if (n >= at_least) {
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    return n;
  }
  std::string redis_key(const std::string& destination) const {
    return policyd::redis_key(policyd::shared_context(policyd::Settings{}), destination);
  }

  TempDir m_dir{"shared-cache"};
  std::unique_ptr<RedisServer> m_redis;
};

TEST_F(SharedCacheRig, SecondDaemonAnswersFromRedisWithoutDns) {
  auto a = start("a", m_redis->url());
  ASSERT_TRUE(a);
  EXPECT_EQ(query("a", "all.test"), "OK dane-only");
  EXPECT_EQ(query("a", "none.test"), "NOTFOUND ");
  EXPECT_EQ(wait_counter("a", "stored", 2), 2u);
  EXPECT_NE(m_redis->cli({"GET", redis_key("all.test")}).find("OK dane-only"), std::string::npos);
  EXPECT_GT(std::stoi(m_redis->cli({"TTL", redis_key("all.test")})), 0) << "stored with an expiry";

  s_rig->stop(); // daemon B cannot resolve anything
  auto b = start("b", m_redis->url());
  ASSERT_TRUE(b);
  EXPECT_EQ(query("b", "all.test"), "OK dane-only");
  EXPECT_EQ(query("b", "none.test"), "NOTFOUND ");
  EXPECT_EQ(query("b", "all.test"), "OK dane-only") << "now from B's own cache";
  auto s = stats("b");
  EXPECT_EQ(s["shared_cache"]["hits"], 2);
  EXPECT_EQ(s["shared_cache"]["rejected"], 0);
  EXPECT_EQ(s["evaluations"], 0) << "B evaluated nothing itself";
  EXPECT_EQ(s["cache"]["hits"], 1);
}

TEST_F(SharedCacheRig, ForgedEntriesAreIgnoredAndCounted) {
  auto a = start("a", m_redis->url());
  ASSERT_TRUE(a);
  EXPECT_EQ(query("a", "all.test"), "OK dane-only");
  ASSERT_EQ(wait_counter("a", "stored", 1), 1u);
  // 1. A weaker answer (NOTFOUND) in A's genuine entry, under its MAC.
  std::string value = m_redis->cli({"GET", redis_key("all.test")});
  ASSERT_FALSE(value.empty());
  value.pop_back(); // redis-cli's newline
  auto at = value.find("9:dane-only,");
  ASSERT_NE(at, std::string::npos) << value;
  value.replace(at, 12, "8:notfound,");
  at = value.find("12:OK dane-only,");
  ASSERT_NE(at, std::string::npos) << value;
  value.replace(at, 16, "9:NOTFOUND ,");
  m_redis->set(redis_key("all.test"), value);
  // 2. A well-formed NOTFOUND entry sealed under another key.
  auto forged = policyd::make_answer(PolicyKind::NotFound, "", "forged");
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  m_redis->set(redis_key("some.test"),
               policyd::seal_entry("not the fleet's key at all", policyd::shared_context(policyd::Settings{}),
                                   "some.test", forged, now + 300));
  // 3. Garbage.
  m_redis->set(redis_key("garbage.all.test"), "NOTFOUND ");

  s_rig->stop(); // B must evaluate itself: with DNS down that is TEMP, never the forged NOTFOUND
  auto b = start("b", m_redis->url(), {}, 2);
  ASSERT_TRUE(b);
  // Asked at once (each waits for B's DNS timeout).
  std::vector<std::future<std::string>> answers;
  for (const char* key : {"all.test", "some.test", "garbage.all.test"}) {
    answers.push_back(std::async(std::launch::async, [this, key] { return query("b", key); }));
  }
  for (auto& answer : answers) {
    EXPECT_EQ(answer.get().rfind("TEMP ", 0), 0u);
  }
  auto s = stats("b");
  EXPECT_EQ(s["shared_cache"]["rejected"], 3);
  EXPECT_EQ(s["shared_cache"]["hits"], 0);
  EXPECT_EQ(s["evaluations"], 3);
  EXPECT_TRUE(b->wait_for_output("shared-cache-rejected destination=\"all.test\" (bad MAC)")) << b->output();
  EXPECT_TRUE(b->wait_for_output("shared-cache-rejected destination=\"garbage.all.test\" (malformed)"));
  EXPECT_NE(m_redis->cli({"GET", redis_key("all.test")}).find("NOTFOUND"), std::string::npos)
      << "TEMP is never stored: the forged value is still there";

  // With DNS back, B answers the truth over the forged entries (its TEMP expires after --tempfail-ttl).
  ASSERT_TRUE(s_rig->start());
  auto c = start("c", m_redis->url());
  ASSERT_TRUE(c);
  EXPECT_EQ(query("c", "some.test"), "OK dane");
  EXPECT_EQ(stats("c")["shared_cache"]["rejected"], 1);
}

TEST_F(SharedCacheRig, RedisKilledMidRunAnswersStayCorrect) {
  auto a = start("a", m_redis->url());
  ASSERT_TRUE(a);
  EXPECT_EQ(query("a", "all.test"), "OK dane-only");
  ASSERT_EQ(wait_counter("a", "stored", 1), 1u);
  m_redis->kill();
  ASSERT_TRUE(a->wait_for_output("shared-cache: lost the Redis connection")) << a->output();
  EXPECT_EQ(query("a", "some.test"), "OK dane");
  EXPECT_EQ(query("a", "none.test"), "NOTFOUND ");
  EXPECT_GE(wait_counter("a", "errors", 2), 2u) << "the lookup and the store of each, without Redis";

  // Redis back on the same address: the daemon reconnects and stores again.
  ASSERT_TRUE(m_redis->start());
  for (int i = 0; i < 1000 && a->output().find("connected to Redis") == a->output().rfind("connected to Redis"); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(query("a", "none.test"), "NOTFOUND ") << "cached locally";
  EXPECT_EQ(query("a", "nothere.test"), "NOTFOUND ");
  EXPECT_EQ(wait_counter("a", "stored", 2), 2u) << a->output();
}

TEST_F(SharedCacheRig, UnresponsiveRedisMeansLocalEvaluation) {
  // Accepts connections (the kernel completes them into the backlog) and never answers.
  const std::string address = unique_loopback_address();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
  socklen_t len = sizeof sa;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(fd, 16), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  auto d =
      start("a", "redis://" + address + ":" + std::to_string(ntohs(sa.sin_port)), {"--shared-cache-timeout", "50"});
  ASSERT_TRUE(d);
  EXPECT_EQ(query("a", "all.test"), "OK dane-only");
  EXPECT_EQ(query("a", "some.test"), "OK dane");
  EXPECT_EQ(query("a", "none.test"), "NOTFOUND ");
  auto s = stats("a");
  // Each lookup waited for Redis until the budget (a timeout), or, once the daemon gave up on the
  // silent connection (2 s without a reply), not at all (an error).
  EXPECT_GE(s["shared_cache"]["timeouts"], 1);
  EXPECT_EQ(s["shared_cache"]["timeouts"].get<int>() + s["shared_cache"]["errors"].get<int>(), 3);
  EXPECT_EQ(s["evaluations"], 3);
  ::close(fd);
}

TEST_F(SharedCacheRig, KeyFileReadableByOthersOrMissingIsExitTwo) {
  ::chmod(key_file().c_str(), 0644);
  auto r = run_process({dane_policyd_path(), "--foreground", "--config", "/dev/null", "--socketmap",
                        "unix:" + sock("x"), "--shared-cache", m_redis->url(), "--shared-cache-key", key_file()},
                       30s, true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--shared-cache-key"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("group or other"), std::string::npos) << r.output;
  r = run_process({dane_policyd_path(), "--foreground", "--config", "/dev/null", "--socketmap", "unix:" + sock("x"),
                   "--shared-cache", m_redis->url()},
                  30s, true);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--shared-cache-key"), std::string::npos) << r.output;
}

} // namespace
} // namespace dane::test
