// tlsrpt-send (RFC 8460 §3 record, §5 delivery): the record and URI parsers, the encodings, the MIME
// message, the state file, and whole runs over a verdict log with a scripted resolver and recording
// senders (the real sendmail/HTTPS paths: tests/integration/tlsrpt_send_test.cpp).
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dane/tools/tlsrpt_send.hpp"
#include "files.hpp"
#include "temp_dir.hpp"

namespace ts = dane::tools::tlsrpt;
using nlohmann::json;

namespace {

TEST(TlsrptRecord, Rfc8460_3_ValidRecords) {
  auto r = ts::parse_tlsrpt_record("v=TLSRPTv1; rua=mailto:tlsrpt@example.com");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->rua, std::vector<std::string>{"mailto:tlsrpt@example.com"});
  r = ts::parse_tlsrpt_record("v=TLSRPTv1;rua=mailto:a@example.com , https://r.example.com/v1/tlsrpt;ext-1=x;");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->rua, (std::vector<std::string>{"mailto:a@example.com", "https://r.example.com/v1/tlsrpt"}));
}

TEST(TlsrptRecord, Rfc8460_3_InvalidRecords) {
  for (const char* bad :
       {"v=TLSRPTv2; rua=mailto:a@example.com", "v=TLSRPTv1", "v=TLSRPTv1;", "v=TLSRPTv1 rua=mailto:a@example.com",
        "v=TLSRPTv1; rua=", "rua=mailto:a@b.c; v=TLSRPTv1",
        "v=TLSRPTv1; rua=mailto:a@b.example; rua=mailto:c@d.example", "v=TLSRPTv1; rua=mailto:a@b.example!10m",
        "v=TLSRPTv1; rua=mailto:a@b.example; bad", "v=TLSRPTv1; rua=not a uri", "v=tlsrptv1; rua=mailto:a@b.example"}) {
    EXPECT_FALSE(ts::parse_tlsrpt_record(bad)) << bad;
  }
  // §3: records not starting with v=TLSRPTv1 are discarded; exactly one must remain.
  EXPECT_TRUE(ts::select_tlsrpt_record({"v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@b.example"}));
  EXPECT_FALSE(ts::select_tlsrpt_record({"v=spf1 -all"}));
  EXPECT_FALSE(ts::select_tlsrpt_record({"v=TLSRPTv1; rua=mailto:a@b.example", "v=TLSRPTv1; rua=mailto:c@d.example"}));
}

TEST(TlsrptRecord, RuaUris) {
  auto m = ts::parse_rua("mailto:tls%2Dreports%2b1@example.com");
  ASSERT_TRUE(m) << m.error();
  EXPECT_EQ(m->kind, ts::RuaTarget::Kind::Mailto);
  EXPECT_EQ(m->address, "tls-reports+1@example.com");
  auto h = ts::parse_rua("https://Reports.Example.com:8443/v1/tlsrpt?x=1");
  ASSERT_TRUE(h) << h.error();
  EXPECT_EQ(h->kind, ts::RuaTarget::Kind::Https);
  EXPECT_EQ(h->host, "reports.example.com");
  EXPECT_EQ(h->port, 8443);
  EXPECT_EQ(h->target, "/v1/tlsrpt?x=1");
  auto plain = ts::parse_rua("https://reports.example.com");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->target, "/");
  EXPECT_EQ(plain->port, 443);
  for (const char* bad :
       {"http://r.example.com/", "ftp://x", "mailto:noat", "mailto:a@b.example?subject=x", "mailto:-oQ@b.example",
        "mailto:a%2Cb@c.example", "https://user@r.example.com/", "https://r.example.com:0/", "https://192.0.2.1:99999/",
        "mailto:a%00b@c.example", "mailto:a%zz@c.example"}) {
    EXPECT_FALSE(ts::parse_rua(bad)) << bad;
  }
}

