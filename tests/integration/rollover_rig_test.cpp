// `dane-policyctl rollover` end to end: the real dane-policyctl binary ($DANE_POLICYCTL) against signed zones served by
// nsd on loopback (validated by libunbound through --unbound-config) and a real STARTTLS server
// presenting the current or the next certificate. Walks every step (publish, wait with the TTL not
// yet elapsed, swap, swap again while the server still presents the old key, remove, done) and the
// refusals (same key, matches neither, old record gone while the old key is live, bogus, insecure,
// SERVFAIL), the state file, usage errors, and the certbot deploy hook in contrib/certbot/.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <openssl/pem.h>

#include "dane/verifier/handles.hpp"
#include "dane/verifier/tlsa.hpp"
#include "dns_rig.hpp"
#include "process.hpp"
#include "smtp_server.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace {

using dane::test::DnsRig;
using dane::test::SmtpServer;
using dane::test::ZoneSigning;
using dane::test::ZoneSpec;
using json = nlohmann::json;

std::string pki(const std::string& name) {
  return std::string(DANE_TEST_DATA_DIR) + "/pki/" + name;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// SHA-256 of a certificate's SPKI (selector 1) or of the certificate (selector 0), computed here
// independently of the library (i2d_PUBKEY / i2d_X509 + EVP_Digest).
std::string digest_hex(const std::string& pem_file, int selector) {
  dane::BioPtr bio(BIO_new_file(pem_file.c_str(), "r"));
  if (!bio) {
    return "cannot-open";
  }
  dane::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return "cannot-parse";
  }
  unsigned char* der = nullptr;
  int len = selector == 1 ? i2d_PUBKEY(X509_get0_pubkey(cert.get()), &der) : i2d_X509(cert.get(), &der);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_Digest(der, static_cast<std::size_t>(len), md, &md_len, EVP_sha256(), nullptr);
  OPENSSL_free(der);
  return dane::to_hex(std::span<const std::uint8_t>(md, md_len));
}

struct CmdResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  json j; // parsed stdout when --json was given (null otherwise)
};

// Runs argv with stdout and stderr kept apart (extra_env: "NAME=VALUE" strings); the process group is
// killed after `limit`.
CmdResult run_cmd(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {},
                  std::chrono::seconds limit = std::chrono::seconds(90)) {
  dane::test::RunOptions options;
  options.timeout = limit;
  for (const auto& e : extra_env) {
    auto eq = e.find('=');
    options.env.emplace_back(e.substr(0, eq), eq == std::string::npos ? "" : e.substr(eq + 1));
  }
  dane::test::ProcessResult p = dane::test::run_process(argv, options);
  EXPECT_FALSE(p.timed_out) << "timed out: " << argv[0];
  CmdResult r;
  r.exit_code = p.exit_code;
  r.out = std::move(p.output);
  r.err = std::move(p.error_output);
  if (std::find(argv.begin(), argv.end(), "--json") != argv.end()) {
    r.j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(r.j.is_discarded()) << "stdout is not JSON:\n" << r.out << "\nstderr:\n" << r.err;
  }
  return r;
}

