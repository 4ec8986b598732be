// dane-policyctl tlsrpt-send with real components (RFC 8460 §3, §5): the DNS rig serves the
// `_smtp._tls` TXT records (signed zones, validated by libunbound); mailto: reports go through a
// real Postfix instance (its sendmail, chosen with MAIL_CONFIG) relaying to an SMTP sink, and are
// parsed back (headers, MIME parts, base64 -> gunzip -> JSON checked against RFC 8460's fields);
// https: reports are POSTed to a real HTTPS collector (Boost.Beast, certificate from the fixture
// PKI, trusted through --ca-file) and their bodies gunzipped and checked. A re-run sends nothing new;
// a collector that is down makes the run exit 1 naming it, and the next run retries it; --dry-run
// sends nothing. Root only (Postfix, port 443): DANE_REQUIRE_OR_SKIP.
// Addresses: 127.0.17.1-127.0.17.99 (this file's range).
#include <chrono>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dane/tools/tlsrpt_send.hpp"
#include "dns_rig.hpp"
#include "files.hpp"
#include "https_server.hpp"
#include "postfix_instance.hpp"
#include "process.hpp"
#include "smtp_server.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"
#include "test_pki.hpp"

namespace {

using dane::test::DnsRig;
using nlohmann::json;
using namespace std::chrono_literals;

std::unique_ptr<DnsRig> s_rig;

std::string policyctl_binary() {
  const char* env = std::getenv("DANE_POLICYCTL");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(DANE_BINARY_DIR) + "/bin/dane-policyctl";
}

// A day of verdicts: a DANE destination, an MTA-STS enforce one, an MTA-STS testing one, and one
// without a TLSRPT record.
const char* const k_verdicts =
    R"({"time":"2026-12-04T10:00:00Z","destination":"dane.test","mode":"native","policy":"dane-only","answer":"OK dane-only","cached":false,"hosts":[{"name":"mx.dane.test","dnssec":"secure","tlsa":["3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"],"status":"dane","addresses":[{"address":"192.0.2.1","port":25,"result":"pass"},{"address":"192.0.2.2","port":25,"result":"tlsa-mismatch"}]}]}
{"time":"2026-12-04T11:00:00Z","destination":"sts.test","mode":"native","policy":"secure","answer":"OK secure match=mx.sts.test servername=hostname","cached":false,"hosts":[{"name":"mx.sts.test","dnssec":"insecure","tlsa":[],"status":"insecure","addresses":[{"address":"192.0.2.3","port":25,"result":"pass"},{"address":"192.0.2.4","port":25,"result":"cert-untrusted"}]}],"sts":{"domain":"sts.test","txt_id":"20261204","source":"fetched","policy_id":"20261204","mode":"enforce","mx":["mx.sts.test"],"max_age":86400,"policy_string":["version: STSv1","mode: enforce","mx: mx.sts.test","max_age: 86400"]}}
{"time":"2026-12-04T12:00:00Z","destination":"down.test","mode":"native","policy":"notfound","answer":"NOTFOUND ","cached":false,"hosts":[{"name":"mx.down.test","dnssec":"insecure","tlsa":[],"status":"insecure","addresses":[{"address":"192.0.2.5","port":25,"result":"pass"}]}],"sts":{"domain":"down.test","txt_id":"1","source":"cached","policy_id":"1","mode":"testing","mx":["*.down.test"],"max_age":86400,"policy_string":["version: STSv1","mode: testing","mx: *.down.test","max_age: 86400"]}}
{"time":"2026-12-04T13:00:00Z","destination":"none.test","mode":"native","policy":"notfound","answer":"NOTFOUND ","cached":false,"hosts":[{"name":"mx.none.test","dnssec":"insecure","tlsa":[],"status":"insecure"}]}
)";

std::string base64_decode(const std::string& in) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    }
    if (v < 0) {
      continue; // line ends, padding
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

// A header's value (first occurrence, unfolded) in a header block with "\n" line ends.
std::string header(const std::string& block, const std::string& name) {
  std::istringstream lines(block);
  std::string line, value;
  bool in = false;
  while (std::getline(lines, line)) {
    if (in && !line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      value += " " + line.substr(line.find_first_not_of(" \t"));
      continue;
    }
    if (in) {
      break;
    }
    if (line.size() > name.size() && line.compare(0, name.size() + 1, name + ":") == 0) {
      value = line.substr(name.size() + 1);
      value.erase(0, value.find_first_not_of(' '));
      in = true;
    }
  }
  return value;
}

std::string without_cr(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '\r'), s.end());
  return s;
}

