// End-to-end: a real Postfix sender asks a running dane-policyd for its TLS policy and delivers
// to a real Postfix receiving MX on loopback, with DNSSEC-signed zones served by nsd (dns_rig).
//
// One rig, one receiver and one sender per file (reused across cases; the sender's queue is
// cleared before each case). The receiver listens on one 127.x.y.z address per MX host with the
// certificate that host should (or, for the rolled key, should not) present. The sender resolves
// through an `unbound` on loopback that only its private mount namespace sees as
// /etc/resolv.conf: non-validating for pinned and monitor mode (an operator whose resolver does
// not do DNSSEC, so every DANE decision is the daemon's), validating for native mode.
//
// Each case asserts what the sender's maillog says (delivered over "Verified TLS", or deferred
// with 4.7.5 and the reason), how often the receiver got the message, and what the daemon's
// verdict log says about the destination. The report case makes its own deliveries (verified,
// untrusted, verification failure, deferred, dane-required), keeps a tally of what they
// established, runs `dane-policyctl report --maillog` over copies of the maillog and verdict-log
// lines written since it began, and checks that the report's per-destination counts are exactly
// that tally (so a Postfix version that logs differently fails here, not silently in an
// operator's report). It depends on no other case: it passes alone and in any order.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dane/verifier/handles.hpp"
#include "dane/verifier/tlsa.hpp"
#include "dns_rig.hpp"
#include "files.hpp"
#include "postfix_instance.hpp"
#include "process.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace dane::test {
namespace {

using namespace std::chrono_literals;

const std::string k_pki = std::string(DANE_TEST_DATA_DIR) + "/pki/";

// --- small helpers -----------------------------------------------------------------------------

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

X509Ptr read_cert(const std::string& path) {
  BioPtr bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    return nullptr;
  }
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// "U S M hex" for a certificate file of the fixture PKI.
std::string tlsa_for(const std::string& cert_file, std::uint8_t usage, std::uint8_t selector, std::uint8_t mtype) {
  X509Ptr cert = read_cert(k_pki + cert_file);
  if (!cert) {
    return "cannot read " + cert_file;
  }
  auto record = make_tlsa(cert.get(), TlsaUsage{usage}, TlsaSelector{selector}, TlsaMatchingType{mtype});
  return record ? record->to_string() : "make_tlsa failed: " + record.error();
}

// Verdict-log lines (JSON) for `destination` after byte offset `mark`, waiting (bounded, polling)
// until one satisfies `accept`. Returns it, or nullopt with `log` holding what was there.
std::optional<nlohmann::json> wait_verdict(const std::string& path, std::size_t mark, const std::string& destination,
                                           std::string& log, std::chrono::milliseconds limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    std::string text = read_text_file(path);
    log = mark < text.size() ? text.substr(mark) : std::string();
    std::istringstream in(log);
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.value("destination", "") == destination) {
        return j;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      log = "no verdict for " + destination + " in " + path + " after offset " + std::to_string(mark) + ":\n" + log;
      return std::nullopt;
    }
    std::this_thread::sleep_for(50ms);
  }
}

std::size_t file_size_or_zero(const std::string& path) {
  return read_text_file(path).size();
}

std::string policyctl_binary() {
  const char* env = std::getenv("DANE_POLICYCTL");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(DANE_BINARY_DIR) + "/bin/dane-policyctl";
}

// True while the tree still has the placeholder main (before the daemon landed).
bool daemon_is_placeholder() {
  return run_process({dane_policyd_path(), "--help"}, 120s).output.find("not implemented yet") != std::string::npos;
}

// --- the rig --------------------------------------------------------------------------------

// How the sender is configured. NativeWithoutDaemon is the control group: Postfix's own DANE
// (`smtp_tls_security_level = dane`) with no policy map at all.
enum class SenderSetup { None, Pinned, PinnedTcpTable, Native, NativeWithoutDaemon, Monitor };

struct Rig {
  std::unique_ptr<TempDir> work;
  std::unique_ptr<DnsRig> dns;
  std::string daemon_unbound_conf;
  // One receiver address per MX host.
  std::string a_ee, a_rolled, a_ta, a_insecure, a_bogus, a_down, a_native, a_sender, a_receiver;
  std::string a_plain_resolver, a_validating_resolver;
  std::string tlsa_p256, tlsa_p384, tlsa_int_full;
  std::unique_ptr<LoopbackResolver> plain_resolver;      // iterator only: no DNSSEC (pinned, monitor)
  std::unique_ptr<LoopbackResolver> validating_resolver; // validator: Postfix's own DANE (native)
  // Destroyed in reverse order: the sender first, then the daemons it talks to.
  struct Daemon {
    std::unique_ptr<DaemonProcess> process;
    std::string output; // its stdout/stderr file
    std::string socket;
    std::string verdict_log;
    std::uint16_t tcp_table_port = 0;
  };
  Daemon pinned, native, monitor;
  std::unique_ptr<PostfixInstance> receiver;
  std::unique_ptr<PostfixInstance> sender;
  SenderSetup sender_setup = SenderSetup::None;
  std::string setup_error;
};

// What deliveries established for one destination, for the dane-policyctl report cross-check.
struct Tally {
  std::uint64_t verified = 0, untrusted = 0, verify_failures = 0, deferred = 0, dane_required = 0;
};

Rig* g_rig = nullptr;

