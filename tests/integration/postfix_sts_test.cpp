// End-to-end MTA-STS: a real Postfix sender asks a running dane-policyd --mta-sts for its TLS policy
// (socketmap) and delivers to a real Postfix receiving MX on loopback. The destinations live in an
// unsigned zone of the DNS rig (no DANE), each with an `_mta-sts` TXT record and a real HTTPS policy
// server (127.0.16.20-22:443, certificates made at test time under the fixture CA). The sender resolves
// MX records through its own non-validating unbound on loopback (a private /etc/resolv.conf) and
// validates the MX certificates itself with smtp_tls_CAfile = the fixture root, as `secure` needs.
// Cases: an enforce destination whose MX presents a certificate valid for its name is delivered over
// "Verified TLS"; an enforce destination whose MX presents a certificate that is not PKIX-valid is
// deferred; a testing destination with the same bad certificate is delivered, and the verdict log
// records mode testing. `dane-policyctl check --mta-sts` probes the same MX hosts with PKIX (pass,
// cert-untrusted, and mx-mismatch for an MX host the policy does not allow) and `policy --mta-sts --json`
// shows the sts object. Root, Postfix and the rig's tools are needed (DANE_REQUIRE_OR_SKIP).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon_process.hpp"
#include "dns_rig.hpp"
#include "files.hpp"
#include "https_server.hpp"
#include "postfix_instance.hpp"
#include "process.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"
#include "test_pki.hpp"

namespace dane::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* k_policy_path = "/.well-known/mta-sts.txt";

struct Destination {
  std::string label; // <label>.pfsts.test
  std::string https; // the policy server's address
  std::string mode;  // the policy's mode
  bool good_cert;    // the MX presents a certificate valid for its name under the fixture CA
  std::string mx_address;
  std::string extra_mx; // a second MX host (preference 20) outside the policy's patterns; "" = none
};

std::string domain_of(const std::string& label) {
  return label + ".pfsts.test";
}

std::string re_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) {
      out += '\\';
    }
    out += c;
  }
  return out;
}

struct Rig {
  std::vector<Destination> destinations;
  std::unique_ptr<TempDir> work;
  std::unique_ptr<DnsRig> dns;
  std::unique_ptr<LoopbackResolver> resolver;
  std::vector<std::unique_ptr<HttpsServer>> https;
  std::unique_ptr<DaemonProcess> daemon;
  std::string socket, verdict_log;
  std::unique_ptr<PostfixInstance> receiver;
  std::unique_ptr<PostfixInstance> sender;
  std::string error;
};

Rig* g_rig = nullptr;

std::string zone(const Rig& r) {
  std::string z;
  for (const auto& d : r.destinations) {
    z += d.label + " MX 10 mx." + d.label + "\nmx." + d.label + " A " + d.mx_address + "\n";
    if (!d.extra_mx.empty()) {
      z += d.label + " MX 20 " + d.extra_mx + ".\n" + d.extra_mx + ". A " + d.mx_address + "\n";
    }
    z += "_mta-sts." + d.label + " TXT \"v=STSv1; id=" + d.label + "1\"\n";
    z += "mta-sts." + d.label + " A " + d.https + "\n";
  }
  return z;
}

