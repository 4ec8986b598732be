// `dane-policyctl check` end to end: real signed zones served by nsd (tests/support/dns_rig.hpp),
// validated by libunbound inside dane-policyctl, and real STARTTLS servers
// (tests/support/smtp_server.hpp) on unique 127.x.y.z addresses, all on one port that
// `--port` points the probes at. Verdicts are cross-checked with `openssl s_client`.
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>

#include "dane/verifier/handles.hpp"
#include "dane/verifier/tlsa.hpp"
#include "dns_rig.hpp"
#include "smtp_server.hpp"
#include "test_env.hpp"

namespace dane {
namespace {

using test::DnsRig;
using test::SmtpBehaviour;
using test::SmtpServer;
using test::SmtpServerOptions;
using test::ZoneSigning;
using test::ZoneSpec;

constexpr std::chrono::seconds k_program_limit{60}; // no run may hang the suite

std::string pki(const std::string& name) {
  return std::string(DANE_TEST_DATA_DIR) + "/pki/" + name;
}

std::string record_text(const std::string& cert_file, std::uint8_t usage, std::uint8_t selector, std::uint8_t mtype) {
  BioPtr bio(BIO_new_file(pki(cert_file).c_str(), "r"));
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    ADD_FAILURE() << "cannot read " << pki(cert_file);
    return {};
  }
  auto record = make_tlsa(cert.get(), TlsaUsage{usage}, TlsaSelector{selector}, TlsaMatchingType{mtype});
  if (!record) {
    ADD_FAILURE() << record.error();
    return {};
  }
  return record->to_string();
}

struct ServerRole {
  std::string role; // host label: mx-<role>.example.test (except "mx")
  std::string leaf; // fixture PKI entity; empty for servers without TLS
  SmtpBehaviour behaviour = SmtpBehaviour::StartTls;
};

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  std::vector<std::string> lines;
};