std::string e2e_zone(const Rig& r) {
  return "ee          MX   10 mx-ee\n"
         "mx-ee       A    " +
         r.a_ee +
         "\n"
         "_25._tcp.mx-ee TLSA " +
         r.tlsa_p256 +
         "\n"
         "tcp         MX   10 mx-tcp\n"
         "mx-tcp      A    " +
         r.a_ee +
         "\n"
         "_25._tcp.mx-tcp TLSA " +
         r.tlsa_p256 +
         "\n"
         // The MX presents leaf-p384 while the TLSA record still pins leaf-p256's key.
         "rolled      MX   10 mx-rolled\n"
         "mon-rolled  MX   10 mx-rolled\n"
         "mx-rolled   A    " +
         r.a_rolled +
         "\n"
         "_25._tcp.mx-rolled TLSA " +
         r.tlsa_p256 +
         "\n"
         "down        MX   10 mx-down\n"
         "mx-down     A    " +
         r.a_down +
         "\n"
         "_25._tcp.mx-down TLSA " +
         r.tlsa_p256 + "\n";
}

std::string native_zone(const Rig& r, bool with_tlsa) {
  std::string z = "@ MX 10 mx\nmx A " + r.a_native + "\n";
  if (with_tlsa) {
    z += "_25._tcp.mx TLSA " + r.tlsa_p256 + "\n";
  }
  return z;
}

std::string build_rig(Rig& r) {
  r.work = std::make_unique<TempDir>("e2e");
  r.a_ee = unique_loopback_address();
  r.a_rolled = unique_loopback_address();
  r.a_ta = unique_loopback_address();
  r.a_insecure = unique_loopback_address();
  r.a_bogus = unique_loopback_address();
  r.a_down = unique_loopback_address();
  r.a_native = unique_loopback_address();
  r.a_sender = unique_loopback_address();
  r.a_receiver = unique_loopback_address();
  r.a_plain_resolver = unique_loopback_address();
  r.a_validating_resolver = unique_loopback_address();
  r.tlsa_p256 = tlsa_for("leaf-p256.crt", 3, 1, 1);
  r.tlsa_p384 = tlsa_for("leaf-p384.crt", 3, 1, 1);
  // DANE-TA(2) Cert(0) Full(0): the intermediate itself, so a trust-anchor file can be built from DNS.
  r.tlsa_int_full = tlsa_for("int.crt", 2, 0, 0);

  // --- DNS ---
  r.dns = std::make_unique<DnsRig>();
  r.dns->add_zone({"e2e.test", e2e_zone(r)});
  // DANE-TA: the fixture leaves are issued for mx.example.test.
  r.dns->add_zone({"example.test", "@ MX 10 mx\nmx A " + r.a_ta + "\n_25._tcp.mx TLSA " + r.tlsa_int_full + "\n"});
  // Insecure delegation; its TLSA record would NOT match (leaf-p384 pinned, leaf-p256 served):
  // honouring it would defer, ignoring it (RFC 7672 §2.2) delivers.
  r.dns->add_zone({"insecure.test", "@ MX 10 mx\nmx A " + r.a_insecure + "\n_25._tcp.mx TLSA " + r.tlsa_p384 + "\n",
                   ZoneSigning::Unsigned});
  // Bogus (parent DS matches no key) although its TLSA record WOULD match.
  r.dns->add_zone({"bogus.test", "@ MX 10 mx\nmx A " + r.a_bogus + "\n_25._tcp.mx TLSA " + r.tlsa_p256 + "\n",
                   ZoneSigning::WrongDs});
  r.dns->add_zone({"native.test", native_zone(r, true)});
  if (auto started = r.dns->start(); !started) {
    return "DNS rig: " + started.error();
  }
  // The daemon's libunbound: the rig's fragment, plus "keep probing a server that was down" so
  // the DNS-outage case recovers as soon as nsd is back.
  r.daemon_unbound_conf = r.work->path() + "/daemon-unbound.conf";
  write_text_file_or_throw(r.daemon_unbound_conf,
                           "server:\n  infra-keep-probing: yes\n  infra-host-ttl: 1\ninclude: \"" +
                               r.dns->unbound_config_path() + "\"\n");

  // --- Postfix's resolvers ---
  r.plain_resolver = std::make_unique<LoopbackResolver>(LoopbackResolver::Options{
      r.a_plain_resolver, r.dns->unbound_config_path(), /*validating=*/false, /*short_cache=*/false, {}});
  r.validating_resolver = std::make_unique<LoopbackResolver>(LoopbackResolver::Options{
      r.a_validating_resolver, r.dns->unbound_config_path(), /*validating=*/true, /*short_cache=*/true, {}});
  r.plain_resolver->start();
  r.validating_resolver->start();

  // --- receiver: one smtpd per MX address ---
  r.receiver = std::make_unique<PostfixInstance>("receiver", r.a_receiver);
  r.receiver->make_receiver();
  const std::string p256_key = k_pki + "leaf-p256.key";
  const std::string p256_chain = k_pki + "leaf-p256.chain.pem";
  for (const auto& a : {r.a_ee, r.a_ta, r.a_insecure, r.a_bogus, r.a_down, r.a_native}) {
    r.receiver->add_smtpd(a, 25, p256_key, p256_chain);
  }
  r.receiver->add_smtpd(r.a_rolled, 25, k_pki + "leaf-p384.key", k_pki + "leaf-p384.chain.pem");
  r.receiver->start();
  for (const auto& a : {r.a_ee, r.a_rolled, r.a_ta, r.a_insecure, r.a_bogus, r.a_down, r.a_native}) {
    if (!wait_for_tcp(a, 25, 10s)) {
      return "receiver does not listen on " + a + ":25\n" + r.receiver->log_since(0);
    }
  }

  // --- daemons, one per mode ---
  auto start_daemon = [&](Rig::Daemon& d, const std::string& mode, bool tcp_table) -> std::string {
    const std::string dir = r.work->path() + "/daemon-" + mode;
    std::filesystem::create_directories(dir);
    d.socket = dir + "/socketmap";
    d.verdict_log = dir + "/verdicts.jsonl";
    std::vector<std::string> args = {"--mode",           mode,
                                     "--socketmap",      "unix:" + d.socket,
                                     "--verdict-log",    d.verdict_log,
                                     "--state-dir",      dir + "/state",
                                     "--unbound-config", r.daemon_unbound_conf,
                                     "--dns-timeout",    "3",
                                     "--tempfail-ttl",   "0"};
    if (tcp_table) {
      args.insert(args.end(), {"--tcp-table", "inet:127.0.0.1:0"});
    }
    d.output = dir + "/output.log";
    DaemonOptions options;
    options.output_path = d.output;
    auto process = DaemonProcess::start(args, options);
    if (!process) {
      return "dane-policyd --mode " + mode + ": " + process.error();
    }
    d.process = std::move(*process);
    if (tcp_table) {
      // "ready: mode pinned; serving socketmap unix:/..., tcp_table inet:127.0.0.1:PORT; ..."
      auto port = d.process->tcp_port("tcp_table");
      if (!port) {
        return "dane-policyd did not report its tcp_table port:\n" + d.process->output();
      }
      d.tcp_table_port = *port;
    }
    return {};
  };
  for (auto [d, mode, tcp] : {std::tuple{&r.pinned, "pinned", true}, std::tuple{&r.native, "native", false},
                              std::tuple{&r.monitor, "monitor", false}}) {
    if (auto e = start_daemon(*d, mode, tcp); !e.empty()) {
      return e;
    }
  }

  // --- sender ---
  r.sender = std::make_unique<PostfixInstance>("sender", r.a_sender);
  r.sender->set("smtp_tls_security_level", "may"); // the operator's default level
  r.sender->set("smtp_tls_fingerprint_digest", "sha256");
  // One delivery attempt per message unless a case flushes the queue (postqueue -f ignores the
  // backoff): the maillog then holds a known number of sessions for dane-policyctl report's cross-check.
  r.sender->set("minimal_backoff_time", "3600s");
  r.sender->set("maximal_backoff_time", "3600s");
  return {};
}

