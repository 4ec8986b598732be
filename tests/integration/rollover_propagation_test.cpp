// `dane-policyctl rollover` asks every authoritative server of the zone directly (issue 18, phase 2): a real Knot
// DNS primary (signs the zone, takes TSIG updates) and a Knot secondary (NOTIFY + transfer) are the zone's two NS
// hosts, delegated with a DS from the DnsRig's signed `test.` zone so libunbound validates the NS and DNSKEY
// sets. Cases: publish by update -> both servers serve the new set signed and the state records both; the
// secondary held back (stopped) -> `wait` naming it, also long after the interval and the TTL; it catches up
// -> still `wait` for one TTL counted from its first serving, then `swap`; the certbot hook with DANE_TSIG_KEY
// and repeated cron runs finish a renewal with a new key by themselves (publish -> wait -> swap -> remove ->
// done) against a real STARTTLS server, the published set at both servers matching the presented key after
// every run; the transcript (each run's --json answer) is printed; an impostor secondary serving the set with
// a broken RRSIG, or without one, is not counted (check_authoritative() called directly, so the resolver's own
// lookup of the tampered name plays no part); the hook with a wrong key exits 1 naming BADSIG and the server,
// nothing installed or changed. Every case cross-checks with kdig.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "dane/core/text.hpp"
#include "dane/core/time.hpp"
#include "dane/tools/rollover.hpp"
#include "dane/tools/rollover_authority.hpp"
#include "dane/verifier/dns.hpp"
#include "dns_rig.hpp"
#include "files.hpp"
#include "knot_rig.hpp"
#include "process.hpp"
#include "smtp_server.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace {

using dane::test::DnsRig;
using dane::test::KnotRig;
using json = nlohmann::json;

constexpr std::uint32_t k_ttl = 3;

std::string pki(const std::string& name) {
  return std::string(DANE_TEST_DATA_DIR) + "/pki/" + name;
}

std::string spki_sha256(const std::string& file) {
  auto records = dane::tools::certificate_records_from_file(pki(file));
  return records ? records->spki_sha256 : "cannot-read-" + file;
}

std::chrono::sys_seconds utc(const json& value) {
  auto t = dane::parse_rfc3339(value.is_string() ? value.get<std::string>() : std::string());
  EXPECT_TRUE(t.has_value()) << value;
  return std::chrono::sys_seconds(std::chrono::seconds((t ? *t : 0) / dane::k_usec_per_sec));
}