std::string build(Rig& r) {
  r.work = std::make_unique<TempDir>("pfsts");
  r.destinations = {{"enf", "127.0.16.20", "enforce", true, unique_loopback_address(), ""},
                    {"bad", "127.0.16.21", "enforce", false, unique_loopback_address(), ""},
                    {"tst", "127.0.16.22", "testing", false, unique_loopback_address(), ""},
                    {"mix", "127.0.16.23", "enforce", true, unique_loopback_address(), "mail.other.pfsts.test"}};
  // --- DNS ---
  r.dns = std::make_unique<DnsRig>();
  r.dns->add_zone({"pfsts.test", zone(r), ZoneSigning::Unsigned});
  if (auto st = r.dns->start(); !st) {
    return "DNS rig: " + st.error();
  }
  r.resolver = std::make_unique<LoopbackResolver>(
      LoopbackResolver::Options{unique_loopback_address(), r.dns->unbound_config_path(), false, false, {}});
  r.resolver->start();
  // --- policy servers ---
  std::vector<std::string> policy_names;
  for (const auto& d : r.destinations) {
    policy_names.push_back("mta-sts." + domain_of(d.label));
  }
  LeafFiles policy_cert = make_leaf(r.work->path(), "policy", LeafSpec{policy_names});
  for (const auto& d : r.destinations) {
    auto server = std::make_unique<HttpsServer>(d.https, 443, policy_cert.chain, policy_cert.key);
    HttpsRoute route;
    route.body = "version: STSv1\r\nmode: " + d.mode + "\r\nmx: *." + domain_of(d.label) + "\r\nmax_age: 86400\r\n";
    server->set_route(k_policy_path, route);
    r.https.push_back(std::move(server));
  }
  // --- receiver: one smtpd per MX, with a good or a self-signed certificate ---
  r.receiver = std::make_unique<PostfixInstance>("stsreceiver", unique_loopback_address());
  r.receiver->make_receiver();
  for (const auto& d : r.destinations) {
    const std::string mx = "mx." + domain_of(d.label);
    LeafFiles cert = make_leaf(r.work->path(), "mx-" + d.label, LeafSpec{{mx}, !d.good_cert});
    r.receiver->add_smtpd(d.mx_address, 25, cert.key, cert.chain);
  }
  r.receiver->start();
  for (const auto& d : r.destinations) {
    if (!wait_for_tcp(d.mx_address, 25, 10s)) {
      return "receiver does not listen on " + d.mx_address + ":25\n" + r.receiver->log_since(0);
    }
  }
  // --- the daemon ---
  const std::string dir = r.work->path() + "/daemon";
  std::filesystem::create_directories(dir);
  r.socket = dir + "/socketmap";
  r.verdict_log = dir + "/verdicts.jsonl";
  std::vector<std::string> args = {"--socketmap",
                                   "unix:" + r.socket,
                                   "--verdict-log",
                                   r.verdict_log,
                                   "--state-dir",
                                   dir + "/state",
                                   "--mta-sts",
                                   "--mta-sts-ca-file",
                                   fixture_root_ca(),
                                   "--tempfail-ttl",
                                   "0"};
  auto rig_args = r.dns->cli_args(5);
  args.insert(args.end(), rig_args.begin(), rig_args.end());
  DaemonOptions options;
  options.output_path = dir + "/output.log";
  auto daemon = DaemonProcess::start(args, options);
  if (!daemon) {
    return "dane-policyd: " + daemon.error();
  }
  r.daemon = std::move(*daemon);
  // --- sender: its own TLS policy is "may"; the daemon's answers decide; it trusts the fixture root ---
  r.sender = std::make_unique<PostfixInstance>("stssender", unique_loopback_address());
  r.sender->set("smtp_tls_security_level", "may");
  r.sender->set("smtp_tls_policy_maps", "socketmap:unix:" + r.socket + ":dane");
  r.sender->set("smtp_tls_CAfile", fixture_root_ca());
  r.sender->set("minimal_backoff_time", "3600s");
  r.sender->set("maximal_backoff_time", "3600s");
  r.sender->start(r.resolver->resolv_conf());
  return {};
}