// Puts the sender into `setup`: main.cf for the mode; (re)started in a mount namespace whose
// resolv.conf names the resolver the mode needs.
void configure_sender(Rig& r, SenderSetup setup) {
  if (r.sender_setup == setup) {
    return;
  }
  PostfixInstance& s = *r.sender;
  const bool native = setup == SenderSetup::Native || setup == SenderSetup::NativeWithoutDaemon;
  const bool was_native = r.sender_setup == SenderSetup::Native || r.sender_setup == SenderSetup::NativeWithoutDaemon;
  s.set("smtp_tls_security_level", setup == SenderSetup::NativeWithoutDaemon ? "dane" : "may");
  switch (setup) {
  case SenderSetup::Pinned:
    s.set("smtp_tls_policy_maps", "socketmap:unix:" + r.pinned.socket + ":dane");
    break;
  case SenderSetup::PinnedTcpTable:
    s.set("smtp_tls_policy_maps", "tcp:127.0.0.1:" + std::to_string(r.pinned.tcp_table_port));
    break;
  case SenderSetup::Native:
    s.set("smtp_tls_policy_maps", "socketmap:unix:" + r.native.socket + ":dane");
    break;
  case SenderSetup::Monitor:
    s.set("smtp_tls_policy_maps", "socketmap:unix:" + r.monitor.socket + ":dane");
    break;
  case SenderSetup::NativeWithoutDaemon:
  case SenderSetup::None:
    s.unset("smtp_tls_policy_maps");
    break;
  }
  if (native) {
    s.set("smtp_dns_support_level", "dnssec");
    s.set("dnssec_probe", "ns:test.");
  } else {
    s.unset("smtp_dns_support_level");
    s.unset("dnssec_probe");
  }
  if (!s.running() || native != was_native) {
    s.stop();
    s.start(native ? r.validating_resolver->resolv_conf() : r.plain_resolver->resolv_conf());
  } else {
    s.reload();
  }
  r.sender_setup = setup;
}

