// dane/daemon/metrics_http.hpp — the HTTP endpoint of --metrics (Boost.Beast, on the daemon's I/O thread).
//
// MetricsServer listens on one inet endpoint (bound as root before the privilege drop, like the
// other listeners) and answers, on the daemon's own io_context (no thread of its own):
//   GET /metrics   200, the Prometheus text of metrics.hpp (Content-Type k_metrics_content_type)
//   GET /healthz   200 "ok" while serving; 503 "starting" before the I/O loop serves, 503
//                  "draining" once the daemon stops (SIGTERM, SIGINT): a load balancer or
//                  orchestrator stops sending work while open requests finish
//   HEAD           as GET, without the body
//   other paths 404; other methods on these paths 405 (Allow: GET, HEAD)
// Every response closes the connection (Connection: close). A query string is ignored.
// Inputs: untrusted (any local or remote client that can reach the endpoint; it reveals only
// counters, never destinations, and changes nothing). Limits against a hostile client: at most
// k_metrics_max_connections connections at once (beyond: closed at once, counted, warned about at
// most once a second); a request head of at most k_metrics_header_limit bytes (beyond: 431) and
// no body (a body: 413); a garbled request: 400; a request not read completely within
// k_metrics_read_timeout of the connection's start: closed (counted); the answer must be written
// within the same time again. Nothing a client does here delays Postfix's lookups beyond the cost
// of rendering a scrape. Failure modes: bind() returns an error naming the endpoint; accept
// errors back off 100 ms; an unexpected exception costs that one connection (error_boundary.hpp).
// Threading: everything runs on the I/O thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "dane/core/expected.hpp"
#include "dane/daemon/asio.hpp"
#include "dane/daemon/metrics.hpp"
#include "dane/daemon/settings.hpp"
#include "dane/daemon/stats.hpp"
#include "dane/daemon/verdict_log.hpp"

namespace dane::policyd {

inline constexpr std::size_t k_metrics_max_connections = 16;
inline constexpr std::size_t k_metrics_header_limit = 8192;
inline constexpr std::chrono::seconds k_metrics_read_timeout{10};

enum class Health { Starting, Serving, Draining };

class MetricsServer {
public:
  // What /healthz reports once the I/O loop serves (before that: Starting).
  using HealthSource = std::function<Health()>;

  // Binds `endpoint` (inet only). `context` gives the mode, version and start time shown.
  static Expected<std::unique_ptr<MetricsServer>> bind(boost::asio::io_context& io, const Endpoint& endpoint,
                                                       Stats& stats, MetricsContext context, HealthSource health,
                                                       LogWriter& log);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // "metrics inet:127.0.0.1:9142" (the port actually bound), for the ready line.
  std::string description() const;
  // Starts accepting once the I/O loop runs (until then /healthz would say "starting").
  void start();
  void close();

  struct State;

private:
  MetricsServer() = default;
  std::shared_ptr<State> m_state;
};

} // namespace dane::policyd

namespace dane::policyd {

// --metrics of `settings`: binds it (call as root, with the other listeners) and serves it once
// the I/O loop runs; nullptr when --metrics is not given, and with --stdio (a warning: every
// spawned daemon would bind the same port). Errors name the option and the endpoint.
Expected<std::unique_ptr<MetricsServer>> start_metrics(boost::asio::io_context& io, const Settings& settings,
                                                       Stats& stats, MetricsServer::HealthSource health,
                                                       LogWriter& log);

} // namespace dane::policyd
