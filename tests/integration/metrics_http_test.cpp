// Integration tests of --metrics: the real dane-policyd binary with its Prometheus endpoint on
// 127.0.0.1:0 (the port read from the "ready:" line), real lookups over the DNSSEC rig, real HTTP
// scrapes through a plain socket: the values move as the lookups say; /healthz is 200 while
// serving and 503 while draining; 404, 405, 431 and 400 for what is not a scrape, and the daemon
// keeps serving lookups and scrapes afterwards; promtool accepts the scraped text and the alert
// rules of contrib/prometheus/.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <thread>

#include <sys/stat.h>

#include "daemon_process.hpp"
#include "dns_rig.hpp"
#include "files.hpp"
#include "process.hpp"
#include "temp_dir.hpp"
#include "test_env.hpp"

namespace dane::test {
namespace {

using namespace std::chrono_literals;

const std::string k_ee = "0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6";

std::unique_ptr<DnsRig> s_rig;

// One HTTP exchange over a fresh connection: the whole response (the server closes).
std::string http(std::uint16_t port, const std::string& request) {
  auto c = RawClient::tcp("127.0.0.1", port);
  if (!c) {
    return "connect failed: " + c.error();
  }
  c->set_timeout(20s);
  if (!c->send(request)) {
    return "send failed";
  }
  std::string out;
  for (;;) {
    auto some = c->receive_some();
    if (!some || some->empty()) {
      return out;
    }
    out += *some;
  }
}

std::string get(std::uint16_t port, const std::string& path) {
  return http(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
}

std::string status_line(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

std::string body(const std::string& response) {
  auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : response.substr(at + 4);
}

// The value of the sample named exactly `series` (name plus labels), or -1 when absent.
double sample(const std::string& text, const std::string& series) {
  std::size_t at = 0;
  while ((at = text.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || text[at - 1] == '\n') {
      auto end = text.find('\n', at);
      return std::stod(text.substr(at + series.size() + 1, end - at - series.size() - 1));
    }
    at += series.size();
  }
  return -1;
}

class MetricsHttp : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (!DnsRig::tools_available()) {
      return;
    }
    s_rig = std::make_unique<DnsRig>();
    s_rig->add_zone({"all.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + k_ee + "\n"});
    s_rig->add_zone({"none.test", "@ MX 10 mx\nmx A 127.0.0.2\n"});
    s_rig->add_zone({"bogus.test", "@ MX 10 mx\nmx A 127.0.0.2\n", ZoneSigning::WrongDs});
    s_rig->add_zone({"tlsabogus.test", "@ MX 10 mx\nmx A 127.0.0.2\n_25._tcp.mx TLSA 3 1 1 " + k_ee + "\n",
                     ZoneSigning::BadSignature, "_25._tcp.mx.tlsabogus.test. TLSA"});
    s_rig->add_lame_delegation("lame.test", LameKind::Refused);
    s_rig->add_lame_delegation("slow.test", LameKind::NoServer);
    DnsRig::start_or_fail(s_rig);
  }
  static void TearDownTestSuite() { s_rig.reset(); }

  void SetUp() override {
    DANE_REQUIRE_OR_SKIP(s_rig != nullptr, DnsRig::missing_tools_message());
    DANE_REQUIRE_OR_SKIP(is_root(), "the daemon tests bind sockets as root and drop privileges");
    ::chmod(m_dir.path().c_str(), 0777);
  }

  std::string sock() const { return m_dir.path() + "/socketmap"; }

  std::unique_ptr<DaemonProcess> start(int dns_timeout = 5) {
    auto args = s_rig->cli_args(dns_timeout);
    std::vector<std::string> base{"--socketmap",           "unix:" + sock(), "--state-dir",
                                  m_dir.path() + "/state", "--metrics",      "inet:127.0.0.1:0"};
    args.insert(args.begin(), base.begin(), base.end());
    auto d = DaemonProcess::start(args);
    EXPECT_TRUE(d) << (d ? "" : d.error());
    return d ? std::move(*d) : nullptr;
  }

  std::string query(const std::string& key) {
    auto c = RawClient::unix_socket(sock());
    if (!c) {
      return "connect failed: " + c.error();
    }
    SocketmapClient client(std::move(*c));
    auto r = client.query("tlspolicy", key);
    return r ? *r : "error: " + r.error();
  }

  TempDir m_dir{"metrics-http"};
};

TEST_F(MetricsHttp, ReadyLineListsTheEndpointAndHealthzIsOk) {
  auto d = start();
  ASSERT_TRUE(d);
  auto port = d->tcp_port("metrics");
  ASSERT_TRUE(port) << d->output();
  auto r = get(*port, "/healthz");
  EXPECT_EQ(status_line(r), "HTTP/1.1 200 OK") << r;
  EXPECT_EQ(body(r), "ok\n");
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
}

TEST_F(MetricsHttp, ValuesFollowRealLookups) {
  auto d = start();
  ASSERT_TRUE(d);
  auto port = d->tcp_port("metrics");
  ASSERT_TRUE(port) << d->output();
  const std::string before = body(get(*port, "/metrics"));
  EXPECT_EQ(sample(before, "dane_policyd_requests_total{protocol=\"socketmap\"}"), 0) << before;
  EXPECT_EQ(sample(before, "dane_policyd_build_info{version=\"0.1.0\"}"), 1) << before;

  EXPECT_EQ(query("all.test"), "OK dane-only");
  EXPECT_EQ(query("all.test"), "OK dane-only"); // a cache hit
  EXPECT_EQ(query("none.test"), "NOTFOUND ");
  EXPECT_EQ(query("bogus.test").rfind("TEMP ", 0), 0u);
  EXPECT_EQ(query("tlsabogus.test").rfind("TEMP ", 0), 0u);
  EXPECT_EQ(query("lame.test").rfind("TEMP ", 0), 0u);

  auto r = get(*port, "/metrics");
  EXPECT_EQ(status_line(r), "HTTP/1.1 200 OK") << r;
  EXPECT_NE(r.find("Content-Type: text/plain; version=0.0.4; charset=utf-8"), std::string::npos) << r;
  const std::string text = body(r);
  EXPECT_EQ(sample(text, "dane_policyd_requests_total{protocol=\"socketmap\"}"), 6) << text;
  EXPECT_EQ(sample(text, "dane_policyd_answers_total{kind=\"dane-only\",mode=\"native\"}"), 2) << text;
  EXPECT_EQ(sample(text, "dane_policyd_answers_total{kind=\"notfound\",mode=\"native\"}"), 1) << text;
  EXPECT_EQ(sample(text, "dane_policyd_answers_total{kind=\"tempfail\",mode=\"native\"}"), 3) << text;
  EXPECT_EQ(sample(text, "dane_policyd_cache_hits_total"), 1) << text;
  EXPECT_EQ(sample(text, "dane_policyd_cache_misses_total"), 5) << text;
  EXPECT_EQ(sample(text, "dane_policyd_evaluations_total"), 5) << text;
  EXPECT_EQ(sample(text, "dane_policyd_evaluations_tempfail_total"), 3) << text;
  EXPECT_EQ(sample(text, "dane_policyd_evaluations_in_flight"), 0) << text;
  // bogus.test: the MX lookup; tlsabogus.test: its one host's TLSA lookup; lame.test: SERVFAIL.
  EXPECT_EQ(sample(text, "dane_policyd_dns_failures_total{kind=\"bogus\"}"), 2) << text;
  EXPECT_EQ(sample(text, "dane_policyd_dns_failures_total{kind=\"servfail\"}"), 1) << text;
  EXPECT_EQ(sample(text, "dane_policyd_dns_failures_total{kind=\"timeout\"}"), 0) << text;
  EXPECT_GE(sample(text, "dane_policyd_cache_entries"), 2) << text;
  EXPECT_EQ(sample(text, "dane_policyd_connections_total"), 6) << text;
  EXPECT_EQ(sample(text, "dane_policyd_request_duration_seconds_count"), 6) << text;
  EXPECT_EQ(sample(text, "dane_policyd_request_duration_seconds_bucket{le=\"+Inf\"}"), 6) << text;
  EXPECT_GT(sample(text, "dane_policyd_request_duration_seconds_sum"), 0) << text;
  EXPECT_GT(sample(text, "dane_policyd_uptime_seconds"), 0) << text;
  EXPECT_EQ(sample(text, "dane_policyd_metrics_http_responses_total{code=\"200\"}"), 1) << text;

  const std::string promtool = find_program("promtool");
  DANE_REQUIRE_OR_SKIP(!promtool.empty(), "promtool is not installed (scripts/install-deps.sh test: prometheus)");
  RunOptions options;
  options.stdin_data = text;
  options.merge_stderr = true;
  auto check = run_process({promtool, "check", "metrics"}, options);
  EXPECT_EQ(check.exit_code, 0) << check.output << "\n" << text;
}

TEST_F(MetricsHttp, WhatIsNotAScrapeIsAnsweredAndTheDaemonKeepsServing) {
  auto d = start();
  ASSERT_TRUE(d);
  auto port = d->tcp_port("metrics");
  ASSERT_TRUE(port) << d->output();
  EXPECT_EQ(status_line(get(*port, "/nothing")), "HTTP/1.1 404 Not Found");
  auto post = http(*port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(status_line(post), "HTTP/1.1 405 Method Not Allowed") << post;
  EXPECT_NE(post.find("Allow: GET, HEAD"), std::string::npos) << post;
  auto huge = http(*port, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_EQ(status_line(huge), "HTTP/1.1 431 Request Header Fields Too Large") << huge.substr(0, 200);
  auto garbled = http(*port, std::string("\x16\x03\x01\x02\x00garbage\r\n\r\n", 17));
  EXPECT_EQ(status_line(garbled), "HTTP/1.1 400 Bad Request") << garbled;
  auto with_body = http(*port, "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(status_line(with_body), "HTTP/1.1 413 Payload Too Large") << with_body;
  auto head = http(*port, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_line(head), "HTTP/1.1 200 OK") << head;
  EXPECT_EQ(body(head), "") << head;

  // Connections that send nothing (a slow or hostile scraper) do not stop scrapes or lookups.
  std::vector<RawClient> idle;
  for (int i = 0; i < 20; ++i) {
    if (auto c = RawClient::tcp("127.0.0.1", *port)) {
      idle.push_back(std::move(*c));
    }
  }
  EXPECT_EQ(query("all.test"), "OK dane-only");
  idle.clear();
  std::string text;
  for (int i = 0; i < 100 && text.empty(); ++i) { // the idle ones are gone once the daemon saw them close
    auto r = get(*port, "/metrics");
    if (status_line(r) == "HTTP/1.1 200 OK") {
      text = body(r);
    } else {
      std::this_thread::sleep_for(50ms);
    }
  }
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(sample(text, "dane_policyd_metrics_http_responses_total{code=\"404\"}"), 1) << text;
  EXPECT_EQ(sample(text, "dane_policyd_metrics_http_responses_total{code=\"405\"}"), 1) << text;
  EXPECT_EQ(sample(text, "dane_policyd_metrics_http_responses_total{code=\"431\"}"), 1) << text;
  EXPECT_EQ(sample(text, "dane_policyd_metrics_http_responses_total{code=\"400\"}"), 1) << text;
  EXPECT_EQ(sample(text, "dane_policyd_metrics_http_responses_total{code=\"413\"}"), 1) << text;
  EXPECT_GE(sample(text, "dane_policyd_metrics_http_refused_total"), 4) << text; // 20 idle, 16 at once
  EXPECT_EQ(sample(text, "dane_policyd_answers_total{kind=\"dane-only\",mode=\"native\"}"), 1) << text;
}

TEST_F(MetricsHttp, HealthzIs503WhileDraining) {
  auto d = start(3);
  ASSERT_TRUE(d);
  auto port = d->tcp_port("metrics");
  ASSERT_TRUE(port) << d->output();
  // A lookup into a dead zone keeps the daemon draining until its DNS deadline (3 s).
  auto c = RawClient::unix_socket(sock());
  ASSERT_TRUE(c);
  SocketmapClient client(std::move(*c));
  ASSERT_TRUE(client.send_query("tlspolicy", "slow.test"));
  std::this_thread::sleep_for(200ms); // the request is read before the stop
  d->signal(SIGTERM);
  std::string r;
  for (int i = 0; i < 40; ++i) {
    r = get(*port, "/healthz");
    if (status_line(r) != "HTTP/1.1 200 OK") {
      break;
    }
    std::this_thread::sleep_for(25ms);
  }
  EXPECT_EQ(status_line(r), "HTTP/1.1 503 Service Unavailable") << r;
  EXPECT_EQ(body(r), "draining\n") << r;
  auto reply = client.read_reply();
  ASSERT_TRUE(reply) << reply.error();
  EXPECT_EQ(reply->rfind("TEMP ", 0), 0u) << *reply;
  EXPECT_EQ(d->stop(), 0);
}

// The alert rules shipped in contrib/prometheus/ are valid (no rig needed).
TEST(PrometheusRules, PromtoolChecksThem) {
  const std::string promtool = find_program("promtool");
  DANE_REQUIRE_OR_SKIP(!promtool.empty(), "promtool is not installed (scripts/install-deps.sh test: prometheus)");
  std::vector<std::string> argv{promtool, "check", "rules"};
  for (const auto& e : std::filesystem::directory_iterator(std::string(DANE_SOURCE_DIR) + "/contrib/prometheus")) {
    if (e.path().string().ends_with(".rules.yml")) {
      argv.push_back(e.path().string());
    }
  }
  ASSERT_GT(argv.size(), 3u) << "no contrib/prometheus/*.rules.yml";
  RunOptions options;
  options.merge_stderr = true;
  auto check = run_process(argv, options);
  EXPECT_EQ(check.exit_code, 0) << check.output;
}

} // namespace
} // namespace dane::test
