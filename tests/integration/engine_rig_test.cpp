// The asynchronous evaluation engine (issue 14) over the real rig: nsd serving signed zones, libunbound
// validating, the real daemon.
//
//   * Many cold evaluations are in flight at once on the resolver's one event-loop thread: the
//     process does not grow a thread per evaluation, and every one of them is answered correctly.
//   * Isolation: while evaluations into a zone whose name server does not answer are in flight
//     (they hold their slots until the deadline), evaluations of a healthy zone are all answered,
//     correctly, before any of the dead ones ends.
//   * Admission in the daemon: --max-evaluations-per-zone and --max-evaluations refuse with TEMP at
//     once, naming the limit, and count it; lookups that need no DNS (IP literals, parent keys) and
//     other zones are still answered while the limits are reached.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon_process.hpp"
#include "dane/verifier/destination.hpp"
#include "dane/verifier/dns.hpp"
#include "dns_rig.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace dane::test {
namespace {

using namespace std::chrono_literals;

constexpr int k_many = 300;
const std::string k_ee = "0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";

std::string many_records() {
  std::string text;
  for (int i = 1; i <= k_many; ++i) {
    const std::string d = "d" + std::to_string(i);
    text += d + " MX 10 mx." + d + "\nmx." + d + " A 127.0.0.2\n_25._tcp.mx." + d + " TLSA 3 1 1 " + k_ee + "\n";
  }
  return text;
}

std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    ++n;
  }
  return n;
}

class EngineRig : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available()) {
      return;
    }
    s_rig = std::make_unique<DnsRig>();
    s_rig->add_zone({"many.test", many_records()});
    s_rig->add_zone({"other.test", "@ MX 10 mx\nmx A 127.0.0.3\n_25._tcp.mx TLSA 3 1 1 " + k_ee + "\n"});
    s_rig->add_lame_delegation("dead.test", LameKind::NoServer);
    s_rig->add_lame_delegation("dead2.test", LameKind::NoServer);
    DnsRig::start_or_fail(s_rig);
  }
  static void TearDownTestSuite() { s_rig.reset(); }
  void SetUp() override { DANE_REQUIRE_OR_SKIP(s_rig != nullptr, DnsRig::missing_tools_message()); }

  static std::unique_ptr<DnsRig> s_rig;
};
std::unique_ptr<DnsRig> EngineRig::s_rig;

// Counts evaluations that ended, by outcome, for callbacks on the resolver's thread.
struct Tally {
  std::mutex mutex;
  std::condition_variable cv;
  int healthy_done = 0;
  int healthy_dane_only = 0;
  int dead_done = 0;
  std::vector<std::string> wrong;
  bool wait_healthy(int n) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, 120s, [&] { return healthy_done >= n; });
  }
};

TEST_F(EngineRig, ThreeHundredColdEvaluationsAtOnceOnOneThreadWhileADeadZoneHoldsItsOwn) {
  ResolverConfig config = s_rig->resolver_config(60s);
  // As the daemon sizes them for its budget. With libunbound's library defaults (outgoing-range 16)
  // this test fails: the dead zone's queries take every slot and all 300 healthy ones time out.
  config.outgoing_range = 1024;
  config.queries_per_thread = 1024;
  auto resolver = make_unbound_resolver(config);
  ASSERT_TRUE(resolver) << resolver.error();
  // Warm the zone keys, as a running daemon has them.
  ASSERT_EQ(evaluate_destination(**resolver, "other.test").outcome, DestinationOutcome::DaneOnly);
  const std::size_t threads_before = thread_count();

  Tally tally;
  const auto far = std::chrono::steady_clock::now() + 60s; // the dead ones hold their slots meanwhile
  for (int i = 1; i <= 100; ++i) {
    evaluate_destination_async(**resolver, "x" + std::to_string(i) + ".dead.test", far, [&](DestinationFacts) {
      std::lock_guard lock(tally.mutex);
      ++tally.dead_done;
    });
  }
  for (int i = 1; i <= k_many; ++i) {
    const std::string key = "d" + std::to_string(i) + ".many.test";
    evaluate_destination_async(**resolver, key, far, [&tally, key](DestinationFacts facts) {
      std::lock_guard lock(tally.mutex);
      ++tally.healthy_done;
      if (facts.outcome == DestinationOutcome::DaneOnly) {
        ++tally.healthy_dane_only;
      } else if (tally.wrong.size() < 5) {
        tally.wrong.push_back(key + ": " + to_string(facts.outcome) + ": " + facts.reason);
      }
      tally.cv.notify_all();
    });
  }
  const std::size_t threads_in_flight = thread_count();
  ASSERT_TRUE(tally.wait_healthy(k_many)) << "healthy evaluations answered: " << tally.healthy_done;
  std::lock_guard lock(tally.mutex);
  EXPECT_EQ(tally.healthy_dane_only, k_many) << (tally.wrong.empty() ? "" : tally.wrong.front());
  EXPECT_EQ(tally.dead_done, 0) << "the dead zone's evaluations were still in flight the whole time";
  EXPECT_LE(threads_in_flight, threads_before + 2)
      << "400 evaluations in flight must not cost a thread each (before: " << threads_before << ")";
  // Destroying the resolver drops the dead evaluations uncalled (their owner is gone too).
}

// ---------------------------------------------------------------------------------------------------------
// Admission in the daemon.

class EngineDaemon : public EngineRig {
protected:
  void SetUp() override {
    EngineRig::SetUp();
    DANE_REQUIRE_OR_SKIP(is_root(), "the daemon tests bind sockets as root and drop privileges");
    std::filesystem::permissions(m_dir.path(), std::filesystem::perms::all);
  }
  std::string sock() const { return m_dir.path() + "/socketmap"; }