class PostfixE2e : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    s_placeholder = daemon_is_placeholder();
    if (!is_root() || find_program("postfix").empty() || !DnsRig::tools_available() || s_placeholder) {
      return;
    }
    g_rig = new Rig;
    try {
      g_rig->setup_error = build_rig(*g_rig);
    } catch (const std::exception& e) {
      g_rig->setup_error = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete g_rig;
    g_rig = nullptr;
  }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(is_root(), "Postfix end-to-end tests need root (postfix start, postdrop, postsuper, unshare)");
    DANE_REQUIRE_OR_SKIP(!find_program("postfix").empty(), "postfix is not installed (scripts/install-deps.sh)");
    DANE_REQUIRE_OR_SKIP(DnsRig::tools_available(), DnsRig::missing_tools_message());
    DANE_REQUIRE_OR_SKIP(!s_placeholder, dane_policyd_path() + " is still the placeholder (dane-policyd not landed)");
    ASSERT_NE(g_rig, nullptr);
    ASSERT_TRUE(g_rig->setup_error.empty()) << g_rig->setup_error;
    if (!g_rig->dns->running()) {
      ASSERT_TRUE(g_rig->dns->start());
    }
    r = g_rig;
    // Every case starts with empty daemon caches: a cache hit writes no verdict line, so a
    // destination another case looked up earlier (in any order) would leave this one's
    // verdict-log checks and the report case's counts without their line.
    for (const auto* d : {&r->pinned, &r->native, &r->monitor}) {
      auto flushed = run_process({policyctl_binary(), "flush", "--all", "--socket", "unix:" + d->socket}, 120s);
      ASSERT_EQ(flushed.exit_code, 0) << flushed.output;
    }
  }

  void TearDown() override {
    if (r != nullptr && r->sender->running()) {
      r->sender->clear_queue();
    }
  }

  struct Sent {
    std::string id;
    std::string rcpt;
    std::size_t sender_mark = 0;
    std::size_t receiver_mark = 0;
  };

  Sent send(SenderSetup setup, const std::string& local_part, const std::string& domain) {
    configure_sender(*r, setup);
    r->sender->clear_queue();
    Sent s;
    s.rcpt = local_part + "@" + domain;
    s.sender_mark = r->sender->log_mark();
    s.receiver_mark = r->receiver->log_mark();
    s.id = r->sender->submit("alice@" + r->sender->myhostname(), s.rcpt,
                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    return s;
  }

  // The sender's delivery-status line for the message: "status=sent" or "status=deferred".
  LogWait wait_status(const Sent& s, const std::string& status, std::chrono::milliseconds limit = 30s) {
    return r->sender->wait_for_log("to=<" + re_escape(s.rcpt) + ">.*status=" + status, s.sender_mark, limit);
  }

  // Sends to native.test while its TLSA records are gone from DNS (after a reload: fresh smtp(8)
  // processes, no TLSA results cached inside Postfix) and waits for `status`. The records are put
  // back for whoever runs next before this returns; a failure to change the zone is a failed wait.
  LogWait send_while_native_lacks_tlsa(SenderSetup setup, const std::string& local_part, const std::string& status,
                                       Sent& s) {
    LogWait result;
    if (auto removed = r->dns->replace_zone({"native.test", native_zone(*r, false)}); !removed) {
      result.log = "cannot remove native.test's TLSA records: " + removed.error();
      return result;
    }
    r->sender->reload();
    s = send(setup, local_part, "native.test");
    result = wait_status(s, status);
    if (auto restored = r->dns->replace_zone({"native.test", native_zone(*r, true)}); !restored) {
      result.found = false;
      result.log += "\ncannot put native.test's TLSA records back: " + restored.error();
    }
    return result;
  }

  std::size_t received_copies(const Sent& s) {
    return r->receiver->log_lines("message-id=<" + re_escape(s.id) + ">", s.receiver_mark).size();
  }

  // Waits until the receiver logged the message once (bounded) and returns the count.
  std::size_t wait_received(const Sent& s) {
    r->receiver->wait_for_log("message-id=<" + re_escape(s.id) + ">", s.receiver_mark, 10s);
    return received_copies(s);
  }

  Rig* r = nullptr;
  static inline bool s_placeholder = false;
};

// ================================ pinned mode ===================================================

TEST_F(PostfixE2e, Pinned_DaneEeMatch_DeliveredVerified) {
  auto mark = file_size_or_zero(r->pinned.verdict_log);
  Sent s = send(SenderSetup::Pinned, "ee", "ee.e2e.test");
  auto sent = wait_status(s, "sent");
  ASSERT_TRUE(sent) << sent.log;
  auto tls = r->sender->log_lines("TLS connection established to mx-ee\\.e2e\\.test", s.sender_mark);
  ASSERT_EQ(tls.size(), 1u) << r->sender->log_since(s.sender_mark);
  EXPECT_NE(tls[0].find("Verified TLS connection established"), std::string::npos) << tls[0];
  EXPECT_EQ(wait_received(s), 1u);

  std::string log;
  auto v = wait_verdict(r->pinned.verdict_log, mark, "ee.e2e.test", log);
  ASSERT_TRUE(v) << log;
  EXPECT_EQ((*v)["mode"], "pinned");
  EXPECT_EQ((*v)["policy"], "fingerprint");
  EXPECT_EQ((*v)["answer"].get<std::string>().rfind("OK fingerprint match=", 0), 0u) << v->dump();
  ASSERT_EQ((*v)["hosts"].size(), 1u) << v->dump();
  EXPECT_EQ((*v)["hosts"][0]["name"], "mx-ee.e2e.test");
  EXPECT_EQ((*v)["hosts"][0]["dnssec"], "secure");
}

