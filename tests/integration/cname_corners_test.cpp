// The two RFC 7672 CNAME corners (issue 14) over the real rig: signed zones served by nsd
// (tests/support/dns_rig.hpp), validated by libunbound, and a real STARTTLS server
// (tests/support/smtp_server.hpp) that `dane-policyctl check` probes (cross-checked with
// `openssl s_client`), and the real daemon in pinned mode (its `secure ... match=` names).
//
// 1. Reference identifiers behind an insecure expansion (RFC 7672 §3.2.2, §2.2.2): an MX host
//    that is a secure CNAME into an insecure zone takes its TLSA records at the alias; under
//    DANE-TA the certificate must name the alias (the TLSA base domain) or the next-hop domain,
//    never the insecure target alone.
// 2. Per-host `dnssec` of a host decided at a secure alias: the TLSA lookup at the expansion is
//    insecure (records, NODATA or NXDOMAIN below an unsigned zone cut), so the records are taken
//    securely at the alias; the host is `secure`, and the reason still names the rejected candidate.
//
// Zones (the SMTP server's leaf, leaf-p256, names mx.example.test and mail.example.test):
//   corner.test       signed   MX mx.corner.test; mx CNAME mx.example.test. (insecure target), TLSA
//                              2 0 0 <int> at the alias; bN MX aN, aN CNAME tN.tgt.test. with
//                              TLSA 3 1 1 at the alias (N = 1..3), b4 MX a4, a4 CNAME mx.example.test.
//   example.test      signed   MX mail.example.test; mail CNAME mx.example.test., TLSA 2 0 0 <int>
//   mx.example.test   unsigned the target: A = the SMTP server
//   tgt.test          signed   t1, t2, t3 A (secure addresses)
//   _tcp.tN.tgt.test  unsigned t1: _25 TLSA (insecure records), t2: _25 TXT (insecure NODATA),
//                              t3: nothing at _25 (insecure NXDOMAIN)
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/pem.h>

#include <sys/stat.h>

#include "daemon_process.hpp"
#include "dane/core/text.hpp"
#include "dane/policy/policy_engine.hpp"
#include "dane/verifier/destination.hpp"
#include "dane/verifier/dns.hpp"
#include "dane/verifier/handles.hpp"
#include "dane/verifier/tlsa.hpp"
#include "dns_rig.hpp"
#include "process.hpp"
#include "smtp_server.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace dane {
namespace {

using test::DnsRig;
using test::SmtpServer;
using test::SmtpServerOptions;
using test::ZoneSigning;
using test::ZoneSpec;

constexpr std::chrono::seconds k_program_limit{60}; // no run may hang the suite
constexpr const char* k_other_hash = "1111111111111111111111111111111111111111111111111111111111111111";

std::string pki(const std::string& name) {
  return std::string(DANE_TEST_DATA_DIR) + "/pki/" + name;
}

X509Ptr read_cert(const std::string& file) {
  BioPtr bio(BIO_new_file(pki(file).c_str(), "r"));
  return X509Ptr(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

std::string record_text(const std::string& cert_file, std::uint8_t usage, std::uint8_t selector, std::uint8_t mtype) {
  X509Ptr cert = read_cert(cert_file);
  if (!cert) {
    ADD_FAILURE() << "cannot read " << pki(cert_file);
    return "3 1 1 00";
  }
  auto record = make_tlsa(cert.get(), TlsaUsage{usage}, TlsaSelector{selector}, TlsaMatchingType{mtype});
  if (!record) {
    ADD_FAILURE() << record.error();
    return "3 1 1 00";
  }
  return record->to_string();
}

struct CheckRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class CnameCorners : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available()) {
      return;
    }
    try {
      SmtpServerOptions options;
      options.address = test::unique_loopback_address();
      options.key_file = pki("leaf-p256.key");
      options.chain_file = pki("leaf-p256.chain.pem");
      s_server = std::make_unique<SmtpServer>(options);
    } catch (const std::exception& e) {
      s_setup_error = e.what();
      return;
    }
    const std::string ta = record_text("int.crt", 2, 0, 0); // the full intermediate: pinned mode can use it
    const std::string ee = record_text("leaf-p256.crt", 3, 1, 1);
    std::string corner = "@ MX 10 mx\nmx CNAME mx.example.test.\n_25._tcp.mx TLSA " + ta + "\n";
    for (const char* n : {"1", "2", "3"}) {
      corner += std::string("b") + n + " MX 10 a" + n + "\na" + n + " CNAME t" + n + ".tgt.test.\n_25._tcp.a" + n +
                " TLSA " + ee + "\n";
    }
    corner += "b4 MX 10 a4\na4 CNAME mx.example.test.\n_25._tcp.a4 TLSA " + ee + "\n";
    s_rig = std::make_unique<DnsRig>();
    s_rig->add_zone(ZoneSpec("corner.test", corner));
    s_rig->add_zone(
        ZoneSpec("example.test", "@ MX 10 mail\nmail CNAME mx.example.test.\n_25._tcp.mail TLSA " + ta + "\n"));
    s_rig->add_zone(ZoneSpec("mx.example.test", "@ A " + s_server->address() + "\n", ZoneSigning::Unsigned));
    s_rig->add_zone(ZoneSpec("tgt.test", "t1 A 127.0.0.21\nt2 A 127.0.0.22\nt3 A 127.0.0.23\n"));
    s_rig->add_zone(
        ZoneSpec("_tcp.t1.tgt.test", std::string("_25 TLSA 3 1 1 ") + k_other_hash + "\n", ZoneSigning::Unsigned));
    s_rig->add_zone(ZoneSpec("_tcp.t2.tgt.test", "_25 TXT \"no TLSA here\"\n", ZoneSigning::Unsigned));
    s_rig->add_zone(ZoneSpec("_tcp.t3.tgt.test", "other TXT \"nothing at _25\"\n", ZoneSigning::Unsigned));
    if (auto started = s_rig->start(); !started) {
      s_setup_error = started.error();
      s_rig.reset();
    }
  }