class CheckRig : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available()) {
      return;
    }
    try {
      start_servers();
    } catch (const std::exception& e) {
      s_setup_error = e.what();
      return;
    }
    s_rig = std::make_unique<DnsRig>();
    std::string p256 = record_text("leaf-p256.crt", 3, 1, 1);
    std::string rsa = record_text("leaf-rsa.crt", 3, 1, 1);
    std::string ta = record_text("int.crt", 2, 0, 1);
    std::string expired = record_text("leaf-expired.crt", 3, 1, 1);
    std::string port = std::to_string(s_port);
    std::string zone = R"(
        ee                MX    10 mx-ee
        mx-ee             A     )" +
                       s_address["ee"] + R"(
        _25._tcp.mx-ee    TLSA  )" +
                       p256 + R"(
        _)" + port + R"(._tcp.mx-ee TLSA )" +
                       p256 + R"(
        ta                MX    10 mx-ta
        mx-ta             A     )" +
                       s_address["ta"] + R"(
        _25._tcp.mx-ta    TLSA  )" +
                       ta + R"(
        _25._tcp.mx-ta    TLSA  )" +
                       rsa + R"(
        taname            MX    10 mx-taname
        mx-taname         A     )" +
                       s_address["taname"] + R"(
        _25._tcp.mx-taname TLSA )" +
                       ta + R"(
        expta             MX    10 mx
        mx                A     )" +
                       s_address["mx"] + R"(
        _25._tcp.mx       TLSA  )" +
                       ta + R"(
        expee             MX    10 mx-expee
        mx-expee          A     )" +
                       s_address["expee"] + R"(
        _25._tcp.mx-expee TLSA  )" +
                       expired + R"(
        plain             MX    10 mx-plain
        mx-plain          A     )" +
                       s_address["plain"] + R"(
        _25._tcp.mx-plain TLSA  )" +
                       p256 + R"(
        dead              MX    10 mx-dead
        mx-dead           A     )" +
                       s_dead_address + R"(
        _25._tcp.mx-dead  TLSA  )" +
                       p256 + R"(
        silent            MX    10 mx-silent
        mx-silent         A     )" +
                       s_address["silent"] + R"(
        _25._tcp.mx-silent TLSA )" +
                       p256 + R"(
        multi             MX    10 mx-m1
        multi             MX    20 mx-m2
        multi             MX    30 mx-m3
        mx-m1             A     )" +
                       s_address["m1"] + R"(
        _25._tcp.mx-m1    TLSA  )" +
                       p256 + R"(
        _25._tcp.mx-m1    TLSA  )" +
                       rsa + R"(
        mx-m2             A     )" +
                       s_address["m2"] + R"(
        _25._tcp.mx-m2    TLSA  )" +
                       p256 + R"(
        mx-m3             A     )" +
                       s_address["m3"] + R"(
    )";
    s_rig->add_zone(ZoneSpec("example.test", zone));
    s_rig->add_zone(ZoneSpec("tempfail.test", "@ MX 10 mx.tempfail.test.\nmx A 127.0.0.1\n", ZoneSigning::BadSignature,
                             "tempfail.test. MX"));
    s_rig->add_zone(ZoneSpec("insecure.test", "@ MX 10 mx.insecure.test.\nmx A 127.0.0.1\n", ZoneSigning::Unsigned));
    if (auto started = s_rig->start(); !started) {
      s_setup_error = started.error();
      s_rig.reset();
    }
  }

  static void start_servers() {
    const std::vector<ServerRole> roles = {
        {"ee", "leaf-p256"},
        {"ta", "leaf-wildcard"},
        {"taname", "leaf-wrongname"},
        {"mx", "leaf-expired"},
        {"expee", "leaf-expired"},
        {"plain", "", SmtpBehaviour::NoStartTls},
        {"silent", "", SmtpBehaviour::Silent},
        {"m1", "leaf-p256"},
        {"m2", "leaf-rsa"}, // m2: rolled key
        {"m3", "leaf-p256"},
    };
    std::vector<SmtpServerOptions> options;
    for (const auto& role : roles) {
      SmtpServerOptions entry;
      entry.address = test::unique_loopback_address();
      entry.behaviour = role.behaviour;
      if (!role.leaf.empty()) {
        entry.key_file = pki(role.leaf + ".key");
        entry.chain_file = pki(role.leaf + ".chain.pem");
      }
      s_address[role.role] = entry.address;
      options.push_back(entry);
    }
    s_servers = test::start_on_common_port(options);
    s_port = s_servers.front()->port();
    for (std::size_t i = 0; i < roles.size(); ++i) {
      s_server[roles[i].role] = s_servers[i].get();
    }
    s_dead_address = test::unique_loopback_address();
    s_closed = std::make_unique<test::ClosedPort>(s_dead_address, s_port);
  }

  static void TearDownTestSuite() {
    s_rig.reset();
    s_closed.reset();
    s_server.clear();
    s_servers.clear();
  }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(DnsRig::tools_available(), DnsRig::missing_tools_message());
    ASSERT_TRUE(s_rig != nullptr) << "rig set-up failed: " << s_setup_error;
    ASSERT_NE(std::getenv("DANE_POLICYCTL"), nullptr) << "DANE_POLICYCTL is not set";
  }

  // dane-policyctl check DESTINATION --port P <rig resolver args> EXTRA...
  static RunResult check(const std::string& destination, std::vector<std::string> extra = {}, bool with_port = true) {
    std::vector<std::string> argv = {std::getenv("DANE_POLICYCTL"), "check", destination};
    if (with_port) {
      argv.push_back("--port");
      argv.push_back(std::to_string(s_port));
    }
    for (const auto& arg : s_rig->cli_args(5)) {
      argv.push_back(arg);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto process = test::run_process(argv, k_program_limit, false);
    if (std::getenv("DANE_TEST_VERBOSE") != nullptr) { // show what an operator sees
      std::cerr << "$ dane-policyctl check " << destination << " ... (exit " << process.exit_code << ")\n"
                << process.output << process.error_output;
    }
    EXPECT_FALSE(process.timed_out) << "dane-policyctl check " << destination << " did not finish";
    RunResult result{process.exit_code, process.output, process.error_output, {}};
    std::size_t start = 0;
    while (start < result.out.size()) {
      auto end = result.out.find('\n', start);
      result.lines.push_back(result.out.substr(start, end == std::string::npos ? std::string::npos : end - start));
      start = end == std::string::npos ? result.out.size() : end + 1;
    }
    return result;
  }

  static nlohmann::json check_json(const std::string& destination, int expected_exit,
                                   std::vector<std::string> extra = {}) {
    extra.push_back("--json");
    RunResult run = check(destination, extra);
    EXPECT_EQ(run.exit_code, expected_exit) << run.out << run.err;
    try {
      return nlohmann::json::parse(run.out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not JSON: " << e.what() << "\n" << run.out << run.err;
      return nlohmann::json::object();
    }
  }

  // The host object named `name` in a check --json object.
  static nlohmann::json host_of(const nlohmann::json& out, const std::string& name) {
    if (out.contains("hosts")) {
      for (const auto& host : out["hosts"]) {
        if (host.value("name", "") == name) {
          return host;
        }
      }
    }
    ADD_FAILURE() << "no host " << name << " in " << out.dump(2);
    return nlohmann::json::object();
  }

  // Checks the pinned per-address fields and returns the only address of a host.
  static nlohmann::json only_address(const nlohmann::json& host) {
    EXPECT_TRUE(host.contains("addresses")) << host.dump(2);
    if (!host.contains("addresses") || host["addresses"].size() != 1) {
      ADD_FAILURE() << "expected one address: " << host.dump(2);
      return nlohmann::json::object();
    }
    nlohmann::json address = host["addresses"][0];
    for (const char* field : {"address", "port", "result", "matched", "depth"}) {
      EXPECT_TRUE(address.contains(field)) << field << " missing: " << address.dump(2);
    }
    EXPECT_EQ(address.value("port", 0), s_port);
    return address;
  }

  static void expect_s_client(const std::string& role, const std::string& base, std::vector<std::string> records,
                              bool verified) {
    auto verdict = test::openssl_s_client_dane(s_address[role], s_port, base, records);
    ASSERT_TRUE(verdict.ran) << verdict.process.output;
    EXPECT_EQ(verdict.verified, verified) << verdict.process.output;
  }

  static std::unique_ptr<DnsRig> s_rig;
  static std::string s_setup_error;
  static std::vector<std::unique_ptr<SmtpServer>> s_servers;
  static std::map<std::string, SmtpServer*> s_server;
  static std::map<std::string, std::string> s_address;
  static std::string s_dead_address;
  static std::unique_ptr<test::ClosedPort> s_closed;
  static std::uint16_t s_port;
};

std::unique_ptr<DnsRig> CheckRig::s_rig;
std::string CheckRig::s_setup_error;
std::vector<std::unique_ptr<SmtpServer>> CheckRig::s_servers;
std::map<std::string, SmtpServer*> CheckRig::s_server;
std::map<std::string, std::string> CheckRig::s_address;
std::string CheckRig::s_dead_address;
std::unique_ptr<test::ClosedPort> CheckRig::s_closed;
std::uint16_t CheckRig::s_port = 0;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The final verdict is the last line of the human output.
std::string last_line(const RunResult& run) {
  return run.lines.empty() ? std::string() : run.lines.back();
}

TEST_F(CheckRig, DaneEe_PassesAndWarnsAboutASingleRecord) {
  RunResult run = check("ee.example.test");
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_EQ(last_line(run), "verdict: pass: the 1 probed address passes") << run.out;
  std::string record = record_text("leaf-p256.crt", 3, 1, 1);
  auto short_record = parse_tlsa(record)->short_string();
  EXPECT_TRUE(contains(run.out, "host mx-ee.example.test (MX 10): dnssec secure, status dane")) << run.out;
  EXPECT_TRUE(contains(run.out, "  " + s_address["ee"] + ":" + std::to_string(s_port) + " pass: Matched DANE-EE " +
                                    short_record + " at depth 0"))
      << run.out;
  EXPECT_TRUE(contains(run.out, "warning: mx-ee.example.test publishes a single TLSA record")) << run.out;

  nlohmann::json out = check_json("ee.example.test", 0);
  EXPECT_EQ(out.value("destination", ""), "ee.example.test");
  EXPECT_EQ(out.value("policy", ""), "dane-only");
  EXPECT_EQ(out.value("answer", ""), "OK dane-only");
  auto host = host_of(out, "mx-ee.example.test");
  EXPECT_EQ(host.value("dnssec", ""), "secure");
  EXPECT_EQ(host.value("tlsa_base", ""), "mx-ee.example.test");
  EXPECT_EQ(host["tlsa"], nlohmann::json::array({record}));
  auto address = only_address(host);
  EXPECT_EQ(address.value("address", ""), s_address["ee"]);
  EXPECT_EQ(address.value("result", ""), "pass");
  EXPECT_EQ(address["matched"], record);
  EXPECT_EQ(address["depth"], 0);
  EXPECT_EQ(host["warnings"].size(), 1u);
  expect_s_client("ee", "mx-ee.example.test", {record}, true);
}

TEST_F(CheckRig, DaneTa_MatchesTheIntermediateSentInTheChain) {
  nlohmann::json out = check_json("ta.example.test", 0);
  auto host = host_of(out, "mx-ta.example.test");
  auto address = only_address(host);
  EXPECT_EQ(address.value("result", ""), "pass") << address.dump(2);
  EXPECT_EQ(address["matched"], record_text("int.crt", 2, 0, 1));
  EXPECT_EQ(address["depth"], 1);
  EXPECT_TRUE(host["warnings"].empty()) << host.dump(2); // current + next: a rollover partner exists
  expect_s_client("ta", "mx-ta.example.test", {record_text("int.crt", 2, 0, 1)}, true);
}

TEST_F(CheckRig, DaneTa_WrongNameFails) {
  RunResult run = check("taname.example.test");
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_TRUE(contains(run.out, s_address["taname"] + ":" + std::to_string(s_port) + " name-mismatch: ")) << run.out;
  EXPECT_TRUE(last_line(run).starts_with("verdict: fail: 1 of 1 probed address failed")) << run.out;
  auto address = only_address(host_of(check_json("taname.example.test", 1), "mx-taname.example.test"));
  EXPECT_EQ(address.value("result", ""), "name-mismatch");
  EXPECT_TRUE(address["matched"].is_null());
  expect_s_client("taname", "mx-taname.example.test", {record_text("int.crt", 2, 0, 1)}, false);
}

TEST_F(CheckRig, ExpiredLeaf_DaneEePasses) {
  auto address = only_address(host_of(check_json("expee.example.test", 0), "mx-expee.example.test"));
  EXPECT_EQ(address.value("result", ""), "pass") << address.dump(2);
  EXPECT_EQ(address["depth"], 0);
  expect_s_client("expee", "mx-expee.example.test", {record_text("leaf-expired.crt", 3, 1, 1)}, true);
}

TEST_F(CheckRig, ExpiredLeaf_DaneTaFailsWithCertExpired) {
  auto address = only_address(host_of(check_json("expta.example.test", 1), "mx.example.test"));
  EXPECT_EQ(address.value("result", ""), "cert-expired") << address.dump(2);
  expect_s_client("mx", "mx.example.test", {record_text("int.crt", 2, 0, 1)}, false);
}

TEST_F(CheckRig, StarttlsNotOfferedFails) {
  RunResult run = check("plain.example.test");
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_TRUE(contains(run.out, " starttls-not-offered: the EHLO reply does not offer STARTTLS")) << run.out;
}

TEST_F(CheckRig, NothingListeningIsConnectFailed) {
  auto address = only_address(host_of(check_json("dead.example.test", 1), "mx-dead.example.test"));
  EXPECT_EQ(address.value("result", ""), "connect-failed");
  EXPECT_EQ(address.value("reason", ""), "connect: Connection refused");
}

TEST_F(CheckRig, SilentServerTimesOut) {
  RunResult run = check("silent.example.test", {"--probe-timeout", "0.5"});
  EXPECT_EQ(run.exit_code, 1) << run.out << run.err;
  EXPECT_TRUE(contains(run.out, " connect-failed: timed out after 500 ms waiting for the 220 greeting")) << run.out;
}

TEST_F(CheckRig, SeveralMxHostsWithMixedResults) {
  nlohmann::json out = check_json("multi.example.test", 1);
  EXPECT_EQ(out.value("policy", ""), "dane"); // mx-m3 has no TLSA
  auto m1 = only_address(host_of(out, "mx-m1.example.test"));
  EXPECT_EQ(m1.value("result", ""), "pass");
  EXPECT_EQ(m1["matched"], record_text("leaf-p256.crt", 3, 1, 1));
  // mx-m2 rolled its key: the published record no longer matches.
  auto m2 = only_address(host_of(out, "mx-m2.example.test"));
  EXPECT_EQ(m2.value("result", ""), "tlsa-mismatch");
  EXPECT_EQ(m2.value("reason", ""), "no TLSA record matches the presented chain (1 usable record)");
  auto m3 = host_of(out, "mx-m3.example.test");
  EXPECT_EQ(m3["addresses"], nlohmann::json::array()) << m3.dump(2);
  EXPECT_EQ(out["verdict"].value("probed", 0), 2);
  EXPECT_EQ(out["verdict"].value("failed", 0), 1);

  RunResult run = check("multi.example.test");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_EQ(last_line(run), "verdict: fail: 1 of 2 probed addresses failed (" + s_address["m2"] + ":" +
                                std::to_string(s_port) + " tlsa-mismatch)")
      << run.out;
  EXPECT_TRUE(contains(run.out, "not probed: no TLSA records (--all probes it)")) << run.out;

  // --all probes the host without TLSA too: TLS without authentication passes.
  out = check_json("multi.example.test", 1, {"--all"});
  auto m3_all = only_address(host_of(out, "mx-m3.example.test"));
  EXPECT_EQ(m3_all.value("result", ""), "pass");
  EXPECT_EQ(m3_all.value("authenticated", true), false);
  EXPECT_EQ(out["verdict"].value("probed", 0), 3);
}

TEST_F(CheckRig, TemporaryDnsFailureExits3WithoutProbing) {
  RunResult run = check("tempfail.test");
  EXPECT_EQ(run.exit_code, 3) << run.out << run.err;
  EXPECT_TRUE(last_line(run).starts_with("verdict: tempfail: ")) << run.out;
  nlohmann::json out = check_json("tempfail.test", 3);
  EXPECT_EQ(out.value("policy", ""), "tempfail");
}

TEST_F(CheckRig, InsecureDestinationHasNothingToProbe) {
  RunResult run = check("insecure.test");
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_TRUE(last_line(run).starts_with("verdict: none: nothing to probe")) << run.out;
  EXPECT_EQ(check_json("insecure.test", 0).value("policy", ""), "notfound");
}

TEST_F(CheckRig, BracketedKeyProbesItsOwnPort) {
  // "[host]:port": no MX lookup, TLSA at _PORT._tcp.host, and that port is probed without --port.
  std::string key = "[mx-ee.example.test]:" + std::to_string(s_port);
  RunResult run = check(key, {"--json"}, false);
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  nlohmann::json out = nlohmann::json::parse(run.out, nullptr, false);
  ASSERT_FALSE(out.is_discarded()) << run.out;
  auto address = only_address(host_of(out, "mx-ee.example.test"));
  EXPECT_EQ(address.value("result", ""), "pass");
}

} // namespace
} // namespace dane
