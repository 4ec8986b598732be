// Unit tests of the metrics layer: the Prometheus text (metrics.hpp), the DNS failure
// classification and the latency buckets shared by the JSON reply and the histogram (stats.hpp).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "dane/daemon/metrics.hpp"
#include "dane/daemon/stats.hpp"

namespace dane::policyd {
namespace {

using namespace std::chrono_literals;

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(SecondsText, ExactDecimals) {
  EXPECT_EQ(seconds_text(5000), "0.000005");
  EXPECT_EQ(seconds_text(2500000), "0.0025");
  EXPECT_EQ(seconds_text(1000000000), "1");
  EXPECT_EQ(seconds_text(2500000000), "2.5");
  EXPECT_EQ(seconds_text(10000000000), "10");
}

TEST(LatencyBuckets, TenPerDecadeFromOneMicrosecondToTenSeconds) {
  EXPECT_EQ(k_latency_bounds_ns.front(), 1000u);
  EXPECT_EQ(k_latency_bounds_ns[4], 2500u);
  EXPECT_EQ(k_latency_bounds_ns[10], 10000u);
  EXPECT_EQ(k_latency_bounds_ns.back(), 10000000000u);
  for (std::size_t i = 1; i < k_latency_bounds_ns.size(); ++i) {
    EXPECT_LT(k_latency_bounds_ns[i - 1], k_latency_bounds_ns[i]);
  }
}

TEST(StatsLatency, OneArrayFeedsJsonQuantilesAndHistogram) {
  Stats stats;
  for (int i = 0; i < 98; ++i) {
    stats.latency(3us); // bucket (2.5, 3.2] us
  }
  stats.latency(3s);  // bucket (2.5, 3.2] s: the JSON says 3200000 us, no longer 4194304
  stats.latency(20s); // beyond the last bound
  auto json = nlohmann::json::parse(stats.to_json());
  EXPECT_EQ(json["latency_us"]["p50"], 4u) << "3.2 us rounded up to whole microseconds";
  EXPECT_EQ(json["latency_us"]["p99"], 3200000u);
  auto s = stats.snapshot();
  EXPECT_EQ(s.latency.back(), 1u);
  EXPECT_EQ(s.latency_sum_ns, 98u * 3000u + 3000000000u + 20000000000u);

  MetricsContext context;
  const std::string text = render_metrics(s, context);
  EXPECT_TRUE(has_line(text, "dane_policyd_request_duration_seconds_bucket{le=\"0.000005\"} 98")) << text;
  EXPECT_TRUE(has_line(text, "dane_policyd_request_duration_seconds_bucket{le=\"2.5\"} 98")) << text;
  EXPECT_TRUE(has_line(text, "dane_policyd_request_duration_seconds_bucket{le=\"5\"} 99")) << text;
  EXPECT_TRUE(has_line(text, "dane_policyd_request_duration_seconds_bucket{le=\"10\"} 99")) << text;
  EXPECT_TRUE(has_line(text, "dane_policyd_request_duration_seconds_bucket{le=\"+Inf\"} 100")) << text;
  EXPECT_TRUE(has_line(text, "dane_policyd_request_duration_seconds_count 100")) << text;
  EXPECT_TRUE(has_line(text, "dane_policyd_request_duration_seconds_sum 23.000294")) << text;
}

TEST(RenderMetrics, FamiliesHaveHelpAndTypeAndFixedLabels) {
  Stats stats;
  stats.request(Protocol::TcpTable);
  stats.answer(PolicyKind::Secure);
  stats.evaluation_refused(true);
  stats.connection_opened();
  stats.probe_result(ProbeResult::TlsaMismatch);
  MetricsContext context;
  context.mode = Mode::Pinned;
  context.version = "9.9.9";
  context.http.count(404);
  const std::string text = render_metrics(stats.snapshot(), context);
  EXPECT_TRUE(has_line(text, "# TYPE dane_policyd_requests_total counter")) << text;
  EXPECT_TRUE(has_line(text, "dane_policyd_requests_total{protocol=\"tcp_table\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "dane_policyd_answers_total{kind=\"secure\",mode=\"pinned\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "dane_policyd_evaluations_refused_total{reason=\"zone\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "dane_policyd_connections_open 1")) << text;
  EXPECT_TRUE(has_line(text, "dane_policyd_probe_results_total{result=\"tlsa-mismatch\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "dane_policyd_build_info{version=\"9.9.9\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "dane_policyd_metrics_http_responses_total{code=\"404\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "# TYPE dane_policyd_request_duration_seconds histogram")) << text;
  // Every sample's family has HELP and TYPE lines.
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') {
      continue;
    }
    std::string name = line.substr(0, line.find_first_of("{ "));
    for (const char* suffix : {"_bucket", "_sum", "_count"}) {
      if (name.ends_with(suffix) && text.find("# TYPE " + name + " ") == std::string::npos) {
        name = name.substr(0, name.size() - std::string(suffix).size());
      }
    }
    EXPECT_NE(text.find("# HELP " + name + " "), std::string::npos) << name;
    EXPECT_NE(text.find("# TYPE " + name + " "), std::string::npos) << name;
  }
}

HostResult failed_host(DnsSecurity security, const std::string& reason) {
  HostResult h;
  h.name = "mx.example.test";
  h.status = HostStatus::Failed;
  h.dnssec = security;
  h.reason = reason;
  return h;
}

TEST(DnsFailureKinds, MxLookupFailures) {
  DestinationFacts facts;
  facts.outcome = DestinationOutcome::TempFail;
  facts.mx_security = DnsSecurity::Bogus;
  facts.reason = "MX lookup for example.test bogus: signature expired";
  EXPECT_EQ(dns_failure_kinds(facts), std::vector<DnsFailureKind>{DnsFailureKind::Bogus});
  facts.mx_security = DnsSecurity::Failed;
  facts.reason = "MX lookup for example.test failed: SERVFAIL";
  EXPECT_EQ(dns_failure_kinds(facts), std::vector<DnsFailureKind>{DnsFailureKind::Servfail});
  facts.reason = "MX lookup for example.test failed: timeout";
  EXPECT_EQ(dns_failure_kinds(facts), std::vector<DnsFailureKind>{DnsFailureKind::Timeout});
  facts.reason = "MX lookup for example.test failed: resolver error: out of memory";
  EXPECT_EQ(dns_failure_kinds(facts), std::vector<DnsFailureKind>{DnsFailureKind::Other});
  facts.internal_error = true;
  facts.reason = "internal error: boom";
  EXPECT_TRUE(dns_failure_kinds(facts).empty()) << "an engine failure is not a DNS failure";
}

TEST(DnsFailureKinds, OnePerFailedHostNoneForHealthyOnes) {
  DestinationFacts facts;
  facts.outcome = DestinationOutcome::Dane;
  facts.mx_security = DnsSecurity::Secure;
  facts.hosts.push_back(failed_host(DnsSecurity::Bogus, "TLSA lookup for _25._tcp.mx1 bogus: no signatures"));
  facts.hosts.push_back(failed_host(DnsSecurity::Failed, "address lookup (A) for mx2 failed: timeout"));
  HostResult ok;
  ok.status = HostStatus::DaneUsable;
  ok.dnssec = DnsSecurity::Secure;
  facts.hosts.push_back(ok);
  HostResult insecure;
  insecure.status = HostStatus::Insecure;
  insecure.dnssec = DnsSecurity::Insecure;
  facts.hosts.push_back(insecure);
  EXPECT_EQ(dns_failure_kinds(facts), (std::vector<DnsFailureKind>{DnsFailureKind::Bogus, DnsFailureKind::Timeout}));

  Stats stats;
  stats.dns_failures(facts);
  auto s = stats.snapshot();
  EXPECT_EQ(s.dns_failures[static_cast<std::size_t>(DnsFailureKind::Bogus)], 1u);
  EXPECT_EQ(s.dns_failures[static_cast<std::size_t>(DnsFailureKind::Timeout)], 1u);
  EXPECT_EQ(s.dns_failures[static_cast<std::size_t>(DnsFailureKind::Servfail)], 0u);
}

TEST(DnsFailureKinds, SettledWithoutFailureCountsNothing) {
  DestinationFacts facts; // a malformed key or an IP literal: NotDane, no lookup
  facts.outcome = DestinationOutcome::NotDane;
  facts.mx_security = DnsSecurity::Failed;
  EXPECT_TRUE(dns_failure_kinds(facts).empty());
}

} // namespace
} // namespace dane::policyd