  static void TearDownTestSuite() {
    s_rig.reset();
    s_server.reset();
  }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(DnsRig::tools_available(), DnsRig::missing_tools_message());
    ASSERT_TRUE(s_rig != nullptr && s_server != nullptr) << "rig set-up failed: " << s_setup_error;
    auto resolver = make_unbound_resolver(s_rig->resolver_config(std::chrono::seconds(5)));
    ASSERT_TRUE(resolver) << resolver.error();
    m_resolver = std::move(*resolver);
  }

  DestinationFacts eval(const std::string& key) { return evaluate_destination(*m_resolver, key); }

  // dane-policyctl ARGS... <rig resolver args>
  static CheckRun policyctl(std::vector<std::string> args) {
    const char* program = std::getenv("DANE_POLICYCTL");
    if (program == nullptr) {
      ADD_FAILURE() << "DANE_POLICYCTL is not set";
      return {};
    }
    args.insert(args.begin(), program);
    for (const auto& arg : s_rig->cli_args(5)) {
      args.push_back(arg);
    }
    auto process = test::run_process(args, k_program_limit, false);
    if (std::getenv("DANE_TEST_VERBOSE") != nullptr) {
      std::cerr << "$ " << join(args, " ") << " (exit " << process.exit_code << ")\n"
                << process.output << process.error_output;
    }
    EXPECT_FALSE(process.timed_out) << join(args, " ") << " did not finish";
    return {process.exit_code, process.output, process.error_output};
  }

  // `dane-policyctl check KEY --json` probing the SMTP server's port: the only probed address
  // (without the long PEM and hex fields, so a failure message stays readable).
  static nlohmann::json probed_address(const std::string& key, int expected_exit) {
    CheckRun run = policyctl({"check", key, "--port", std::to_string(s_server->port()), "--json"});
    nlohmann::json out = nlohmann::json::parse(run.out, nullptr, false);
    if (out.is_discarded() || !out.contains("hosts") || out["hosts"].size() != 1 ||
        !out["hosts"][0].contains("addresses") || out["hosts"][0]["addresses"].size() != 1) {
      ADD_FAILURE() << key << ": expected one host with one probed address:\n" << run.out << run.err;
      return nlohmann::json::object();
    }
    nlohmann::json address = out["hosts"][0]["addresses"][0];
    address.erase("chain_pem");
    address.erase("matched");
    EXPECT_EQ(run.exit_code, expected_exit) << key << "\n" << address.dump(2) << "\n" << out["verdict"].dump(2);
    return address;
  }

  // `openssl s_client` with the alias's DANE-TA record and `base` as the TLSA base domain.
  static void expect_s_client(const std::string& base, bool verified) {
    auto verdict =
        test::openssl_s_client_dane(s_server->address(), s_server->port(), base, {record_text("int.crt", 2, 0, 0)});
    ASSERT_TRUE(verdict.ran) << verdict.process.output;
    EXPECT_EQ(verdict.verified, verified) << base << "\n" << verdict.process.output;
  }

  static std::string pinned_answer(const DestinationFacts& facts) {
    policyd::PinnedOptions options;
    options.ta_file = [](const DestinationFacts&) -> std::optional<std::string> { return std::string("/ta.pem"); };
    return policyd::decide(facts, policyd::Mode::Pinned, options).answer;
  }

  static std::unique_ptr<DnsRig> s_rig;
  static std::unique_ptr<SmtpServer> s_server;
  static std::string s_setup_error;
  std::unique_ptr<Resolver> m_resolver;
};