TEST_F(PostfixE2e, Pinned_RolledKey_DeferredNeverDelivered) {
  auto mark = file_size_or_zero(r->pinned.verdict_log);
  Sent s = send(SenderSetup::Pinned, "rolled", "rolled.e2e.test");
  auto deferred = wait_status(s, "deferred");
  ASSERT_TRUE(deferred) << deferred.log;
  EXPECT_NE(deferred.line.find("dsn=4.7.5"), std::string::npos) << deferred.line;
  EXPECT_TRUE(r->sender->log_lines("Verified TLS connection established", s.sender_mark).empty());
  EXPECT_TRUE(r->sender->log_lines("status=sent", s.sender_mark).empty()) << r->sender->log_since(s.sender_mark);
  EXPECT_EQ(received_copies(s), 0u);
  // One attempt (no retry before the queue is cleared): TLS without authentication, the reason.
  auto failed =
      r->sender->log_lines("server certificate verification failed for mx-rolled\\.e2e\\.test\\[", s.sender_mark);
  ASSERT_EQ(failed.size(), 1u) << r->sender->log_since(s.sender_mark);
  EXPECT_NE(failed[0].find("no matching DANE TLSA records"), std::string::npos) << failed[0];
  ASSERT_EQ(
      r->sender->log_lines("Untrusted TLS connection established to mx-rolled\\.e2e\\.test\\[", s.sender_mark).size(),
      1u)
      << r->sender->log_since(s.sender_mark);

  std::string log;
  auto v = wait_verdict(r->pinned.verdict_log, mark, "rolled.e2e.test", log);
  ASSERT_TRUE(v) << log;
  EXPECT_EQ((*v)["policy"], "fingerprint") << v->dump();
}

TEST_F(PostfixE2e, Pinned_DaneTaWithChain_DeliveredVerified) {
  auto mark = file_size_or_zero(r->pinned.verdict_log);
  Sent s = send(SenderSetup::Pinned, "ta", "example.test");
  auto sent = wait_status(s, "sent");
  ASSERT_TRUE(sent) << sent.log << "\nverdicts:\n" << read_text_file(r->pinned.verdict_log);
  auto tls = r->sender->log_lines("TLS connection established to mx\\.example\\.test", s.sender_mark);
  ASSERT_EQ(tls.size(), 1u) << r->sender->log_since(s.sender_mark);
  EXPECT_NE(tls[0].find("Verified TLS connection established"), std::string::npos) << tls[0];
  EXPECT_EQ(wait_received(s), 1u);

  std::string log;
  auto v = wait_verdict(r->pinned.verdict_log, mark, "example.test", log);
  ASSERT_TRUE(v) << log;
  EXPECT_EQ((*v)["policy"], "secure") << v->dump();
  EXPECT_EQ((*v)["answer"].get<std::string>().rfind("OK secure tafile=", 0), 0u) << v->dump();
}

TEST_F(PostfixE2e, Pinned_InsecureDestination_DeliveredWithDefaultLevel) {
  auto mark = file_size_or_zero(r->pinned.verdict_log);
  Sent s = send(SenderSetup::Pinned, "insecure", "insecure.test");
  auto sent = wait_status(s, "sent");
  ASSERT_TRUE(sent) << sent.log;
  // smtp_tls_security_level = may: encrypted, not authenticated (the insecure TLSA is ignored).
  auto tls = r->sender->log_lines("TLS connection established to mx\\.insecure\\.test", s.sender_mark);
  ASSERT_EQ(tls.size(), 1u) << r->sender->log_since(s.sender_mark);
  EXPECT_NE(tls[0].find("Untrusted TLS connection established"), std::string::npos) << tls[0];
  EXPECT_EQ(wait_received(s), 1u);

  std::string log;
  auto v = wait_verdict(r->pinned.verdict_log, mark, "insecure.test", log);
  ASSERT_TRUE(v) << log;
  EXPECT_EQ((*v)["policy"], "notfound") << v->dump();
}

TEST_F(PostfixE2e, Pinned_BogusZone_DeferredNeverInClear) {
  auto mark = file_size_or_zero(r->pinned.verdict_log);
  Sent s = send(SenderSetup::Pinned, "bogus", "bogus.test");
  auto deferred = wait_status(s, "deferred");
  ASSERT_TRUE(deferred) << deferred.log;
  EXPECT_NE(deferred.line.find("dsn=4.7.5"), std::string::npos) << deferred.line;
  // The sender's (non-validating) resolver found the MX: the deferral is the daemon's TEMP.
  EXPECT_TRUE(r->sender->log_lines("TLS connection established", s.sender_mark).empty())
      << r->sender->log_since(s.sender_mark);
  EXPECT_TRUE(r->sender->log_lines("status=sent", s.sender_mark).empty());
  EXPECT_EQ(received_copies(s), 0u);

  std::string log;
  auto v = wait_verdict(r->pinned.verdict_log, mark, "bogus.test", log);
  ASSERT_TRUE(v) << log;
  EXPECT_EQ((*v)["policy"], "tempfail") << v->dump();
  EXPECT_EQ((*v)["answer"].get<std::string>().rfind("TEMP", 0), 0u) << v->dump();
}

TEST_F(PostfixE2e, PinnedTcpTable_DaneEeMatch_DeliveredVerified) {
  auto mark = file_size_or_zero(r->pinned.verdict_log);
  Sent s = send(SenderSetup::PinnedTcpTable, "tcp", "tcp.e2e.test");
  auto sent = wait_status(s, "sent");
  ASSERT_TRUE(sent) << sent.log;
  auto tls = r->sender->log_lines("TLS connection established to mx-tcp\\.e2e\\.test", s.sender_mark);
  ASSERT_EQ(tls.size(), 1u) << r->sender->log_since(s.sender_mark);
  EXPECT_NE(tls[0].find("Verified TLS connection established"), std::string::npos) << tls[0];
  EXPECT_EQ(wait_received(s), 1u);

  std::string log;
  auto v = wait_verdict(r->pinned.verdict_log, mark, "tcp.e2e.test", log);
  ASSERT_TRUE(v) << log;
  EXPECT_EQ((*v)["policy"], "fingerprint") << v->dump();
}