class PostfixSts : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!is_root() || find_program("postfix").empty() || !DnsRig::tools_available()) {
      return;
    }
    g_rig = new Rig;
    try {
      g_rig->error = build(*g_rig);
    } catch (const std::exception& e) {
      g_rig->error = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete g_rig;
    g_rig = nullptr;
  }
  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(is_root(), "Postfix end-to-end tests need root (postfix start, HTTPS on port 443)");
    DANE_REQUIRE_OR_SKIP(!find_program("postfix").empty(), "postfix is not installed (scripts/install-deps.sh)");
    DANE_REQUIRE_OR_SKIP(DnsRig::tools_available(), DnsRig::missing_tools_message());
    ASSERT_NE(g_rig, nullptr);
    ASSERT_TRUE(g_rig->error.empty()) << g_rig->error;
    r = g_rig;
    r->sender->clear_queue();
  }

  struct Sent {
    std::string rcpt, id;
    std::size_t sender_mark = 0, receiver_mark = 0;
  };
  Sent send(const std::string& label) {
    Sent s;
    s.rcpt = "bob@" + domain_of(label);
    s.sender_mark = r->sender->log_mark();
    s.receiver_mark = r->receiver->log_mark();
    s.id = r->sender->submit("alice@" + r->sender->myhostname(), s.rcpt,
                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    return s;
  }
  LogWait wait_status(const Sent& s, const std::string& status) {
    return r->sender->wait_for_log("to=<" + re_escape(s.rcpt) + ">.*status=" + status, s.sender_mark, 30s);
  }
  std::size_t received(const Sent& s) {
    r->receiver->wait_for_log("message-id=<" + re_escape(s.id) + ">", s.receiver_mark, 10s);
    return r->receiver->log_lines("message-id=<" + re_escape(s.id) + ">", s.receiver_mark).size();
  }
  nlohmann::json verdict(const std::string& destination) {
    for (int i = 0; i < 400; ++i) {
      std::istringstream in(read_text_file(r->verdict_log));
      std::string line;
      while (std::getline(in, line)) {
        auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_object() && j.value("destination", "") == destination) {
          return j;
        }
      }
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << "no verdict for " << destination << ":\n" << read_text_file(r->verdict_log);
    return {};
  }

  // dane-policyctl ARGS... with the rig's resolver options; exit code and output.
  ProcessResult policyctl(std::vector<std::string> args) {
    const char* env = std::getenv("DANE_POLICYCTL");
    std::vector<std::string> argv{
        env != nullptr && *env != '\0' ? std::string(env) : std::string(DANE_BINARY_DIR) + "/bin/dane-policyctl"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto rig_args = r->dns->cli_args(5);
    argv.insert(argv.end(), rig_args.begin(), rig_args.end());
    return run_process(argv, 120s);
  }
  // The per-address results of `check --json` output, in order.
  static std::vector<std::string> results(const nlohmann::json& j) {
    std::vector<std::string> out;
    for (const auto& h : j["hosts"]) {
      for (const auto& a : h["addresses"]) {
        out.push_back(h["name"].get<std::string>() + " " + a["result"].get<std::string>());
      }
    }
    return out;
  }

  Rig* r = nullptr;
};

TEST_F(PostfixSts, EnforceWithAValidCertificateIsDeliveredVerified) {
  Sent s = send("enf");
  auto sent = wait_status(s, "sent");
  ASSERT_TRUE(sent) << sent.log;
  auto tls = r->sender->log_lines("TLS connection established to mx\\.enf\\.pfsts\\.test", s.sender_mark);
  ASSERT_EQ(tls.size(), 1u) << r->sender->log_since(s.sender_mark);
  EXPECT_NE(tls[0].find("Verified TLS connection established"), std::string::npos) << tls[0];
  EXPECT_EQ(received(s), 1u);
  const auto v = verdict("enf.pfsts.test");
  EXPECT_EQ(v["answer"], "OK secure match=mx.enf.pfsts.test servername=hostname") << v.dump();
  EXPECT_EQ(v["sts"]["mode"], "enforce") << v.dump();
}

TEST_F(PostfixSts, EnforceWithACertificateThatIsNotPkixValidIsDeferred) {
  Sent s = send("bad");
  auto deferred = wait_status(s, "deferred");
  ASSERT_TRUE(deferred) << deferred.log;
  EXPECT_NE(deferred.line.find("4.7.5"), std::string::npos) << deferred.line;
  EXPECT_EQ(r->receiver->log_lines("message-id=<" + re_escape(s.id) + ">", s.receiver_mark).size(), 0u);
  const auto v = verdict("bad.pfsts.test");
  EXPECT_EQ(v["answer"], "OK secure match=mx.bad.pfsts.test servername=hostname") << v.dump();
}

TEST_F(PostfixSts, TestingIsDeliveredAndRecorded) {
  Sent s = send("tst");
  auto sent = wait_status(s, "sent");
  ASSERT_TRUE(sent) << sent.log;
  EXPECT_EQ(received(s), 1u);
  const auto v = verdict("tst.pfsts.test");
  EXPECT_EQ(v["answer"], "NOTFOUND ") << v.dump();
  EXPECT_EQ(v["sts"]["mode"], "testing") << v.dump();
  EXPECT_NE(v["reason"].get<std::string>().find("enforce would answer 'OK secure match=mx.tst.pfsts.test"),
            std::string::npos)
      << v.dump();
}

} // namespace
} // namespace dane::test

