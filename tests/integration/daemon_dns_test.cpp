// Integration tests of the real dane-policyd binary against the DNSSEC rig:
// every row of the RFC 7672 decision table (docs/design.md §3) through the socketmap,
// tcp_table and policy delegation protocols, in native, pinned and monitor modes;
// parent and bracketed keys; cache expiry by TTL; background refresh of popular
// entries; coalescing; background probes and
// DANE-TA trust-anchor files; the DNS server going away (TEMP).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <thread>

#include <openssl/pem.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "daemon_process.hpp"
#include "dane/verifier/handles.hpp"
#include "dane/verifier/tlsa.hpp"
#include "dns_rig.hpp"
#include "files.hpp"
#include "process.hpp"
#include "smtp_server.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace dane::test {
namespace {

using namespace std::chrono_literals;

const std::string k_ee1 = "0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";
const std::string k_ee2 = "1111111111111111111111111111111111111111111111111111111111111111";
const std::string k_pkix = "2222222222222222222222222222222222222222222222222222222222222222";

std::unique_ptr<DnsRig> s_rig;
std::unique_ptr<SmtpServer> s_smtp;
std::string s_int_der_hex;    // the fixture intermediate CA, DER, hex
std::string s_int_sha256_hex; // its SHA-256
std::string s_int_pem;

X509Ptr read_cert(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    return nullptr;
  }
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::string lower_no_colons(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), ':'), s.end());
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The zone of the background-refresh test, with or without TLSA; TTL 1 s, so the
// daemon's libunbound asks nsd again whenever the daemon re-evaluates.
ZoneSpec refresh_zone(bool with_tlsa) {
  return {"refresh.test",
          "@ MX 10 mx\nmx A 127.0.0.2\n" + (with_tlsa ? "_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n" : std::string()),
          ZoneSigning::Signed, "", 1};
}

class DaemonDns : public ::testing::Test {
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
    auto der = selected_der(intermediate.get(), TlsaSelector::Cert);
    s_int_der_hex = to_hex(*der);
    s_int_sha256_hex = to_hex(*tlsa_digest(TlsaMatchingType::Sha2_256, *der));
    s_int_pem = read_text_file(pki + "int.crt");

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
    const std::string port = std::to_string(s_smtp->port());

