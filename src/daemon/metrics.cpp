// The Prometheus text exposition of the daemon's counters (metrics.hpp).
#include "dane/daemon/metrics.hpp"

#include <charconv>
#include <string_view>
#include <utility>
#include <vector>

namespace dane::policyd {
namespace {

constexpr std::string_view k_prefix = "dane_policyd_";

// Appends families and samples; label values here are fixed words, never client bytes.
class Exposition {
public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    m_text.append("# HELP ").append(k_prefix).append(name).append(" ").append(help).append("\n");
    m_text.append("# TYPE ").append(k_prefix).append(name).append(" ").append(type).append("\n");
  }
  void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    head(name, labels);
    m_text.append(std::to_string(value)).append("\n");
  }
  void sample_signed(std::string_view name, std::string_view labels, std::int64_t value) {
    head(name, labels);
    m_text.append(std::to_string(value)).append("\n");
  }
  void sample_double(std::string_view name, std::string_view labels, double value) {
    head(name, labels);
    std::array<char, 64> buf{};
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
    m_text.append(buf.data(), ec == std::errc() ? end : buf.data()).append("\n");
  }
  // A counter family with one sample and no labels.
  void counter(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, "counter", help);
    sample(name, "", value);
  }
  void gauge(std::string_view name, std::string_view help, std::uint64_t value) {
    family(name, "gauge", help);
    sample(name, "", value);
  }
  std::string take() { return std::move(m_text); }

private:
  void head(std::string_view name, std::string_view labels) {
    m_text.append(k_prefix).append(name);
    if (!labels.empty()) {
      m_text.append("{").append(labels).append("}");
    }
    m_text.append(" ");
  }
  std::string m_text;
};

std::string label(std::string_view name, std::string_view value) {
  return std::string(name) + "=\"" + std::string(value) + "\"";
}

void requests_and_answers(Exposition& out, const StatsSnapshot& s, const MetricsContext& c) {
  out.family("requests_total", "counter", "Requests decoded, by protocol.");
  for (auto p : {Protocol::Socketmap, Protocol::TcpTable, Protocol::Policy}) {
    out.sample("requests_total", label("protocol", to_string(p)), s.requests[static_cast<std::size_t>(p)]);
  }
  out.family("answers_total", "counter", "Answers given, by policy kind and the daemon's mode.");
  const std::string mode = label("mode", to_string(c.mode));
  for (auto k : {PolicyKind::DaneOnly, PolicyKind::Dane, PolicyKind::Encrypt, PolicyKind::Fingerprint,
                 PolicyKind::Secure, PolicyKind::NotFound, PolicyKind::TempFail}) {
    out.sample("answers_total", label("kind", to_string(k)) + "," + mode, s.answers[static_cast<std::size_t>(k)]);
  }
  out.counter("protocol_errors_total", "Connections closed for a garbled or oversized request.", s.protocol_errors);
}

void cache(Exposition& out, const StatsSnapshot& s) {
  out.counter("cache_hits_total", "Lookups answered from the cache.", s.cache_hits);
  out.counter("cache_misses_total", "Lookups that started an evaluation.", s.cache_misses);
  out.counter("cache_coalesced_total", "Lookups that joined an evaluation already running for the same key.",
              s.cache_coalesced);
  out.counter("cache_refreshes_total", "Background re-evaluations of popular entries (--cache-refresh).", s.refreshes);
  out.counter("cache_evictions_total", "Entries evicted to stay within --cache-size.", s.cache_evictions);
  out.gauge("cache_entries", "Destinations the cache holds now.", s.cache_entries);
}

void engine(Exposition& out, const StatsSnapshot& s) {
  out.counter("evaluations_total", "Evaluations of uncached destinations finished.", s.evaluations);
  out.counter("evaluations_tempfail_total", "Evaluations that ended TEMP (DNS failure, bogus data, refusal).",
              s.evaluations_tempfail);
  out.gauge("evaluations_in_flight", "Evaluations in flight now.", s.in_flight);
  out.family("evaluations_refused_total", "counter",
             "Lookups answered TEMP at once for want of a slot: reason total (--max-evaluations) or zone "
             "(--max-evaluations-per-zone).");
  out.sample("evaluations_refused_total", label("reason", "total"), s.refused_total);
  out.sample("evaluations_refused_total", label("reason", "zone"), s.refused_zone);
  out.family("dns_failures_total", "counter",
             "Failed DNS lookups deciding an evaluation (the MX lookup, or each failed MX host), by kind.");
  for (auto k : {DnsFailureKind::Bogus, DnsFailureKind::Servfail, DnsFailureKind::Timeout, DnsFailureKind::Other}) {
    out.sample("dns_failures_total", label("kind", to_string(k)), s.dns_failures[static_cast<std::size_t>(k)]);
  }
  out.counter("probe_rounds_total", "Background STARTTLS probe rounds (--probe).", s.probe_rounds);
  out.family("probe_results_total", "counter", "Probed addresses, by result.");
  for (auto r : {ProbeResult::Pass, ProbeResult::TlsaMismatch, ProbeResult::NameMismatch, ProbeResult::CertExpired,
                 ProbeResult::StarttlsNotOffered, ProbeResult::ConnectFailed, ProbeResult::TlsFailed}) {
    out.sample("probe_results_total", label("result", to_string(r)), s.probe_results[static_cast<std::size_t>(r)]);
  }
}