namespace dane::test {
namespace {

TEST_F(PostfixSts, PolicyctlPolicyShowsTheStsObjectAndTheDaemonsAnswer) {
  auto run = policyctl({"policy", "enf.pfsts.test", "--mta-sts", "--mta-sts-ca-file", fixture_root_ca(), "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto j = nlohmann::json::parse(run.output, nullptr, false);
  ASSERT_TRUE(j.is_object()) << run.output;
  EXPECT_EQ(j["answer"], "OK secure match=mx.enf.pfsts.test servername=hostname") << j.dump();
  EXPECT_EQ(j["sts"]["mode"], "enforce") << j.dump();
  EXPECT_EQ(j["sts"]["source"], "fetched") << j.dump();
  EXPECT_EQ(j["sts"]["policy_id"], "enf1") << j.dump();
  // Without --mta-sts: today's answer.
  auto plain = policyctl({"policy", "enf.pfsts.test", "--json"});
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_FALSE(nlohmann::json::parse(plain.output).contains("sts")) << plain.output;
}

TEST_F(PostfixSts, PolicyctlCheckProbesStsDestinationsWithPkix) {
  const std::vector<std::string> sts = {"--mta-sts", "--mta-sts-ca-file", fixture_root_ca(),
                                        "--json",    "--probe-timeout",   "5"};
  auto check = [&](const std::string& destination) {
    std::vector<std::string> args{"check", destination};
    args.insert(args.end(), sts.begin(), sts.end());
    return policyctl(args);
  };
  auto good = check("enf.pfsts.test");
  EXPECT_EQ(good.exit_code, 0) << good.output;
  auto gj = nlohmann::json::parse(good.output, nullptr, false);
  ASSERT_TRUE(gj.is_object()) << good.output;
  EXPECT_EQ(results(gj), std::vector<std::string>{"mx.enf.pfsts.test pass"}) << gj.dump(2);
  EXPECT_EQ(gj["verdict"]["result"], "pass") << gj.dump(2);

  auto bad = check("bad.pfsts.test");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  auto bj = nlohmann::json::parse(bad.output, nullptr, false);
  ASSERT_TRUE(bj.is_object()) << bad.output;
  EXPECT_EQ(results(bj), std::vector<std::string>{"mx.bad.pfsts.test cert-untrusted"}) << bj.dump(2);

  auto mix = check("mix.pfsts.test");
  EXPECT_EQ(mix.exit_code, 1) << mix.output;
  auto mj = nlohmann::json::parse(mix.output, nullptr, false);
  ASSERT_TRUE(mj.is_object()) << mix.output;
  EXPECT_EQ(results(mj), (std::vector<std::string>{"mx.mix.pfsts.test pass", "mail.other.pfsts.test mx-mismatch"}))
      << mj.dump(2);
  EXPECT_EQ(mj["answer"], "OK secure match=mx.mix.pfsts.test servername=hostname") << mj.dump(2);

  // Without --mta-sts nothing is probed (no host publishes TLSA records).
  auto plain = policyctl({"check", "enf.pfsts.test", "--json"});
  EXPECT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_EQ(nlohmann::json::parse(plain.output)["verdict"]["result"], "none") << plain.output;
}

} // namespace
} // namespace dane::test
