// dane/daemon/metrics.hpp — the daemon's counters in the Prometheus text exposition format 0.0.4.
//
// render_metrics() turns a StatsSnapshot (stats.hpp) and a few facts about the process into the
// body of `GET /metrics` (--metrics, served by metrics_http.hpp): HELP and TYPE lines for every
// family, names prefixed `dane_policyd_`, counters ending `_total`, durations in seconds. Labels
// take only fixed values (protocol, policy kind, mode, failure kind, probe result, listener kind,
// HTTP status): never a destination, so the number of series is bounded and small.
// Inputs: trusted (the daemon's own counters). Failure modes: none (pure; allocates the text).
// The list of families is in man/dane-policyd.8 (METRICS).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>

#include "dane/daemon/stats.hpp"
#include "dane/policy/policy_engine.hpp"

namespace dane::policyd {

// HTTP statuses the metrics endpoint answers with, counted by the endpoint itself.
inline constexpr std::array<unsigned, 7> k_metrics_http_statuses{200, 400, 404, 405, 413, 431, 503};

// What the endpoint itself knows: its own requests and connections (I/O thread only).
struct MetricsHttpCounters {
  std::array<std::uint64_t, k_metrics_http_statuses.size()> responses{}; // by k_metrics_http_statuses
  std::uint64_t refused = 0;  // connections closed at once (too many at once)
  std::uint64_t timeouts = 0; // connections closed because a request was not read in time
  void count(unsigned status);
};

struct MetricsContext {
  Mode mode = Mode::Native;
  std::string version;
  std::chrono::system_clock::time_point started; // process start (for start_time_seconds)
  MetricsHttpCounters http;
};

// The exposition text (ends with a newline); Content-Type k_metrics_content_type.
std::string render_metrics(const StatsSnapshot& stats, const MetricsContext& context);
inline constexpr const char* k_metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

// A duration in nanoseconds as a decimal number of seconds, exactly ("0.0025", "10").
std::string seconds_text(std::uint64_t nanoseconds);

} // namespace dane::policyd
