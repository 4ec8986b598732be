// The real dane-policyd with --mta-sts against real components: the DNS rig (an unsigned zone
// stsd.test whose destinations publish `_mta-sts` TXT records, a signed one with DANE and MTA-STS both),
// real HTTPS policy servers on 127.0.16.x:443 with certificates made at test time and trusted through
// --mta-sts-ca-file (the fixture root), and a --state-dir in a temporary directory. Cases: enforce,
// testing, none, no TXT (no HTTPS request), DANE and MTA-STS both (DANE answer, no request), an MX
// lookup that fails (TEMP), a restart with the persisted policy and the server down, monitor mode, and
// the verdict log's "sts" object. Root is needed for port 443 (DANE_REQUIRE_OR_SKIP).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon_process.hpp"
#include "dns_rig.hpp"
#include "files.hpp"
#include "https_server.hpp"
#include "process.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"
#include "test_pki.hpp"

namespace dane::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* k_policy_path = "/.well-known/mta-sts.txt";
const std::string k_ee = "0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";

// One destination per case: <label>.stsd.test with MX hosts mx1 and mx2 (mx2 outside the policies'
// patterns), its policy host on its own address.
struct Case {
  std::string label;
  std::string address;
  std::string txt; // empty: no _mta-sts record
  std::string mode;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"enforce", "127.0.16.1", "v=STSv1; id=e1;", "enforce"}, {"testing", "127.0.16.2", "v=STSv1; id=t1", "testing"},
      {"none", "127.0.16.3", "v=STSv1; id=n1", "none"},        {"notxt", "127.0.16.4", "", "enforce"},
      {"restart", "127.0.16.6", "v=STSv1; id=r1", "enforce"},  {"monitor", "127.0.16.7", "v=STSv1; id=m1", "enforce"},
  };
  return all;
}

std::string domain_of(const std::string& label) {
  return label + ".stsd.test";
}

std::string policy_body(const std::string& mode, const std::string& label) {
  std::string body = "version: STSv1\r\nmode: " + mode + "\r\n";
  if (mode != "none") {
    body += "mx: mx1." + domain_of(label) + "\r\n";
  }
  return body + "max_age: 86400\r\n";
}

std::string zone_records() {
  std::string records;
  for (const Case& c : cases()) {
    records += c.label + " MX 10 mx1." + c.label + "\n" + c.label + " MX 20 mx2." + c.label + "\n";
    records += "mx1." + c.label + " A 127.0.16.90\nmx2." + c.label + " A 127.0.16.91\n";
    if (!c.txt.empty()) {
      records += "_mta-sts." + c.label + " TXT \"" + c.txt + "\"\n";
    }
    records += "mta-sts." + c.label + " A " + c.address + "\n";
  }
  return records;
}

std::unique_ptr<DnsRig> s_rig;
std::unique_ptr<TempDir> s_pki;
LeafFiles s_leaf;

