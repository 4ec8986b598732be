// `dane-policyctl rollover --publish` and the DNS UPDATE library (dane/tools/dns_update.hpp) against a real
// Knot DNS primary (automatic DNSSEC signing, TSIG update ACL) and a Knot secondary (NOTIFY + transfer),
// delegated with a DS from the DnsRig's signed `test.` zone, so the validating resolver sees the zone as
// secure. Both servers are asked directly for the result. Cases: publish by update (the record appears,
// signed, at the primary and the secondary), remove (only the next record remains), a wrong secret
// (BADSIG named, nothing changed), a key no update rule allows (BADKEY named, nothing changed), a stale
// prerequisite (the RRset changed: nothing changed, temporary), an update server that refuses the
// connection and one that takes the update and never answers (time limit), a bad key file (exit 2), and
// the whole walk publish -> wait -> swap -> remove -> done with a live STARTTLS server.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>

#include "dane/core/fd.hpp"
#include "dane/core/text.hpp"
#include "dane/tools/dns_update.hpp"
#include "dane/tools/rollover.hpp"
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

std::string pki(const std::string& name) {
  return std::string(DANE_TEST_DATA_DIR) + "/pki/" + name;
}

std::string spki_sha256(const std::string& file) {
  auto records = dane::tools::certificate_records_from_file(pki(file));
  return records ? records->spki_sha256 : "cannot-read-" + file;
}

dane::TlsaRecord record_of(const std::string& hex_digest) {
  dane::TlsaRecord r;
  for (std::size_t i = 0; i + 1 < hex_digest.size(); i += 2) {
    r.data.push_back(static_cast<std::uint8_t>(std::stoi(hex_digest.substr(i, 2), nullptr, 16)));
  }
  return r;
}

