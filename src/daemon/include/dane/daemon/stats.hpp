// dane/daemon/stats.hpp — the daemon's counters (lock-free, any thread).
//
// Requests per protocol, answers per policy kind, cache hits/misses/coalesced joins,
// background refreshes started, entries held and evictions,
// evaluations and DNS failures (TEMP outcomes), protocol errors, connections, and a
// latency histogram (request decoded -> reply queued) from which p50/p99 come,
// the cache file of warm restarts (cache_file: loaded, dropped, rejected, saved),
// and the operator's control requests (flushes, detailed verdicts, refusals); verdict lines
// dropped because the log queue was full (log_dropped) or lost to write errors (log_write_errors).
// Read locally through the socketmap "stats" map (Settings::stats_name, key `all`)
// as one JSON object (to_json(), field names pinned); never contains destination names.
// The same counters, read at once by snapshot(), feed the Prometheus text of --metrics
// (metrics.hpp), together with what only that endpoint shows: DNS failures by kind
// (dns_failures(): bogus, SERVFAIL, timeout, other), probe results by result, and the
// request latency histogram in seconds.
// Latency: one fixed array of buckets (k_latency_bounds_ns: ten per decade, 1 us .. 10 s, then
// overflow) feeds both the JSON reply's p50/p99 (a bucket's upper bound, in microseconds) and the
// Prometheus histogram (its 1-2.5-5 bounds are a subset); recording is a short scan from the
// smallest bucket and two relaxed atomic additions (bucket, sum).
// Threading: every method may be called from any thread; counters are relaxed atomics, so a
// snapshot is not one instant (each value is exact, their sum may lag by in-flight updates).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dane/policy/policy_engine.hpp"
#include "dane/verifier/destination.hpp"
#include "dane/verifier/probe.hpp"

namespace dane::policyd {

enum class Protocol { Socketmap, TcpTable, Policy };
std::string to_string(Protocol protocol); // "socketmap", "tcp_table", "policy"

// Why a DNS lookup of an evaluation failed (the --metrics label `kind`).
enum class DnsFailureKind { Bogus, Servfail, Timeout, Other };
inline constexpr std::size_t k_dns_failure_kinds = 4;
std::string to_string(DnsFailureKind kind); // "bogus", "servfail", "timeout", "other"
// The failed lookups behind an evaluation's facts, each classified: the MX lookup when it failed
// (then there are no hosts), else one per failed MX host (its deciding lookup, HostResult::dnssec
// and reason). Bogus when DNSSEC validation failed; otherwise by the reason libunbound's answer got
// (dns.hpp): "SERVFAIL", "timeout", anything else (resolver error, REFUSED, ...) is Other. Facts of
// an engine failure (internal_error) are not DNS failures: none.
std::vector<DnsFailureKind> dns_failure_kinds(const DestinationFacts& facts);

// Request latency buckets: upper bounds in nanoseconds, ten per decade (1, 1.25, 1.6, 2, 2.5, 3.2,
// 4, 5, 6.4, 8 x 10^k) from 1 us to 10 s; one more bucket above for everything slower.
inline constexpr std::size_t k_latency_bounds = 71;
extern const std::array<std::uint64_t, k_latency_bounds> k_latency_bounds_ns;

// Every counter at one moment (values read one by one, relaxed).
struct StatsSnapshot {
  std::array<std::uint64_t, 3> requests{}; // by Protocol
  std::array<std::uint64_t, 7> answers{};  // by PolicyKind
  std::uint64_t cache_hits = 0, cache_misses = 0, cache_coalesced = 0, refreshes = 0;
  std::uint64_t cache_entries = 0, cache_evictions = 0;
  std::uint64_t evaluations = 0, evaluations_tempfail = 0, in_flight = 0, refused_total = 0, refused_zone = 0;
  std::array<std::uint64_t, k_dns_failure_kinds> dns_failures{}; // by DnsFailureKind
  std::uint64_t probe_rounds = 0;
  std::array<std::uint64_t, 7> probe_results{}; // by ProbeResult
  std::uint64_t protocol_errors = 0;
  std::uint64_t connections_total = 0;
  std::int64_t connections_open = 0;
  std::uint64_t connections_refused = 0, refused_unix = 0, refused_inet = 0, out_of_fds = 0, request_timeouts = 0;
  std::uint64_t log_dropped = 0, log_write_errors = 0;
  std::uint64_t control_flushes = 0, control_verdicts = 0, control_refused = 0;
  std::uint64_t internal_errors = 0;
  std::array<std::uint64_t, 4> sts{};                        // by Stats::Sts
  std::array<std::uint64_t, k_latency_bounds + 1> latency{}; // per bucket (not cumulative); last: overflow
  std::uint64_t latency_sum_ns = 0;
  std::chrono::steady_clock::duration uptime{};
};

class Stats {
public:
  Stats();