class StsDaemon : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available() || !is_root()) {
      return;
    }
    s_pki = std::make_unique<TempDir>("stsd-pki");
    std::vector<std::string> names{"mta-sts.stsdane.test"};
    for (const Case& c : cases()) {
      names.push_back("mta-sts." + domain_of(c.label));
    }
    s_leaf = make_leaf(s_pki->path(), "policy", LeafSpec{names});
    s_rig = std::make_unique<DnsRig>();
    s_rig->add_zone({"stsd.test", zone_records(), ZoneSigning::Unsigned});
    // DANE and MTA-STS both published: DANE wins and no policy is fetched.
    s_rig->add_zone({"stsdane.test", "@ MX 10 mx\nmx A 127.0.16.92\n_25._tcp.mx TLSA 3 1 1 " + k_ee +
                                         "\n_mta-sts TXT \"v=STSv1; id=d1\"\nmta-sts A 127.0.16.5\n"});
    // The MX lookup fails (the servers refuse): TEMP, as without --mta-sts.
    s_rig->add_lame_delegation("lame.stsd.test");
    DnsRig::start_or_fail(s_rig);
  }
  static void TearDownTestSuite() {
    s_rig.reset();
    s_pki.reset();
  }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(is_root(), "HTTPS servers on port 443 need root");
    DANE_REQUIRE_OR_SKIP(s_rig != nullptr, DnsRig::missing_tools_message());
  }

  static std::unique_ptr<HttpsServer> serve(const std::string& address, const std::string& body) {
    auto server = std::make_unique<HttpsServer>(address, 443, s_leaf.chain, s_leaf.key);
    HttpsRoute route;
    route.content_type = "text/plain";
    route.body = body;
    server->set_route(k_policy_path, route);
    return server;
  }
  static std::unique_ptr<HttpsServer> serve_case(const std::string& label) {
    for (const Case& c : cases()) {
      if (c.label == label) {
        return serve(c.address, policy_body(c.mode, label));
      }
    }
    ADD_FAILURE() << "no case " << label;
    return nullptr;
  }

  std::string sock() const { return m_dir.path() + "/socketmap"; }
  std::string verdict_log() const { return m_dir.path() + "/verdicts.jsonl"; }
  std::string state_dir() const { return m_dir.path() + "/state"; }

  std::unique_ptr<DaemonProcess> start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--socketmap", "unix:" + sock(), "--verdict-log",     verdict_log(),    "--state-dir",
                                  state_dir(),   "--mta-sts",      "--mta-sts-ca-file", fixture_root_ca()};
    auto rig_args = s_rig->cli_args(5);
    args.insert(args.end(), rig_args.begin(), rig_args.end());
    args.insert(args.end(), extra.begin(), extra.end());
    m_client.reset();
    auto d = DaemonProcess::start(args);
    EXPECT_TRUE(d) << (d ? "" : d.error());
    return d ? std::move(*d) : nullptr;
  }

  std::string query(const std::string& key) {
    if (!m_client) {
      auto c = RawClient::unix_socket(sock());
      if (!c) {
        return "connect failed: " + c.error();
      }
      m_client = std::make_unique<SocketmapClient>(std::move(*c));
    }
    auto r = m_client->query("tlspolicy", key);
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

  // The verdict line of `destination` (waits for it).
  nlohmann::json verdict(const std::string& destination, std::size_t nth = 0) {
    for (int i = 0; i < 1000; ++i) {
      std::size_t seen = 0;
      for (const auto& line : read_text_lines(verdict_log())) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.value("destination", "") == destination && seen++ == nth) {
          return j;
        }
      }
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "no verdict line for " << destination << " in " << read_text_file(verdict_log());
    return {};
  }

  TempDir m_dir{"stsd-daemon"};
  std::unique_ptr<SocketmapClient> m_client;
};

TEST_F(StsDaemon, EnforceAnswersSecureWithTheAllowedMxAndLogsTheStsObject) {
  auto server = serve_case("enforce");
  auto d = start();
  ASSERT_TRUE(d);
  EXPECT_EQ(query("enforce.stsd.test"), "OK secure match=mx1.enforce.stsd.test servername=hostname");
  const nlohmann::json v = verdict("enforce.stsd.test");
  EXPECT_EQ(v["policy"], "secure");
  ASSERT_TRUE(v.contains("sts")) << v.dump();
  const auto& s = v["sts"];
  EXPECT_EQ(s["domain"], "enforce.stsd.test");
  EXPECT_EQ(s["txt_id"], "e1");
  EXPECT_EQ(s["source"], "fetched");
  EXPECT_EQ(s["policy_id"], "e1");
  EXPECT_EQ(s["mode"], "enforce");
  EXPECT_EQ(s["mx"], nlohmann::json::array({"mx1.enforce.stsd.test"}));
  EXPECT_EQ(s["max_age"], 86400);
  EXPECT_TRUE(s.contains("fetched") && s.contains("expires")) << s.dump();
  EXPECT_EQ(s["policy_string"],
            nlohmann::json::array({"version: STSv1", "mode: enforce", "mx: mx1.enforce.stsd.test", "max_age: 86400"}));
  EXPECT_FALSE(s.contains("fetch_error")) << s.dump();
  EXPECT_NE(v["reason"].get<std::string>().find("mx2.enforce.stsd.test"), std::string::npos) << v["reason"];
  EXPECT_EQ(server->request_count(k_policy_path), 1u);
  // The policy is kept under <state-dir>/mta-sts.
  EXPECT_TRUE(std::filesystem::exists(state_dir() + "/mta-sts/enforce.stsd.test.json"));
  const nlohmann::json st = stats();
  ASSERT_TRUE(st.contains("sts")) << st.dump();
  EXPECT_EQ(st["sts"]["fetched"], 1);
  // dane-policyctl query --json shows the daemon's verdict with the same sts object.
  const char* env = std::getenv("DANE_POLICYCTL");
  const std::string ctl = env != nullptr && *env != '\0' ? env : std::string(DANE_BINARY_DIR) + "/bin/dane-policyctl";
  auto run = run_process({ctl, "query", "--json", "--socket", "unix:" + sock(), "enforce.stsd.test"}, 60s);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto q = nlohmann::json::parse(run.output, nullptr, false);
  ASSERT_TRUE(q.is_object()) << run.output;
  EXPECT_EQ(q["sts"]["policy_id"], "e1") << q.dump();
  EXPECT_EQ(q["sts"]["mode"], "enforce") << q.dump();
}

