// Integration tests of `dane-policyctl query`, `stats` and `flush` against a real running
// dane-policyd on the DNSSEC rig (signed zones served by nsd on loopback): the real
// dane-policyctl binary ($DANE_POLICYCTL) is run as a child process, as an operator would.
// Covered: answers and exit codes (DANE, bogus -> TEMP, NOTFOUND), the --json verdict and its
// `cached` flag, a daemon that is not running or does not answer, bad usage, counters that move,
// flushing one destination and all of them, and control requests refused to other users and
// over inet (docs: man dane-policyctl(1) query/stats/flush, dane-policyd(8) CONTROL REQUESTS).
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <grp.h>
#include <optional>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "daemon_process.hpp"
#include "dane/core/fd.hpp"
#include "dns_rig.hpp"
#include "files.hpp"
#include "process.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace dane::test {
namespace {

const std::string k_ee1 = "0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";
const std::string k_ee2 = "1111111111111111111111111111111111111111111111111111111111111111";
// A user that is neither root nor the daemon's run user (dane-policyd or nobody).
constexpr uid_t k_stranger = 54321;

std::unique_ptr<DnsRig> s_rig;

struct CtlRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs $DANE_POLICYCTL ARGS... to completion, optionally as another user (root only). The tool
// bounds its own waiting with --timeout, so this never hangs on a hung daemon.
CtlRun run_policyctl(const std::vector<std::string>& args, const std::string& dir,
                     std::optional<uid_t> as_user = std::nullopt) {
  const char* env = std::getenv("DANE_POLICYCTL");
  std::string program = env != nullptr ? env : DANE_BINARY_DIR "/bin/dane-policyctl";
  if (as_user) {
    // The build tree may sit where another user cannot reach it (a checkout under /root, mode
    // 0700): run a copy from the test's own directory, which the callers make world-accessible.
    std::string copy = dir + "/dane-policyctl";
    std::error_code ec;
    std::filesystem::copy_file(program, copy, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec || ::chmod(copy.c_str(), 0755) != 0) {
      return CtlRun{-1, "", "cannot copy " + program + " to " + copy + ": " + ec.message()};
    }
    program = copy;
  }
  RunOptions options;
  options.as_user = as_user;
  std::vector<std::string> argv{program};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessResult p = run_process(argv, options);
  return CtlRun{p.exit_code, p.output, p.error_output};
}

std::string describe(const CtlRun& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out + "\nstderr: " + r.err;
}

class PolicyctlQuery : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available()) {
      return;
    }
    s_rig = std::make_unique<DnsRig>();
    // Every MX host has usable TLSA: dane-only.
    s_rig->add_zone({"dane.test", "@ MX 10 mx1\n@ MX 20 mx2\nmx1 A 127.0.0.2\nmx2 A 127.0.0.3\n"
                                  "_25._tcp.mx1 TLSA 3 1 1 " +
                                      k_ee1 + "\n_25._tcp.mx2 TLSA 3 1 1 " + k_ee2 + "\n"});
    s_rig->add_zone({"other.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n"});
    // No host has TLSA (secure NODATA): NOTFOUND.
    s_rig->add_zone({"none.test", "@ MX 10 mx\nmx A 127.0.0.2\n"});
    // DS matching no key: bogus -> TEMP.
    s_rig->add_zone(
        {"bogus.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n", ZoneSigning::WrongDs});
    DnsRig::start_or_fail(s_rig);
  }
  static void TearDownTestSuite() { s_rig.reset(); }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(s_rig != nullptr, DnsRig::missing_tools_message());
    DANE_REQUIRE_OR_SKIP(is_root(), "the daemon binds its socket as root and drops privileges; the refusal "
                                    "tests run dane-policyctl as another user");
    ::chmod(m_dir.path().c_str(), 0777);
  }

  std::string sock() const { return m_dir.path() + "/socketmap"; }
  std::string socket_arg() const { return "unix:" + sock(); }

  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--socketmap", socket_arg(), "--state-dir", m_dir.path() + "/state"};
    auto rig_args = s_rig->cli_args(5);
    args.insert(args.end(), rig_args.begin(), rig_args.end());
    args.insert(args.end(), extra.begin(), extra.end());
    auto d = DaemonProcess::start(args);
    ASSERT_TRUE(d) << (d ? "" : d.error());
    m_daemon = std::move(*d);
  }

  CtlRun ctl(std::vector<std::string> args, std::optional<uid_t> as_user = std::nullopt) {
    args.push_back("--socket");
    args.push_back(socket_arg());
    return run_policyctl(args, m_dir.path(), as_user);
  }

  nlohmann::json json_of(const CtlRun& r) {
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_object()) << describe(r);
    return j.is_object() ? j : nlohmann::json::object();
  }

  nlohmann::json verdict(const std::string& destination, int expected_exit = 0) {
    CtlRun r = ctl({"query", "--json", destination});
    EXPECT_EQ(r.exit_code, expected_exit) << describe(r);
    return json_of(r);
  }

  nlohmann::json counters() {
    CtlRun r = ctl({"stats", "--json"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return json_of(r);
  }

  TempDir m_dir{"query-test"};
  std::unique_ptr<DaemonProcess> m_daemon;
};

TEST_F(PolicyctlQuery, AnswersExactlyAsPostfixGetsThemWithTheDocumentedExitCodes) {
  start();
  CtlRun dane = ctl({"query", "dane.test"});
  EXPECT_EQ(dane.exit_code, 0) << describe(dane);
  EXPECT_EQ(dane.out, "OK dane-only\n");

  CtlRun bogus = ctl({"query", "bogus.test"});
  EXPECT_EQ(bogus.exit_code, 3) << "a bogus destination is TEMP\n" << describe(bogus);
  EXPECT_EQ(bogus.out.rfind("TEMP ", 0), 0u) << describe(bogus);

  CtlRun none = ctl({"query", "none.test"});
  EXPECT_EQ(none.exit_code, 0) << "NOTFOUND is an answer\n" << describe(none);
  EXPECT_EQ(none.out, "NOTFOUND\n");

  CtlRun parent = ctl({"query", ".dane.test"});
  EXPECT_EQ(parent.exit_code, 0) << describe(parent);
  EXPECT_EQ(parent.out, "NOTFOUND\n") << "Postfix's parent-domain key";
}

TEST_F(PolicyctlQuery, JsonShowsTheVerdictAndWhetherItCameFromTheCache) {
  start();
  auto first = verdict("dane.test");
  EXPECT_EQ(first["destination"], "dane.test");
  EXPECT_EQ(first["policy"], "dane-only");
  EXPECT_EQ(first["answer"], "OK dane-only");
  EXPECT_EQ(first["mode"], "native");
  EXPECT_EQ(first["cached"], false) << "the first lookup is an evaluation";
  EXPECT_FALSE(first["reason"].get<std::string>().empty());
  ASSERT_EQ(first["hosts"].size(), 2u) << first.dump(2);
  EXPECT_EQ(first["hosts"][0]["name"], "mx1.dane.test");
  EXPECT_EQ(first["hosts"][0]["dnssec"], "secure");
  EXPECT_EQ(first["hosts"][0]["tlsa"], nlohmann::json::array({"3 1 1 " + k_ee1}));
  EXPECT_EQ(first["hosts"][1]["tlsa"], nlohmann::json::array({"3 1 1 " + k_ee2}));

  auto second = verdict("dane.test");
  EXPECT_EQ(second["cached"], true) << "asked again within the TTL";
  for (const char* field : {"destination", "policy", "answer", "reason", "hosts"}) {
    EXPECT_EQ(second[field], first[field]) << field << ": the cached verdict keeps the facts";
  }

  // A destination Postfix looked up first is cached without its DNS facts: --json evaluates it
  // again (and says so), then answers from the cache.
  CtlRun plain = ctl({"query", "other.test"});
  ASSERT_EQ(plain.exit_code, 0) << describe(plain);
  auto misses = counters()["cache"]["misses"].get<int>();
  auto detailed = verdict("other.test");
  EXPECT_EQ(detailed["cached"], false);
  ASSERT_EQ(detailed["hosts"].size(), 1u) << detailed.dump(2);
  EXPECT_EQ(detailed["hosts"][0]["tlsa"], nlohmann::json::array({"3 1 1 " + k_ee1}));
  EXPECT_EQ(counters()["cache"]["misses"].get<int>(), misses + 1);
  EXPECT_EQ(verdict("other.test")["cached"], true);
  EXPECT_EQ(ctl({"query", "other.test"}).out, "OK dane-only\n") << "Postfix gets the same answer as before";

  auto bogus = verdict("bogus.test", 3);
  EXPECT_EQ(bogus["policy"], "tempfail");
  EXPECT_EQ(bogus["answer"].get<std::string>().rfind("TEMP ", 0), 0u) << bogus.dump(2);
  EXPECT_EQ(bogus["cached"], false);
}

TEST_F(PolicyctlQuery, StatsCountersMove) {
  start();
  auto before = counters();
  ASSERT_TRUE(before.contains("requests")) << before.dump(2);
  ASSERT_EQ(ctl({"query", "dane.test"}).exit_code, 0);
  ASSERT_EQ(ctl({"query", "dane.test"}).exit_code, 0);
  auto after = counters();
  EXPECT_EQ(after["requests"]["socketmap"].get<int>(), before["requests"]["socketmap"].get<int>() + 3)
      << "two queries and the second stats request";
  EXPECT_EQ(after["cache"]["misses"].get<int>(), before["cache"]["misses"].get<int>() + 1);
  EXPECT_EQ(after["cache"]["hits"].get<int>(), before["cache"]["hits"].get<int>() + 1);
  EXPECT_EQ(after["answers"]["dane-only"].get<int>(), before["answers"]["dane-only"].get<int>() + 2);
  EXPECT_EQ(after["pid"].get<int>(), m_daemon->pid());

  CtlRun text = ctl({"stats"});
  EXPECT_EQ(text.exit_code, 0) << describe(text);
  EXPECT_NE(text.out.find("cache:"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("hits 1"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("misses 1"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find('{'), std::string::npos) << "human-readable by default, not JSON:\n" << text.out;
}

TEST_F(PolicyctlQuery, FlushOneDestinationOrAllMakesTheNextQueryAMiss) {
  start();
  ASSERT_EQ(verdict("dane.test")["cached"], false);
  ASSERT_EQ(verdict("other.test")["cached"], false);
  ASSERT_EQ(verdict("dane.test")["cached"], true);

  CtlRun one = ctl({"flush", "Dane.TEST"});
  EXPECT_EQ(one.exit_code, 0) << describe(one);
  EXPECT_EQ(one.out, "flushed Dane.TEST\n");
  EXPECT_EQ(verdict("dane.test")["cached"], false) << "flushed: evaluated again";
  EXPECT_EQ(verdict("other.test")["cached"], true) << "another destination stays cached";

  CtlRun nothing = ctl({"flush", "none.test"});
  EXPECT_EQ(nothing.exit_code, 0) << describe(nothing);
  EXPECT_EQ(nothing.out, "none.test was not cached (nothing to flush)\n");

  CtlRun all = ctl({"flush", "--all"});
  EXPECT_EQ(all.exit_code, 0) << describe(all);
  EXPECT_EQ(all.out, "flushed 2 cached destinations\n");
  auto before = counters();
  EXPECT_EQ(before["cache"]["entries"], 0);
  EXPECT_EQ(before["control"]["flushes"], 3);
  EXPECT_EQ(verdict("dane.test")["cached"], false);
  EXPECT_EQ(verdict("other.test")["cached"], false);
  EXPECT_EQ(counters()["cache"]["misses"].get<int>(), before["cache"]["misses"].get<int>() + 2);
  EXPECT_EQ(ctl({"query", "dane.test"}).out, "OK dane-only\n") << "a flush never changes the answer";
}

TEST_F(PolicyctlQuery, ControlRequestsAreRefusedToOtherUsersAndOverInet) {
  start({"--socket-mode", "0666", "--socketmap", "inet:127.0.0.1:0"});
  auto port = m_daemon->tcp_port("socketmap");
  ASSERT_TRUE(port) << m_daemon->output();

  // Another local user may ask what Postfix may ask, and read the counters...
  CtlRun plain = ctl({"query", "dane.test"}, k_stranger);
  EXPECT_EQ(plain.exit_code, 0) << describe(plain);
  EXPECT_EQ(plain.out, "OK dane-only\n");
  CtlRun stats = ctl({"stats", "--json"}, k_stranger);
  EXPECT_EQ(stats.exit_code, 0) << describe(stats);

  // ...but not flush the cache or make the daemon evaluate for a detailed verdict.
  CtlRun flush = ctl({"flush", "--all"}, k_stranger);
  EXPECT_EQ(flush.exit_code, 2) << describe(flush);
  EXPECT_NE(flush.err.find("refused"), std::string::npos) << describe(flush);
  EXPECT_NE(flush.err.find("uid " + std::to_string(k_stranger)), std::string::npos) << describe(flush);
  CtlRun json = ctl({"query", "--json", "dane.test"}, k_stranger);
  EXPECT_EQ(json.exit_code, 2) << describe(json);
  EXPECT_NE(json.err.find("refused"), std::string::npos) << describe(json);

  // Over inet nobody's user is known, root's included.
  const std::string inet = "inet:127.0.0.1:" + std::to_string(*port);
  CtlRun over_inet = run_policyctl({"flush", "dane.test", "--socket", inet}, m_dir.path());
  EXPECT_EQ(over_inet.exit_code, 2) << describe(over_inet);
  EXPECT_NE(over_inet.err.find("not served over inet"), std::string::npos) << describe(over_inet);
  CtlRun inet_query = run_policyctl({"query", "dane.test", "--socket", inet}, m_dir.path());
  EXPECT_EQ(inet_query.exit_code, 0) << "plain lookups work over inet\n" << describe(inet_query);

  auto c = counters();
  EXPECT_EQ(c["control"]["refused"], 3);
  EXPECT_EQ(c["control"]["flushes"], 0);
  EXPECT_EQ(c["cache"]["entries"], 1) << "nothing was flushed";
  EXPECT_TRUE(m_daemon->wait_for_output("control-refused")) << m_daemon->output();
  EXPECT_EQ(verdict("dane.test")["cached"], false) << "root may (the entry had no facts yet)";
}

TEST_F(PolicyctlQuery, SocketWithoutPermissionSaysWhoMayUseIt) {
  start({"--socket-mode", "0600"});
  CtlRun r = ctl({"query", "dane.test"}, k_stranger);
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find(socket_arg()), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("run as root"), std::string::npos) << describe(r);
}

// --- Without a daemon (no rig, no root needed) ---------------------------------------------------

TEST(PolicyctlQueryNoDaemon, DaemonNotRunningNamesTheSocket) {
  TempDir dir("query-none");
  const std::string socket = "unix:" + dir.path() + "/no-such-socket";
  CtlRun r = run_policyctl({"query", "example.test", "--socket", socket}, dir.path());
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find(socket), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("is dane-policyd running?"), std::string::npos) << describe(r);
  EXPECT_TRUE(r.out.empty()) << describe(r);

  CtlRun stats = run_policyctl({"stats", "--socket", socket}, dir.path());
  EXPECT_EQ(stats.exit_code, 2) << describe(stats);
  CtlRun inet = run_policyctl({"flush", "--all", "--socket", "inet:127.0.0.1:1"}, dir.path());
  EXPECT_EQ(inet.exit_code, 2) << describe(inet);
  EXPECT_NE(inet.err.find("inet:127.0.0.1:1"), std::string::npos) << describe(inet);
}

TEST(PolicyctlQueryNoDaemon, AHungDaemonDoesNotHangTheTool) {
  TempDir dir("query-hung");
  // A listening socket whose owner never accepts nor answers.
  const std::string path = dir.path() + "/hung";
  Fd listener(::socket(AF_UNIX, SOCK_STREAM, 0));
  ASSERT_TRUE(listener);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0) << std::strerror(errno);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  CtlRun r = run_policyctl({"query", "example.test", "--socket", "unix:" + path, "--timeout", "1"}, dir.path());
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("no answer from dane-policyd at unix:" + path), std::string::npos) << describe(r);
}