    s_rig = std::make_unique<DnsRig>();
    // Every MX host has usable TLSA; one of them also has a record for port 2525.
    s_rig->add_zone({"all.test", "@ MX 10 mx1\n@ MX 20 mx2\nmx1 A 127.0.0.2\nmx2 A 127.0.0.3\n"
                                 "_25._tcp.mx1 TLSA 3 1 1 " +
                                     k_ee1 + "\n_25._tcp.mx2 TLSA 3 1 1 " + k_ee2 +
                                     "\n"
                                     "port A 127.0.0.4\n_2525._tcp.port TLSA 3 1 1 " +
                                     k_ee1 + "\n"});
    // Some hosts have TLSA, others not.
    s_rig->add_zone({"some.test", "@ MX 10 mx1\n@ MX 20 mx2\nmx1 A 127.0.0.2\nmx2 A 127.0.0.3\n"
                                  "_25._tcp.mx1 TLSA 3 1 1 " +
                                      k_ee1 + "\n"});
    // No host has TLSA (secure NODATA).
    s_rig->add_zone({"none.test", "@ MX 10 mx\nmx A 127.0.0.2\n"});
    // Insecure delegation: MX RRset insecure.
    s_rig->add_zone(
        {"insecure.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n", ZoneSigning::Unsigned});
    // Null MX (RFC 7505).
    s_rig->add_zone({"nullmx.test", "@ MX 0 .\n"});
    // Bogus (DS matches no key).
    s_rig->add_zone(
        {"bogus.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n", ZoneSigning::WrongDs});
    // Only unusable records (PKIX-EE): TLS required, no authentication.
    s_rig->add_zone({"unusable.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 1 1 1 " + k_pkix + "\n"});
    // The only host's TLSA RRset is bogus: every host failed.
    s_rig->add_zone({"tlsabogus.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n",
                     ZoneSigning::BadSignature, "_25._tcp.mx.tlsabogus.test. TLSA"});
    // One host's TLSA bogus, the other's fine: dane.
    s_rig->add_zone({"tlsahalf.test",
                     "@ MX 10 mx1\n@ MX 20 mx2\nmx1 A 127.0.0.2\nmx2 A 127.0.0.3\n"
                     "_25._tcp.mx1 TLSA 3 1 1 " +
                         k_ee1 + "\n_25._tcp.mx2 TLSA 3 1 1 " + k_ee2 + "\n",
                     ZoneSigning::BadSignature, "_25._tcp.mx1.tlsahalf.test. TLSA"});
    // The only host's address RRset is bogus.
    s_rig->add_zone({"addrbogus.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n",
                     ZoneSigning::BadSignature, "mx.addrbogus.test. A"});
    // MX secure, host in an insecure zone (and not a secure CNAME): no DANE for the host.
    s_rig->add_zone({"hostinsecure.test", "@ MX 10 mx.insecure.test.\n"});
    // MX host is a secure CNAME to an insecure target: TLSA at the original name.
    s_rig->add_zone({"cname.test", "@ MX 10 mx\nmx CNAME mx.insecure.test.\n_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n"});
    // DANE-TA with the full certificate (2 0 0) and with a digest only (2 0 1).
    s_rig->add_zone({"ta.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 2 0 0 " + s_int_der_hex + "\n"});
    s_rig->add_zone({"ta1.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 2 0 1 " + s_int_sha256_hex + "\n"});
    // The probe target: a real STARTTLS server whose chain is issued by the intermediate.
    s_rig->add_zone({"example.test",
                     "mx A " + s_smtp->address() + "\n_" + port + "._tcp.mx TLSA 2 0 1 " + s_int_sha256_hex + "\n"});
    // TTL tests.
    s_rig->add_zone({"short.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n",
                     ZoneSigning::Signed, "", 1});
    s_rig->add_zone({"long.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n"});
    s_rig->add_zone(refresh_zone(true));
    s_rig->add_lame_delegation("lame.test", LameKind::Refused);
    s_rig->add_lame_delegation("slow.test", LameKind::NoServer);
    DnsRig::start_or_fail(s_rig);
  }
  static void TearDownTestSuite() {
    s_rig.reset();
    s_smtp.reset();
  }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(s_rig != nullptr, DnsRig::missing_tools_message());
    DANE_REQUIRE_OR_SKIP(is_root(), "the daemon tests bind sockets as root and drop privileges");
    ::chmod(m_dir.path().c_str(), 0777);
  }

  std::string sock() const { return m_dir.path() + "/socketmap"; }
  std::string verdict_log() const { return m_dir.path() + "/verdicts.jsonl"; }

  std::unique_ptr<DaemonProcess> start(std::vector<std::string> args, int dns_timeout = 5) {
    auto rig_args = s_rig->cli_args(dns_timeout);
    args.insert(args.begin(), rig_args.begin(), rig_args.end());
    std::vector<std::string> base{"--socketmap", "unix:" + sock(), "--verdict-log",
                                  verdict_log(), "--state-dir",    m_dir.path() + "/state"};
    args.insert(args.begin(), base.begin(), base.end());
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

  // Verdict-log lines (waits until at least `count` are there).
  std::vector<nlohmann::json> verdicts(std::size_t count) {
    std::vector<std::string> lines;
    for (int i = 0; i < 1000; ++i) {
      lines = read_text_lines(verdict_log());
      if (lines.size() >= count) {
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    std::vector<nlohmann::json> out;
    for (const auto& l : lines) {
      out.push_back(nlohmann::json::parse(l));
    }
    return out;
  }

  TempDir m_dir{"daemon-dns"};
  std::unique_ptr<SocketmapClient> m_client;
};

// ---------------------------------------------------------------------------------------------------------
// The decision table, native mode, socketmap.

TEST_F(DaemonDns, NativeDecisionTable) {
  auto d = start({"--mode", "native"});
  ASSERT_TRUE(d);
  EXPECT_EQ(query("all.test"), "OK dane-only") << "every MX host has usable TLSA";
  EXPECT_EQ(query("some.test"), "OK dane") << "some hosts have usable TLSA, others not";
  EXPECT_EQ(query("none.test"), "NOTFOUND ") << "no host has TLSA";
  EXPECT_EQ(query("insecure.test"), "NOTFOUND ") << "MX RRset insecure";
  EXPECT_EQ(query("nullmx.test"), "NOTFOUND ") << "null MX";
  EXPECT_EQ(query("nothere.test"), "NOTFOUND ") << "secure NXDOMAIN";
  EXPECT_EQ(query("bogus.test").rfind("TEMP ", 0), 0u) << "MX lookup bogus";
  EXPECT_EQ(query("lame.test").rfind("TEMP ", 0), 0u) << "MX lookup SERVFAIL";
  EXPECT_EQ(query("unusable.test"), "OK dane") << "every record unusable: Postfix's dane gives encrypt";
  EXPECT_EQ(query("tlsabogus.test").rfind("TEMP ", 0), 0u) << "every host's TLSA lookup failed";
  EXPECT_EQ(query("tlsahalf.test"), "OK dane") << "one host failed, the other has usable TLSA";
  EXPECT_EQ(query("addrbogus.test").rfind("TEMP ", 0), 0u) << "host address lookup bogus";
  EXPECT_EQ(query("hostinsecure.test"), "NOTFOUND ") << "host address insecure: no DANE for it";
  EXPECT_EQ(query("cname.test"), "OK dane-only") << "secure CNAME to an insecure target: TLSA at the alias";
  EXPECT_EQ(query("ta.test"), "OK dane-only") << "DANE-TA is usable TLSA";

  auto lines = verdicts(15);
  ASSERT_EQ(lines.size(), 15u) << "one verdict line per evaluation";
  for (const auto& j : lines) {
    for (const char* field : {"time", "destination", "mode", "policy", "answer", "reason", "cached", "hosts"}) {
      EXPECT_TRUE(j.contains(field)) << field << " missing in " << j.dump();
    }
    EXPECT_EQ(j["mode"], "native");
    EXPECT_EQ(j["cached"], false);
  }
  EXPECT_EQ(lines[0]["destination"], "all.test");
  EXPECT_EQ(lines[0]["policy"], "dane-only");
  EXPECT_EQ(lines[0]["answer"], "OK dane-only");
  ASSERT_EQ(lines[0]["hosts"].size(), 2u);
  EXPECT_EQ(lines[0]["hosts"][0]["name"], "mx1.all.test");
  EXPECT_EQ(lines[0]["hosts"][0]["dnssec"], "secure");
  EXPECT_EQ(lines[0]["hosts"][0]["tlsa"][0], "3 1 1 " + k_ee1);
  EXPECT_EQ(lines[6]["policy"], "tempfail");
  auto s = stats();
  EXPECT_EQ(s["answers"]["tempfail"], 4);
  EXPECT_EQ(s["dns_failures"], 4);
  EXPECT_TRUE(d->wait_for_output("verdict destination=\"all.test\" mode=native policy=dane-only"))
      << "one summary line per evaluation";
}

TEST_F(DaemonDns, ParentAndBracketedKeys) {
  auto d = start({});
  ASSERT_TRUE(d);
  EXPECT_EQ(query(".all.test"), "NOTFOUND ") << "Postfix's parent-domain probe";
  EXPECT_EQ(query(".test"), "NOTFOUND ");
  EXPECT_EQ(query("[mx1.all.test]"), "OK dane-only") << "this host, no MX lookup";
  EXPECT_EQ(query("[mx.none.test]"), "NOTFOUND ");
  EXPECT_EQ(query("[port.all.test]:2525"), "OK dane-only") << "TLSA at _2525._tcp";
  EXPECT_EQ(query("[port.all.test]"), "NOTFOUND ") << "no TLSA at _25._tcp";
  EXPECT_EQ(query("[mx1.all.test]:2525"), "NOTFOUND ");
  EXPECT_EQ(query("ALL.Test"), "OK dane-only") << "keys are case-insensitive";
  EXPECT_EQ(stats()["evaluations"], 6) << "parent keys need no evaluation; ALL.Test is all.test";
}

TEST_F(DaemonDns, PinnedDecisionTable) {
  auto d = start({"--mode", "pinned"});
  ASSERT_TRUE(d);
  std::string all = query("all.test");
  ASSERT_EQ(all.rfind("OK fingerprint match=", 0), 0u) << all;
  EXPECT_NE(lower_no_colons(all).find(k_ee1), std::string::npos) << all;
  EXPECT_NE(lower_no_colons(all).find(k_ee2), std::string::npos) << all;
  EXPECT_EQ(all.find("sha256:"), std::string::npos) << "Postfix rejects a sha256: prefix";
  EXPECT_EQ(query("some.test"), "OK dane");
  EXPECT_EQ(query("none.test"), "NOTFOUND ");
  EXPECT_EQ(query("insecure.test"), "NOTFOUND ");
  EXPECT_EQ(query("bogus.test").rfind("TEMP ", 0), 0u);
  EXPECT_EQ(query("tlsabogus.test").rfind("TEMP ", 0), 0u);
  EXPECT_EQ(query("unusable.test"), "OK encrypt");

  // DANE-TA 2 0 0: a trust-anchor file from the record data, in the state directory.
  std::string ta = query("ta.test");
  ASSERT_EQ(ta.rfind("OK secure tafile=", 0), 0u) << ta;
  std::string path = ta.substr(std::string("OK secure tafile=").size());
  path = path.substr(0, path.find(' '));
  EXPECT_EQ(path.rfind(m_dir.path() + "/state/ta-", 0), 0u) << path;
  EXPECT_EQ(read_text_file(path), s_int_pem) << "the PEM of the 2 0 0 record's certificate";
  EXPECT_NE(ta.find("match="), std::string::npos) << ta;
  EXPECT_NE(ta.find("mx.ta.test"), std::string::npos) << ta;
  // DANE-TA 2 0 1 without a probe: no certificate to anchor -> dane-only.
  EXPECT_EQ(query("ta1.test"), "OK dane-only");
}

TEST_F(DaemonDns, MonitorModeAlwaysAnswersNotFoundAndLogsTheRealVerdict) {
  auto d = start({"--mode", "monitor", "--log-cache-hits"});
  ASSERT_TRUE(d);
  EXPECT_EQ(query("all.test"), "NOTFOUND ");
  EXPECT_EQ(query("bogus.test"), "NOTFOUND ");
  EXPECT_EQ(query("all.test"), "NOTFOUND ");
  auto lines = verdicts(3);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["mode"], "monitor");
  EXPECT_EQ(lines[0]["would_answer"], "OK dane-only");
  EXPECT_EQ(lines[0]["cached"], false);
  EXPECT_EQ(lines[1]["would_answer"].get<std::string>().rfind("TEMP ", 0), 0u);
  EXPECT_EQ(lines[2]["cached"], true) << "--log-cache-hits logs hits too";
}

TEST_F(DaemonDns, TcpTableAnswers) {
  auto d = start({"--tcp-table", "inet:127.0.0.1:0"});
  ASSERT_TRUE(d);
  auto port = d->tcp_port("tcp_table");
  ASSERT_TRUE(port) << d->output();
  auto c = RawClient::tcp("127.0.0.1", *port);
  ASSERT_TRUE(c) << c.error();
  TcpTableClient table(std::move(*c));
  EXPECT_EQ(*table.get("all.test"), "200 dane-only");
  EXPECT_EQ(*table.get("some.test"), "200 dane");
  EXPECT_EQ(table.get("none.test")->rfind("500 ", 0), 0u);
  EXPECT_EQ(table.get("bogus.test")->rfind("400 ", 0), 0u) << "DNS failure: try again, never not-found";
  EXPECT_EQ(table.get(".all.test")->rfind("500 ", 0), 0u);
  EXPECT_EQ(*table.get("[port.all.test]:2525"), "200 dane-only");
}

TEST_F(DaemonDns, PolicyDelegationFailureActions) {
  struct Case {
    const char* action;
    const char* expected_prefix;
  };
  for (const Case& c : {Case{"dunno", "DUNNO"}, Case{"defer_if_permit", "DEFER_IF_PERMIT 4.7.5 "},
                        Case{"warn", "WARN "}, Case{"prepend", "PREPEND X-DANE-Policy: "}}) {
    TempDir dir("daemon-policy");
    std::string path = dir.path() + "/policy";
    auto rig_args = s_rig->cli_args(5);
    std::vector<std::string> args{"--policy-service", "unix:" + path, "--policy-failure-action", c.action};
    args.insert(args.end(), rig_args.begin(), rig_args.end());
    auto d = DaemonProcess::start(args);
    ASSERT_TRUE(d) << d.error();
    auto rc = RawClient::unix_socket(path);
    ASSERT_TRUE(rc);
    PolicyClient policy(std::move(*rc));
    EXPECT_EQ(*policy.ask_recipient("someone@all.test"), "DUNNO") << c.action;
    EXPECT_EQ(*policy.ask_recipient("someone@none.test"), "DUNNO") << c.action;
    std::string failed = *policy.ask_recipient("someone@bogus.test");
    EXPECT_EQ(failed.rfind(c.expected_prefix, 0), 0u) << c.action << ": " << failed;
    if (failed != "DUNNO") {
      EXPECT_NE(failed.find("bogus.test"), std::string::npos) << failed;
    }
    EXPECT_EQ(*policy.ask({{"request", "smtpd_access_policy"}, {"protocol_state", "CONNECT"}}), "DUNNO")
        << "no recipient: nothing to judge";
    if (std::string(c.action) == "dunno") {
      EXPECT_TRUE((*d)->wait_for_output("policy-tempfail destination=bogus.test action=DUNNO"));
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Cache and coalescing.

TEST_F(DaemonDns, CacheFollowsTheDnsTtl) {
  auto d = start({"--cache-min-ttl", "0"});
  ASSERT_TRUE(d);
  EXPECT_EQ(query("short.test"), "OK dane-only");
  EXPECT_EQ(query("long.test"), "OK dane-only");
  // Both zones lose their TLSA records.
  ASSERT_TRUE(s_rig->replace_zone({"short.test", "@ MX 10 mx\nmx A 127.0.0.2\n", ZoneSigning::Signed, "", 1}));
  ASSERT_TRUE(s_rig->replace_zone({"long.test", "@ MX 10 mx\nmx A 127.0.0.2\n"}));
  // short.test (TTL 1 s) is re-evaluated once its entry expires ...
  std::string answer;
  for (int i = 0; i < 600 && (answer = query("short.test")) == "OK dane-only"; ++i) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(answer, "NOTFOUND ");
  // ... while long.test (TTL 300 s) is still served from the cache.
  EXPECT_EQ(query("long.test"), "OK dane-only");
  auto s = stats();
  EXPECT_GE(s["cache"]["hits"].get<int>(), 1);
  EXPECT_GE(s["evaluations"].get<int>(), 3);
  // Restore the zones for the other tests.
  ASSERT_TRUE(s_rig->replace_zone({"short.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n",
                                   ZoneSigning::Signed, "", 1}));
  ASSERT_TRUE(s_rig->replace_zone({"long.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + k_ee1 + "\n"}));
}

TEST_F(DaemonDns, CacheRefreshReevaluatesPopularEntriesBeforeTheyExpire) {
  // Every answer lives 6 s in the cache (the zone's TTL is 1 s, clamped up). With
  // --cache-refresh, a hit on a popular entry in the last tenth of its life (from
  // 5.4 s on) starts a background re-evaluation while the cached answer is served.
  auto d = start({"--cache-refresh", "--cache-min-ttl", "6", "--cache-max-ttl", "6"});
  ASSERT_TRUE(d);
  ASSERT_EQ(query("refresh.test"), "OK dane-only");
  ASSERT_EQ(stats()["cache"]["misses"], 1);

  // One cycle: change the zone, then keep asking (a popular entry) until the new answer
  // appears. It proves the refresh when no request missed the cache meanwhile: then
  // every request was answered from the cache, and only a background re-evaluation can
  // have brought the change. (A request that misses means the test was stalled through
  // the whole refresh window and the entry expired; then the next cycle tries again,
  // changing the zone back. Nothing here depends on how fast anything runs.)
  bool with_tlsa = true;
  bool proved = false;
  for (int cycle = 0; cycle < 4 && !proved; ++cycle) {
    with_tlsa = !with_tlsa;
    const std::string expected = with_tlsa ? "OK dane-only" : "NOTFOUND ";
    const std::string old_answer = with_tlsa ? "NOTFOUND " : "OK dane-only";
    auto before = stats();
    ASSERT_TRUE(s_rig->replace_zone(refresh_zone(with_tlsa)));
    std::string answer;
    for (int i = 0; i < 3000 && (answer = query("refresh.test")) != expected; ++i) {
      ASSERT_TRUE(answer == old_answer || answer.rfind("TEMP ", 0) == 0) << answer;
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(answer, expected) << "the zone change never became visible; " << d->output();
    auto after = stats();
    if (after["cache"]["misses"] != before["cache"]["misses"] ||
        after["cache"]["coalesced"] != before["cache"]["coalesced"]) {
      continue; // the entry expired before (or while) a refresh ran: a request waited
    }
    proved = true;
    EXPECT_GE(after["cache"]["refreshes"].get<int>(), before["cache"]["refreshes"].get<int>() + 1) << after.dump();
    EXPECT_GE(after["evaluations"].get<int>(), before["evaluations"].get<int>() + 1) << after.dump();
    EXPECT_GT(after["cache"]["hits"].get<int>(), before["cache"]["hits"].get<int>());
    // The refresh is an evaluation like any other: one verdict line with the new answer.
    auto lines = verdicts(after["evaluations"].get<std::size_t>());
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines.back()["destination"], "refresh.test");
    EXPECT_EQ(lines.back()["answer"], expected);
    EXPECT_EQ(lines.back()["cached"], false);
  }
  EXPECT_TRUE(proved) << "four cycles, and in every one a request missed the cache";
  ASSERT_TRUE(s_rig->replace_zone(refresh_zone(true)));
}

void hundred_concurrent(const std::string& path, const std::string& key, std::vector<std::string>& answers) {
  std::vector<SocketmapClient> clients;
  for (int i = 0; i < 100; ++i) {
    auto c = RawClient::unix_socket(path);
    ASSERT_TRUE(c) << c.error();
    clients.emplace_back(std::move(*c));
  }
  for (auto& c : clients) {
    ASSERT_TRUE(c.send_query("tlspolicy", key));
  }
  for (auto& c : clients) {
    auto r = c.read_reply();
    answers.push_back(r ? *r : "error: " + r.error());
  }
}

TEST_F(DaemonDns, HundredConcurrentIdenticalRequestsMakeOneEvaluation) {
  // No cache at all: only coalescing can merge them. slow.test takes the whole
  // --dns-timeout, so all 100 arrive while the first evaluation runs.
  auto d = start({"--cache-size", "0"}, /*dns_timeout=*/10);
  ASSERT_TRUE(d);
  std::vector<std::string> answers;
  hundred_concurrent(sock(), "mx.slow.test", answers);
  ASSERT_EQ(answers.size(), 100u);
  for (const auto& a : answers) {
    EXPECT_EQ(a.rfind("TEMP ", 0), 0u) << a;
  }
  auto s = stats();
  EXPECT_EQ(s["evaluations"], 1);
  EXPECT_EQ(s["cache"]["coalesced"], 99);
  EXPECT_EQ(verdicts(1).size(), 1u) << "one verdict line for the one evaluation";
}

TEST_F(DaemonDns, HundredConcurrentIdenticalRequestsWithTheCacheOnMakeOneEvaluation) {
  // A fast answer: requests that arrive while the evaluation runs are coalesced, the
  // later ones are cache hits. Either way the DNS sees one evaluation. (This needs its
  // own daemon with the cache on: with --cache-size 0 a request arriving after the
  // first evaluation finished starts a second one, which is correct behaviour.)
  auto d = start({});
  ASSERT_TRUE(d);
  std::vector<std::string> answers;
  hundred_concurrent(sock(), "all.test", answers);
  EXPECT_EQ(std::count(answers.begin(), answers.end(), "OK dane-only"), 100);
  auto s = stats();
  EXPECT_EQ(s["evaluations"], 1);
  EXPECT_EQ(s["cache"]["coalesced"].get<int>() + s["cache"]["hits"].get<int>(), 99) << s.dump();
}

// ---------------------------------------------------------------------------------------------------------
// Probes and pinned DANE-TA from a captured certificate.

TEST_F(DaemonDns, ProbeLogsEveryAddressAndAnchorsDaneTaInPinnedMode) {
  const std::string key = "[mx.example.test]:" + std::to_string(s_smtp->port());
  auto d = start({"--mode", "pinned", "--probe", "--cache-min-ttl", "0", "--cache-max-ttl", "1"});
  ASSERT_TRUE(d);
  EXPECT_EQ(query(key), "OK dane-only") << "2 0 1 and no captured certificate yet";
  // The probe runs in the background and logs one more line with the addresses.
  nlohmann::json probe_line;
  for (int i = 0; i < 1000 && probe_line.is_null(); ++i) {
    for (const auto& j : verdicts(1)) {
      if (j.value("event", "") == "probe") {
        probe_line = j;
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_FALSE(probe_line.is_null()) << d->output();
  ASSERT_EQ(probe_line["hosts"].size(), 1u);
  ASSERT_EQ(probe_line["hosts"][0]["addresses"].size(), 1u);
  const auto& a = probe_line["hosts"][0]["addresses"][0];
  EXPECT_EQ(a["address"], s_smtp->address());
  EXPECT_EQ(a["port"], s_smtp->port());
  EXPECT_EQ(a["result"], "pass") << probe_line.dump();
  EXPECT_EQ(a["matched"], "2 0 1 " + s_int_sha256_hex);
  EXPECT_EQ(a["depth"], 1);
  EXPECT_EQ(probe_line["answer"], "OK dane-only") << "a probe never changes the answer it logs";
  // Once the cached answer expires, the captured certificate makes a trust-anchor file.
  std::string answer;
  for (int i = 0; i < 600 && (answer = query(key)) == "OK dane-only"; ++i) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(answer.rfind("OK secure tafile=", 0), 0u) << answer;
  std::string path = answer.substr(std::string("OK secure tafile=").size());
  path = path.substr(0, path.find(' '));
  EXPECT_EQ(lower_no_colons(read_text_file(path)), lower_no_colons(s_int_pem));
  EXPECT_EQ(stats()["probe_rounds"], 1) << "at most one probe round per destination per TLSA TTL";
}

// ---------------------------------------------------------------------------------------------------------
// The DNS server goes away (keep this test last: it stops and restarts the rig).

TEST_F(DaemonDns, DnsServerKilledMidTestGivesTemp) {
  auto d = start({}, /*dns_timeout=*/2);
  ASSERT_TRUE(d);
  EXPECT_EQ(query("all.test"), "OK dane-only");
  s_rig->stop();
  std::string some = query("some.test");
  EXPECT_EQ(some.rfind("TEMP ", 0), 0u) << some;
  EXPECT_EQ(query("all.test"), "OK dane-only") << "still cached";
  auto lines = verdicts(2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1]["policy"], "tempfail");
  ASSERT_TRUE(s_rig->start());
}

} // namespace
} // namespace dane::test
