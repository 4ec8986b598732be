// The CLI says exactly what the daemon answers (docs/design.md): for every destination of this
// DNSSEC rig, `dane-policyctl policy KEY --mode pinned --state-dir DIR` prints the answer that a real
// `dane-policyd --mode pinned --state-dir DIR` gives over socketmap, byte for byte (trust-anchor file
// paths included: both use the one TrustAnchorStore over DIR). Then the same with probe-captured
// anchors: a DANE-TA `2 0 1` destination served by a real STARTTLS server on loopback, which the
// daemon's probe captures; afterwards both answer `OK secure tafile=...` with the same file.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include <openssl/pem.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "daemon_process.hpp"
#include "dane/verifier/handles.hpp"
#include "dane/verifier/tlsa.hpp"
#include "dns_rig.hpp"
#include "smtp_server.hpp"
#include "test_env.hpp"

namespace dane::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string k_ee1 = "0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";
const std::string k_ee2 = "1111111111111111111111111111111111111111111111111111111111111111";
const std::string k_pkix = "2222222222222222222222222222222222222222222222222222222222222222";

std::unique_ptr<DnsRig> s_rig;
std::unique_ptr<SmtpServer> s_smtp;
std::string s_int_der_hex;
std::string s_int_sha256_hex;
std::string s_int_spki_hex;

// Lookup keys of every destination in the rig (and the key forms Postfix sends).
std::vector<std::string> rig_keys() {
  return {"all.test",       "[mx1.all.test]",    "[port.all.test]:2525",
          ".all.test",      "some.test",         "none.test",
          "insecure.test",  "nullmx.test",       "bogus.test",
          "unusable.test",  "tlsabogus.test",    "tlsahalf.test",
          "addrbogus.test", "hostinsecure.test", "cname.test",
          "ee0.test",       "ee512.test",        "eeta.test",
          "ta.test",        "taspki.test",       "ta1.test",
          "ta2.test",       "nxdomain.test",     "lame.test",
          "[127.0.0.1]"};
}

std::string capture_key() {
  return "[mx.example.test]:" + std::to_string(s_smtp->port());
}

void add_zones(DnsRig& rig) {
  const std::string port = std::to_string(s_smtp->port());
  const std::string mx1 = "@ MX 10 mx\nmx A 127.0.0.2\n";
  rig.add_zone({"all.test", "@ MX 10 mx1\n@ MX 20 mx2\nmx1 A 127.0.0.2\nmx2 A 127.0.0.3\n"
                            "_25._tcp.mx1 TLSA 3 1 1 " +
                                k_ee1 + "\n_25._tcp.mx2 TLSA 3 1 1 " + k_ee2 +
                                "\n"
                                "port A 127.0.0.4\n_2525._tcp.port TLSA 3 1 1 " +
                                k_ee1 + "\n"});
  rig.add_zone({"some.test", "@ MX 10 mx1\n@ MX 20 mx2\nmx1 A 127.0.0.2\nmx2 A 127.0.0.3\n"
                             "_25._tcp.mx1 TLSA 3 1 1 " +
                                 k_ee1 + "\n"});
  rig.add_zone({"none.test", mx1});
  rig.add_zone({"insecure.test", mx1 + "_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n", ZoneSigning::Unsigned});
  rig.add_zone({"nullmx.test", "@ MX 0 .\n"});
  rig.add_zone({"bogus.test", mx1 + "_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n", ZoneSigning::WrongDs});
  rig.add_zone({"unusable.test", mx1 + "_25._tcp.mx TLSA 1 1 1 " + k_pkix + "\n"});
  rig.add_zone({"tlsabogus.test", mx1 + "_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n", ZoneSigning::BadSignature,
                "_25._tcp.mx.tlsabogus.test. TLSA"});
  rig.add_zone({"tlsahalf.test",
                "@ MX 10 mx1\n@ MX 20 mx2\nmx1 A 127.0.0.2\nmx2 A 127.0.0.3\n"
                "_25._tcp.mx1 TLSA 3 1 1 " +
                    k_ee1 + "\n_25._tcp.mx2 TLSA 3 1 1 " + k_ee2 + "\n",
                ZoneSigning::BadSignature, "_25._tcp.mx1.tlsahalf.test. TLSA"});
  rig.add_zone({"addrbogus.test", mx1 + "_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n", ZoneSigning::BadSignature,
                "mx.addrbogus.test. A"});
  rig.add_zone({"hostinsecure.test", "@ MX 10 mx.insecure.test.\n"});
  rig.add_zone({"cname.test", "@ MX 10 mx\nmx CNAME mx.insecure.test.\n_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n"});
  // DANE-EE forms that pinned mode converts (3 x 0 hashed, 3 x 2 not the sha256 digest) or refuses to mix.
  rig.add_zone({"ee0.test", mx1 + "_25._tcp.mx TLSA 3 1 0 " + s_int_spki_hex + "\n"});
  rig.add_zone({"ee512.test", mx1 + "_25._tcp.mx TLSA 3 1 2 " + std::string(128, 'a') + "\n"});
  rig.add_zone(
      {"eeta.test", mx1 + "_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n_25._tcp.mx TLSA 2 0 0 " + s_int_der_hex + "\n"});
  // DANE-TA: full certificate, full public key, digests only (no server to capture from).
  rig.add_zone({"ta.test", mx1 + "_25._tcp.mx TLSA 2 0 0 " + s_int_der_hex + "\n"});
  rig.add_zone({"taspki.test", mx1 + "_25._tcp.mx TLSA 2 1 0 " + s_int_spki_hex + "\n"});
  rig.add_zone({"ta1.test", mx1 + "_25._tcp.mx TLSA 2 0 1 " + s_int_sha256_hex + "\n"});
  rig.add_zone({"ta2.test", mx1 + "_25._tcp.mx TLSA 2 0 2 " + std::string(128, 'b') + "\n"});
  // The capture target: a real STARTTLS server whose chain is issued by the intermediate (its
  // certificate names mx.example.test).
  rig.add_zone(
      {"example.test", "mx A " + s_smtp->address() + "\n_" + port + "._tcp.mx TLSA 2 0 1 " + s_int_sha256_hex + "\n"});
  rig.add_lame_delegation("lame.test", LameKind::Refused);
}

