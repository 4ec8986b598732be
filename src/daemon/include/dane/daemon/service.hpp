// dane/daemon/service.hpp — lookup key -> cache -> evaluation -> policy answer.
//
// PolicyService is what every listener calls. lookup() never blocks: a fresh cache
// entry is answered at once; otherwise the key's evaluation starts on the asynchronous
// engine (Evaluator: evaluate_destination_async over libunbound's event loop, no thread
// waits for DNS), and every lookup of the same key that arrives meanwhile joins it (one
// evaluation, many answers). Evaluations in flight are bounded (EvaluationBudget,
// admission.hpp: --max-evaluations, --max-evaluations-per-zone); a lookup that finds no
// slot is answered TEMP at once with a reason saying so, counted, and nothing is cached.
// The evaluation's deadline is the lookup's arrival + --dns-timeout. When its facts are in,
// decide() and the verdict log run on a small pool of worker threads (--workers); the
// result is cached for its TTL (TEMP only briefly), logged once per evaluation (verdict log
// line + syslog summary), and handed to `done` on a worker thread. Lookups that need no DNS
// (cache hits, parent keys, IP literals, malformed keys) never wait for a slot.
// A throwing evaluator or policy engine yields TEMP, never a weaker answer.
// Finishing jobs run on a JobPool (job_pool.hpp): an unexpected exception in one answers its
// waiters TEMP, is logged once ("internal-error") and counted; the other evaluations go on.
// With --cache-file, the constructor restores the cache an earlier run saved (before anything is
// served), a thread saves it every --cache-file-interval, and shutdown() saves it once the last
// evaluation has finished (CacheFileKeeper, cache_file.hpp).
// Parent-domain keys (".example.com") are answered NOTFOUND without DNS (is_parent_key,
// parent_key_answer: answer.hpp). Pinned mode's trust-anchor files: TrustAnchorStore (ta_store.hpp)
// over --state-dir.
//
// With probing on, an evaluation that found usable TLSA schedules a background
// STARTTLS probe round of the destination's addresses (ProbeScheduler,
// probe_scheduler.hpp: at most one per destination per TLSA TTL, bounded, never on
// the request path); its per-address results go to the verdict log, and a DANE-TA
// certificate it captured feeds pinned mode's trust-anchor files. A probe never
// changes a cached answer to a weaker one.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "dane/daemon/admission.hpp"
#include "dane/daemon/asio.hpp"
#include "dane/daemon/cache.hpp"
#include "dane/daemon/cache_file.hpp"
#include "dane/daemon/job_pool.hpp"
#include "dane/daemon/probe_scheduler.hpp"
#include "dane/daemon/settings.hpp"
#include "dane/daemon/shared_cache.hpp"
#include "dane/daemon/stats.hpp"
#include "dane/daemon/verdict_log.hpp"
#include "dane/policy/policy_engine.hpp"
#include "dane/policy/ta_store.hpp"
#include "dane/verifier/destination.hpp"
#include "dane/verifier/probe.hpp"

namespace dane::policyd {

// What the cache keeps and every listener reads: the answer, its reason and (monitor
// mode) the answer enforcement would give, packed into one buffer (a text that is
// already there, e.g. the reason at the end of "TEMP 4.7.5 <reason>", is not stored
// twice) — not the DNS facts behind it. The facts are logged when the destination
// is evaluated and handed to a probe if one is scheduled, then dropped; only with
// --log-cache-hits, or for a destination an operator asked about in detail
// (lookup_detailed: `dane-policyctl query --json`), does the verdict keep them.
// Immutable; shared between the cache and in-flight answers through VerdictPtr.
class Verdict {
public:
  explicit Verdict(const PolicyAnswer& answer, std::shared_ptr<const DestinationFacts> facts = nullptr);
  Verdict(const Verdict&) = delete;
  Verdict& operator=(const Verdict&) = delete;

  PolicyKind policy() const { return m_policy; }
  std::string_view answer() const { return {m_text.get(), m_answer_size}; } // the exact socketmap reply
  std::string_view reason() const { return {m_text.get() + m_reason_offset, m_reason_size}; }
  std::string_view would_answer() const { return {m_text.get() + m_would_offset, m_would_size}; }
  // What the per-protocol encoders read (answer.hpp): views into this verdict, no copy.
  AnswerView view() const { return AnswerView{m_policy, answer(), reason()}; }
  PolicyAnswer policy_answer() const;                             // a copy, for log lines
  const DestinationFacts* facts() const { return m_facts.get(); } // null unless kept (see above)

private:
  std::unique_ptr<char[]> m_text;
  std::shared_ptr<const DestinationFacts> m_facts;
  std::uint32_t m_answer_size = 0;
  std::uint32_t m_reason_offset = 0;
  std::uint32_t m_reason_size = 0;
  std::uint32_t m_would_offset = 0;
  std::uint32_t m_would_size = 0;
  PolicyKind m_policy = PolicyKind::TempFail;
};
using VerdictPtr = std::shared_ptr<const Verdict>;

// Evaluates one lookup key without blocking: `done(facts)` exactly once, later, on any thread
// (the real one is evaluate_destination_async(): on the resolver's event-loop thread). `deadline`
// bounds the evaluation. An Evaluator may throw instead of calling `done` (the lookup gets TEMP).
using FactsDone = std::function<void(DestinationFacts)>;
using Evaluator =
    std::function<void(const std::string& key, std::chrono::steady_clock::time_point deadline, FactsDone done)>;

class PolicyService {
public:
  // `done(verdict, cached)` is called exactly once per lookup, on a worker thread or
  // (cache hit) on the caller's thread. `verdict` is never null.
  using Done = std::function<void(const VerdictPtr&, bool cached)>;