  void request(Protocol protocol) { m_requests[static_cast<std::size_t>(protocol)].fetch_add(1, k_order); }
  void answer(PolicyKind kind) { m_answers[static_cast<std::size_t>(kind)].fetch_add(1, k_order); }
  void cache_hit() { m_cache_hits.fetch_add(1, k_order); }
  void cache_miss() { m_cache_misses.fetch_add(1, k_order); }
  void cache_coalesced() { m_cache_coalesced.fetch_add(1, k_order); }
  void evaluation(bool dns_failure) {
    m_evaluations.fetch_add(1, k_order);
    if (dns_failure) {
      m_dns_failures.fetch_add(1, k_order);
    }
  }
  // The failed lookups of one finished evaluation, by kind (dns_failure_kinds()).
  void dns_failures(const DestinationFacts& facts);
  void refresh() { m_refreshes.fetch_add(1, k_order); }
  // The asynchronous engine: evaluations in flight now, and lookups refused for want of a slot.
  void evaluations_in_flight(std::size_t n) { m_in_flight.store(n, k_order); }
  void evaluation_refused(bool zone_full) { (zone_full ? m_refused_zone : m_refused_total).fetch_add(1, k_order); }
  // Gauges: entries the cache holds now, and evictions so far.
  void cache_size(std::size_t entries, std::size_t evictions) {
    m_cache_entries.store(entries, k_order);
    m_cache_evictions.store(evictions, k_order);
  }
  void probe_round() { m_probe_rounds.fetch_add(1, k_order); }
  // One probed address's result (probe_scheduler.cpp, after a round).
  void probe_result(ProbeResult result) {
    const auto i = static_cast<std::size_t>(result);
    if (i < m_probe_results.size()) {
      m_probe_results[i].fetch_add(1, k_order);
    }
  }
  void protocol_error() { m_protocol_errors.fetch_add(1, k_order); }
  void connection_opened() {
    m_connections_total.fetch_add(1, k_order);
    m_connections_open.fetch_add(1, k_order);
  }
  void connection_closed() { m_connections_open.fetch_sub(1, k_order); }
  void connection_refused() { m_connections_refused.fetch_add(1, k_order); }
  // A connection refused at its listener's --max-connections, by the listener's family (each
  // also counts in connection_refused()).
  void connection_refused_at(bool unix_listener) {
    (unix_listener ? m_refused_unix : m_refused_inet).fetch_add(1, k_order);
  }
  // A connection accepted and closed at once because no file descriptor was left (also counted
  // in connection_refused()).
  void connection_out_of_fds() { m_out_of_fds.fetch_add(1, k_order); }
  // A connection closed because a request was still incomplete --request-timeout after its first byte.
  void request_timeout() { m_request_timeouts.fetch_add(1, k_order); }
  void log_dropped() { m_log_dropped.fetch_add(1, k_order); }
  // A verdict line lost because writing the verdict log failed (full disk, I/O error).
  void log_write_error() { m_log_write_errors.fetch_add(1, k_order); }
  // Control requests on the reserved map (session.cpp): done, or refused to the client.
  void flushed() { m_control_flushes.fetch_add(1, k_order); }
  void verdict_asked() { m_control_verdicts.fetch_add(1, k_order); }
  void control_refused() { m_control_refused.fetch_add(1, k_order); }
  // Warm restarts (cache_file.hpp): entries restored at start, dropped there as expired or for another
  // reason (beyond --cache-max-ttl or --cache-size, trust-anchor file gone), whole files rejected,
  // saves done and failed.
  void cache_file_loaded(std::size_t loaded, std::size_t expired, std::size_t dropped) {
    m_cf_loaded.fetch_add(loaded, k_order);
    m_cf_expired.fetch_add(expired, k_order);
    m_cf_dropped.fetch_add(dropped, k_order);
  }
  void cache_file_rejected() { m_cf_rejected.fetch_add(1, k_order); }
  void cache_file_saved(bool ok) { (ok ? m_cf_saved : m_cf_save_errors).fetch_add(1, k_order); }
  // An unexpected exception caught by an error boundary (error_boundary.hpp).
  void internal_error() { m_internal_errors.fetch_add(1, k_order); }
  // --shared-cache (shared_cache.hpp): answers found in Redis, no entry there, entries stored,
  // entries rejected (bad MAC, malformed, expired, expiry too far ahead), Redis errors (down,
  // error replies), lookups that ran out of --shared-cache-timeout.
  enum class Shared { Hit, Miss, Stored, Rejected, Error, Timeout };
  void shared_cache(Shared event) { m_shared[static_cast<std::size_t>(event)].fetch_add(1, k_order); }
  std::uint64_t shared_cache_count(Shared event) const {
    return m_shared[static_cast<std::size_t>(event)].load(k_order);
  }
  // --mta-sts: evaluations that consulted MTA-STS, by the policy's source (fetched, cached, none),
  // and those whose policy fetch failed (whatever the source then was).
  enum class Sts { Fetched, Cached, None, FetchError };
  void sts(Sts event) { m_sts[static_cast<std::size_t>(event)].fetch_add(1, k_order); }
  void latency(std::chrono::nanoseconds elapsed);

