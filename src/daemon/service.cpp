// PolicyService: cache, evaluations on the worker pool, verdict logging; the Verdict and TA files.
#include "dane/daemon/service.hpp"

#include <algorithm>

#include "dane/core/text.hpp"
#include "dane/daemon/error_boundary.hpp"

namespace dane::policyd {

// ---------------------------------------------------------------------------------------------------------
// Verdict

Verdict::Verdict(const PolicyAnswer& answer, std::shared_ptr<const DestinationFacts> facts)
    : m_facts(std::move(facts)), m_policy(answer.policy) {
  // Pack the three texts into one buffer; a text found in what is already packed (the
  // reason at the end of "TEMP 4.7.5 <reason>", would_answer == answer) is referenced.
  std::string packed = answer.answer;
  auto place = [&packed](const std::string& text, std::uint32_t& offset, std::uint32_t& size) {
    std::size_t at = text.empty() ? 0 : packed.find(text);
    if (at == std::string::npos) {
      at = packed.size();
      packed += text;
    }
    offset = static_cast<std::uint32_t>(at);
    size = static_cast<std::uint32_t>(text.size());
  };
  m_answer_size = static_cast<std::uint32_t>(answer.answer.size());
  place(answer.reason, m_reason_offset, m_reason_size);
  place(answer.would_answer, m_would_offset, m_would_size);
  m_text = std::make_unique_for_overwrite<char[]>(std::max<std::size_t>(packed.size(), 1));
  std::copy(packed.begin(), packed.end(), m_text.get());
}

PolicyAnswer Verdict::policy_answer() const {
  return PolicyAnswer{m_policy, std::string(answer()), std::string(reason()), std::string(would_answer())};
}

// ---------------------------------------------------------------------------------------------------------
// PolicyService

PolicyService::PolicyService(const Settings& settings, Evaluator evaluator, Prober prober, LogWriter& log, Stats& stats,
                             Cache<VerdictPtr>::Clock clock)
    : m_settings(settings), m_evaluator(std::move(evaluator)), m_log(log), m_stats(stats), m_clock(clock),
      m_cache(CacheLimits{settings.cache_size, settings.cache_min_ttl, settings.cache_max_ttl, settings.tempfail_ttl,
                          settings.cache_refresh, 2},
              clock),
      m_budget(std::max(1u, settings.max_evaluations), std::max(1u, settings.max_evaluations_per_zone)),
      m_anchors(settings.state_dir),
      m_probes(
          settings, std::move(prober),
          [this](const TlsaRecord& record, const std::string& pem) { m_anchors.captured(record, pem); }, log, stats,
          clock),
      m_workers("evaluation", std::max(1u, settings.workers), log, stats) {
  m_pinned.fingerprint_digest = settings.fingerprint_digest;
  m_pinned.ta_file = [this](const DestinationFacts& facts) { return m_anchors.file_for(facts); };
  if (!m_settings.cache_file.empty()) {
    m_cache_file = std::make_unique<CacheFileKeeper>(m_settings, m_cache, log, stats);
    m_cache_file->load();
    m_cache_file->start();
  }
}

PolicyService::~PolicyService() {
  shutdown();
}

void PolicyService::shutdown() {
  {
    std::lock_guard lock(m_shutdown_mutex);
    if (m_shut_down) {
      return;
    }
    m_shut_down = true;
  }
  if (m_shared) {
    m_shared->close(); // lookups waiting for Redis now are not answered: the server is closing
  }
  // Every evaluation in flight ends by its deadline (the resolver times it out); its finishing job
  // then runs on the workers. Wait for them before the pool and the members their jobs use go.
  if (!m_budget.wait_idle(m_settings.resolver.timeout + std::chrono::seconds(5))) {
    m_log.message(Severity::Warning, "shutdown: " + std::to_string(m_budget.in_flight()) +
                                         " evaluations still in flight after the DNS timeout");
  }
  m_probes.shutdown();
  m_workers.join();
  if (m_cache_file) {
    m_cache_file->stop_and_save();
  }
}

std::string PolicyService::normalise(std::string_view key) {
  std::string out(key);
  ascii_lower_in_place(out);
  return out;
}

void PolicyService::lookup(const std::string& key, Done done) {
  auto now = lookup_or_wait(key, [&done]() -> Done { return std::move(done); });
  if (now.verdict) {
    done(now.verdict, now.cached);
  }
}

PolicyService::Immediate PolicyService::lookup_or_wait(const std::string& raw_key,
                                                       const std::function<Done()>& make_done,
                                                       std::chrono::steady_clock::time_point arrival) {
  std::string key = normalise(raw_key);
  if (is_parent_key(key)) {
    // Postfix's parent-domain probe after a miss (docs/design.md §3): never a policy.
    static const VerdictPtr parent = std::make_shared<const Verdict>(parent_key_answer());
    m_stats.answer(parent->policy());
    return {parent, false};
  }
  auto result = m_cache.lookup_with(key, [&make_done]() -> Cache<VerdictPtr>::Waiter {
    return [done = make_done()](const VerdictPtr& v) { done(v, false); };
  });
  switch (result.kind) {
  case Cache<VerdictPtr>::Kind::Hit: {
    m_stats.cache_hit();
    VerdictPtr v = std::move(*result.value);
    m_stats.answer(v->policy());
    if (m_settings.log_cache_hits) {
      VerdictRecord rec{
          std::chrono::system_clock::now(), key, m_settings.mode, v->facts(), v->policy_answer(), true, nullptr, ""};
      m_log.verdict(render_verdict(rec));
    }
    if (result.refresh) {
      m_stats.refresh();
      start_evaluation(key, result.ticket, std::chrono::steady_clock::now(), false);
    }
    return {std::move(v), true};
  }
  case Cache<VerdictPtr>::Kind::Joined:
    m_stats.cache_coalesced();
    break;
  case Cache<VerdictPtr>::Kind::Evaluate:
    m_stats.cache_miss();
    start_evaluation(key, result.ticket, arrival);
    break;
  }
  return {};
}

void PolicyService::lookup_detailed(const std::string& raw_key, Done done) {
  std::string key = normalise(raw_key);
  if (is_parent_key(key)) {
    lookup(key, std::move(done)); // no DNS behind a parent-domain answer, so no facts to keep
    return;
  }
  auto result = m_cache.lookup_detailed(
      key,
      [&done]() -> Cache<VerdictPtr>::Waiter { return [d = std::move(done)](const VerdictPtr& v) { d(v, false); }; },
      [](const VerdictPtr& v) { return v->facts() != nullptr; });
  switch (result.kind) {
  case Cache<VerdictPtr>::Kind::Hit:
    m_stats.cache_hit();
    m_stats.answer((*result.value)->policy());
    if (result.refresh) {
      m_stats.refresh();
      start_evaluation(key, result.ticket, std::chrono::steady_clock::now(), false);
    }
    done(*result.value, true);
    return;
  case Cache<VerdictPtr>::Kind::Joined:
    m_stats.cache_coalesced();
    return;
  case Cache<VerdictPtr>::Kind::Evaluate:
    m_stats.cache_miss();
    start_evaluation(key, result.ticket, std::chrono::steady_clock::now(), false);
    return;
  }
}

std::size_t PolicyService::forget(std::string_view key) {
  std::size_t n = m_cache.erase(normalise(key)) ? 1 : 0;
  m_stats.cache_size(m_cache.size(), m_cache.evictions());
  return n;
}

std::size_t PolicyService::forget_all() {
  std::size_t n = m_cache.clear();
  m_stats.cache_size(m_cache.size(), m_cache.evictions());
  return n;
}

namespace {

// Keys whose evaluation needs no DNS (malformed, IP literal): they never wait for a slot.
bool needs_dns(const std::string& key) {
  auto hop = parse_next_hop(key);
  return hop && !hop->ip_literal && !hop->parent_key;
}

} // namespace

void PolicyService::start_evaluation(const std::string& key, Cache<VerdictPtr>::Ticket ticket,
                                     std::chrono::steady_clock::time_point arrival, bool shared) {
  // --shared-cache: a valid entry answers; anything else (none, rejected, Redis slow or down)
  // evaluates locally, within the shared cache's short budget (shared_cache.hpp).
  if (shared && m_shared && needs_dns(key)) {
    m_shared->get(key, [this, key, ticket, arrival](std::optional<OpenedEntry> entry) {
      if (entry) {
        m_workers.post([this, key, ticket, entry = std::move(*entry)] { answer_shared(key, ticket, entry); });
      } else {
        evaluate_locally(key, ticket, arrival);
      }
    });
    return;
  }
  evaluate_locally(key, ticket, arrival);
}

// An answer another daemon evaluated: cached for the entry's remaining lifetime, never logged as an evaluation.
void PolicyService::answer_shared(const std::string& key, Cache<VerdictPtr>::Ticket ticket, const OpenedEntry& entry) {
  auto v = std::make_shared<const Verdict>(entry.answer);
  auto waiters = m_cache.complete(key, ticket, v, v, entry.remaining, false);
  m_stats.cache_size(m_cache.size(), m_cache.evictions());
  answer_waiters(waiters, v);
}

void PolicyService::evaluate_locally(const std::string& key, Cache<VerdictPtr>::Ticket ticket,
                                     std::chrono::steady_clock::time_point arrival) {
  // No-DNS keys are counted under a zone of their own that no DNS evaluation uses ("" never
  // names a destination zone) and bypass the limits: they finish at once.
  const bool dns = needs_dns(key);
  std::string zone = dns ? destination_zone(key) : std::string();
  Admission admission = dns ? m_budget.admit(zone) : Admission::Admitted;
  if (admission != Admission::Admitted) {
    refuse(key, ticket, admission, zone);
    return;
  }
  if (!dns) {
    m_budget.admit_unlimited(zone);
  }
  m_stats.evaluations_in_flight(m_budget.in_flight());
  auto started = std::chrono::system_clock::now();
  // Runs once, on whatever thread the engine calls back on: hand the facts to a worker.
  FactsDone done = [this, key, ticket, zone, started](DestinationFacts facts) {
    m_workers.post([this, key, ticket, zone, started, facts = std::move(facts)]() mutable {
      finish(key, ticket, std::move(facts), started);
      m_budget.release(zone);
      m_stats.evaluations_in_flight(m_budget.in_flight());
    });
  };
  try {
    m_evaluator(key, arrival + m_settings.resolver.timeout, std::move(done));
  } catch (...) {
    // The engine never took the evaluation: its waiters get TEMP now.
    std::string reason = "internal error: unknown exception";
    try {
      throw;
    } catch (const std::exception& e) {
      reason = std::string("internal error: ") + e.what();
    } catch (...) {
      report_internal_error(m_log, m_stats, "evaluation of " + quote_untrusted(key), "answered TEMP");
    }
    m_workers.post([this, key, ticket, zone, reason] {
      answer_temp(key, ticket, reason);
      m_budget.release(zone);
      m_stats.evaluations_in_flight(m_budget.in_flight());
    });
  }
}

// No slot: TEMP for the waiters (on a worker, as every evaluation answers), counted; nothing is
// cached, and a refresh leaves the value it was to replace.
void PolicyService::refuse(const std::string& key, Cache<VerdictPtr>::Ticket ticket, Admission why,
                           const std::string& zone) {
  m_stats.evaluation_refused(why == Admission::FullZone);
  std::string reason =
      why == Admission::FullZone
          ? "too many evaluations in flight for zone " + quote_untrusted(zone) + " (limit " +
                std::to_string(m_budget.per_zone()) + "): try again later"
          : "too many evaluations in flight (limit " + std::to_string(m_budget.total()) + "): try again later";
  m_workers.post([this, key, ticket, reason] {
    auto v = std::make_shared<const Verdict>(temp_answer(reason));
    auto waiters = m_cache.abandon(key, ticket);
    answer_waiters(waiters, v);
  });
}

EvaluationPtr PolicyService::make_evaluation(const std::string& key, DestinationFacts facts,
                                             std::chrono::system_clock::time_point started) {
  auto e = std::make_shared<Evaluation>();
  e->key = key;
  e->time = started;
  e->facts = std::move(facts);
  try {
    e->answer = decide(e->facts, m_settings.mode, m_pinned);
  } catch (const std::exception& ex) {
    e->answer = temp_answer(std::string("internal error: ") + ex.what());
  } catch (...) {
    // Not even a std::exception: nobody expected this one (error_boundary.hpp).
    report_internal_error(m_log, m_stats, "evaluation of " + quote_untrusted(key), "answered TEMP");
    e->answer = temp_answer("internal error: unknown exception");
  }
  if (e->answer.answer.empty()) {
    e->answer = temp_answer("internal error: empty answer");
  }
  return e;
}

void PolicyService::finish(const std::string& key, Cache<VerdictPtr>::Ticket ticket, DestinationFacts facts,
                           std::chrono::system_clock::time_point started) {
  bool answered = false;
  try {
    finish_and_answer(key, ticket, std::move(facts), started, answered);
  } catch (...) {
    report_internal_error(m_log, m_stats, "evaluation of " + quote_untrusted(key), answered ? "" : "answered TEMP");
    if (!answered) {
      answer_temp(key, ticket, "internal error");
    }
  }
}

// TEMP for everybody waiting for an evaluation that failed unexpectedly; cached as any TEMP is.
void PolicyService::answer_temp(const std::string& key, Cache<VerdictPtr>::Ticket ticket, const std::string& reason) {
  auto v = std::make_shared<const Verdict>(temp_answer(reason));
  auto waiters = m_cache.complete(key, ticket, v, v, std::chrono::seconds(0), true);
  m_stats.cache_size(m_cache.size(), m_cache.evictions());
  answer_waiters(waiters, v);
}

// Each waiter inside its own boundary: one that throws costs nobody else an answer.
void PolicyService::answer_waiters(std::vector<Cache<VerdictPtr>::Waiter>& waiters, const VerdictPtr& verdict) {
  for (auto& w : waiters) {
    m_stats.answer(verdict->policy());
    run_guarded(m_log, m_stats, "answering a lookup", [&] { w(verdict); });
  }
}

void PolicyService::finish_and_answer(const std::string& key, Cache<VerdictPtr>::Ticket ticket, DestinationFacts facts,
                                      std::chrono::system_clock::time_point started, bool& answered) {
  if (facts.internal_error) {
    report_internal_error_text(m_log, m_stats, "evaluation of " + quote_untrusted(key), facts.reason, "answered TEMP");
  }
  EvaluationPtr e = make_evaluation(key, std::move(facts), started);
  const bool temporary = e->answer.policy == PolicyKind::TempFail ||
                         (m_settings.mode == Mode::Monitor && e->facts.outcome == DestinationOutcome::TempFail);
  m_stats.evaluation(e->facts.outcome == DestinationOutcome::TempFail || e->answer.policy == PolicyKind::TempFail);
  m_stats.dns_failures(e->facts);

  VerdictRecord rec{e->time, e->key, m_settings.mode, &e->facts, e->answer, false, nullptr, ""};
  if (!m_log.verdict(render_verdict(rec))) {
    m_stats.log_dropped();
  }
  m_log.message(e->answer.policy == PolicyKind::TempFail ? Severity::Warning : Severity::Info, summary_line(rec));

  // The cache keeps the compact answer; the facts stay only while a probe needs them,
  // for the cache-hit lines of --log-cache-hits, or when an operator's detailed lookup
  // waits for this evaluation (the facts are shared with the evaluation, not copied).
  std::shared_ptr<const DestinationFacts> shared_facts(e, &e->facts);
  auto detailed = std::make_shared<const Verdict>(e->answer, shared_facts);
  auto compact = m_settings.log_cache_hits ? detailed : std::make_shared<const Verdict>(e->answer);
  bool wants_detailed = false;
  auto waiters =
      m_cache.complete(key, ticket, compact, detailed, std::chrono::seconds(e->facts.ttl), temporary, &wants_detailed);
  m_stats.cache_size(m_cache.size(), m_cache.evictions());
  answered = true;
  answer_waiters(waiters, wants_detailed ? detailed : compact);
  if (m_shared && !temporary && needs_dns(key)) {
    m_shared->put(key, e->answer,
                  std::clamp(std::chrono::seconds(e->facts.ttl), m_settings.cache_min_ttl, m_settings.cache_max_ttl));
  }
  if (m_settings.probe) {
    m_probes.schedule(e);
  }
}

} // namespace dane::policyd
