// Counters of the daemon and their JSON form.
#include "dane/daemon/stats.hpp"

#include <array>
#include <cmath>

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace dane::policyd {
namespace {

// Bucket upper bounds in microseconds: 1, 1.41, 2, 2.83, 4, ... (factor sqrt 2).
double bucket_upper_us(std::size_t i) {
  return std::pow(2.0, static_cast<double>(i) / 2.0);
}

} // namespace

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

Stats::Stats() : m_started(std::chrono::steady_clock::now()) {}

void Stats::latency(std::chrono::nanoseconds elapsed) {
  // Hot path (every request): compare against bounds computed once, no pow() here.
  static const std::array<double, k_buckets> k_upper = [] {
    std::array<double, k_buckets> bounds{};
    for (std::size_t b = 0; b < k_buckets; ++b) {
      bounds[b] = bucket_upper_us(b);
    }
    return bounds;
  }();
  double us = static_cast<double>(elapsed.count()) / 1000.0;
  std::size_t i = 0;
  while (i + 1 < k_buckets && us > k_upper[i]) {
    ++i;
  }
  m_latency[i].fetch_add(1, k_order);
}

std::uint64_t Stats::latency_quantile_us(double q) const {
  std::uint64_t total = 0;
  for (const auto& b : m_latency) {
    total += b.load(k_order);
  }
  if (total == 0) {
    return 0;
  }
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total)));
  if (rank == 0) {
    rank = 1;
  }
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < k_buckets; ++i) {
    seen += m_latency[i].load(k_order);
    if (seen >= rank) {
      return static_cast<std::uint64_t>(std::ceil(bucket_upper_us(i)));
    }
  }
  return static_cast<std::uint64_t>(bucket_upper_us(k_buckets - 1));
}

std::string Stats::to_json() const {
  nlohmann::json j;
  for (auto p : {Protocol::Socketmap, Protocol::TcpTable, Protocol::Policy}) {
    j["requests"][to_string(p)] = m_requests[static_cast<std::size_t>(p)].load(k_order);
  }
  for (auto k : {PolicyKind::DaneOnly, PolicyKind::Dane, PolicyKind::Encrypt, PolicyKind::Fingerprint,
                 PolicyKind::Secure, PolicyKind::NotFound, PolicyKind::TempFail}) {
    j["answers"][to_string(k)] = m_answers[static_cast<std::size_t>(k)].load(k_order);
  }
  j["cache"] = {{"hits", m_cache_hits.load(k_order)},           {"misses", m_cache_misses.load(k_order)},
                {"coalesced", m_cache_coalesced.load(k_order)}, {"refreshes", m_refreshes.load(k_order)},
                {"entries", m_cache_entries.load(k_order)},     {"evictions", m_cache_evictions.load(k_order)}};
  j["evaluations"] = m_evaluations.load(k_order);
  j["engine"] = {{"in_flight", m_in_flight.load(k_order)},
                 {"refused", m_refused_total.load(k_order)},
                 {"refused_zone", m_refused_zone.load(k_order)}};
  j["dns_failures"] = m_dns_failures.load(k_order);
  j["probe_rounds"] = m_probe_rounds.load(k_order);
  j["protocol_errors"] = m_protocol_errors.load(k_order);
  j["connections"] = {{"open", m_connections_open.load(k_order)},
                      {"total", m_connections_total.load(k_order)},
                      {"refused", m_connections_refused.load(k_order)},
                      {"refused_unix", m_refused_unix.load(k_order)},
                      {"refused_inet", m_refused_inet.load(k_order)},
                      {"out_of_fds", m_out_of_fds.load(k_order)},
                      {"request_timeouts", m_request_timeouts.load(k_order)}};
  j["log_dropped"] = m_log_dropped.load(k_order);
  j["log_write_errors"] = m_log_write_errors.load(k_order);
  j["control"] = {{"flushes", m_control_flushes.load(k_order)},
                  {"verdicts", m_control_verdicts.load(k_order)},
                  {"refused", m_control_refused.load(k_order)}};
  j["internal_errors"] = m_internal_errors.load(k_order);
  j["shared_cache"] = {
      {"hits", shared_cache_count(Shared::Hit)},      {"misses", shared_cache_count(Shared::Miss)},
      {"stored", shared_cache_count(Shared::Stored)}, {"rejected", shared_cache_count(Shared::Rejected)},
      {"errors", shared_cache_count(Shared::Error)},  {"timeouts", shared_cache_count(Shared::Timeout)}};
  j["latency_us"] = {{"p50", latency_quantile_us(0.50)}, {"p99", latency_quantile_us(0.99)}};
  j["pid"] = static_cast<long>(::getpid());
  j["uptime_s"] =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - m_started).count();
  return j.dump();
}

} // namespace dane::policyd
