// Counters of the daemon, their snapshot and their JSON form; DNS failure classification.
#include "dane/daemon/stats.hpp"

#include <array>
#include <cmath>

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace dane::policyd {
namespace {

// Ten bounds per decade, 1 us .. 10 s, in nanoseconds; exact integers, so the Prometheus `le`
// labels (metrics.cpp) name them exactly.
constexpr std::array<std::uint64_t, k_latency_bounds> make_latency_bounds() {
  constexpr std::array<std::uint64_t, 10> mantissa_per_mille{1000, 1250, 1600, 2000, 2500,
                                                             3200, 4000, 5000, 6400, 8000};
  std::array<std::uint64_t, k_latency_bounds> bounds{};
  std::uint64_t decade_ns = 1; // 1000 ns (1 us) per 1000 per mille
  std::size_t i = 0;
  for (int decade = 0; decade < 7; ++decade) {
    for (auto m : mantissa_per_mille) {
      bounds[i++] = m * decade_ns;
    }
    decade_ns *= 10;
  }
  bounds[i] = 1000 * decade_ns; // 10 s
  return bounds;
}

DnsFailureKind classify(DnsSecurity security, const std::string& reason) {
  if (security == DnsSecurity::Bogus) {
    return DnsFailureKind::Bogus;
  }
  if (reason.find("SERVFAIL") != std::string::npos) {
    return DnsFailureKind::Servfail;
  }
  if (reason.find("timeout") != std::string::npos) {
    return DnsFailureKind::Timeout;
  }
  return DnsFailureKind::Other;
}

bool failed(DnsSecurity security) {
  return security == DnsSecurity::Bogus || security == DnsSecurity::Failed;
}

} // namespace

const std::array<std::uint64_t, k_latency_bounds> k_latency_bounds_ns = make_latency_bounds();

std::string to_string(Protocol protocol) {
  switch (protocol) {
  case Protocol::Socketmap:
    return "socketmap";
  case Protocol::TcpTable:
    return "tcp_table";
  case Protocol::Policy:
    return "policy";
  }
  return "unknown";
}

std::string to_string(DnsFailureKind kind) {
  switch (kind) {
  case DnsFailureKind::Bogus:
    return "bogus";
  case DnsFailureKind::Servfail:
    return "servfail";
  case DnsFailureKind::Timeout:
    return "timeout";
  case DnsFailureKind::Other:
    return "other";
  }
  return "other";
}

std::vector<DnsFailureKind> dns_failure_kinds(const DestinationFacts& facts) {
  std::vector<DnsFailureKind> out;
  if (facts.internal_error) {
    return out;
  }
  if (facts.hosts.empty()) {
    // Settled by the MX lookup (or no DNS at all: then mx_security is not a failure of a lookup
    // unless the outcome says so).
    if (failed(facts.mx_security) && facts.outcome == DestinationOutcome::TempFail) {
      out.push_back(classify(facts.mx_security, facts.reason));
    }
    return out;
  }
  for (const auto& h : facts.hosts) {
    if (h.status == HostStatus::Failed && failed(h.dnssec)) {
      out.push_back(classify(h.dnssec, h.reason));
    }
  }
  return out;
}

Stats::Stats() : m_started(std::chrono::steady_clock::now()) {}

void Stats::dns_failures(const DestinationFacts& facts) {
  for (auto kind : dns_failure_kinds(facts)) {
    m_dns_failure_kinds[static_cast<std::size_t>(kind)].fetch_add(1, k_order);
  }
}

void Stats::latency(std::chrono::nanoseconds elapsed) {
  // Hot path (every request): integer compares from the smallest bucket (a cache hit stops after
  // a few), one relaxed increment of the bucket and one of the sum.
  const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(elapsed.count(), 0));
  std::size_t i = 0;
  while (i < k_latency_bounds && ns > k_latency_bounds_ns[i]) {
    ++i;
  }
  m_latency[i].fetch_add(1, k_order);
  m_latency_sum_ns.fetch_add(ns, k_order);
}

std::uint64_t Stats::latency_quantile_us(double q) const {
  std::array<std::uint64_t, k_latency_bounds + 1> counts{};
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    counts[i] = m_latency[i].load(k_order);
    total += counts[i];
  }
  if (total == 0) {
    return 0;
  }
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
  if (rank == 0) {
    rank = 1;
  }
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < k_latency_bounds; ++i) {
    seen += counts[i];
    if (seen >= rank) {
      return (k_latency_bounds_ns[i] + 999) / 1000;
    }
  }
  // Slower than the last bound (10 s): reported as that bound, the most the buckets can say.
  return k_latency_bounds_ns.back() / 1000;
}