TEST(TlsrptEncoding, GzipBase64AndFileName) {
  const std::string text = R"({"report-id":"x"})";
  auto back = ts::gunzip(ts::gzip_compress(text));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, text);
  EXPECT_FALSE(ts::gunzip("not gzip"));
  EXPECT_EQ(ts::base64_mime("foobar"), "Zm9vYmFy\r\n");
  EXPECT_EQ(ts::base64_mime("fo"), "Zm8=\r\n");
  const std::string long_b64 = ts::base64_mime(std::string(100, 'a'));
  EXPECT_EQ(long_b64.find("\r\n"), 76u);
  const std::string name =
      ts::report_file_name("mail.sender.example", "example.com", 1764892800000000, 1764979200000000, "id-1");
  EXPECT_EQ(name.rfind("mail.sender.example!example.com!1764892800!1764979200!", 0), 0u) << name;
  EXPECT_EQ(name.substr(name.size() - 8), ".json.gz");
  EXPECT_EQ(name,
            ts::report_file_name("mail.sender.example", "example.com", 1764892800000000, 1764979200000000, "id-1"));
  EXPECT_EQ(ts::rfc5322_date(1764892800000000), "Fri, 05 Dec 2025 00:00:00 +0000");
  auto [b, e] = ts::yesterday_utc(*dane::parse_rfc3339("2026-12-05T13:05:00Z"));
  EXPECT_EQ(dane::format_rfc3339(b), "2026-12-04T00:00:00Z");
  EXPECT_EQ(dane::format_rfc3339(e), "2026-12-05T00:00:00Z");
}

TEST(TlsrptEncoding, Rfc8460_5_3_MailMessage) {
  ts::MailFields f;
  f.from = "noreply-tlsrpt@sender.example";
  f.to = "tlsrpt@example.com";
  f.submitter = "sender.example";
  f.domain = "example.com";
  f.report_id = "20261204T000000Z_20261205T000000Z_example.com";
  f.file_name = "sender.example!example.com!1!2!ab.json.gz";
  f.date = "Sat, 05 Dec 2026 00:10:00 +0000";
  f.message_id = "tlsrpt.1@sender.example";
  const std::string gz = ts::gzip_compress("{}");
  const std::string m = ts::build_report_mail(f, gz);
  for (const char* needle :
       {"TLS-Report-Domain: example.com\r\n", "TLS-Report-Submitter: sender.example\r\n",
        "Subject: Report Domain: example.com Submitter: sender.example Report-ID: "
        "<20261204T000000Z_20261205T000000Z_example.com>\r\n",
        "Content-Type: multipart/report; report-type=\"tlsrpt\";", "Content-Type: application/tlsrpt+gzip;",
        "filename=\"sender.example!example.com!1!2!ab.json.gz\"", "MIME-Version: 1.0\r\n",
        "Message-ID: <tlsrpt.1@sender.example>\r\n", "Content-Type: text/plain"}) {
    EXPECT_NE(m.find(needle), std::string::npos) << needle << "\n" << m;
  }
}

TEST(TlsrptState, RoundTripAndCorruptFile) {
  dane::test::TempDir dir;
  const std::string path = dir.path() + "/tlsrpt-sent.json";
  auto s = ts::SentState::load(path);
  ASSERT_TRUE(s) << s.error();
  EXPECT_EQ(s->size(), 0u);
  s->mark("example.com", 1, 2, "mailto:a@example.com", "rid", 3);
  ASSERT_TRUE(s->save());
  auto again = ts::SentState::load(path);
  ASSERT_TRUE(again) << again.error();
  EXPECT_TRUE(again->delivered("example.com", 1, 2, "mailto:a@example.com"));
  EXPECT_FALSE(again->delivered("example.com", 1, 3, "mailto:a@example.com"));
  dane::test::write_text_file_or_throw(path, "{not json");
  EXPECT_FALSE(ts::SentState::load(path));
}

// ---------------------------------------------------------------------------------------------
// Whole runs.

class ScriptedResolver : public dane::Resolver {
public:
  std::map<std::string, std::vector<std::string>> txt; // name -> TXT texts
  std::map<std::string, std::string> a;                // name -> IPv4
  std::map<std::string, dane::DnsSecurity> failing;    // name -> Bogus / Failed
  std::vector<dane::Answer> resolve(const std::vector<dane::Query>& queries,
                                    std::chrono::steady_clock::time_point /*deadline*/) override {
    std::vector<dane::Answer> out;
    for (const auto& q : queries) {
      dane::Answer ans;
      ans.query = q;
      ans.security = dane::DnsSecurity::Secure;
      if (auto f = failing.find(q.name); f != failing.end()) {
        ans.security = f->second;
        ans.reason = "SERVFAIL";
      } else if (q.type == dane::RrType::Txt && txt.count(q.name) != 0) {
        for (const auto& t : txt[q.name]) {
          std::vector<std::uint8_t> rdata{static_cast<std::uint8_t>(t.size())};
          rdata.insert(rdata.end(), t.begin(), t.end());
          ans.rdata.push_back(std::move(rdata));
        }
        ans.havedata = true;
      } else if (q.type == dane::RrType::A && a.count(q.name) != 0) {
        ans.rdata.push_back({127, 0, 17, 1});
        ans.havedata = true;
      } else {
        ans.nxdomain = true;
      }
      out.push_back(std::move(ans));
    }
    return out;
  }
  std::chrono::milliseconds timeout() const override { return std::chrono::seconds(1); }
};