std::string describe(const CmdResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

class RolloverRig : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available()) {
      return;
    }
    s_p256 = digest_hex(pki("leaf-p256.crt"), 1);
    s_rsa = digest_hex(pki("leaf-rsa.crt"), 1);
    s_p384 = digest_hex(pki("leaf-p384.crt"), 1);
    s_int = digest_hex(pki("int.crt"), 1);
    s_address = dane::test::unique_loopback_address();
    dane::test::SmtpServerOptions options;
    options.address = s_address;
    options.key_file = pki("leaf-p256.key");
    options.chain_file = pki("leaf-p256.chain.pem");
    try {
      s_server = std::make_unique<SmtpServer>(options);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "SMTP server: " << e.what();
      return;
    }
    s_port = std::to_string(s_server->port());
    s_rig = std::make_unique<DnsRig>();
    for (const char* zone : {"example.test", "hook.test"}) {
      s_rig->add_zone({zone, zone_text({s_p256})});
    }
    s_rig->add_zone({"neither.test", zone_text({s_p384})});
    s_rig->add_zone({"gone.test", zone_text({s_rsa})});
    s_rig->add_zone({"same.test", zone_text({s_p256})});
    s_rig->add_zone({"early.test", zone_text({s_p256, s_rsa})});
    s_rig->add_zone({"cname.test", "mx A " + s_address + "\n_" + s_port +
                                       "._tcp.mx CNAME _dane.mx\n_dane.mx TLSA 3 1 1 " + s_p256 +
                                       "\n_dane.mx TLSA 3 1 1 " + s_rsa + "\n"});
    s_rig->add_zone(
        {"bogus.test", zone_text({s_p256}), ZoneSigning::BadSignature, "_" + s_port + "._tcp.mx.bogus.test. TLSA"});
    s_rig->add_zone({"insecure.test", zone_text({s_p256}), ZoneSigning::Unsigned});
    if (dane::test::is_root()) {
      s_rig->add_lame_delegation("lame.test");
    }
    DnsRig::start_or_fail(s_rig);
  }
  static void TearDownTestSuite() {
    s_rig.reset();
    s_server.reset();
  }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(s_rig != nullptr && s_server != nullptr, DnsRig::missing_tools_message());
    const char* ctl = std::getenv("DANE_POLICYCTL");
    DANE_REQUIRE_OR_SKIP(ctl != nullptr, "DANE_POLICYCTL is not set (run through ctest)");
    m_policyctl = ctl;
    m_tmp = std::make_unique<dane::test::TempDir>("rollover-rig");
    m_dir = m_tmp->path();
    s_server->set_credentials(pki("leaf-p256.key"), pki("leaf-p256.chain.pem"));
  }
  void TearDown() override { m_tmp.reset(); }

  // Zone text: the MX host's address and its TLSA RRset (3 1 1 records of the given SPKI digests).
  static std::string zone_text(const std::vector<std::string>& spki_digests) {
    std::string text = "mx A " + s_address + "\n";
    for (const auto& d : spki_digests) {
      text += "_" + s_port + "._tcp.mx TLSA 3 1 1 " + d + "\n";
    }
    return text;
  }
  static std::string line(const std::string& zone, const std::string& tlsa) {
    return "_" + s_port + "._tcp.mx." + zone + ". IN TLSA " + tlsa;
  }

  // dane-policyctl rollover --current p256 --next rsa --host mx.ZONE --port PORT --state-file ... --json
  CmdResult rollover(const std::string& zone, const std::vector<std::string>& extra = {},
                     const std::string& current = pki("leaf-p256.chain.pem"),
                     const std::string& next = pki("leaf-rsa.chain.pem")) {
    std::vector<std::string> argv{m_policyctl,    "rollover",   "--current",       current,  "--next",
                                  next,           "--host",     "mx." + zone,      "--port", s_port,
                                  "--state-file", state_file(), "--probe-timeout", "5"};
    for (const auto& a : s_rig->cli_args()) {
      argv.push_back(a);
    }
    bool text = false;
    for (const auto& a : extra) {
      text = text || a == "--text";
      if (a != "--text") {
        argv.push_back(a);
      }
    }
    if (!text) {
      argv.push_back("--json");
    }
    return run_cmd(argv);
  }
  std::string state_file() const { return m_dir + "/state.json"; }

  // Moves every first-seen time in the state file `by` into the past (what waiting would do).
  void age_state(std::chrono::seconds by) {
    json st = json::parse(read_file(state_file()));
    for (auto& r : st["records"]) {
      r["first_seen"] = r["first_seen"].get<long long>() - by.count();
    }
    // The authoritative servers' clocks age with the records (the nsd serves the set since then too).
    for (auto& r : st["servers"]) {
      r["first_seen"] = r["first_seen"].get<long long>() - by.count();
    }
    write_file(state_file(), st.dump(2));
  }

  static inline std::unique_ptr<DnsRig> s_rig;
  static inline std::unique_ptr<SmtpServer> s_server;
  static inline std::string s_address, s_port, s_p256, s_rsa, s_p384, s_int;
  std::string m_policyctl;
  std::unique_ptr<dane::test::TempDir> m_tmp;
  std::string m_dir;
};