TEST_F(PostfixE2e, Pinned_DnsServerStopped_DeferredThenDeliveredOnce) {
  configure_sender(*r, SenderSetup::Pinned);
  // The sender's own resolver has the MX and address cached (an ISP resolver would); only the
  // daemon's DNSSEC lookups see the outage.
  r->plain_resolver->query("down.e2e.test", "MX");
  r->plain_resolver->query("mx-down.e2e.test", "A");
  auto mark = file_size_or_zero(r->pinned.verdict_log);
  r->dns->stop();
  Sent s = send(SenderSetup::Pinned, "down", "down.e2e.test");
  auto deferred = wait_status(s, "deferred");
  ASSERT_TRUE(deferred) << deferred.log;
  EXPECT_NE(deferred.line.find("dsn=4.7.5"), std::string::npos) << deferred.line;
  EXPECT_EQ(received_copies(s), 0u);
  std::string log;
  auto v = wait_verdict(r->pinned.verdict_log, mark, "down.e2e.test", log);
  ASSERT_TRUE(v) << log;
  EXPECT_EQ((*v)["policy"], "tempfail") << v->dump();

  // DNS is back: the next retry is delivered, verified, exactly once. The sender retries only when
  // told to (its backoff is an hour), so flush until the daemon's resolver sees the server again.
  auto mark2 = file_size_or_zero(r->pinned.verdict_log);
  ASSERT_TRUE(r->dns->start());
  LogWait sent;
  for (int attempt = 0; attempt < 12 && !sent; ++attempt) {
    r->sender->flush_queue();
    sent = wait_status(s, "sent", 5s);
  }
  ASSERT_TRUE(sent) << sent.log << "\nverdicts:\n" << read_text_file(r->pinned.verdict_log).substr(mark2);
  auto tls = r->sender->log_lines("Verified TLS connection established to mx-down\\.e2e\\.test", s.sender_mark);
  EXPECT_EQ(tls.size(), 1u) << r->sender->log_since(s.sender_mark);
  EXPECT_EQ(wait_received(s), 1u);
  std::this_thread::sleep_for(1s); // a duplicate would arrive right after the first copy
  EXPECT_EQ(received_copies(s), 1u) << r->receiver->log_since(s.receiver_mark);
  EXPECT_EQ(r->sender->queue_size(), 0u);
}

// ================================ native mode ===================================================

TEST_F(PostfixE2e, Native_FullyDaneDestination_DaneOnlyDeliveredVerified) {
  auto mark = file_size_or_zero(r->native.verdict_log);
  Sent s = send(SenderSetup::Native, "native", "native.test");
  auto sent = wait_status(s, "sent");
  ASSERT_TRUE(sent) << sent.log;
  auto tls = r->sender->log_lines("TLS connection established to mx\\.native\\.test", s.sender_mark);
  ASSERT_EQ(tls.size(), 1u) << r->sender->log_since(s.sender_mark);
  // Postfix did DANE itself: "Verified" comes from its own TLSA lookup through the validating resolver.
  EXPECT_NE(tls[0].find("Verified TLS connection established"), std::string::npos) << tls[0];
  EXPECT_EQ(wait_received(s), 1u);

  std::string log;
  auto v = wait_verdict(r->native.verdict_log, mark, "native.test", log);
  ASSERT_TRUE(v) << log;
  EXPECT_EQ((*v)["policy"], "dane-only") << v->dump();
  EXPECT_EQ((*v)["answer"], "OK dane-only") << v->dump();
}

TEST_F(PostfixE2e, Native_MxLosesTlsa_DeferredNotPlainTls) {
  // The daemon's answer for native.test (dane-only, cached for the records' TTL) stands while
  // the TLSA records disappear from DNS; Postfix's own lookup now finds none. With plain `dane`
  // Postfix would fall back to unauthenticated TLS; with `dane-only` it must defer.
  configure_sender(*r, SenderSetup::Native);
  {
    Sent warm = send(SenderSetup::Native, "warm", "native.test");
    auto sent = wait_status(warm, "sent");
    ASSERT_TRUE(sent) << sent.log;
    ASSERT_EQ(
        r->sender->log_lines("Verified TLS connection established to mx\\.native\\.test", warm.sender_mark).size(), 1u);
  }
  Sent s;
  auto deferred = send_while_native_lacks_tlsa(SenderSetup::Native, "lost", "deferred", s);
  ASSERT_TRUE(deferred) << deferred.log;
  EXPECT_NE(deferred.line.find("dsn=4.7.5"), std::string::npos) << deferred.line;
  EXPECT_TRUE(r->sender->log_lines("TLS connection established", s.sender_mark).empty())
      << r->sender->log_since(s.sender_mark);
  EXPECT_EQ(received_copies(s), 0u);
  // Postfix's own dane-only lookup found no TLSA records: RFC 8460 dane-required.
  EXPECT_NE(deferred.line.find("(no TLSA records found)"), std::string::npos) << deferred.line;
}