// RFC 8460 §4.4 fields of one report.
void check_report(const json& r, const std::string& domain, const std::string& policy_type) {
  for (const char* k : {"organization-name", "contact-info", "report-id"}) {
    EXPECT_TRUE(r.contains(k) && r[k].is_string() && !r[k].get<std::string>().empty()) << k << "\n" << r.dump(2);
  }
  EXPECT_EQ(r["date-range"]["start-datetime"], "2026-12-04T00:00:00Z");
  EXPECT_EQ(r["date-range"]["end-datetime"], "2026-12-05T00:00:00Z");
  ASSERT_TRUE(r["policies"].is_array() && !r["policies"].empty()) << r.dump(2);
  const json& p = r["policies"][0];
  EXPECT_EQ(p["policy"]["policy-type"], policy_type);
  EXPECT_EQ(p["policy"]["policy-domain"], domain);
  EXPECT_TRUE(p["policy"]["policy-string"].is_array() && !p["policy"]["policy-string"].empty()) << p.dump(2);
  EXPECT_TRUE(p["policy"]["mx-host"].is_array() && !p["policy"]["mx-host"].empty()) << p.dump(2);
  EXPECT_EQ(p["summary"]["total-successful-session-count"], 1) << p.dump(2);
  EXPECT_EQ(p["summary"]["total-failure-session-count"], 1) << p.dump(2);
  ASSERT_EQ(p["failure-details"].size(), 1u) << p.dump(2);
  EXPECT_TRUE(p["failure-details"][0]["result-type"].is_string());
  EXPECT_EQ(p["failure-details"][0]["failed-session-count"], 1);
}

class TlsrptSendRig : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!dane::test::is_root() || !DnsRig::tools_available()) {
      return;
    }
    s_rig = std::make_unique<DnsRig>();
    s_rig->add_zone({"dane.test", "_smtp._tls TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@reports.test\"\n"});
    s_rig->add_zone({"sts.test", R"(
        _smtp._tls TXT "v=spf1 -all"
        _smtp._tls TXT "v=TLSRPTv1;rua=https://collector.sts.test/v1/tlsrpt"
        collector A 127.0.17.1
    )"});
    s_rig->add_zone({"down.test", R"(
        _smtp._tls TXT "v=TLSRPTv1; rua=https://collector.down.test/tlsrpt"
        collector A 127.0.17.2
    )"});
    s_rig->add_zone({"none.test", "mx A 127.0.17.3\n"});
    s_rig->add_lame_delegation("lame.test");
    DnsRig::start_or_fail(s_rig);
  }
  static void TearDownTestSuite() { s_rig.reset(); }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(dane::test::is_root(), "needs root (Postfix, HTTPS on port 443)");
    DANE_REQUIRE_OR_SKIP(s_rig != nullptr, DnsRig::missing_tools_message());
    m_log = m_dir.path() + "/verdicts.jsonl";
    dane::test::write_text_file_or_throw(m_log, k_verdicts);
  }

  dane::test::ProcessResult send(const std::vector<std::string>& extra, const dane::test::Environment& env = {}) {
    std::vector<std::string> argv = {policyctl_binary(), "tlsrpt-send",
                                     "--since",          "2026-12-04T00:00:00Z",
                                     "--until",          "2026-12-05T00:00:00Z",
                                     "--state-dir",      m_dir.path(),
                                     "--submitter",      "mail.sender.test",
                                     "--ca-file",        dane::test::fixture_root_ca(),
                                     "--unbound-config", s_rig->unbound_config_path()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(m_log);
    dane::test::RunOptions o;
    o.timeout = 60s;
    o.env = env;
    return dane::test::run_process(argv, o);
  }

  dane::test::TempDir m_dir{"tlsrpt-send"};
  std::string m_log;
};