class RolloverPropagation : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!KnotRig::tools_available() || !DnsRig::tools_available()) {
      return;
    }
    s_current = spki_sha256("leaf-p256.crt");
    s_next = spki_sha256("leaf-rsa.crt");
    // hook.prop.test: a real STARTTLS server, presenting the current certificate until the hook installs the next.
    s_smtp_address = dane::test::unique_loopback_address();
    dane::test::SmtpServerOptions smtp;
    smtp.address = s_smtp_address;
    smtp.key_file = pki("leaf-p256.key");
    smtp.chain_file = pki("leaf-p256.chain.pem");
    try {
      s_smtp = std::make_unique<dane::test::SmtpServer>(smtp);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "SMTP server: " << e.what();
      return;
    }
    const std::string hook_owner = "_" + std::to_string(s_smtp->port()) + "._tcp.hook";
    s_knot = std::make_unique<KnotRig>(
        "prop.test",
        "mx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + s_current + "\nlag A 127.0.0.2\n_25._tcp.lag TLSA 3 1 1 " +
            s_current + "\nhook A " + s_smtp_address + "\n" + hook_owner + " TLSA 3 1 1 " + s_current +
            "\n_25._tcp.bad TLSA 3 1 1 " + s_current + "\n_25._tcp.nosig TLSA 3 1 1 " + s_current + "\nwrongkey A " +
            s_smtp_address + "\n_" + std::to_string(s_smtp->port()) + "._tcp.wrongkey TLSA 3 1 1 " + s_current + "\n",
        k_ttl);
    if (auto started = s_knot->start(); !started) {
      ADD_FAILURE() << started.error();
      s_knot.reset();
      return;
    }
    s_rig = std::make_unique<DnsRig>();
    s_rig->add_zone({"test", s_knot->delegation_records()});
    if (!DnsRig::start_or_fail(s_rig)) {
      s_knot.reset();
    }
  }
  static void TearDownTestSuite() {
    s_rig.reset();
    s_knot.reset();
    s_smtp.reset();
  }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(s_knot != nullptr && s_rig != nullptr && s_smtp != nullptr,
                         KnotRig::missing_tools_message() + "; " + DnsRig::missing_tools_message());
    const char* ctl = std::getenv("DANE_POLICYCTL");
    DANE_REQUIRE_OR_SKIP(ctl != nullptr, "DANE_POLICYCTL is not set (run through ctest)");
    m_policyctl = ctl;
    m_tmp = std::make_unique<dane::test::TempDir>("rollover-propagation");
    s_smtp->set_credentials(pki("leaf-p256.key"), pki("leaf-p256.chain.pem"));
  }

  // One run for HOST.prop.test (no probe, --interval 0, --publish with the update key).
  dane::test::ProcessResult run(const std::string& host, bool as_json = true) {
    std::vector<std::string> argv = {
        m_policyctl,      "rollover",          "--current",  pki("leaf-p256.crt"),
        "--next",         pki("leaf-rsa.crt"), "--host",     host + ".prop.test",
        "--no-probe",     "--interval",        "0",          "--state-file",
        state_file(host), "--publish",         "--tsig-key", s_knot->key_file(KnotRig::Key::Update)};
    if (as_json) {
      argv.emplace_back("--json");
    }
    for (const auto& a : s_rig->cli_args(3)) {
      argv.push_back(a);
    }
    dane::test::RunOptions options;
    options.timeout = std::chrono::seconds(60);
    return dane::test::run_process(argv, options);
  }

  json run_json(const std::string& host) {
    auto r = run(host);
    auto j = json::parse(r.output, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.output << r.error_output;
    if (!j.is_discarded()) {
      EXPECT_EQ(j["exit_code"], r.exit_code) << r.output;
    }
    return j.is_discarded() ? json::object() : j;
  }

  std::string state_file(const std::string& host) const { return m_tmp->file(host + ".json"); }

  // The TLSA data `address` serves at _PORT._tcp.HOST.prop.test (kdig, no recursion), and whether it is signed.
  static std::vector<std::string> served(const std::string& address, const std::string& host, bool& signed_rrset,
                                         std::uint16_t port = 25) {
    auto lines = s_knot->query(address, "_" + std::to_string(port) + "._tcp." + host + ".prop.test", "TLSA");
    std::vector<std::string> data;
    signed_rrset = false;
    for (const auto& line : lines ? *lines : std::vector<std::string>{}) {
      if (line.rfind("TLSA ", 0) == 0) {
        signed_rrset = true;
      } else if (line.rfind("3 1 1 ", 0) == 0) {
        std::string hex = dane::ascii_lower(line.substr(6));
        hex.erase(std::remove(hex.begin(), hex.end(), ' '), hex.end());
        data.push_back(hex);
      }
    }
    std::sort(data.begin(), data.end());
    return data;
  }

  static json server_named(const json& j, const std::string& name) {
    for (const auto& s : j["authoritative_servers"]) {
      if (s["name"] == name) {
        return s;
      }
    }
    return json();
  }

  static std::vector<std::string> both() {
    std::vector<std::string> v = {s_current, s_next};
    std::sort(v.begin(), v.end());
    return v;
  }

  static inline std::unique_ptr<KnotRig> s_knot;
  static inline std::unique_ptr<DnsRig> s_rig;
  static inline std::string s_current, s_next;
  static inline std::unique_ptr<dane::test::SmtpServer> s_smtp;
  static inline std::string s_smtp_address;
  std::string m_policyctl;
  std::unique_ptr<dane::test::TempDir> m_tmp;
};