std::unique_ptr<DnsRig> CnameCorners::s_rig;
std::unique_ptr<SmtpServer> CnameCorners::s_server;
std::string CnameCorners::s_setup_error;

using V = std::vector<std::string>;

// ---- 1. reference identifiers behind an insecure expansion ----

TEST_F(CnameCorners, InsecureExpansion_CertificateNamingOnlyTheTargetFailsDaneTa) {
  // mx.corner.test is a secure alias of mx.example.test (insecure); the leaf names the target only.
  for (const std::string key : {"[mx.corner.test]", "corner.test"}) {
    nlohmann::json address = probed_address(key, 1);
    EXPECT_EQ(address.value("result", ""), "name-mismatch") << key << "\n" << address.dump(2);
    const std::string reason = address.value("reason", "");
    EXPECT_NE(reason.find("none of the reference names (mx.corner.test"), std::string::npos) << key << ": " << reason;
    EXPECT_EQ(reason.find("reference names (mx.example.test"), std::string::npos) << key << ": " << reason;
    EXPECT_EQ(reason.find(", mx.example.test"), std::string::npos) << key << ": " << reason;
  }
  expect_s_client("mx.corner.test", false); // OpenSSL's own client agrees
}

TEST_F(CnameCorners, InsecureExpansion_CertificateNamingTheAliasPassesDaneTa) {
  // mail.example.test is a secure alias of the same insecure target; the same leaf names the alias.
  for (const std::string key : {"[mail.example.test]", "example.test"}) {
    nlohmann::json address = probed_address(key, 0);
    EXPECT_EQ(address.value("result", ""), "pass") << key << "\n" << address.dump(2);
    EXPECT_EQ(address.value("depth", -1), 1) << key << "\n" << address.dump(2);
  }
  expect_s_client("mail.example.test", true);
}

TEST_F(CnameCorners, InsecureExpansion_TargetIsNeverAReferenceIdentifier) {
  auto f = eval("[mx.corner.test]");
  ASSERT_EQ(f.hosts.size(), 1u) << f.reason;
  EXPECT_EQ(f.hosts[0].status, HostStatus::DaneUsable) << f.hosts[0].reason;
  EXPECT_EQ(f.hosts[0].canonname, "mx.example.test"); // still reported, as a fact
  EXPECT_EQ(f.hosts[0].tlsa_base, "mx.corner.test");
  EXPECT_EQ(f.reference_names, V{"mx.corner.test"});
  // Pinned mode hands Postfix the same names: the insecure target is not among them.
  EXPECT_EQ(pinned_answer(f), "OK secure tafile=/ta.pem match=mx.corner.test");
  EXPECT_EQ(pinned_answer(eval("corner.test")), "OK secure tafile=/ta.pem match=corner.test:mx.corner.test");
  EXPECT_EQ(pinned_answer(eval("example.test")), "OK secure tafile=/ta.pem match=example.test:mail.example.test");
}

TEST_F(CnameCorners, InsecureExpansion_DaemonPinnedModeNeverHandsTheTargetToPostfix) {
  DANE_REQUIRE_OR_SKIP(test::is_root(), "the daemon binds sockets as root and drops privileges");
  test::DaemonTempDir dir("dane-corners");
  ::chmod(dir.path().c_str(), 0777);
  const std::string sock = dir.path() + "/socketmap";
  std::vector<std::string> args = {"--socketmap", "unix:" + sock,        "--mode",       "pinned",
                                   "--state-dir", dir.path() + "/state", "--cache-size", "0"};
  for (const auto& arg : s_rig->cli_args(5)) {
    args.push_back(arg);
  }
  auto daemon = test::DaemonProcess::start(args);
  ASSERT_TRUE(daemon) << daemon.error();
  auto answer = [&](const std::string& key) -> std::string {
    auto raw = test::RawClient::unix_socket(sock);
    if (!raw) {
      return "connect failed: " + raw.error();
    }
    test::SocketmapClient client(std::move(*raw));
    auto reply = client.query("tlspolicy", key);
    return reply ? *reply : "error: " + reply.error();
  };
  const std::string prefix = "OK secure tafile=" + dir.path() + "/state/ta-";
  for (const auto& [key, names] : std::vector<std::pair<std::string, std::string>>{
           {"[mx.corner.test]", "mx.corner.test"}, {"corner.test", "corner.test:mx.corner.test"}}) {
    const std::string reply = answer(key);
    EXPECT_EQ(reply.rfind(prefix, 0), 0u) << key << ": " << reply;
    EXPECT_TRUE(reply.ends_with(".pem match=" + names)) << key << ": " << reply;
  }
}

