// dane/daemon/probe_scheduler.hpp — background STARTTLS probe rounds after evaluations (--probe).
//
// An evaluation that found usable TLSA schedules one probe round of the destination's
// DANE-usable MX addresses: at most one round per destination per TLSA TTL (at least
// --cache-min-ttl), on a thread of its own, never on the request path. Each round's per-address
// results go to the verdict log (event "probe") and a syslog summary; a certificate that matched
// a DANE-TA record is handed to `captured` (pinned mode's trust-anchor files). A probe never
// changes a cached answer.
// Inputs: evaluations the daemon made (their DNS facts came from a validating resolver; the
// probed servers are untrusted, and the prober treats them so). Failure modes: rounds beyond the
// limits below are skipped, not queued; a prober that throws loses that round only (a
// std::exception is a warning "probe of D failed"; anything else an internal-error).
// Threading: schedule() from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dane/daemon/job_pool.hpp"
#include "dane/daemon/settings.hpp"
#include "dane/daemon/stats.hpp"
#include "dane/daemon/verdict_log.hpp"
#include "dane/policy/policy_engine.hpp"
#include "dane/verifier/destination.hpp"
#include "dane/verifier/probe.hpp"

namespace dane::policyd {

// Probes addresses (blocking). The real one wraps probe_all().
using Prober = std::function<std::vector<ProbeReport>(const std::vector<ProbeRequest>&)>;

// One evaluation with everything behind it: what the verdict log and a probe need.
struct Evaluation {
  std::string key;
  DestinationFacts facts;
  PolicyAnswer answer;
  std::chrono::system_clock::time_point time;
};
using EvaluationPtr = std::shared_ptr<const Evaluation>;

class ProbeScheduler {
public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  // A certificate (PEM) a probe saw matching a DANE-TA record.
  using Captured = std::function<void(const TlsaRecord& record, const std::string& certificate_pem)>;

  // Rounds waiting for the probe thread: a burst of new destinations (a queue run after an
  // outage) must not pile up minutes of probing; a skipped destination is probed after its next
  // evaluation.
  static constexpr std::size_t k_max_queued_rounds = 64;
  // Addresses probed in one round: a destination with many MX hosts and addresses must not hold
  // the probe thread (and --probe-timeout per address) for long; 32 covers real MX sets.
  static constexpr std::size_t k_max_addresses_per_round = 32;
  // Destinations whose next probe time is remembered: beyond this, those already due are
  // forgotten, so the schedule stays bounded by the destinations recently probed.
  static constexpr std::size_t k_max_remembered_destinations = 10000;

  ProbeScheduler(const Settings& settings, Prober prober, Captured captured, LogWriter& log, Stats& stats, Clock clock);
  ~ProbeScheduler(); // shutdown()
  ProbeScheduler(const ProbeScheduler&) = delete;
  ProbeScheduler& operator=(const ProbeScheduler&) = delete;

  // Queues a round for `evaluation` when it found usable TLSA and the destination is due.
  void schedule(const EvaluationPtr& evaluation);
  // Drops queued rounds, waits for the running one; schedule() does nothing afterwards. Idempotent.
  void shutdown();

private:
  void run(const Evaluation& evaluation);
  std::vector<ProbeRequest> requests_for(const Evaluation& evaluation, std::vector<std::string>& owners) const;

  Mode m_mode;
  std::chrono::seconds m_min_interval;
  std::chrono::seconds m_probe_timeout;
  Prober m_prober;
  Captured m_captured;
  LogWriter& m_log;
  Stats& m_stats;
  Clock m_clock;
  std::mutex m_mutex;
  std::map<std::string, std::chrono::steady_clock::time_point> m_next_probe; // per destination
  std::size_t m_queued = 0;
  bool m_shut_down = false;
  JobPool m_pool; // last: its thread stops before the members it uses go
};

} // namespace dane::policyd