// Publish by update: the run itself sees both servers serve the new set signed and keeps both in the state.
TEST_F(RolloverPropagation, PublishIsServedSignedByBothServersAndTheStateRecordsBoth) {
  auto j = run_json("mx");
  ASSERT_EQ(j["step"], "publish") << j.dump(2);
  ASSERT_EQ(j["update"]["ok"], true) << j.dump(2);
  EXPECT_EQ(j["authoritative_checked"], true) << j.dump(2);
  EXPECT_EQ(j["authoritative_zone"], "prop.test");
  ASSERT_EQ(j["authoritative_servers"].size(), 2u) << j.dump(2);
  for (const auto& name : {"ns1.prop.test", "ns2.prop.test"}) {
    const json s = server_named(j, name);
    ASSERT_TRUE(s.is_object()) << name << "\n" << j.dump(2);
    EXPECT_EQ(s["serves_intended"], true) << s.dump(2);
    EXPECT_EQ(s["signature_valid"], true) << s.dump(2);
    EXPECT_TRUE(s["serial"].is_number()) << s.dump(2);
    EXPECT_TRUE(s["first_seen"].is_string()) << s.dump(2);
    EXPECT_EQ(s["ttl"], k_ttl) << s.dump(2);
  }
  EXPECT_EQ(server_named(j, "ns1.prop.test")["address"], s_knot->primary_address());
  EXPECT_EQ(server_named(j, "ns2.prop.test")["address"], s_knot->secondary_address());
  // kdig agrees: both servers serve {current, next} with an RRSIG.
  for (const auto& address : {s_knot->primary_address(), s_knot->secondary_address()}) {
    bool signed_rrset = false;
    EXPECT_EQ(served(address, "mx", signed_rrset), both()) << address;
    EXPECT_TRUE(signed_rrset) << address;
  }
  // The state file keeps both servers with the set they serve.
  auto state = json::parse(dane::test::read_text_file(state_file("mx")), nullptr, false);
  ASSERT_FALSE(state.is_discarded());
  ASSERT_EQ(state["servers"].size(), 2u) << state.dump(2);
  for (const auto& s : state["servers"]) {
    EXPECT_NE(s["rrset"].get<std::string>().find(s_next), std::string::npos) << s.dump(2);
    EXPECT_NE(s["rrset"].get<std::string>().find(s_current), std::string::npos) << s.dump(2);
  }

  // The following runs reach `swap` no earlier than one TTL after the last server first served the set.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    j = run_json("mx");
    if (j["step"] == "swap") {
      break;
    }
    ASSERT_EQ(j["step"], "wait") << j.dump(2);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(j["step"], "swap") << j.dump(2);
  ASSERT_TRUE(j["last_server_seen"].is_string()) << j.dump(2);
  EXPECT_GE(utc(j["now"]), utc(j["last_server_seen"]) + std::chrono::seconds(k_ttl)) << j.dump(2);
}