TEST_F(StsDaemon, TestingAndNoneAreNotFoundAndLogged) {
  auto testing = serve_case("testing");
  auto none = serve_case("none");
  auto d = start();
  ASSERT_TRUE(d);
  EXPECT_EQ(query("testing.stsd.test"), "NOTFOUND ");
  EXPECT_EQ(query("none.stsd.test"), "NOTFOUND ");
  const nlohmann::json t = verdict("testing.stsd.test");
  EXPECT_EQ(t["sts"]["mode"], "testing");
  EXPECT_EQ(t["sts"]["source"], "fetched");
  EXPECT_NE(t["reason"].get<std::string>().find("enforce would answer 'OK secure match=mx1.testing.stsd.test"),
            std::string::npos)
      << t["reason"];
  EXPECT_EQ(verdict("none.stsd.test")["sts"]["mode"], "none");
}

TEST_F(StsDaemon, NoTxtRecordIsNotFoundWithoutAnyHttpsRequest) {
  auto server = serve_case("notxt");
  auto d = start();
  ASSERT_TRUE(d);
  EXPECT_EQ(query("notxt.stsd.test"), "NOTFOUND ");
  const nlohmann::json v = verdict("notxt.stsd.test");
  EXPECT_EQ(v["sts"]["source"], "none");
  EXPECT_FALSE(v["sts"].contains("policy_id"));
  EXPECT_EQ(server->request_count(k_policy_path), 0u);
}

TEST_F(StsDaemon, DaneComesFirstAndNoPolicyIsFetched) {
  auto server = serve("127.0.16.5", policy_body("enforce", "stsdane"));
  auto d = start();
  ASSERT_TRUE(d);
  EXPECT_EQ(query("stsdane.test"), "OK dane-only");
  EXPECT_FALSE(verdict("stsdane.test").contains("sts"));
  EXPECT_EQ(server->request_count(k_policy_path), 0u);
}

TEST_F(StsDaemon, MxLookupFailureStaysTemp) {
  auto d = start();
  ASSERT_TRUE(d);
  EXPECT_EQ(query("lame.stsd.test").rfind("TEMP ", 0), 0u);
  EXPECT_FALSE(verdict("lame.stsd.test").contains("sts"));
}

TEST_F(StsDaemon, RestartWithThePersistedPolicyAndTheServerDown) {
  {
    auto server = serve_case("restart");
    auto d = start();
    ASSERT_TRUE(d);
    EXPECT_EQ(query("restart.stsd.test"), "OK secure match=mx1.restart.stsd.test servername=hostname");
    EXPECT_EQ(d->stop(), 0);
  }
  auto d = start(); // the HTTPS server is gone
  ASSERT_TRUE(d);
  EXPECT_EQ(query("restart.stsd.test"), "OK secure match=mx1.restart.stsd.test servername=hostname");
  const nlohmann::json v = verdict("restart.stsd.test", 1);
  EXPECT_EQ(v["sts"]["source"], "cached");
  EXPECT_EQ(v["sts"]["policy_id"], "r1");
}

TEST_F(StsDaemon, MonitorModeIsNotFoundWithWouldAnswer) {
  auto server = serve_case("monitor");
  auto d = start({"--mode", "monitor"});
  ASSERT_TRUE(d);
  EXPECT_EQ(query("monitor.stsd.test"), "NOTFOUND ");
  const nlohmann::json v = verdict("monitor.stsd.test");
  EXPECT_EQ(v["would_answer"], "OK secure match=mx1.monitor.stsd.test servername=hostname");
  EXPECT_EQ(v["sts"]["mode"], "enforce");
}

TEST_F(StsDaemon, WithoutMtaStsNothingChanges) {
  auto server = serve_case("enforce");
  std::vector<std::string> args{"--socketmap", "unix:" + sock(), "--verdict-log",
                                verdict_log(), "--state-dir",    state_dir()};
  auto rig_args = s_rig->cli_args(5);
  args.insert(args.end(), rig_args.begin(), rig_args.end());
  auto d = DaemonProcess::start(args);
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(query("enforce.stsd.test"), "NOTFOUND ");
  EXPECT_FALSE(verdict("enforce.stsd.test").contains("sts"));
  EXPECT_EQ(server->request_count(k_policy_path), 0u);
  EXPECT_FALSE(std::filesystem::exists(state_dir() + "/mta-sts"));
}

} // namespace
} // namespace dane::test