  PolicyService(
      const Settings& settings, Evaluator evaluator, Prober prober, LogWriter& log, Stats& stats,
      Cache<VerdictPtr>::Clock clock = [] { return std::chrono::steady_clock::now(); });
  ~PolicyService(); // waits for running evaluations and probes
  PolicyService(const PolicyService&) = delete;
  PolicyService& operator=(const PolicyService&) = delete;

  // What lookup_or_wait() answered at once.
  struct Immediate {
    VerdictPtr verdict; // null: an evaluation runs and the Done from `make_done()` gets its result
    bool cached = false;
  };
  // The daemon's hot path. A cache hit or a parent-domain key is answered at once: the verdict is
  // returned and `make_done` is never called, so a hit builds no callback. Otherwise the Done that
  // `make_done()` builds is called exactly once, later, on a worker thread.
  // `arrival`: when the request arrived (the evaluation's deadline is arrival + --dns-timeout).
  Immediate lookup_or_wait(const std::string& key, const std::function<Done()>& make_done,
                           std::chrono::steady_clock::time_point arrival = std::chrono::steady_clock::now());
  // `done(verdict, cached)` exactly once: at once for a hit, otherwise on a worker thread.
  void lookup(const std::string& key, Done done);
  // As lookup(), for an operator's detailed question (`dane-policyctl query --json`): the verdict
  // keeps the DNS facts behind it (`facts()` non-null, except for parent-domain keys, which
  // need no DNS). A cached verdict without facts is not good enough: the key is evaluated
  // again (with full validation, exactly as on a miss) and the new verdict, facts included,
  // replaces the cached one; meanwhile ordinary lookups keep getting the old one.
  void lookup_detailed(const std::string& key, Done done);
  // An operator's flush: forget the cached verdict of one key (normalised as lookups are), or of
  // every key. Forgetting never weakens a policy: the next lookup evaluates afresh, with full
  // validation. An evaluation running meanwhile answers those who asked before the flush but
  // does not put its result into the cache (cache.hpp). Returns how many keys were forgotten.
  std::size_t forget(std::string_view key);
  std::size_t forget_all();
  // --shared-cache (shared_cache.hpp): a local miss asks `shared` before evaluating, and evaluations
  // are stored there; `shared` starts connecting. Call before the first lookup (null: none).
  void attach_shared_cache(std::shared_ptr<SharedCache> shared) {
    m_shared = std::move(shared);
    if (m_shared) {
      m_shared->start();
    }
  }
  // Stop taking probe work and wait for running jobs (called at shutdown): evaluations in flight
  // end by their deadline, so this waits at most about --dns-timeout. Then saves --cache-file.
  void shutdown();

  // Normalised cache key: ASCII lowercase.
  static std::string normalise(std::string_view key);

private:
  // A worker's job once the facts are in: decide, log, cache and answer the waiters. Inside an error
  // boundary: when it throws before the waiters were answered, they get TEMP (answer_temp).
  void finish(const std::string& key, Cache<VerdictPtr>::Ticket ticket, DestinationFacts facts,
              std::chrono::system_clock::time_point started);
  void finish_and_answer(const std::string& key, Cache<VerdictPtr>::Ticket ticket, DestinationFacts facts,
                         std::chrono::system_clock::time_point started, bool& answered);
  void answer_temp(const std::string& key, Cache<VerdictPtr>::Ticket ticket, const std::string& reason);
  void answer_waiters(std::vector<Cache<VerdictPtr>::Waiter>& waiters, const VerdictPtr& verdict);
  // Admits the evaluation of `key` (or answers TEMP: no slot) and starts it on the engine.
  // `shared`: a valid entry of the shared cache may answer (not for refreshes and detailed lookups).
  void start_evaluation(const std::string& key, Cache<VerdictPtr>::Ticket ticket,
                        std::chrono::steady_clock::time_point arrival, bool shared = true);
  void evaluate_locally(const std::string& key, Cache<VerdictPtr>::Ticket ticket,
                        std::chrono::steady_clock::time_point arrival);
  void answer_shared(const std::string& key, Cache<VerdictPtr>::Ticket ticket, const OpenedEntry& entry);
  void refuse(const std::string& key, Cache<VerdictPtr>::Ticket ticket, Admission why, const std::string& zone);
  EvaluationPtr make_evaluation(const std::string& key, DestinationFacts facts,
                                std::chrono::system_clock::time_point started);

  Settings m_settings;
  Evaluator m_evaluator;
  LogWriter& m_log;
  Stats& m_stats;
  Cache<VerdictPtr>::Clock m_clock;
  Cache<VerdictPtr> m_cache;
  std::unique_ptr<CacheFileKeeper> m_cache_file; // --cache-file: loaded here, saved periodically and at shutdown
  EvaluationBudget m_budget;
  TrustAnchorStore m_anchors;
  PinnedOptions m_pinned;
  std::shared_ptr<SharedCache> m_shared; // null: no --shared-cache
  std::mutex m_shutdown_mutex;
  bool m_shut_down = false;
  // Last, so that their threads stop before the members their jobs use go.
  ProbeScheduler m_probes;
  JobPool m_workers;
};

} // namespace dane::policyd