TEST_F(PostfixE2e, Control_NativeWithoutDaemon_MxLosesTlsa_FallsBackToUnauthenticatedTls) {
  // The same DNS change without the daemon: Postfix's plain `dane` level finds no TLSA records
  // and delivers over unauthenticated TLS. This is the downgrade the daemon's dane-only prevents
  // (and shows that the deferral above is not an artefact of the rig).
  configure_sender(*r, SenderSetup::NativeWithoutDaemon);
  Sent s;
  auto sent = send_while_native_lacks_tlsa(SenderSetup::NativeWithoutDaemon, "control", "sent", s);
  ASSERT_TRUE(sent) << sent.log;
  auto tls = r->sender->log_lines("TLS connection established to mx\\.native\\.test", s.sender_mark);
  ASSERT_EQ(tls.size(), 1u) << r->sender->log_since(s.sender_mark);
  EXPECT_EQ(tls[0].find("Verified"), std::string::npos) << tls[0];
  EXPECT_NE(tls[0].find("Untrusted TLS connection established"), std::string::npos) << tls[0];
  EXPECT_EQ(wait_received(s), 1u);
}

// ================================ monitor mode ==================================================

TEST_F(PostfixE2e, Monitor_MismatchingDestination_DeliveredAsWithoutDaemon_VerdictSaysWouldDefer) {
  auto mark = file_size_or_zero(r->monitor.verdict_log);
  Sent s = send(SenderSetup::Monitor, "monitor", "mon-rolled.e2e.test");
  auto sent = wait_status(s, "sent");
  ASSERT_TRUE(sent) << sent.log;
  auto tls = r->sender->log_lines("TLS connection established to mx-rolled\\.e2e\\.test", s.sender_mark);
  ASSERT_EQ(tls.size(), 1u) << r->sender->log_since(s.sender_mark);
  EXPECT_NE(tls[0].find("Untrusted TLS connection established"), std::string::npos) << tls[0];
  EXPECT_EQ(wait_received(s), 1u);

  std::string log;
  auto v = wait_verdict(r->monitor.verdict_log, mark, "mon-rolled.e2e.test", log);
  ASSERT_TRUE(v) << log;
  EXPECT_EQ((*v)["mode"], "monitor");
  EXPECT_EQ((*v)["answer"], "NOTFOUND ") << v->dump();
  EXPECT_EQ((*v)["would_answer"], "OK dane-only") << v->dump();
}

TEST_F(PostfixE2e, Monitor_BogusZone_DeliveredAsWithoutDaemon_VerdictSaysTemp) {
  auto mark = file_size_or_zero(r->monitor.verdict_log);
  Sent s = send(SenderSetup::Monitor, "monitor-bogus", "bogus.test");
  auto sent = wait_status(s, "sent");
  ASSERT_TRUE(sent) << sent.log;
  EXPECT_EQ(wait_received(s), 1u);
  auto tls = r->sender->log_lines("TLS connection established to mx\\.bogus\\.test", s.sender_mark);
  ASSERT_EQ(tls.size(), 1u) << r->sender->log_since(s.sender_mark);
  EXPECT_NE(tls[0].find("Untrusted TLS connection established"), std::string::npos) << tls[0];

  std::string log;
  auto v = wait_verdict(r->monitor.verdict_log, mark, "bogus.test", log);
  ASSERT_TRUE(v) << log;
  EXPECT_EQ((*v)["answer"], "NOTFOUND ") << v->dump();
  EXPECT_EQ((*v)["would_answer"].get<std::string>().rfind("TEMP", 0), 0u) << v->dump();
}

// ================================ dane-policyctl report over this run's logs ===========================

// A copy of the part of `path` after byte offset `mark` (what one case wrote), as `copy`.
std::string copy_tail(const std::string& path, std::size_t mark, const std::string& copy) {
  const std::string text = read_text_file(path);
  write_text_file_or_throw(copy, mark < text.size() ? text.substr(mark) : std::string());
  return copy;
}