TEST(PolicyctlQueryNoDaemon, BadUsageExitsTwo) {
  TempDir dir("query-usage");
  const std::string socket = "unix:" + dir.path() + "/unused";
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const auto& c : std::vector<Case>{
           {{"query"}, "exactly one DESTINATION"},
           {{"query", "a.test", "b.test"}, "exactly one DESTINATION"},
           {{"query", "--bogus", "a.test"}, "--bogus"},
           {{"query", "a.test", "--socket", "tcp:127.0.0.1:1"}, "--socket"},
           {{"query", "a.test", "--timeout", "0"}, "--timeout"},
           {{"flush"}, "exactly one DESTINATION"},
           {{"flush", "a.test", "--all"}, "not both"},
           {{"stats", "extra"}, "unexpected argument 'extra'"},
       }) {
    std::vector<std::string> args = c.args;
    if (std::find(args.begin(), args.end(), "--socket") == args.end()) {
      args.push_back("--socket");
      args.push_back(socket);
    }
    CtlRun r = run_policyctl(args, dir.path());
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << (args.size() > 1 ? args[1] : "") << "\n" << describe(r);
    EXPECT_NE(r.err.find(c.message), std::string::npos) << describe(r);
  }
  CtlRun help = run_policyctl({"query", "--help"}, dir.path());
  EXPECT_EQ(help.exit_code, 0) << describe(help);
  EXPECT_NE(help.out.find("--json"), std::string::npos);
}

} // namespace
} // namespace dane::test