X509Ptr read_cert(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  return bio ? X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) : nullptr;
}

class PinnedParity : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available()) {
      return;
    }
    const std::string pki = std::string(DANE_TEST_DATA_DIR) + "/pki/";
    X509Ptr intermediate = read_cert(pki + "int.crt");
    if (!intermediate) {
      ADD_FAILURE() << "cannot read " << pki << "int.crt";
      return;
    }
    s_int_der_hex = to_hex(*selected_der(intermediate.get(), TlsaSelector::Cert));
    s_int_spki_hex = to_hex(*selected_der(intermediate.get(), TlsaSelector::Spki));
    s_int_sha256_hex =
        to_hex(*tlsa_digest(TlsaMatchingType::Sha2_256, *selected_der(intermediate.get(), TlsaSelector::Cert)));
    SmtpServerOptions smtp;
    smtp.address = unique_loopback_address();
    smtp.key_file = pki + "leaf-p256.key";
    smtp.chain_file = pki + "leaf-p256.chain.pem";
    try {
      s_smtp = std::make_unique<SmtpServer>(smtp);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "SMTP test server: " << e.what();
      return;
    }
    s_rig = std::make_unique<DnsRig>();
    add_zones(*s_rig);
    DnsRig::start_or_fail(s_rig);
  }
  static void TearDownTestSuite() {
    s_rig.reset();
    s_smtp.reset();
  }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(s_rig != nullptr, DnsRig::missing_tools_message());
    DANE_REQUIRE_OR_SKIP(is_root(), "the daemon binds sockets as root and drops privileges");
    ::chmod(m_dir.path().c_str(), 0777);
  }

  std::string sock() const { return m_dir.path() + "/socketmap"; }
  std::string state_dir() const { return m_dir.path() + "/state"; }

  std::unique_ptr<DaemonProcess> start(std::vector<std::string> args) {
    auto rig_args = s_rig->cli_args();
    args.insert(args.end(), rig_args.begin(), rig_args.end());
    std::vector<std::string> base{"--socketmap", "unix:" + sock(), "--mode",       "pinned",
                                  "--state-dir", state_dir(),      "--cache-size", "0"};
    args.insert(args.begin(), base.begin(), base.end());
    auto d = DaemonProcess::start(args);
    EXPECT_TRUE(d) << (d ? "" : d.error());
    return d ? std::move(*d) : nullptr;
  }

  std::string daemon_answer(const std::string& key) {
    auto c = RawClient::unix_socket(sock());
    if (!c) {
      return "connect failed: " + c.error();
    }
    SocketmapClient client(std::move(*c));
    auto r = client.query("tlspolicy", key);
    return r ? *r : "error: " + r.error();
  }

  // The CLI's answer (its --json "answer" field) and exit status.
  std::pair<std::string, int> cli_answer(const std::string& key) {
    const char* ctl = std::getenv("DANE_POLICYCTL");
    std::vector<std::string> argv{ctl != nullptr ? ctl : DANE_BINARY_DIR "/bin/dane-policyctl",
                                  "policy",
                                  key,
                                  "--mode",
                                  "pinned",
                                  "--state-dir",
                                  state_dir(),
                                  "--json"};
    auto rig_args = s_rig->cli_args();
    argv.insert(argv.end(), rig_args.begin(), rig_args.end());
    ProcessResult r = run_process(argv, 60s, /*merge_stderr=*/false);
    try {
      return {nlohmann::json::parse(r.output).at("answer").get<std::string>(), r.exit_code};
    } catch (const std::exception& e) {
      return {"unparsable CLI output (" + std::string(e.what()) + "): " + r.output + r.error_output, r.exit_code};
    }
  }

  DaemonTempDir m_dir{"dane-parity"};
};