// Runs `dane-policyctl report --json --maillog MAILLOG LOGS...` and expects its per-destination
// maillog counts to be exactly `tally` (and, with --tlsrpt, the dane-required sessions).
void expect_report_matches(const std::string& maillog, const std::vector<std::string>& logs,
                           const std::map<std::string, Tally>& tally) {
  std::vector<std::string> argv = {policyctl_binary(), "report", "--json", "--maillog", maillog};
  argv.insert(argv.end(), logs.begin(), logs.end());
  auto run = run_process(argv, 120s);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  auto j = nlohmann::json::parse(run.output, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "not JSON (a warning on stderr?):\n" << run.output;
  const auto& in = j["input"];
  EXPECT_EQ(in["malformed"], 0) << in.dump();
  EXPECT_EQ(in["maillog_malformed"], 0) << in.dump();
  EXPECT_EQ(in["maillog_unjoined"], 0) << in.dump();
  EXPECT_EQ(in["maillog_unattributed"], 0) << in.dump();
  std::map<std::string, nlohmann::json> seen;
  for (const auto& d : j["destinations"]) {
    if (!d["maillog"].is_null()) {
      seen[d["destination"].get<std::string>()] = d["maillog"];
    }
  }
  std::string report_names, tally_names;
  for (const auto& [name, m] : seen) {
    report_names += name + " ";
  }
  for (const auto& [name, t] : tally) {
    tally_names += name + " ";
  }
  EXPECT_EQ(report_names, tally_names) << "destinations with Postfix sessions";
  for (const auto& [name, t] : tally) {
    auto it = seen.find(name);
    ASSERT_NE(it, seen.end()) << name << "\n" << j.dump(2);
    const auto& m = it->second;
    EXPECT_EQ(m["verified"], t.verified) << name << ": " << m.dump();
    EXPECT_EQ(m["trusted"], 0) << name << ": " << m.dump();
    EXPECT_EQ(m["untrusted"], t.untrusted) << name << ": " << m.dump();
    EXPECT_EQ(m["anonymous"], 0) << name << ": " << m.dump();
    EXPECT_EQ(m["verification_failures"], t.verify_failures) << name << ": " << m.dump();
    EXPECT_EQ(m["deferred_4_7_5"], t.deferred) << name << ": " << m.dump();
  }

  // RFC 8460: the dane-only deferral without TLSA records is dane-required.
  for (const auto& [name, t] : tally) {
    if (t.dane_required == 0) {
      continue;
    }
    std::vector<std::string> targv = {policyctl_binary(), "report", "--tlsrpt", "--domain", name, "--maillog", maillog};
    targv.insert(targv.end(), logs.begin(), logs.end());
    auto trun = run_process(targv, 120s);
    ASSERT_EQ(trun.exit_code, 0) << trun.output;
    auto report = nlohmann::json::parse(trun.output, nullptr, false);
    ASSERT_TRUE(report.is_object()) << trun.output;
    std::uint64_t required = 0;
    for (const auto& p : report["policies"]) {
      for (const auto& fd : p["failure-details"]) {
        if (fd["result-type"] == "dane-required") {
          required += fd["failed-session-count"].get<std::uint64_t>();
        }
      }
    }
    EXPECT_EQ(required, t.dane_required) << name << "\n" << report.dump(2);
  }
}

// Self-contained: it makes the sessions it reports on and reads only the maillog and verdict-log
// lines written since it began (copied aside), so what other cases did, before or after it, in
// any order, does not change its counts.
TEST_F(PostfixE2e, Report_OverItsOwnDeliveries_CountsWhatWasDeliveredAndDeferred) {
  const std::size_t maillog_mark = r->sender->log_mark();
  const std::vector<const Rig::Daemon*> daemons = {&r->pinned, &r->native, &r->monitor};
  std::vector<std::size_t> verdict_marks;
  for (const auto* d : daemons) {
    verdict_marks.push_back(file_size_or_zero(d->verdict_log));
  }

  // The deliveries, what each must end in, and what it adds to its destination's counts.
  struct Delivery {
    SenderSetup setup;
    std::string local_part, domain, status;
    const Rig::Daemon* daemon;
    Tally adds;
  };
  const std::vector<Delivery> deliveries = {
      {SenderSetup::Pinned, "report-ee", "ee.e2e.test", "sent", &r->pinned, {1, 0, 0, 0, 0}},
      {SenderSetup::Pinned, "report-rolled", "rolled.e2e.test", "deferred", &r->pinned, {0, 1, 1, 1, 0}},
      {SenderSetup::Pinned, "report-insecure", "insecure.test", "sent", &r->pinned, {0, 1, 0, 0, 0}},
      {SenderSetup::Pinned, "report-bogus", "bogus.test", "deferred", &r->pinned, {0, 0, 0, 1, 0}},
      {SenderSetup::Monitor, "report-monitor", "mon-rolled.e2e.test", "sent", &r->monitor, {0, 1, 0, 0, 0}},
      {SenderSetup::Native, "report-native", "native.test", "sent", &r->native, {1, 0, 0, 0, 0}},
  };
  std::map<std::string, Tally> tally;
  for (const auto& d : deliveries) {
    const auto mark = file_size_or_zero(d.daemon->verdict_log);
    Sent s = send(d.setup, d.local_part, d.domain);
    auto done = wait_status(s, d.status);
    ASSERT_TRUE(done) << d.domain << ": no status=" << d.status << "\n" << done.log;
    std::string log;
    ASSERT_TRUE(wait_verdict(d.daemon->verdict_log, mark, d.domain, log)) << log;
    Tally& t = tally[d.domain];
    t.verified += d.adds.verified;
    t.untrusted += d.adds.untrusted;
    t.verify_failures += d.adds.verify_failures;
    t.deferred += d.adds.deferred;
  }
  // dane-only while the TLSA records are gone (the daemon's answer is cached from the delivery
  // above): Postfix's own lookup finds none and defers, which RFC 8460 calls dane-required.
  Sent lost;
  auto deferred = send_while_native_lacks_tlsa(SenderSetup::Native, "report-lost", "deferred", lost);
  ASSERT_TRUE(deferred) << deferred.log;
  ++tally["native.test"].deferred;
  ++tally["native.test"].dane_required;
  r->sender->clear_queue();

  // The report sees exactly these sessions.
  const std::string dir = r->work->path() + "/report-" + std::to_string(maillog_mark);
  std::filesystem::create_directories(dir);
  const std::string maillog = copy_tail(r->sender->maillog_path(), maillog_mark, dir + "/maillog");
  std::vector<std::string> logs;
  for (std::size_t i = 0; i < daemons.size(); ++i) {
    logs.push_back(
        copy_tail(daemons[i]->verdict_log, verdict_marks[i], dir + "/verdicts-" + std::to_string(i) + ".jsonl"));
  }
  ASSERT_FALSE(tally.empty()) << "no deliveries: the report would be checked against nothing";
  ASSERT_FALSE(read_text_file(maillog).empty()) << "no maillog lines since the case began";

  expect_report_matches(maillog, logs, tally);
}

} // namespace
} // namespace dane::test