TEST_F(CnameCorners, SecureExpansion_StaysAReferenceIdentifier) {
  // a1.corner.test -> t1.tgt.test: the address lookups through the alias are secure.
  auto f = eval("[a1.corner.test]");
  ASSERT_EQ(f.hosts.size(), 1u) << f.reason;
  EXPECT_EQ(f.hosts[0].canonname, "t1.tgt.test");
  EXPECT_EQ(f.reference_names, (V{"a1.corner.test", "t1.tgt.test"}));
}

// ---- 2. per-host dnssec of a host decided at a secure alias ----

TEST_F(CnameCorners, TheRigsExpansionsAnswerAsTheCasesSay) {
  auto lookup = [&](const std::string& name, RrType type) {
    return m_resolver->resolve({Query{name, type}}, std::chrono::steady_clock::now() + std::chrono::seconds(5)).at(0);
  };
  for (const char* n : {"1", "2", "3"}) { // secure addresses through a secure alias
    Answer a = lookup(std::string("a") + n + ".corner.test", RrType::A);
    EXPECT_EQ(to_string(a.security), "secure") << n << ": " << a.reason;
    EXPECT_EQ(a.canonname, std::string("t") + n + ".tgt.test");
  }
  Answer records = lookup("_25._tcp.t1.tgt.test", RrType::Tlsa);
  EXPECT_EQ(to_string(records.security), "insecure");
  EXPECT_TRUE(records.havedata);
  Answer nodata = lookup("_25._tcp.t2.tgt.test", RrType::Tlsa);
  EXPECT_EQ(to_string(nodata.security), "insecure");
  EXPECT_FALSE(nodata.havedata);
  EXPECT_FALSE(nodata.nxdomain);
  Answer nxdomain = lookup("_25._tcp.t3.tgt.test", RrType::Tlsa);
  EXPECT_EQ(to_string(nxdomain.security), "insecure");
  EXPECT_TRUE(nxdomain.nxdomain);
  Answer target = lookup("a4.corner.test", RrType::A); // through a secure alias into an unsigned zone
  EXPECT_EQ(to_string(target.security), "insecure");
  EXPECT_EQ(target.canonname, "mx.example.test");
}

struct AliasCase {
  std::string n;        // 1..4: bN.corner.test MX aN.corner.test
  std::string rejected; // the TLSA candidate at the expansion, as the reason names it; empty: not asked
  std::string label;    // the test name
};
void PrintTo(const AliasCase& c, std::ostream* os) {
  *os << c.label;
}

class AliasDecided : public CnameCorners, public ::testing::WithParamInterface<AliasCase> {};

TEST_P(AliasDecided, TlsaTakenAtTheSecureAliasMakesTheHostSecure) {
  const AliasCase& c = GetParam();
  auto f = eval("b" + c.n + ".corner.test");
  ASSERT_EQ(f.hosts.size(), 1u) << f.reason;
  const HostResult& h = f.hosts[0];
  EXPECT_EQ(h.name, "a" + c.n + ".corner.test");
  EXPECT_EQ(h.status, HostStatus::DaneUsable) << h.reason;
  EXPECT_EQ(h.tlsa_base, h.name);
  EXPECT_EQ(to_string(h.dnssec), "secure") << h.reason;
  const std::string used = "1 usable TLSA record at _25._tcp." + h.name;
  if (c.rejected.empty()) {
    EXPECT_EQ(h.reason, used);
  } else {
    EXPECT_EQ(h.reason, "TLSA lookup for " + c.rejected + " insecure; " + used);
  }
  EXPECT_EQ(f.outcome, DestinationOutcome::DaneOnly) << f.reason;
  // What an operator reads: `policy --json` (the verdict log's host objects are the same).
  CheckRun run = policyctl({"policy", "b" + c.n + ".corner.test", "--json"});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  nlohmann::json out = nlohmann::json::parse(run.out, nullptr, false);
  ASSERT_FALSE(out.is_discarded()) << run.out << run.err;
  ASSERT_EQ(out["hosts"].size(), 1u) << run.out;
  EXPECT_EQ(out["hosts"][0].value("dnssec", ""), "secure") << run.out;
  EXPECT_EQ(out["hosts"][0].value("status", ""), "dane") << run.out;
}

std::string alias_case_name(const ::testing::TestParamInfo<AliasCase>& param) {
  return param.param.label;
}

INSTANTIATE_TEST_SUITE_P(Rfc7672_2_2_2, AliasDecided,
                         ::testing::Values(AliasCase{"1", "_25._tcp.t1.tgt.test", "InsecureRecordsAtTheExpansion"},
                                           AliasCase{"2", "_25._tcp.t2.tgt.test", "InsecureNodataAtTheExpansion"},
                                           AliasCase{"3", "_25._tcp.t3.tgt.test", "InsecureNxdomainAtTheExpansion"},
                                           AliasCase{"4", "", "TargetInAnUnsignedZone"}),
                         alias_case_name);

} // namespace
} // namespace dane