// The secondary held back: `wait` naming it however long we wait; once it serves the set, one more TTL.
TEST_F(RolloverPropagation, HeldBackSecondaryKeepsWaitUntilItServesTheSetForOneTtl) {
  s_knot->stop_secondary();
  auto j = run_json("lag");
  ASSERT_EQ(j["step"], "publish") << j.dump(2);
  ASSERT_EQ(j["update"]["ok"], true) << j.dump(2);
  EXPECT_EQ(server_named(j, "ns1.prop.test")["serves_intended"], true) << j.dump(2);
  EXPECT_EQ(server_named(j, "ns2.prop.test")["serves_intended"], false) << j.dump(2);
  EXPECT_TRUE(server_named(j, "ns2.prop.test")["first_seen"].is_null()) << j.dump(2);

  // Well past the interval (0) and the TTL: still `wait`, naming the secondary (JSON message and text output).
  std::this_thread::sleep_for(std::chrono::seconds(k_ttl + 1));
  j = run_json("lag");
  EXPECT_EQ(j["step"], "wait") << j.dump(2);
  EXPECT_NE(j["message"].get<std::string>().find("ns2.prop.test " + s_knot->secondary_address()), std::string::npos)
      << j.dump(2);
  EXPECT_EQ(j["message"].get<std::string>().find("ns1.prop.test"), std::string::npos) << j.dump(2);
  EXPECT_TRUE(j["update"].is_null()) << j.dump(2);
  auto text = run("lag", false);
  EXPECT_EQ(text.exit_code, 4) << text.output << text.error_output;
  EXPECT_NE(text.output.find("lagging authoritative servers: ns2.prop.test"), std::string::npos) << text.output;

  // The secondary comes back and transfers the zone (start_secondary waits for the same signed serial).
  ASSERT_TRUE(s_knot->start_secondary()) << s_knot->logs();
  bool signed_rrset = false;
  ASSERT_EQ(served(s_knot->secondary_address(), "lag", signed_rrset), both());
  ASSERT_TRUE(signed_rrset);
  j = run_json("lag");
  // The old RRset's TTL counts from now (the secondary's first serving), not from the publish.
  ASSERT_EQ(j["step"], "wait") << j.dump(2);
  EXPECT_EQ(server_named(j, "ns2.prop.test")["serves_intended"], true) << j.dump(2);
  EXPECT_EQ(server_named(j, "ns2.prop.test")["signature_valid"], true) << j.dump(2);
  const json caught_up = server_named(j, "ns2.prop.test")["first_seen"];
  ASSERT_TRUE(caught_up.is_string()) << j.dump(2);
  EXPECT_EQ(j["last_server_seen"], caught_up) << j.dump(2);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    j = run_json("lag");
    if (j["step"] == "swap") {
      break;
    }
    ASSERT_EQ(j["step"], "wait") << j.dump(2);
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(j["step"], "swap") << j.dump(2);
  EXPECT_EQ(j["last_server_seen"], caught_up) << j.dump(2);
  EXPECT_GE(utc(j["now"]), utc(caught_up) + std::chrono::seconds(k_ttl)) << j.dump(2);
}

// Splits the hook's audit log (one pretty-printed --json object after the other) into the objects.
std::vector<json> json_objects(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  while (in >> std::ws && in.peek() != EOF) {
    json j;
    try {
      in >> j;
    } catch (const json::exception& e) {
      ADD_FAILURE() << "audit log: " << e.what() << "\n" << text;
      break;
    }
    out.push_back(std::move(j));
  }
  return out;
}

// One line per run for the transcript: the step and what the tool saw and did.
std::string summary(const json& j) {
  json s;
  for (const char* field : {"step", "exit_code", "refusal", "published", "last_server_seen", "safe_at", "now"}) {
    s[field] = j[field];
  }
  s["presents"] = json::array();
  for (const auto& server : j["servers"]) {
    s["presents"].push_back(server["presents"]);
  }
  s["authoritative_servers"] = json::array();
  for (const auto& server : j["authoritative_servers"]) {
    s["authoritative_servers"].push_back({{"name", server["name"]},
                                          {"serial", server["serial"]},
                                          {"serves_intended", server["serves_intended"]},
                                          {"signature_valid", server["signature_valid"]},
                                          {"first_seen", server["first_seen"]}});
  }
  s["update"] = j["update"].is_object() ? json{{"action", j["update"]["action"]},
                                               {"ok", j["update"]["ok"]},
                                               {"records", j["update"]["records"]},
                                               {"rcode", j["update"]["rcode"]}}
                                        : json(nullptr);
  return s.dump();
}