class RolloverPublish : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!KnotRig::tools_available() || !DnsRig::tools_available()) {
      return;
    }
    s_current = spki_sha256("leaf-p256.crt");
    // mx2: a real STARTTLS server for the whole walk (publish, wait, swap, remove, done).
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
    s_walk_owner = "_" + std::to_string(s_smtp->port()) + "._tcp.mx2.pub.test";
    s_knot = std::make_unique<KnotRig>("pub.test", "mx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + s_current + "\nmx2 A " +
                                                       s_smtp_address + "\n" + s_walk_owner + ". TLSA 3 1 1 " +
                                                       s_current + "\n");
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
    m_tmp = std::make_unique<dane::test::TempDir>("rollover-publish");
  }

  // The TLSA data (lowercase hex) `address` serves at the owner, and whether an RRSIG TLSA came with it.
  static std::vector<std::string> served(const std::string& address, bool& signed_rrset,
                                         const std::string& owner = k_owner) {
    auto lines = s_knot->query(address, owner, "TLSA");
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

  // Waits (generous deadline) until `address` serves exactly `expected` (sorted), signed.
  static bool serves_exactly(const std::string& address, std::vector<std::string> expected,
                             const std::string& owner = k_owner) {
    std::sort(expected.begin(), expected.end());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      bool signed_rrset = false;
      if (served(address, signed_rrset, owner) == expected && signed_rrset) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  static std::vector<std::string> served_now(const std::string& address) {
    bool signed_rrset = false;
    return served(address, signed_rrset);
  }

  dane::test::ProcessResult rollover(const std::string& next, std::vector<std::string> extra) {
    std::vector<std::string> argv = {m_policyctl,
                                     "rollover",
                                     "--current",
                                     pki("leaf-p256.crt"),
                                     "--next",
                                     pki(next),
                                     "--host",
                                     "mx.pub.test",
                                     "--no-probe",
                                     "--interval",
                                     "0",
                                     "--json",
                                     "--state-file",
                                     m_tmp->file("state-" + next + ".json")};
    for (const auto& a : s_rig->cli_args(3)) {
      argv.push_back(a);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    dane::test::RunOptions options;
    options.timeout = std::chrono::seconds(60);
    return dane::test::run_process(argv, options);
  }

  static dane::tools::TsigKey key(KnotRig::Key which) {
    auto k = dane::tools::load_tsig_key_file(s_knot->key_file(which));
    EXPECT_TRUE(k) << k.error();
    return k ? *k : dane::tools::TsigKey{};
  }

  static dane::tools::UpdateServer primary() { return {s_knot->primary_address(), 53}; }

  static constexpr const char* k_owner = "_25._tcp.mx.pub.test";
  static inline std::unique_ptr<KnotRig> s_knot;
  static inline std::unique_ptr<DnsRig> s_rig;
  static inline std::string s_current;
  static inline std::unique_ptr<dane::test::SmtpServer> s_smtp;
  static inline std::string s_smtp_address;
  static inline std::string s_walk_owner;
  std::string m_policyctl;
  std::unique_ptr<dane::test::TempDir> m_tmp;
};

// Runs first (gtest keeps definition order): the zone holds only the current record.
TEST_F(RolloverPublish, PublishByUpdateReachesPrimaryAndSecondarySignedThenRemoveLeavesOnlyNext) {
  const std::string next = spki_sha256("leaf-rsa.crt");
  auto r = rollover("leaf-rsa.crt", {"--publish", "--tsig-key", s_knot->key_file(KnotRig::Key::Update)});
  ASSERT_EQ(r.exit_code, 4) << r.output << r.error_output;
  auto j = json::parse(r.output);
  EXPECT_EQ(j["step"], "publish");
  EXPECT_EQ(j["dnssec"], "secure") << r.output; // the Knot-signed zone validates through the DnsRig's DS
  ASSERT_TRUE(j["update"].is_object()) << r.output;
  EXPECT_EQ(j["update"]["ok"], true) << r.output;
  EXPECT_EQ(j["update"]["zone"], "pub.test");
  // No --update-server: the SOA MNAME (ns1.pub.test) is the primary.
  EXPECT_EQ(j["update"]["server"], s_knot->primary_address() + "@53");
  EXPECT_TRUE(serves_exactly(s_knot->primary_address(), {s_current, next})) << s_knot->logs();
  EXPECT_TRUE(serves_exactly(s_knot->secondary_address(), {s_current, next})) << s_knot->logs();

  // The next run sees both records (validated): wait/swap, no update sent.
  auto again = rollover("leaf-rsa.crt", {"--publish", "--tsig-key", s_knot->key_file(KnotRig::Key::Update)});
  auto j2 = json::parse(again.output);
  EXPECT_NE(j2["step"], "publish") << again.output;
  EXPECT_TRUE(j2["update"].is_null()) << again.output;

  // Remove: delete exactly the old record while the RRset is the one seen.
  dane::tools::TlsaUpdate remove;
  remove.action = dane::tools::UpdateAction::Remove;
  remove.zone = "pub.test";
  remove.owner = k_owner;
  remove.seen = {record_of(s_current), record_of(next)};
  remove.change = {record_of(s_current)};
  auto result = dane::tools::send_tlsa_update(remove, key(KnotRig::Key::Update), primary(), std::chrono::seconds(5));
  EXPECT_EQ(result.outcome, dane::tools::UpdateOutcome::Applied) << result.message;
  EXPECT_TRUE(serves_exactly(s_knot->primary_address(), {next})) << s_knot->logs();
  EXPECT_TRUE(serves_exactly(s_knot->secondary_address(), {next})) << s_knot->logs();

  // Put the current record back for the other cases (same prerequisite logic, publish direction).
  dane::tools::TlsaUpdate restore;
  restore.zone = "pub.test";
  restore.owner = k_owner;
  restore.ttl = 5;
  restore.seen = {record_of(next)};
  restore.change = {record_of(s_current)};
  EXPECT_EQ(
      dane::tools::send_tlsa_update(restore, key(KnotRig::Key::Update), primary(), std::chrono::seconds(5)).outcome,
      dane::tools::UpdateOutcome::Applied);
  EXPECT_TRUE(serves_exactly(s_knot->primary_address(), {s_current, next}));
  EXPECT_TRUE(serves_exactly(s_knot->secondary_address(), {s_current, next}));
}

TEST_F(RolloverPublish, WrongSecretIsNamedBadsigAndChangesNothing) {
  const auto before = served_now(s_knot->primary_address());
  auto r = rollover("leaf-p384.crt", {"--publish", "--tsig-key", s_knot->key_file(KnotRig::Key::UpdateWrongSecret)});
  EXPECT_EQ(r.exit_code, 1) << r.output << r.error_output;
  EXPECT_NE(r.error_output.find("BADSIG"), std::string::npos) << r.error_output << r.output;
  EXPECT_NE(r.error_output.find(s_knot->primary_address() + "@53"), std::string::npos) << r.error_output;
  auto j = json::parse(r.output, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.output;
  EXPECT_EQ(j["update"]["ok"], false);
  EXPECT_EQ(j["update"]["tsig_error"], "BADSIG");
  EXPECT_EQ(j["exit_code"], 1) << r.output;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(served_now(s_knot->primary_address()), before);
}

TEST_F(RolloverPublish, KeyWithoutUpdateRuleIsNamedAndChangesNothing) {
  const auto before = served_now(s_knot->primary_address());
  dane::tools::TlsaUpdate u;
  u.zone = "pub.test";
  u.owner = k_owner;
  u.ttl = 5;
  u.seen = {};
  for (const auto& hex : before) {
    u.seen.push_back(record_of(hex));
  }
  u.change = {record_of(spki_sha256("leaf-p384.crt"))};
  auto result = dane::tools::send_tlsa_update(u, key(KnotRig::Key::Other), primary(), std::chrono::seconds(5));
  EXPECT_EQ(result.outcome, dane::tools::UpdateOutcome::Rejected) << result.message;
  EXPECT_EQ(result.tsig_error, "BADKEY") << result.message;
  EXPECT_FALSE(result.temporary);
  EXPECT_NE(result.message.find("NOTAUTH"), std::string::npos) << result.message;
  EXPECT_NE(result.message.find(s_knot->primary_address()), std::string::npos) << result.message;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(served_now(s_knot->primary_address()), before);
}

TEST_F(RolloverPublish, StalePrerequisiteChangesNothing) {
  const auto before = served_now(s_knot->primary_address());
  dane::tools::TlsaUpdate u;
  u.zone = "pub.test";
  u.owner = k_owner;
  u.ttl = 5;
  u.seen = {record_of(spki_sha256("leaf-ed25519.crt"))}; // not what the zone holds
  u.change = {record_of(spki_sha256("leaf-p384.crt"))};
  auto result = dane::tools::send_tlsa_update(u, key(KnotRig::Key::Update), primary(), std::chrono::seconds(5));
  EXPECT_EQ(result.outcome, dane::tools::UpdateOutcome::Rejected) << result.message;
  EXPECT_TRUE(result.rcode == "NXRRSET" || result.rcode == "YXRRSET") << result.message;
  EXPECT_TRUE(result.temporary);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(served_now(s_knot->primary_address()), before);
}

TEST_F(RolloverPublish, SilentUpdateServerIsAClearTemporaryError) {
  // An address where nothing listens (UDP: no answer or port unreachable); --dns-timeout 3 bounds it.
  const std::string silent = dane::test::unique_loopback_address() + "@53";
  auto r = rollover("leaf-p384.crt",
                    {"--publish", "--tsig-key", s_knot->key_file(KnotRig::Key::Update), "--update-server", silent});
  EXPECT_EQ(r.exit_code, 3) << r.output << r.error_output;
  EXPECT_NE(r.error_output.find("no answer"), std::string::npos) << r.error_output;
  EXPECT_NE(r.error_output.find(silent), std::string::npos) << r.error_output;
}

TEST_F(RolloverPublish, UpdateServerThatNeverAnswersTimesOutWithAClearError) {
  // A UDP socket that takes the update and never answers: the time limit (--dns-timeout 3) ends the wait.
  dane::Fd sink(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof sa;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
  ASSERT_EQ(::bind(sink.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
  ASSERT_EQ(::getsockname(sink.get(), reinterpret_cast<sockaddr*>(&sa), &length), 0);
  const std::string server = "127.0.0.1@" + std::to_string(ntohs(sa.sin_port));
  const auto before = served_now(s_knot->primary_address());
  auto r = rollover("leaf-p384.crt",
                    {"--publish", "--tsig-key", s_knot->key_file(KnotRig::Key::Update), "--update-server", server});
  EXPECT_EQ(r.exit_code, 3) << r.output << r.error_output;
  EXPECT_NE(r.error_output.find("no answer (timed out"), std::string::npos) << r.error_output;
  EXPECT_NE(r.error_output.find(server), std::string::npos) << r.error_output;
  EXPECT_EQ(served_now(s_knot->primary_address()), before);
}

TEST_F(RolloverPublish, BadKeyFileIsAnInputError) {
  const std::string bad = m_tmp->file("bad.key");
  dane::test::write_text_file_or_throw(bad, "key \"upd\" { algorithm hmac-sha256; secret \"not*base64\"; };\n");
  auto r = rollover("leaf-p384.crt", {"--publish", "--tsig-key", bad});
  EXPECT_EQ(r.exit_code, 2) << r.output << r.error_output;
  EXPECT_NE(r.error_output.find(bad), std::string::npos) << r.error_output;
  auto no_key = rollover("leaf-p384.crt", {"--publish"});
  EXPECT_EQ(no_key.exit_code, 2) << no_key.error_output;
  EXPECT_NE(no_key.error_output.find("--tsig-key"), std::string::npos) << no_key.error_output;
}

// The whole rollover by update with a real STARTTLS server: publish -> wait -> swap -> (server switched)
// remove -> done; at every step the published set (at both servers) matches the presented key.
TEST_F(RolloverPublish, WholeRolloverByUpdateWithALiveServer) {
  const std::string next = spki_sha256("leaf-rsa.crt");
  const std::string port = std::to_string(s_smtp->port());
  auto run = [&]() {
    std::vector<std::string> argv = {m_policyctl,
                                     "rollover",
                                     "--current",
                                     pki("leaf-p256.crt"),
                                     "--next",
                                     pki("leaf-rsa.crt"),
                                     "--host",
                                     "mx2.pub.test",
                                     "--port",
                                     port,
                                     "--address",
                                     s_smtp_address,
                                     "--interval",
                                     "0",
                                     "--json",
                                     "--state-file",
                                     m_tmp->file("walk.json"),
                                     "--publish",
                                     "--tsig-key",
                                     s_knot->key_file(KnotRig::Key::Update)};
    for (const auto& a : s_rig->cli_args(3)) {
      argv.push_back(a);
    }
    auto r = dane::test::run_process(argv, dane::test::RunOptions{});
    auto j = json::parse(r.output, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.output << r.error_output;
    return j;
  };
  auto j = run();
  ASSERT_EQ(j["step"], "publish") << j.dump(2);
  ASSERT_EQ(j["update"]["ok"], true) << j.dump(2);
  ASSERT_TRUE(serves_exactly(s_knot->primary_address(), {s_current, next}, s_walk_owner)) << s_knot->logs();
  ASSERT_TRUE(serves_exactly(s_knot->secondary_address(), {s_current, next}, s_walk_owner)) << s_knot->logs();

  // wait (TTL 5 s, --interval 0) until swap; no update is sent meanwhile.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  do {
    j = run();
    EXPECT_TRUE(j["update"].is_null()) << j.dump(2);
    if (j["step"] == "swap") {
      break;
    }
    ASSERT_TRUE(j["step"] == "publish" || j["step"] == "wait") << j.dump(2);
    std::this_thread::sleep_for(std::chrono::seconds(1));
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(j["step"], "swap") << j.dump(2);

  s_smtp->set_credentials(pki("leaf-rsa.key"), pki("leaf-rsa.chain.pem"));
  j = run();
  ASSERT_EQ(j["step"], "remove") << j.dump(2);
  ASSERT_EQ(j["update"]["action"], "remove") << j.dump(2);
  ASSERT_EQ(j["update"]["ok"], true) << j.dump(2);
  ASSERT_TRUE(serves_exactly(s_knot->primary_address(), {next}, s_walk_owner)) << s_knot->logs();
  ASSERT_TRUE(serves_exactly(s_knot->secondary_address(), {next}, s_walk_owner)) << s_knot->logs();

  j = run();
  EXPECT_EQ(j["step"], "done") << j.dump(2);
  EXPECT_EQ(j["exit_code"], 0);
  EXPECT_TRUE(j["update"].is_null());
}

} // namespace