  std::unique_ptr<DaemonProcess> start(std::vector<std::string> args) {
    auto rig_args = s_rig->cli_args(30);
    args.insert(args.end(), rig_args.begin(), rig_args.end());
    std::vector<std::string> base{"--socketmap", "unix:" + sock(), "--state-dir", m_dir.path() + "/state"};
    args.insert(args.begin(), base.begin(), base.end());
    auto d = DaemonProcess::start(args);
    EXPECT_TRUE(d) << (d ? "" : d.error());
    return d ? std::move(*d) : nullptr;
  }

  // A new connection per question: the dead ones are sent and never read.
  std::unique_ptr<SocketmapClient> send(const std::string& key) {
    auto c = RawClient::unix_socket(sock());
    EXPECT_TRUE(c) << (c ? "" : c.error());
    if (!c) {
      return nullptr;
    }
    auto client = std::make_unique<SocketmapClient>(std::move(*c));
    EXPECT_TRUE(client->send_query("tlspolicy", key));
    return client;
  }
  std::string ask(const std::string& key) {
    auto client = send(key);
    if (!client) {
      return "connect failed";
    }
    auto r = client->read_reply();
    return r ? *r : "error: " + r.error();
  }
  nlohmann::json stats() {
    auto c = RawClient::unix_socket(sock());
    if (!c) {
      return {};
    }
    SocketmapClient client(std::move(*c));
    auto reply = client.query("stats", "all");
    return reply && reply->rfind("OK ", 0) == 0 ? nlohmann::json::parse(reply->substr(3)) : nlohmann::json{};
  }
  // Waits until the daemon has `n` evaluations in flight.
  bool wait_in_flight(std::uint64_t n) {
    for (int i = 0; i < 600; ++i) {
      auto s = stats();
      if (s.contains("engine") && s["engine"]["in_flight"].get<std::uint64_t>() >= n) {
        return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  TempDir m_dir{"engine-daemon"};
};

TEST_F(EngineDaemon, AZoneOverItsLimitGetsTempAtOnceAndOtherZonesAndNoDnsKeysAreServed) {
  auto d = start({"--max-evaluations", "10", "--max-evaluations-per-zone", "2"});
  ASSERT_TRUE(d);
  auto first = send("x1.dead.test");
  auto second = send("x2.dead.test");
  ASSERT_TRUE(wait_in_flight(2)) << stats().dump();
  EXPECT_EQ(ask("x3.dead.test"),
            "TEMP 4.7.5 too many evaluations in flight for zone dead.test (limit 2): try again later");
  EXPECT_EQ(ask("d1.many.test"), "OK dane-only") << "another zone is evaluated meanwhile";
  EXPECT_EQ(ask("[192.0.2.1]"), "NOTFOUND ") << "an IP literal needs no DNS";
  EXPECT_EQ(ask(".dead.test"), "NOTFOUND ") << "a parent key needs no DNS";
  auto s = stats();
  EXPECT_EQ(s["engine"]["refused_zone"], 1) << s.dump();
  EXPECT_EQ(s["engine"]["refused"], 0) << s.dump();
  EXPECT_GE(s["engine"]["in_flight"].get<int>(), 2) << "the dead ones still hold their slots: " << s.dump();
  EXPECT_EQ(ask("x3.dead.test").rfind("TEMP 4.7.5 too many evaluations in flight for zone", 0), 0u)
      << "a refusal is not cached: the next lookup is admitted or refused afresh";
}

TEST_F(EngineDaemon, AFullEngineGivesTempAtOnceButNoDnsKeysAreStillAnswered) {
  auto d = start({"--max-evaluations", "3", "--max-evaluations-per-zone", "2"});
  ASSERT_TRUE(d);
  auto a = send("x1.dead.test");
  auto b = send("x2.dead.test");
  auto c = send("y1.dead2.test");
  ASSERT_TRUE(wait_in_flight(3)) << stats().dump();
  EXPECT_EQ(ask("d2.many.test"), "TEMP 4.7.5 too many evaluations in flight (limit 3): try again later");
  EXPECT_EQ(ask("[ipv6:2001:db8::1]"), "NOTFOUND ") << "an IP literal never waits for a slot";
  auto s = stats();
  EXPECT_EQ(s["engine"]["refused"], 1) << s.dump();
  EXPECT_GE(s["engine"]["in_flight"].get<int>(), 3) << "the dead ones still hold their slots: " << s.dump();
}

TEST_F(EngineDaemon, HealthyDestinationsAreAnsweredWhileADeadZoneStormIsInFlight) {
  auto d = start({});
  ASSERT_TRUE(d);
  std::vector<std::unique_ptr<SocketmapClient>> storm;
  for (int i = 1; i <= 150; ++i) {
    storm.push_back(send("s" + std::to_string(i) + ".dead.test"));
  }
  ASSERT_TRUE(wait_in_flight(150)) << stats().dump();
  std::vector<std::unique_ptr<SocketmapClient>> healthy;
  for (int i = 101; i <= 160; ++i) {
    healthy.push_back(send("d" + std::to_string(i) + ".many.test"));
  }
  int ok = 0;
  for (auto& client : healthy) {
    ASSERT_TRUE(client);
    auto r = client->read_reply();
    ok += r && *r == "OK dane-only" ? 1 : 0;
    EXPECT_TRUE(r && *r == "OK dane-only") << (r ? *r : r.error());
  }
  EXPECT_EQ(ok, 60);
  auto s = stats();
  EXPECT_GE(s["engine"]["in_flight"].get<int>(), 150) << "the storm was still in flight: " << s.dump();
}

} // namespace
} // namespace dane::test