// The hook with a key whose secret is wrong: the update is refused (BADSIG named, with the server), the
// hook exits 1 for certbot to report, nothing is installed and the zone is unchanged.
TEST_F(RolloverPropagation, CertbotHookWithAWrongKeyFailsNamingTheAnswer) {
  namespace fs = std::filesystem;
  const std::string dir = m_tmp->path();
  fs::create_directories(dir + "/live");
  fs::create_directories(dir + "/tls");
  fs::copy_file(pki("leaf-rsa.chain.pem"), dir + "/live/fullchain.pem");
  fs::copy_file(pki("leaf-rsa.key"), dir + "/live/privkey.pem");
  fs::copy_file(pki("leaf-p256.chain.pem"), dir + "/tls/fullchain.pem");
  fs::copy_file(pki("leaf-p256.key"), dir + "/tls/key.pem");
  std::string resolver_opts;
  for (const auto& a : s_rig->cli_args(3)) {
    resolver_opts += a + " ";
  }
  dane::test::RunOptions options;
  options.timeout = std::chrono::seconds(60);
  options.env = {{"RENEWED_LINEAGE", dir + "/live"},
                 {"RENEWED_DOMAINS", "wrongkey.prop.test"},
                 {"DANE_PORT", std::to_string(s_smtp->port())},
                 {"DANE_INSTALL_DIR", dir + "/tls"},
                 {"DANE_RELOAD_CMD", "touch " + dir + "/reloaded"},
                 {"DANE_STATE_FILE", dir + "/state.json"},
                 {"DANE_RESOLVER_OPTS", resolver_opts},
                 {"DANE_POLICYCTL", m_policyctl},
                 {"DANE_TSIG_KEY", s_knot->key_file(KnotRig::Key::UpdateWrongSecret)}};
  auto r = dane::test::run_process({"bash", std::string(DANE_SOURCE_DIR) + "/contrib/certbot/dane-rollover-hook.sh"},
                                   options);
  EXPECT_EQ(r.exit_code, 1) << r.output << r.error_output;
  EXPECT_NE(r.error_output.find("step publish: the DNS UPDATE was refused"), std::string::npos) << r.error_output;
  EXPECT_NE(r.error_output.find("BADSIG"), std::string::npos) << r.error_output;
  EXPECT_NE(r.error_output.find(s_knot->primary_address() + "@53"), std::string::npos) << r.error_output;
  EXPECT_FALSE(fs::exists(dir + "/reloaded"));
  EXPECT_EQ(dane::test::read_text_file(dir + "/tls/fullchain.pem"),
            dane::test::read_text_file(pki("leaf-p256.chain.pem")));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  bool signed_rrset = false;
  EXPECT_EQ(served(s_knot->primary_address(), "wrongkey", signed_rrset, s_smtp->port()),
            std::vector<std::string>{s_current});
}