  std::uint64_t evaluations() const { return m_evaluations.load(k_order); }
  std::uint64_t cache_hits() const { return m_cache_hits.load(k_order); }
  std::uint64_t cache_misses() const { return m_cache_misses.load(k_order); }
  std::uint64_t cache_coalesced() const { return m_cache_coalesced.load(k_order); }
  std::uint64_t internal_errors() const { return m_internal_errors.load(k_order); }
  // Latency quantile in microseconds (upper bound of the histogram bucket), 0 when empty.
  std::uint64_t latency_quantile_us(double q) const;

  StatsSnapshot snapshot() const;
  // {"requests":{"socketmap":N,...},"answers":{"dane-only":N,...},"cache":{...},...}
  std::string to_json() const;

private:
  static constexpr auto k_order = std::memory_order_relaxed;
  std::array<std::atomic<std::uint64_t>, 3> m_requests{};
  std::array<std::atomic<std::uint64_t>, 7> m_answers{};
  std::array<std::atomic<std::uint64_t>, 6> m_shared{};
  std::array<std::atomic<std::uint64_t>, 4> m_sts{};
  std::atomic<std::uint64_t> m_cache_hits{0};
  std::atomic<std::uint64_t> m_cache_misses{0};
  std::atomic<std::uint64_t> m_cache_coalesced{0};
  std::atomic<std::uint64_t> m_evaluations{0};
  std::atomic<std::uint64_t> m_dns_failures{0}; // evaluations ending TEMP (JSON "dns_failures")
  std::array<std::atomic<std::uint64_t>, k_dns_failure_kinds> m_dns_failure_kinds{};
  std::atomic<std::uint64_t> m_refreshes{0};
  std::atomic<std::uint64_t> m_in_flight{0};
  std::atomic<std::uint64_t> m_refused_total{0};
  std::atomic<std::uint64_t> m_refused_zone{0};
  std::atomic<std::uint64_t> m_cache_entries{0};
  std::atomic<std::uint64_t> m_cache_evictions{0};
  std::atomic<std::uint64_t> m_probe_rounds{0};
  std::array<std::atomic<std::uint64_t>, 7> m_probe_results{};
  std::atomic<std::uint64_t> m_protocol_errors{0};
  std::atomic<std::uint64_t> m_connections_total{0};
  std::atomic<std::int64_t> m_connections_open{0};
  std::atomic<std::uint64_t> m_connections_refused{0};
  std::atomic<std::uint64_t> m_refused_unix{0};
  std::atomic<std::uint64_t> m_refused_inet{0};
  std::atomic<std::uint64_t> m_out_of_fds{0};
  std::atomic<std::uint64_t> m_request_timeouts{0};
  std::atomic<std::uint64_t> m_log_dropped{0};
  std::atomic<std::uint64_t> m_log_write_errors{0};
  std::atomic<std::uint64_t> m_control_flushes{0};
  std::atomic<std::uint64_t> m_control_verdicts{0};
  std::atomic<std::uint64_t> m_control_refused{0};
  std::atomic<std::uint64_t> m_internal_errors{0};
  std::atomic<std::uint64_t> m_cf_loaded{0};
  std::atomic<std::uint64_t> m_cf_expired{0};
  std::atomic<std::uint64_t> m_cf_dropped{0};
  std::atomic<std::uint64_t> m_cf_rejected{0};
  std::atomic<std::uint64_t> m_cf_saved{0};
  std::atomic<std::uint64_t> m_cf_save_errors{0};
  std::array<std::atomic<std::uint64_t>, k_latency_bounds + 1> m_latency{};
  std::atomic<std::uint64_t> m_latency_sum_ns{0};
  std::chrono::steady_clock::time_point m_started;
};

} // namespace dane::policyd