TEST_F(TlsrptSendRig, MailtoThroughPostfixAndHttpsPostOnceAndRetryAfterFailure) {
  auto leaf = dane::test::make_leaf(m_dir.path(), "collector", {{"collector.sts.test"}});
  dane::test::HttpsServer collector("127.0.17.1", 443, leaf.chain, leaf.key);
  dane::test::HttpsRoute created;
  created.status = 201;
  created.body = "thanks\n";
  collector.set_route("/v1/tlsrpt", created);

  dane::test::SmtpServerOptions sink_options;
  sink_options.address = "127.0.17.11";
  sink_options.behaviour = dane::test::SmtpBehaviour::NoStartTls;
  dane::test::SmtpServer sink(sink_options);
  dane::test::PostfixInstance postfix("tlsrpt", "127.0.17.10");
  postfix.set("relayhost", "[127.0.17.11]:" + std::to_string(sink.port()));
  postfix.set("smtp_tls_security_level", "none");
  postfix.start();
  const dane::test::Environment env = {{"MAIL_CONFIG", postfix.config_dir()}};
  const std::string state = m_dir.path() + "/tlsrpt-sent.json";

  // --dry-run: what would be sent, nothing sent, no state.
  auto dry = send({"--dry-run"}, env);
  EXPECT_EQ(dry.exit_code, 0) << dry.output << dry.error_output;
  EXPECT_NE(dry.output.find("dane.test: would send to mailto:tlsrpt@reports.test"), std::string::npos) << dry.output;
  EXPECT_NE(dry.output.find("sts.test: would send to https://collector.sts.test/v1/tlsrpt"), std::string::npos)
      << dry.output;
  EXPECT_NE(dry.output.find("none.test: no report: no _smtp._tls TXT record"), std::string::npos) << dry.output;
  EXPECT_FALSE(std::filesystem::exists(state));
  EXPECT_EQ(collector.request_count("/v1/tlsrpt"), 0u);

  // The down.test collector (127.0.17.2:443) is down: exit 1 naming it; the others are delivered.
  auto first = send({}, env);
  EXPECT_EQ(first.exit_code, 1) << first.output << first.error_output;
  EXPECT_NE(first.error_output.find("down.test: https://collector.down.test/tlsrpt: "), std::string::npos)
      << first.error_output;
  ASSERT_EQ(collector.request_count("/v1/tlsrpt"), 1u) << first.output << first.error_output;
  const auto posted = collector.received().front();
  EXPECT_EQ(posted.method, "POST");
  EXPECT_EQ(posted.headers.at("content-type"), "application/tlsrpt+gzip");
  auto posted_json = dane::tools::tlsrpt::gunzip(posted.body);
  ASSERT_TRUE(posted_json) << posted_json.error();
  check_report(json::parse(*posted_json), "sts.test", "sts");

  // The mail went through Postfix to the sink.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (sink.messages().empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(sink.messages().size(), 1u) << postfix.log_since(0);
  const std::string message = without_cr(sink.messages().front());
  const std::string head = message.substr(0, message.find("\n\n"));
  EXPECT_EQ(header(head, "TLS-Report-Domain"), "dane.test") << head;
  EXPECT_EQ(header(head, "TLS-Report-Submitter"), "mail.sender.test") << head;
  EXPECT_EQ(header(head, "To"), "tlsrpt@reports.test") << head;
  EXPECT_EQ(header(head, "From"), "noreply-tlsrpt@mail.sender.test") << head;
  EXPECT_EQ(header(head, "MIME-Version"), "1.0") << head;
  EXPECT_FALSE(header(head, "Message-ID").empty()) << head;
  EXPECT_FALSE(header(head, "Date").empty()) << head;
  const std::string subject = header(head, "Subject");
  EXPECT_EQ(subject.rfind("Report Domain: dane.test Submitter: mail.sender.test Report-ID: <", 0), 0u) << subject;
  const std::string type = header(head, "Content-Type");
  EXPECT_NE(type.find("multipart/report"), std::string::npos) << type;
  EXPECT_NE(type.find("report-type=\"tlsrpt\""), std::string::npos) << type;
  const auto b = type.find("boundary=\"");
  ASSERT_NE(b, std::string::npos) << type;
  const std::string boundary = type.substr(b + 10, type.find('"', b + 10) - b - 10);
  // The parts between the boundaries.
  std::vector<std::string> parts;
  for (auto pos = message.find("--" + boundary + "\n"); pos != std::string::npos;) {
    const auto start = pos + boundary.size() + 3;
    const auto next = message.find("\n--" + boundary, start);
    if (next == std::string::npos) {
      break;
    }
    parts.push_back(message.substr(start, next - start));
    pos = message.compare(next + 3 + boundary.size(), 2, "--") == 0 ? std::string::npos : next + 1;
  }
  ASSERT_EQ(parts.size(), 2u) << message;
  EXPECT_NE(header(parts[0], "Content-Type").find("text/plain"), std::string::npos) << parts[0];
  const std::string part_head = parts[1].substr(0, parts[1].find("\n\n"));
  EXPECT_NE(header(part_head, "Content-Type").find("application/tlsrpt+gzip"), std::string::npos) << part_head;
  EXPECT_EQ(header(part_head, "Content-Transfer-Encoding"), "base64") << part_head;
  const std::string disposition = header(part_head, "Content-Disposition");
  EXPECT_NE(disposition.find("filename=\"mail.sender.test!dane.test!1796342400!1796428800!"), std::string::npos)
      << disposition;
  auto mailed_json = dane::tools::tlsrpt::gunzip(base64_decode(parts[1].substr(parts[1].find("\n\n") + 2)));
  ASSERT_TRUE(mailed_json) << mailed_json.error();
  const json mailed = json::parse(*mailed_json);
  check_report(mailed, "dane.test", "tlsa");
  EXPECT_NE(subject.find("<" + mailed["report-id"].get<std::string>() + ">"), std::string::npos) << subject;

  // A re-run sends nothing new and retries the collector that is still down.
  auto second = send({}, env);
  EXPECT_EQ(second.exit_code, 1) << second.output << second.error_output;
  EXPECT_NE(second.error_output.find("down.test: https://collector.down.test/tlsrpt"), std::string::npos);
  EXPECT_NE(second.output.find("dane.test: mailto:tlsrpt@reports.test: already delivered"), std::string::npos)
      << second.output;
  EXPECT_EQ(collector.request_count("/v1/tlsrpt"), 1u);

  // The collector is back: only its report is sent; then nothing at all.
  auto down_leaf = dane::test::make_leaf(m_dir.path(), "down", {{"collector.down.test"}});
  dane::test::HttpsServer down("127.0.17.2", 443, down_leaf.chain, down_leaf.key);
  down.set_route("/tlsrpt", dane::test::HttpsRoute{});
  auto third = send({}, env);
  EXPECT_EQ(third.exit_code, 0) << third.output << third.error_output;
  ASSERT_EQ(down.request_count("/tlsrpt"), 1u) << third.output << third.error_output;
  auto down_json = dane::tools::tlsrpt::gunzip(down.received().front().body);
  ASSERT_TRUE(down_json) << down_json.error();
  const json down_report = json::parse(*down_json);
  ASSERT_FALSE(down_report["policies"].empty());
  EXPECT_EQ(down_report["policies"][0]["policy"]["policy-string"][1], "mode: testing");
  auto fourth = send({}, env);
  EXPECT_EQ(fourth.exit_code, 0) << fourth.output << fourth.error_output;
  EXPECT_EQ(down.request_count("/tlsrpt"), 1u);
  EXPECT_EQ(collector.request_count("/v1/tlsrpt"), 1u);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(sink.messages().size(), 1u);
}

TEST_F(TlsrptSendRig, TxtLookupFailureIsExit3) {
  dane::test::write_text_file_or_throw(
      m_log,
      R"({"time":"2026-12-04T10:00:00Z","destination":"x.lame.test","mode":"native","policy":"notfound","answer":"NOTFOUND ","cached":false,"hosts":[{"name":"mx.x.lame.test","dnssec":"insecure","tlsa":[],"status":"insecure","addresses":[{"address":"192.0.2.9","port":25,"result":"pass"}]}]})"
      "\n");
  auto r = send({"--sendmail", "/bin/false"});
  EXPECT_EQ(r.exit_code, 3) << r.output << r.error_output;
  EXPECT_NE(r.error_output.find("_smtp._tls.x.lame.test TXT lookup failed"), std::string::npos) << r.error_output;
}

TEST_F(TlsrptSendRig, NoReadableLogIsExit2) {
  std::filesystem::remove(m_log);
  auto r = send({});
  EXPECT_EQ(r.exit_code, 2) << r.output << r.error_output;
  EXPECT_NE(r.error_output.find("tlsrpt-send: no input could be read"), std::string::npos) << r.error_output;
}

} // namespace