TEST_F(RolloverRig, WalksEveryStepFromPublishToDone) {
  // 1. Only the current record: publish the next one, with the issuer's 2 1 1 as alternative.
  auto r = rollover("example.test");
  ASSERT_EQ(r.exit_code, 4) << describe(r);
  EXPECT_EQ(r.j["step"], "publish");
  EXPECT_EQ(r.j["dnssec"], "secure");
  EXPECT_EQ(r.j["tlsa_name"], "_" + s_port + "._tcp.mx.example.test.");
  EXPECT_EQ(r.j["add"], json::array({line("example.test", "3 1 1 " + s_rsa)}));
  ASSERT_EQ(r.j["alternatives"].size(), 1u);
  EXPECT_EQ(r.j["alternatives"][0].get<std::string>().rfind(line("example.test", "2 1 1 " + s_int), 0), 0u)
      << r.j["alternatives"][0];
  ASSERT_EQ(r.j["servers"].size(), 1u);
  EXPECT_EQ(r.j["servers"][0]["address"], s_address);
  EXPECT_EQ(r.j["servers"][0]["presents"], "current");
  EXPECT_EQ(r.j["current_records"], json::array({"3 1 1 " + s_p256}));

  // The same step in text form names the step and prints the exact zone line.
  auto text = rollover("example.test", {"--text"});
  EXPECT_EQ(text.exit_code, 4) << describe(text);
  EXPECT_EQ(text.out.rfind("step: publish\n", 0), 0u) << text.out;
  EXPECT_NE(text.out.find("  " + line("example.test", "3 1 1 " + s_rsa) + "\n"), std::string::npos) << text.out;

  // 2. Both published: the TTL (300 s) has not elapsed since the next record was first seen.
  ASSERT_TRUE(s_rig->replace_zone({"example.test", zone_text({s_p256, s_rsa})}).has_value());
  r = rollover("example.test", {"--interval", "0"});
  ASSERT_EQ(r.exit_code, 4) << describe(r);
  EXPECT_EQ(r.j["step"], "wait");
  EXPECT_EQ(r.j["ttl"], 300);
  EXPECT_EQ(r.j["required_wait_seconds"], 300);
  EXPECT_EQ(r.j["remaining_wait_seconds"], 300) << "first seen by this very run";
  EXPECT_EQ(r.j["next_first_seen"], r.j["now"]);
  const std::string first_seen = r.j["next_first_seen"];

  // The default interval (24 h) is longer than the TTL; the first-seen time survives in the state file.
  r = rollover("example.test");
  ASSERT_EQ(r.exit_code, 4) << describe(r);
  EXPECT_EQ(r.j["step"], "wait");
  EXPECT_EQ(r.j["required_wait_seconds"], 86400);
  EXPECT_EQ(r.j["next_first_seen"], first_seen);
  EXPECT_TRUE(r.j["remaining_wait_seconds"].is_number());

  // 3. Long enough (301 s later, with --interval 0): swap now.
  age_state(std::chrono::seconds(301));
  r = rollover("example.test", {"--interval", "0"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.j["step"], "swap");
  EXPECT_TRUE(r.j["remaining_wait_seconds"].is_null());
  EXPECT_EQ(r.j["servers"][0]["presents"], "current");

  // The operator has not installed the next certificate yet: still swap, never remove.
  r = rollover("example.test", {"--interval", "0"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.j["step"], "swap");
  EXPECT_EQ(r.j["remove"], json::array());

  // 4. The server presents the next key: delete the old record.
  s_server->set_credentials(pki("leaf-rsa.key"), pki("leaf-rsa.chain.pem"));
  r = rollover("example.test", {"--interval", "0"});
  ASSERT_EQ(r.exit_code, 4) << describe(r);
  EXPECT_EQ(r.j["step"], "remove");
  EXPECT_EQ(r.j["servers"][0]["presents"], "next");
  EXPECT_EQ(r.j["remove"], json::array({line("example.test", "3 1 1 " + s_p256)}));

  // 5. Old record gone, next key live: done.
  ASSERT_TRUE(s_rig->replace_zone({"example.test", zone_text({s_rsa})}).has_value());
  r = rollover("example.test", {"--interval", "0"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.j["step"], "done");
  EXPECT_EQ(r.j["next_records"], json::array({"3 1 1 " + s_rsa}));
}

TEST_F(RolloverRig, NextKeyLiveTooEarlyWaitsWithWarning) {
  // Both records published, first seen just now, and the server already presents the next key.
  s_server->set_credentials(pki("leaf-rsa.key"), pki("leaf-rsa.chain.pem"));
  auto r = rollover("early.test");
  ASSERT_EQ(r.exit_code, 4) << describe(r);
  EXPECT_EQ(r.j["step"], "wait");
  EXPECT_EQ(r.j["servers"][0]["presents"], "next");
  bool warned = false;
  for (const auto& n : r.j["notes"]) {
    warned = warned || n.get<std::string>().find("already presents the next certificate") != std::string::npos;
  }
  EXPECT_TRUE(warned) << r.j["notes"];
}

// A TLSA owner that is a CNAME: the authoritative servers are asked for the records at the CNAME target
// (the name that changes in a rollover), so the wait ends and `swap` comes.
TEST_F(RolloverRig, CnamedTlsaIsCheckedAtItsTarget) {
  auto r = rollover("cname.test", {"--interval", "0"});
  ASSERT_EQ(r.exit_code, 4) << describe(r);
  EXPECT_EQ(r.j["step"], "wait") << describe(r);
  ASSERT_EQ(r.j["authoritative_checked"], true) << describe(r);
  ASSERT_FALSE(r.j["authoritative_servers"].empty()) << describe(r);
  for (const auto& server : r.j["authoritative_servers"]) {
    EXPECT_EQ(server["serves_intended"], true) << describe(r);
    EXPECT_EQ(server["signature_valid"], true) << describe(r);
  }
  age_state(std::chrono::seconds(301));
  r = rollover("cname.test", {"--interval", "0"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.j["step"], "swap") << describe(r);
}

TEST_F(RolloverRig, OldRecordGoneWhileOldKeyLiveIsRefused) {
  auto r = rollover("gone.test");
  ASSERT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_EQ(r.j["step"], "refuse");
  EXPECT_EQ(r.j["refusal"], "live-key-unpublished");
  EXPECT_EQ(r.j["add"], json::array({line("gone.test", "3 1 1 " + s_p256)}));
  // Once the server presents the next key, the same RRset means done.
  s_server->set_credentials(pki("leaf-rsa.key"), pki("leaf-rsa.chain.pem"));
  r = rollover("gone.test");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.j["step"], "done");
}

TEST_F(RolloverRig, PublishedRrsetMatchingNeitherIsRefused) {
  auto r = rollover("neither.test");
  ASSERT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_EQ(r.j["step"], "refuse");
  EXPECT_EQ(r.j["refusal"], "matches-neither");
  EXPECT_NE(r.j["message"].get<std::string>().find("3 1 1 " + s_p384), std::string::npos) << r.j["message"];
}

TEST_F(RolloverRig, SameKeyIsNothingToRoll) {
  // A re-issued certificate for the current key (signed here by the fixture intermediate).
  dane::BioPtr kbio(BIO_new_file(pki("leaf-p256.key").c_str(), "r"));
  dane::EvpPkeyPtr key(PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr));
  dane::BioPtr ibio(BIO_new_file(pki("int.key").c_str(), "r"));
  dane::EvpPkeyPtr int_key(PEM_read_bio_PrivateKey(ibio.get(), nullptr, nullptr, nullptr));
  dane::BioPtr cbio(BIO_new_file(pki("int.crt").c_str(), "r"));
  dane::X509Ptr int_cert(PEM_read_bio_X509(cbio.get(), nullptr, nullptr, nullptr));
  ASSERT_TRUE(key && int_key && int_cert);
  dane::X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 4242);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("mx.example.test"), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(int_cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600L * 24 * 30);
  X509_set_pubkey(cert.get(), key.get());
  ASSERT_GT(X509_sign(cert.get(), int_key.get(), EVP_sha256()), 0);
  const std::string reissued = m_dir + "/reissued.pem";
  {
    dane::BioPtr out(BIO_new_file(reissued.c_str(), "w"));
    ASSERT_EQ(PEM_write_bio_X509(out.get(), cert.get()), 1);
  }
  auto r = rollover("same.test", {}, pki("leaf-p256.chain.pem"), reissued);
  ASSERT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_EQ(r.j["step"], "refuse");
  EXPECT_EQ(r.j["refusal"], "same-key");
  EXPECT_NE(r.j["message"].get<std::string>().find("same public key"), std::string::npos);

  // The very same certificate twice.
  r = rollover("same.test", {}, pki("leaf-p256.crt"), pki("leaf-p256.chain.pem"));
  ASSERT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_EQ(r.j["refusal"], "same-key");
}

TEST_F(RolloverRig, BogusTlsaIsTemporaryFailure) {
  auto r = rollover("bogus.test");
  ASSERT_EQ(r.exit_code, 3) << describe(r);
  EXPECT_EQ(r.j["step"], "refuse");
  EXPECT_EQ(r.j["refusal"], "dnssec-bogus");
  EXPECT_EQ(r.j["dnssec"], "bogus");
  EXPECT_EQ(r.j["servers"], json::array()) << "no probe against an untrusted RRset";
  EXPECT_FALSE(std::filesystem::exists(state_file())) << "a bogus answer starts no clock";
}

TEST_F(RolloverRig, InsecureTlsaIsRefused) {
  auto r = rollover("insecure.test");
  ASSERT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_EQ(r.j["step"], "refuse");
  EXPECT_EQ(r.j["refusal"], "insecure");
  EXPECT_EQ(r.j["dnssec"], "insecure");
}

TEST_F(RolloverRig, ServfailIsTemporaryFailure) {
  DANE_REQUIRE_OR_SKIP(dane::test::is_root(), "a REFUSED lame delegation needs port 53 (root)");
  auto r = rollover("lame.test");
  ASSERT_EQ(r.exit_code, 3) << describe(r);
  EXPECT_EQ(r.j["step"], "refuse");
  EXPECT_EQ(r.j["refusal"], "dns-failed");
  EXPECT_EQ(r.j["dnssec"], "error");
}

TEST_F(RolloverRig, CorruptStateFileRestartsTheClock) {
  // A truncated write: the clock restarts (the full interval again), and the file is rewritten.
  write_file(state_file(), "{\"version\":1,\"host\":");
  auto r = rollover("early.test");
  ASSERT_EQ(r.exit_code, 4) << describe(r);
  EXPECT_EQ(r.j["step"], "wait");
  EXPECT_EQ(r.j["remaining_wait_seconds"], 86400);
  EXPECT_NE(r.err.find("state file " + state_file() + " is corrupt (not valid JSON)"), std::string::npos) << r.err;
  json st = json::parse(read_file(state_file()), nullptr, false);
  ASSERT_FALSE(st.is_discarded()) << read_file(state_file());
  EXPECT_EQ(st["host"], "mx.early.test");
  EXPECT_EQ(st["records"].size(), 2u);
}

TEST_F(RolloverRig, UsageErrorsExitTwo) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--next", pki("leaf-rsa.crt"), "--host", "mx.example.test"}, "--current is required"},
      {{"--current", pki("leaf-p256.crt"), "--next", pki("leaf-rsa.crt")}, "--host is required"},
      {{"--current", m_dir + "/missing.pem", "--next", pki("leaf-rsa.crt"), "--host", "mx.example.test"},
       "missing.pem"},
      {{"--current", pki("leaf-p256.key"), "--next", pki("leaf-rsa.crt"), "--host", "mx.example.test"},
       "no certificate found"},
      {{"--current", pki("leaf-p256.crt"), "--next", pki("leaf-rsa.crt"), "--host", "mx.example.test", "--interval",
        "-1"},
       "--interval"},
      {{"--current", pki("leaf-p256.crt"), "--next", pki("leaf-rsa.crt"), "--host", "127.0.0.1"}, "not an address"},
      {{"--current", pki("leaf-p256.crt"), "--next", pki("leaf-rsa.crt"), "--host", "mx.example.test", "--port", "0"},
       "--port"},
      {{"--current", pki("leaf-p256.crt"), "--next", pki("leaf-rsa.crt"), "--host", "mx.example.test", "--bogus"},
       "bogus"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv{m_policyctl, "rollover"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    auto r = run_cmd(argv);
    EXPECT_EQ(r.exit_code, 2) << describe(r);
    EXPECT_NE(r.err.find(c.says), std::string::npos) << c.says << "\n" << describe(r);
  }
}

// The certbot deploy hook: installs the renewed certificate only once `swap` is safe, then reports
// the old record to delete, then cleans up when done.
TEST_F(RolloverRig, CertbotHookInstallsOnlyWhenSafe) {
  const std::string hook = std::string(DANE_SOURCE_DIR) + "/contrib/certbot/dane-rollover-hook.sh";
  const std::string lineage = m_dir + "/live";
  const std::string install = m_dir + "/postfix-tls";
  std::filesystem::create_directories(lineage);
  std::filesystem::create_directories(install);
  std::filesystem::copy_file(pki("leaf-rsa.chain.pem"), lineage + "/fullchain.pem");
  std::filesystem::copy_file(pki("leaf-rsa.key"), lineage + "/privkey.pem");
  std::filesystem::copy_file(pki("leaf-p256.chain.pem"), install + "/fullchain.pem");
  std::filesystem::copy_file(pki("leaf-p256.key"), install + "/key.pem");
  std::string resolver_opts;
  for (const auto& a : s_rig->cli_args()) {
    resolver_opts += a + " ";
  }
  const std::vector<std::string> env = {
      "RENEWED_LINEAGE=" + lineage,
      "RENEWED_DOMAINS=mx.hook.test",
      "DANE_PORT=" + s_port,
      "DANE_INSTALL_DIR=" + install,
      "DANE_RELOAD_CMD=echo reload >> " + m_dir + "/reloads",
      "DANE_INTERVAL=0",
      "DANE_STATE_FILE=" + state_file(),
      "DANE_RESOLVER_OPTS=" + resolver_opts,
      "DANE_POLICYCTL=" + m_policyctl,
  };
  auto hook_run = [&] { return run_cmd({"bash", hook}, env); };
  const std::string p256_chain = read_file(pki("leaf-p256.chain.pem"));
  const std::string rsa_chain = read_file(pki("leaf-rsa.chain.pem"));

  // publish: nothing installed, the line to add is printed.
  auto r = hook_run();
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find(line("hook.test", "3 1 1 " + s_rsa)), std::string::npos) << describe(r);
  EXPECT_EQ(read_file(install + "/fullchain.pem"), p256_chain);
  EXPECT_FALSE(std::filesystem::exists(m_dir + "/reloads"));

  // wait: both records, TTL not elapsed: still nothing installed.
  ASSERT_TRUE(s_rig->replace_zone({"hook.test", zone_text({s_p256, s_rsa})}).has_value());
  r = hook_run();
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("step wait"), std::string::npos) << describe(r);
  EXPECT_EQ(read_file(install + "/fullchain.pem"), p256_chain);

  // swap: installs, reloads, keeps the previous chain; the test server still shows the old key.
  age_state(std::chrono::seconds(301));
  r = hook_run();
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(read_file(install + "/fullchain.pem"), rsa_chain);
  EXPECT_EQ(read_file(install + "/key.pem"), read_file(pki("leaf-rsa.key")));
  EXPECT_EQ(read_file(install + "/previous-fullchain.pem"), p256_chain);
  EXPECT_EQ(read_file(m_dir + "/reloads"), "reload\n");

  // remove: the server now presents the next key (as Postfix would after the reload).
  s_server->set_credentials(pki("leaf-rsa.key"), pki("leaf-rsa.chain.pem"));
  r = hook_run();
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("step remove"), std::string::npos) << describe(r);
  EXPECT_NE(r.out.find(line("hook.test", "3 1 1 " + s_p256)), std::string::npos) << describe(r);

  // done: old record deleted; the hook forgets the previous certificate.
  ASSERT_TRUE(s_rig->replace_zone({"hook.test", zone_text({s_rsa})}).has_value());
  r = hook_run();
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("step done"), std::string::npos) << describe(r);
  EXPECT_FALSE(std::filesystem::exists(install + "/previous-fullchain.pem"));
  EXPECT_EQ(read_file(m_dir + "/reloads"), "reload\n") << "installed exactly once";
}

} // namespace