TEST_F(PinnedParity, CliAndDaemonGiveTheSameAnswerForEveryRigDestination) {
  auto d = start({});
  ASSERT_TRUE(d);
  std::size_t secure = 0;
  for (const std::string& key : rig_keys()) {
    const std::string daemon = daemon_answer(key);
    auto [cli, status] = cli_answer(key);
    EXPECT_EQ(cli, daemon) << key;
    EXPECT_EQ(status, daemon.starts_with("TEMP ") ? 3 : 0) << key << ": " << cli;
    secure += daemon.starts_with("OK secure tafile=" + state_dir() + "/ta-") ? 1 : 0;
  }
  EXPECT_EQ(secure, 2u) << "ta.test and taspki.test are anchored from their records";
  // The table is not vacuous: it spans every answer kind.
  EXPECT_EQ(daemon_answer("all.test").rfind("OK fingerprint match=", 0), 0u);
  EXPECT_EQ(daemon_answer("some.test"), "OK dane");
  EXPECT_EQ(daemon_answer("unusable.test"), "OK encrypt");
  EXPECT_EQ(daemon_answer("ta1.test"), "OK dane-only");
  EXPECT_EQ(daemon_answer("none.test"), "NOTFOUND ");
  EXPECT_EQ(daemon_answer("bogus.test").rfind("TEMP 4.7.5 ", 0), 0u);
}

TEST_F(PinnedParity, CliSeesTheAnchorsTheDaemonsProbeCaptured) {
  const std::string key = capture_key();
  {
    // Before any probe: both dane-only (a digest-only DANE-TA record and no anchor).
    auto d = start({});
    ASSERT_TRUE(d);
    EXPECT_EQ(daemon_answer(key), "OK dane-only");
    EXPECT_EQ(cli_answer(key).first, "OK dane-only");
  }
  auto d = start({"--probe"});
  ASSERT_TRUE(d);
  EXPECT_EQ(daemon_answer(key), "OK dane-only") << "the probe runs after the answer";
  // Wait for the probe to capture the certificate (it runs in the background).
  std::string answer;
  for (int i = 0; i < 600 && !(answer = daemon_answer(key)).starts_with("OK secure"); ++i) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(answer.rfind("OK secure tafile=" + state_dir() + "/ta-", 0), 0u) << answer << "\n" << d->output();
  EXPECT_EQ(cli_answer(key).first, answer) << "the CLI reads the captured anchor from the state directory";
  // Every other destination still agrees, with the captured anchor in the store.
  for (const std::string& other : rig_keys()) {
    EXPECT_EQ(cli_answer(other).first, daemon_answer(other)) << other;
  }
  // A daemon restarted over the same state directory knows the anchor without probing again.
  d.reset();
  auto again = start({});
  ASSERT_TRUE(again);
  EXPECT_EQ(daemon_answer(key), answer);
}

} // namespace
} // namespace dane::test