const char* const k_log =
    R"({"time":"2026-12-04T10:00:00Z","destination":"dane.test","mode":"native","policy":"dane-only","answer":"OK dane-only","cached":false,"hosts":[{"name":"mx.dane.test","dnssec":"secure","tlsa":["3 1 1 aabb"],"status":"dane","addresses":[{"address":"192.0.2.1","port":25,"result":"pass"}]}]}
{"time":"2026-12-04T11:00:00Z","destination":"sts.test","mode":"native","policy":"secure","answer":"OK secure match=mx.sts.test servername=hostname","cached":false,"hosts":[{"name":"mx.sts.test","dnssec":"insecure","tlsa":[],"status":"insecure","addresses":[{"address":"192.0.2.2","port":25,"result":"cert-untrusted"}]}],"sts":{"domain":"sts.test","source":"fetched","policy_id":"1","mode":"enforce","mx":["mx.sts.test"],"policy_string":["version: STSv1","mode: enforce","mx: mx.sts.test","max_age: 86400"]}}
{"time":"2026-12-04T12:00:00Z","destination":"none.test","mode":"native","policy":"notfound","answer":"NOTFOUND ","cached":false,"hosts":[{"name":"mx.none.test","dnssec":"insecure","tlsa":[],"status":"insecure"}]}
{"time":"2026-12-05T12:00:00Z","destination":"later.test","mode":"native","policy":"notfound","answer":"NOTFOUND ","cached":false,"hosts":[{"name":"mx.later.test","dnssec":"insecure","tlsa":[],"status":"insecure"}]}
)";

struct Sent {
  std::string to, message;
};

struct RunFixture {
  dane::test::TempDir dir;
  ScriptedResolver resolver;
  std::vector<Sent> mails;
  std::vector<ts::HttpsPost> posts;
  bool https_up = true;
  ts::SendOptions options;
  std::string out, err;

  RunFixture() {
    const std::string log = dir.path() + "/verdicts.jsonl";
    dane::test::write_text_file_or_throw(log, k_log);
    options.logs = {log};
    options.begin = *dane::parse_rfc3339("2026-12-04T00:00:00Z");
    options.end = *dane::parse_rfc3339("2026-12-05T00:00:00Z");
    options.state_dir = dir.path();
    options.submitter = "mail.sender.test";
    options.from = "noreply-tlsrpt@mail.sender.test";
    options.contact = "postmaster@mail.sender.test";
    options.organization = "Sender";
    options.rate_limit = 1000;
    resolver.txt["_smtp._tls.dane.test"] = {"v=TLSRPTv1; rua=mailto:tlsrpt@dane.test"};
    resolver.txt["_smtp._tls.sts.test"] = {"v=spf1 -all", "v=TLSRPTv1;rua=https://collector.sts.test/report"};
    resolver.a["collector.sts.test"] = "127.0.17.1";
  }

  int run() {
    std::ostringstream o, e;
    ts::MailSender mail = [this](const std::string&, const std::string& to,
                                 const std::string& m) -> dane::Expected<dane::Ok> {
      mails.push_back({to, m});
      return dane::Ok{};
    };
    ts::HttpsPoster https = [this](const ts::HttpsPost& p) -> dane::Expected<dane::Ok> {
      if (!https_up) {
        return dane::make_error("connection refused");
      }
      posts.push_back(p);
      return dane::Ok{};
    };
    int rc = ts::run_tlsrpt_send(options, resolver, mail, https, o, e);
    out = o.str();
    err = e.str();
    return rc;
  }
};