void connections(Exposition& out, const StatsSnapshot& s) {
  out.family("connections_open", "gauge", "Client connections open now.");
  out.sample_signed("connections_open", "", s.connections_open);
  out.counter("connections_total", "Client connections accepted.", s.connections_total);
  out.family("connections_refused_total", "counter",
             "Client connections closed at once at a listener's --max-connections, by listener kind.");
  out.sample("connections_refused_total", label("listener", "unix"), s.refused_unix);
  out.sample("connections_refused_total", label("listener", "inet"), s.refused_inet);
  out.counter("connections_out_of_fds_total", "Client connections closed at once because no descriptor was free.",
              s.out_of_fds);
  out.counter("request_timeouts_total", "Connections closed because a request stayed incomplete (--request-timeout).",
              s.request_timeouts);
}

void logs_and_errors(Exposition& out, const StatsSnapshot& s) {
  out.counter("verdict_log_write_errors_total", "Verdict lines lost because writing the verdict log failed.",
              s.log_write_errors);
  out.counter("verdict_log_dropped_total", "Verdict lines dropped because the log writer's queue was full.",
              s.log_dropped);
  out.counter("internal_errors_total", "Unexpected exceptions caught by an error boundary.", s.internal_errors);
  out.family("sts_policies_total", "counter",
             "Evaluations that consulted MTA-STS (--mta-sts), by the policy's source: fetched, cached, none; "
             "fetch_error counts failed policy fetches.");
  const char* sources[] = {"fetched", "cached", "none", "fetch_error"};
  for (std::size_t i = 0; i < s.sts.size(); ++i) {
    out.sample("sts_policies_total", label("source", sources[i]), s.sts[i]);
  }
  out.family("control_requests_total", "counter", "Control requests on the stats map, by what became of them.");
  out.sample("control_requests_total", label("request", "flush"), s.control_flushes);
  out.sample("control_requests_total", label("request", "verdict"), s.control_verdicts);
  out.sample("control_requests_total", label("request", "refused"), s.control_refused);
}

void latency(Exposition& out, const StatsSnapshot& s) {
  constexpr std::string_view name = "request_duration_seconds";
  out.family(name, "histogram", "Time from a request decoded to its reply queued.");
  std::uint64_t cumulative = 0;
  std::uint64_t total = 0;
  for (auto n : s.latency) {
    total += n;
  }
  for (std::size_t i = 0; i < k_latency_bounds; ++i) {
    cumulative += s.latency[i];
    const std::uint64_t ns = k_latency_bounds_ns[i];
    // Exposed bounds: 1, 2.5 and 5 of every decade from 5 us (the rest stay internal).
    std::uint64_t mantissa = ns;
    while (mantissa % 10 == 0 && mantissa >= 10000) {
      mantissa /= 10;
    }
    const bool exposed = ns >= 5000 && (mantissa == 1000 || mantissa == 2500 || mantissa == 5000);
    if (exposed) {
      out.sample("request_duration_seconds_bucket", label("le", seconds_text(ns)), cumulative);
    }
  }
  out.sample("request_duration_seconds_bucket", label("le", "+Inf"), total);
  out.sample_double("request_duration_seconds_sum", "", static_cast<double>(s.latency_sum_ns) / 1e9);
  out.sample("request_duration_seconds_count", "", total);
}

void process(Exposition& out, const StatsSnapshot& s, const MetricsContext& c) {
  out.family("build_info", "gauge", "Always 1; the version label says which dane-policyd runs.");
  out.sample("build_info", label("version", c.version), 1);
  out.family("start_time_seconds", "gauge", "When the daemon started, in seconds since the Unix epoch.");
  out.sample_double("start_time_seconds", "", std::chrono::duration<double>(c.started.time_since_epoch()).count());
  out.family("uptime_seconds", "gauge", "Seconds since the daemon started.");
  out.sample_double("uptime_seconds", "", std::chrono::duration<double>(s.uptime).count());
  out.family("metrics_http_responses_total", "counter", "Responses of the metrics endpoint, by HTTP status.");
  for (std::size_t i = 0; i < k_metrics_http_statuses.size(); ++i) {
    out.sample("metrics_http_responses_total", label("code", std::to_string(k_metrics_http_statuses[i])),
               c.http.responses[i]);
  }
  out.counter("metrics_http_refused_total", "Metrics endpoint connections closed at once (too many at once).",
              c.http.refused);
  out.counter("metrics_http_timeouts_total", "Metrics endpoint connections closed because a request came too slowly.",
              c.http.timeouts);
}

} // namespace

void MetricsHttpCounters::count(unsigned status) {
  for (std::size_t i = 0; i < k_metrics_http_statuses.size(); ++i) {
    if (k_metrics_http_statuses[i] == status) {
      ++responses[i];
      return;
    }
  }
}

std::string seconds_text(std::uint64_t nanoseconds) {
  std::string out = std::to_string(nanoseconds / 1000000000);
  std::uint64_t fraction = nanoseconds % 1000000000;
  if (fraction == 0) {
    return out;
  }
  std::string digits = std::to_string(fraction);
  digits.insert(0, 9 - digits.size(), '0');
  while (!digits.empty() && digits.back() == '0') {
    digits.pop_back();
  }
  return out + "." + digits;
}

std::string render_metrics(const StatsSnapshot& stats, const MetricsContext& context) {
  Exposition out;
  requests_and_answers(out, stats, context);
  cache(out, stats);
  engine(out, stats);
  connections(out, stats);
  logs_and_errors(out, stats);
  latency(out, stats);
  process(out, stats, context);
  return out.take();
}

} // namespace dane::policyd