// The certbot hook with a TSIG key (DANE_TSIG_KEY) and repeated cron runs: a renewal with a new key reaches
// `done` with no human step; after every run the set both servers publish holds the key the STARTTLS server
// presents. The Postfix reload is simulated: DANE_RELOAD_CMD leaves a marker, the test then loads the installed
// key and chain into the SMTP server (as `postfix reload` would).
TEST_F(RolloverPropagation, CertbotHookAndCronFinishARenewalByUpdate) {
  namespace fs = std::filesystem;
  const std::string hook = std::string(DANE_SOURCE_DIR) + "/contrib/certbot/dane-rollover-hook.sh";
  const std::string dir = m_tmp->path();
  const std::string lineage = dir + "/live";
  const std::string install = dir + "/postfix-tls";
  const std::string marker = dir + "/reloaded";
  const std::string audit = dir + "/audit.json";
  fs::create_directories(lineage);
  fs::create_directories(install);
  fs::copy_file(pki("leaf-rsa.chain.pem"), lineage + "/fullchain.pem");
  fs::copy_file(pki("leaf-rsa.key"), lineage + "/privkey.pem");
  fs::copy_file(pki("leaf-p256.chain.pem"), install + "/fullchain.pem");
  fs::copy_file(pki("leaf-p256.key"), install + "/key.pem");
  std::string resolver_opts;
  for (const auto& a : s_rig->cli_args(3)) {
    resolver_opts += a + " ";
  }
  const std::uint16_t port = s_smtp->port();
  const dane::test::Environment common = {
      {"DANE_PORT", std::to_string(port)},
      {"DANE_INSTALL_DIR", install},
      {"DANE_RELOAD_CMD", "touch " + marker},
      {"DANE_INTERVAL", "0"},
      {"DANE_STATE_FILE", dir + "/state.json"},
      {"DANE_RESOLVER_OPTS", resolver_opts},
      {"DANE_POLICYCTL", m_policyctl},
      {"DANE_TSIG_KEY", s_knot->key_file(KnotRig::Key::Update)},
      {"DANE_ROLLOVER_LOG", audit},
  };
  std::string presented = s_current; // what the SMTP server presents now
  auto hook_run = [&](bool certbot) {
    dane::test::RunOptions options;
    options.timeout = std::chrono::seconds(90);
    options.env = common;
    if (certbot) {
      options.env.emplace_back("RENEWED_LINEAGE", lineage);
      options.env.emplace_back("RENEWED_DOMAINS", "hook.prop.test");
    } else {
      options.env.emplace_back("DANE_LINEAGE", lineage);
      options.env.emplace_back("DANE_MXHOST", "hook.prop.test");
    }
    auto r = dane::test::run_process({"bash", hook}, options);
    EXPECT_EQ(r.exit_code, 0) << r.output << r.error_output;
    if (fs::exists(marker)) { // the simulated `postfix reload`: serve what is installed now
      s_smtp->set_credentials(install + "/key.pem", install + "/fullchain.pem");
      auto installed = dane::tools::certificate_records_from_file(install + "/fullchain.pem");
      if (installed) {
        presented = installed->spki_sha256;
      } else {
        ADD_FAILURE() << installed.error();
      }
      fs::remove(marker);
    }
    // After every run: each authoritative server publishes the presented key, signed.
    for (const auto& address : {s_knot->primary_address(), s_knot->secondary_address()}) {
      bool signed_rrset = false;
      const auto set = served(address, "hook", signed_rrset, port);
      EXPECT_NE(std::find(set.begin(), set.end(), presented), set.end())
          << address << " publishes " << dane::join(set, ", ") << " but the server presents " << presented << "\n"
          << r.error_output;
      EXPECT_TRUE(signed_rrset) << address;
    }
    return r;
  };

  auto r = hook_run(true); // certbot's deploy hook right after the renewal: publish by DNS UPDATE
  EXPECT_NE(r.error_output.find("step publish: done by DNS UPDATE"), std::string::npos) << r.error_output;
  std::string last_step;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (last_step != "done" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    hook_run(false); // cron
    const auto runs = json_objects(dane::test::read_text_file(audit));
    last_step = runs.empty() ? "" : runs.back()["step"].get<std::string>();
  }
  const auto runs = json_objects(dane::test::read_text_file(audit));
  std::cout << "rollover transcript (" << runs.size() << " dane-policyctl runs through the hook):\n";
  std::vector<std::string> steps;
  for (const auto& j : runs) {
    std::cout << summary(j) << "\n";
    steps.push_back(j["step"].get<std::string>());
  }
  ASSERT_EQ(last_step, "done") << dane::join(steps, " ");
  for (const char* step : {"publish", "wait", "swap", "remove", "done"}) {
    EXPECT_NE(std::find(steps.begin(), steps.end(), step), steps.end()) << step << ": " << dane::join(steps, " ");
  }
  EXPECT_EQ(presented, s_next);
  EXPECT_EQ(runs.back()["servers"][0]["presents"], "next") << runs.back().dump(2);
  for (const auto& address : {s_knot->primary_address(), s_knot->secondary_address()}) {
    bool signed_rrset = false;
    EXPECT_EQ(served(address, "hook", signed_rrset, port), std::vector<std::string>{s_next}) << address;
  }
  EXPECT_FALSE(fs::exists(install + "/previous-fullchain.pem"));
}