TEST(TlsrptSendRun, DeliversOncePerDestinationAndRetriesFailures) {
  RunFixture fx;
  fx.https_up = false;
  EXPECT_EQ(fx.run(), 1) << fx.out << fx.err;
  ASSERT_EQ(fx.mails.size(), 1u) << fx.out;
  EXPECT_EQ(fx.mails[0].to, "tlsrpt@dane.test");
  EXPECT_NE(fx.err.find("sts.test: https://collector.sts.test/report: connection refused"), std::string::npos)
      << fx.err;
  EXPECT_NE(fx.out.find("none.test: no report: no _smtp._tls TXT record"), std::string::npos) << fx.out;
  EXPECT_EQ(fx.out.find("later.test"), std::string::npos) << "outside the window\n" << fx.out;

  // The next run sends only what failed.
  fx.https_up = true;
  fx.mails.clear();
  EXPECT_EQ(fx.run(), 0) << fx.out << fx.err;
  EXPECT_TRUE(fx.mails.empty()) << fx.out;
  ASSERT_EQ(fx.posts.size(), 1u) << fx.out;
  EXPECT_EQ(fx.posts[0].host, "collector.sts.test");
  EXPECT_EQ(fx.posts[0].target, "/report");
  EXPECT_EQ(fx.posts[0].addresses, std::vector<std::string>{"127.0.17.1"});
  auto body = ts::gunzip(fx.posts[0].body);
  ASSERT_TRUE(body) << body.error();
  json report = json::parse(*body);
  EXPECT_EQ(report["date-range"]["start-datetime"], "2026-12-04T00:00:00Z");
  EXPECT_EQ(report["date-range"]["end-datetime"], "2026-12-05T00:00:00Z");
  ASSERT_EQ(report["policies"].size(), 1u) << report.dump(2);
  EXPECT_EQ(report["policies"][0]["policy"]["policy-type"], "sts");

  // And a third sends nothing.
  fx.posts.clear();
  EXPECT_EQ(fx.run(), 0) << fx.out << fx.err;
  EXPECT_TRUE(fx.mails.empty());
  EXPECT_TRUE(fx.posts.empty());
  EXPECT_NE(fx.out.find("already delivered"), std::string::npos) << fx.out;
}

TEST(TlsrptSendRun, DryRunSendsNothingAndWritesNoState) {
  RunFixture fx;
  fx.options.dry_run = true;
  EXPECT_EQ(fx.run(), 0) << fx.err;
  EXPECT_TRUE(fx.mails.empty());
  EXPECT_TRUE(fx.posts.empty());
  EXPECT_NE(fx.out.find("would send to mailto:tlsrpt@dane.test"), std::string::npos) << fx.out;
  EXPECT_NE(fx.out.find("\"report-id\""), std::string::npos) << fx.out;
  EXPECT_FALSE(std::filesystem::exists(fx.dir.path() + "/tlsrpt-sent.json"));
}

TEST(TlsrptSendRun, TxtLookupFailureIsExit3AndBadRecordIsNoReport) {
  RunFixture fx;
  fx.resolver.failing["_smtp._tls.dane.test"] = dane::DnsSecurity::Bogus;
  fx.resolver.txt["_smtp._tls.sts.test"] = {"v=TLSRPTv1; rua=ftp://x.sts.test/"};
  EXPECT_EQ(fx.run(), 3) << fx.out << fx.err;
  EXPECT_NE(fx.err.find("_smtp._tls.dane.test TXT lookup failed (bogus"), std::string::npos) << fx.err;
  EXPECT_NE(fx.out.find("sts.test: no report: no usable rua URI"), std::string::npos) << fx.out;
  EXPECT_TRUE(fx.mails.empty());
}

TEST(TlsrptSendRun, NoReadableLogIsExit2) {
  RunFixture fx;
  fx.options.logs = {fx.dir.path() + "/missing.jsonl"};
  EXPECT_EQ(fx.run(), 2);
  EXPECT_NE(fx.err.find("no input could be read"), std::string::npos) << fx.err;
}

} // namespace

namespace {

TEST(TlsrptSendRun, StateDirThatCannotBeWrittenIsExit2BeforeSending) {
  RunFixture fx;
  fx.options.state_dir = fx.dir.path() + "/missing";
  EXPECT_EQ(fx.run(), 2) << fx.out;
  EXPECT_NE(fx.err.find("not a writable directory"), std::string::npos) << fx.err;
  EXPECT_TRUE(fx.mails.empty());
  EXPECT_TRUE(fx.posts.empty());
}

} // namespace
