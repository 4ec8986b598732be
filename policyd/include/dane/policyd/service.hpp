// dane/policyd/service.hpp — lookup key -> cache -> evaluation -> policy answer.
//
// PolicyService is what every listener calls. lookup() never blocks: a fresh cache
// entry is answered at once; otherwise the key's evaluation (blocking DNS through
// the Evaluator, then decide()) runs on a worker thread pool, and every lookup of
// the same key that arrives meanwhile joins it (one evaluation, many answers). The
// result is cached for its TTL (TEMP only briefly), logged once per evaluation
// (verdict log line + syslog summary), and handed to `done` on a worker thread.
// A throwing evaluator or policy engine yields TEMP, never a weaker answer.
// Parent-domain keys (".example.com") are answered NOTFOUND without DNS.
//
// With probing on, an evaluation that found usable TLSA schedules a background
// STARTTLS probe round of the destination's addresses (at most one per
// destination per TLSA TTL, bounded concurrency, never on the request path); its
// per-address results go to the verdict log, and a DANE-TA certificate it
// captured feeds pinned mode's trust-anchor files. A probe never changes a
// cached answer to a weaker one.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>


#include "dane/destination.hpp"
#include "dane/policyd/asio.hpp"
#include "dane/policyd/cache.hpp"
#include "dane/policyd/policy_engine.hpp"
#include "dane/policyd/settings.hpp"
#include "dane/policyd/stats.hpp"
#include "dane/policyd/verdict_log.hpp"
#include "dane/probe.hpp"

namespace dane::policyd {

struct Verdict {
  std::string key;
  DestinationFacts facts;
  PolicyAnswer answer;
  std::chrono::system_clock::time_point time;
};
using VerdictPtr = std::shared_ptr<const Verdict>;

// Evaluates one lookup key (blocking; DNS). The real one wraps evaluate_destination().
using Evaluator = std::function<DestinationFacts(const std::string& key)>;
// Probes addresses (blocking). The real one wraps probe_all().
using Prober = std::function<std::vector<ProbeReport>(const std::vector<ProbeRequest>&)>;

// Trust-anchor files for pinned DANE-TA (PinnedOptions::ta_file): PEM of the `2 x 0`
// record data, or of a DANE-TA certificate a probe captured for a `2 x 1|2` record,
// written once into the state directory under a content-hash name.
class TrustAnchorStore {
public:
  explicit TrustAnchorStore(std::string state_dir) : m_dir(std::move(state_dir)) {}
  // nullopt unless every usable DANE-TA record of the destination can be anchored.
  std::optional<std::string> file_for(const DestinationFacts& facts);
  // Remember the certificate (PEM) that matched a DANE-TA record in a probe.
  void captured(const TlsaRecord& record, const std::string& certificate_pem);

private:
  std::optional<std::string> write_file(const std::string& content);
  std::string m_dir;
  std::mutex m_mutex;
  std::map<std::string, std::string> m_captured; // record text -> PEM
};

class PolicyService {
public:
  // `done(verdict, cached)` is called exactly once per lookup, on a worker thread or
  // (cache hit) on the caller's thread.
  using Done = std::function<void(const VerdictPtr&, bool cached)>;

  PolicyService(const Settings& settings, Evaluator evaluator, Prober prober, LogWriter& log, Stats& stats,
                Cache<VerdictPtr>::Clock clock = [] { return std::chrono::steady_clock::now(); });
  ~PolicyService(); // waits for running evaluations and probes
  PolicyService(const PolicyService&) = delete;
  PolicyService& operator=(const PolicyService&) = delete;

  void lookup(const std::string& key, Done done);
  // Stop taking probe work and wait for running jobs (called at shutdown).
  void shutdown();

  // Normalised cache key: ASCII lowercase.
  static std::string normalise(std::string_view key);

private:
  void evaluate(const std::string& key);
  void schedule_probe(const VerdictPtr& verdict);
  void run_probe(const VerdictPtr& verdict);
  VerdictPtr make_verdict(const std::string& key);

  Settings m_settings;
  Evaluator m_evaluator;
  Prober m_prober;
  LogWriter& m_log;
  Stats& m_stats;
  Cache<VerdictPtr>::Clock m_clock;
  Cache<VerdictPtr> m_cache;
  TrustAnchorStore m_anchors;
  PinnedOptions m_pinned;
  boost::asio::thread_pool m_workers;
  boost::asio::thread_pool m_probers;
  std::mutex m_probe_mutex;
  std::map<std::string, std::chrono::steady_clock::time_point> m_next_probe; // per destination
  std::size_t m_probes_queued = 0;
  bool m_shut_down = false;
};

} // namespace dane::policyd