// The secondary replaced by an impostor that serves the primary's signed zone with the RRSIG over one TLSA
// RRset altered and the RRSIG over another removed: the set is the intended one, but the check does not
// count it (signature invalid / missing, the server named as lagging); the primary's copy counts.
TEST_F(RolloverPropagation, BadlySignedOrUnsignedSetAtOneServerIsNotCounted) {
  auto axfr = s_knot->zone_transfer();
  ASSERT_TRUE(axfr) << axfr.error();
  std::string tampered;
  int altered = 0;
  int dropped = 0;
  std::istringstream lines(*axfr);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::vector<std::string> t;
    for (std::string f; fields >> f;) {
      t.push_back(f);
    }
    const bool tlsa_sig = t.size() > 5 && t[3] == "RRSIG" && t[4] == "TLSA";
    if (tlsa_sig && t[0] == "_25._tcp.nosig.prop.test.") {
      ++dropped;
      continue;
    }
    if (tlsa_sig && t[0] == "_25._tcp.bad.prop.test.") {
      std::string& signature = t.back();
      signature[4] = signature[4] == 'A' ? 'B' : 'A';
      line = dane::join(t, " ");
      ++altered;
    }
    tampered += line + "\n";
  }
  ASSERT_EQ(altered, 1) << *axfr;
  ASSERT_EQ(dropped, 1) << *axfr;
  ASSERT_TRUE(s_knot->impersonate_secondary(tampered)) << s_knot->logs();
  bool signed_rrset = false;
  EXPECT_EQ(served(s_knot->secondary_address(), "bad", signed_rrset), std::vector<std::string>{s_current});
  EXPECT_TRUE(signed_rrset) << "the impostor serves the altered RRSIG";

  auto resolver = dane::make_unbound_resolver(s_rig->resolver_config(std::chrono::seconds(3)));
  ASSERT_TRUE(resolver) << resolver.error();
  auto record = dane::parse_tlsa("3 1 1 " + s_current);
  ASSERT_TRUE(record) << record.error();
  const std::vector<std::pair<std::string, dane::tools::AuthSignature>> cases = {
      {"bad", dane::tools::AuthSignature::Invalid}, {"nosig", dane::tools::AuthSignature::Missing}};
  for (const auto& [host, expected] : cases) {
    auto check = dane::tools::check_authoritative("_25._tcp." + host + ".prop.test", {*record}, **resolver,
                                                  std::chrono::seconds(3));
    ASSERT_EQ(check.security, dane::DnsSecurity::Secure) << check.error;
    ASSERT_EQ(check.servers.size(), 2u) << host;
    const auto& ns1 = check.servers[0];
    const auto& ns2 = check.servers[1];
    EXPECT_EQ(ns1.name, "ns1.prop.test");
    EXPECT_TRUE(ns1.serves_intended_signed()) << host << ": " << ns1.detail;
    EXPECT_EQ(ns2.name, "ns2.prop.test");
    EXPECT_EQ(ns2.address, s_knot->secondary_address());
    EXPECT_TRUE(ns2.serves_intended) << host << ": " << ns2.detail;
    EXPECT_EQ(ns2.signature, expected) << host << ": " << ns2.detail;
    EXPECT_FALSE(ns2.serves_intended_signed()) << host;
    const auto lagging = check.lagging();
    ASSERT_EQ(lagging.size(), 1u) << host;
    EXPECT_EQ(lagging[0].rfind("ns2.prop.test " + s_knot->secondary_address() + ": ", 0), 0u) << lagging[0];
    const char* why =
        expected == dane::tools::AuthSignature::Invalid ? "RRSIG does not verify" : "no RRSIG over the TLSA RRset";
    EXPECT_NE(lagging[0].find(why), std::string::npos) << lagging[0];
  }
  ASSERT_TRUE(s_knot->start_secondary()) << s_knot->logs();
}

} // namespace