StatsSnapshot Stats::snapshot() const {
  StatsSnapshot s;
  for (std::size_t i = 0; i < s.requests.size(); ++i) {
    s.requests[i] = m_requests[i].load(k_order);
  }
  for (std::size_t i = 0; i < s.answers.size(); ++i) {
    s.answers[i] = m_answers[i].load(k_order);
  }
  s.cache_hits = m_cache_hits.load(k_order);
  s.cache_misses = m_cache_misses.load(k_order);
  s.cache_coalesced = m_cache_coalesced.load(k_order);
  s.refreshes = m_refreshes.load(k_order);
  s.cache_entries = m_cache_entries.load(k_order);
  s.cache_evictions = m_cache_evictions.load(k_order);
  s.evaluations = m_evaluations.load(k_order);
  s.evaluations_tempfail = m_dns_failures.load(k_order);
  s.in_flight = m_in_flight.load(k_order);
  s.refused_total = m_refused_total.load(k_order);
  s.refused_zone = m_refused_zone.load(k_order);
  for (std::size_t i = 0; i < s.dns_failures.size(); ++i) {
    s.dns_failures[i] = m_dns_failure_kinds[i].load(k_order);
  }
  s.probe_rounds = m_probe_rounds.load(k_order);
  for (std::size_t i = 0; i < s.probe_results.size(); ++i) {
    s.probe_results[i] = m_probe_results[i].load(k_order);
  }
  s.protocol_errors = m_protocol_errors.load(k_order);
  s.connections_total = m_connections_total.load(k_order);
  s.connections_open = m_connections_open.load(k_order);
  s.connections_refused = m_connections_refused.load(k_order);
  s.refused_unix = m_refused_unix.load(k_order);
  s.refused_inet = m_refused_inet.load(k_order);
  s.out_of_fds = m_out_of_fds.load(k_order);
  s.request_timeouts = m_request_timeouts.load(k_order);
  s.log_dropped = m_log_dropped.load(k_order);
  s.log_write_errors = m_log_write_errors.load(k_order);
  s.control_flushes = m_control_flushes.load(k_order);
  s.control_verdicts = m_control_verdicts.load(k_order);
  s.control_refused = m_control_refused.load(k_order);
  s.internal_errors = m_internal_errors.load(k_order);
  for (std::size_t i = 0; i < s.sts.size(); ++i) {
    s.sts[i] = m_sts[i].load(k_order);
  }
  for (std::size_t i = 0; i < s.latency.size(); ++i) {
    s.latency[i] = m_latency[i].load(k_order);
  }
  s.latency_sum_ns = m_latency_sum_ns.load(k_order);
  s.uptime = std::chrono::steady_clock::now() - m_started;
  return s;
}

std::string Stats::to_json() const {
  const StatsSnapshot s = snapshot();
  nlohmann::json j;
  for (auto p : {Protocol::Socketmap, Protocol::TcpTable, Protocol::Policy}) {
    j["requests"][to_string(p)] = s.requests[static_cast<std::size_t>(p)];
  }
  for (auto k : {PolicyKind::DaneOnly, PolicyKind::Dane, PolicyKind::Encrypt, PolicyKind::Fingerprint,
                 PolicyKind::Secure, PolicyKind::NotFound, PolicyKind::TempFail}) {
    j["answers"][to_string(k)] = s.answers[static_cast<std::size_t>(k)];
  }
  j["cache"] = {{"hits", s.cache_hits},     {"misses", s.cache_misses},   {"coalesced", s.cache_coalesced},
                {"refreshes", s.refreshes}, {"entries", s.cache_entries}, {"evictions", s.cache_evictions}};
  j["evaluations"] = s.evaluations;
  j["engine"] = {{"in_flight", s.in_flight}, {"refused", s.refused_total}, {"refused_zone", s.refused_zone}};
  j["dns_failures"] = s.evaluations_tempfail;
  j["probe_rounds"] = s.probe_rounds;
  j["protocol_errors"] = s.protocol_errors;
  j["connections"] = {{"open", s.connections_open},
                      {"total", s.connections_total},
                      {"refused", s.connections_refused},
                      {"refused_unix", s.refused_unix},
                      {"refused_inet", s.refused_inet},
                      {"out_of_fds", s.out_of_fds},
                      {"request_timeouts", s.request_timeouts}};
  j["log_dropped"] = s.log_dropped;
  j["log_write_errors"] = s.log_write_errors;
  j["control"] = {{"flushes", s.control_flushes}, {"verdicts", s.control_verdicts}, {"refused", s.control_refused}};
  j["internal_errors"] = s.internal_errors;
  j["cache_file"] = {{"loaded", m_cf_loaded.load(k_order)},   {"dropped_expired", m_cf_expired.load(k_order)},
                     {"dropped", m_cf_dropped.load(k_order)}, {"rejected", m_cf_rejected.load(k_order)},
                     {"saved", m_cf_saved.load(k_order)},     {"save_errors", m_cf_save_errors.load(k_order)}};
  j["shared_cache"] = {
      {"hits", shared_cache_count(Shared::Hit)},      {"misses", shared_cache_count(Shared::Miss)},
      {"stored", shared_cache_count(Shared::Stored)}, {"rejected", shared_cache_count(Shared::Rejected)},
      {"errors", shared_cache_count(Shared::Error)},  {"timeouts", shared_cache_count(Shared::Timeout)}};
  j["sts"] = {{"fetched", s.sts[0]}, {"cached", s.sts[1]}, {"none", s.sts[2]}, {"fetch_errors", s.sts[3]}};
  j["latency_us"] = {{"p50", latency_quantile_us(0.50)}, {"p99", latency_quantile_us(0.99)}};
  j["pid"] = static_cast<long>(::getpid());
  j["uptime_s"] = std::chrono::duration_cast<std::chrono::seconds>(s.uptime).count();
  return j.dump();
}

} // namespace dane::policyd
