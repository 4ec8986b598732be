// Unit tests of PolicyService and its compact Verdict (src/daemon/include/dane/daemon/service.hpp),
// with an injected evaluator (no DNS): the verdict packs answer, reason and would_answer
// into one buffer without losing a byte; a cached verdict keeps no DNS facts unless
// --log-cache-hits needs them, and then a cache-hit line carries the same hosts as the
// evaluation's line; parent keys need no evaluation; a throwing evaluator gives TEMP.
// The error boundary: an evaluator, a waiting callback or a prober that throws anything costs
// one request (TEMP), one answer or one probe round, is counted, and the service goes on.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "blocking_evaluator.hpp"
#include "dane/daemon/service.hpp"
#include "fake_facts.hpp"
#include "temp_dir.hpp"

namespace dane::policyd {
namespace {

using namespace std::chrono_literals;

// ------------------------------------------------------------------------------------------------------
// Verdict packing

bool within(std::string_view inner, std::string_view outer) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

TEST(Verdict, TempReasonIsTheTailOfTheAnswerAndStoredOnce) {
  const std::string reason = "MX lookup for d1.bench.test failed: REFUSED";
  PolicyAnswer a{PolicyKind::TempFail, "TEMP 4.7.5 " + reason, reason, "TEMP 4.7.5 " + reason};
  Verdict v(a);
  EXPECT_EQ(v.policy(), PolicyKind::TempFail);
  EXPECT_EQ(v.answer(), a.answer);
  EXPECT_EQ(v.reason(), reason);
  EXPECT_EQ(v.would_answer(), a.answer);
  EXPECT_TRUE(within(v.reason(), v.answer())) << "the reason is not stored a second time";
  EXPECT_EQ(v.would_answer().data(), v.answer().data());
  EXPECT_EQ(v.facts(), nullptr);
  auto back = v.policy_answer();
  EXPECT_EQ(back.policy, a.policy);
  EXPECT_EQ(back.answer, a.answer);
  EXPECT_EQ(back.reason, a.reason);
  EXPECT_EQ(back.would_answer, a.would_answer);
}

TEST(Verdict, DistinctTextsAreKeptApartAndExact) {
  PolicyAnswer a{PolicyKind::DaneOnly, "OK dane-only", "every MX host has usable TLSA records", "OK dane-only"};
  Verdict v(a);
  EXPECT_EQ(v.answer(), "OK dane-only");
  EXPECT_EQ(v.reason(), "every MX host has usable TLSA records");
  EXPECT_EQ(v.would_answer(), "OK dane-only");

  // Monitor mode: the answer is NOTFOUND, the would-be answer differs.
  PolicyAnswer m{PolicyKind::NotFound, "NOTFOUND ", "monitor mode, would answer 'OK dane': 1 of 2 MX hosts", "OK dane"};
  Verdict mv(m);
  EXPECT_EQ(mv.answer(), "NOTFOUND ");
  EXPECT_EQ(mv.reason(), m.reason);
  EXPECT_EQ(mv.would_answer(), "OK dane");

  // Empty texts and a reason that only partly overlaps the answer.
  PolicyAnswer e{PolicyKind::NotFound, "NOTFOUND ", "", ""};
  Verdict ev(e);
  EXPECT_EQ(ev.answer(), "NOTFOUND ");
  EXPECT_EQ(ev.reason(), "");
  EXPECT_EQ(ev.would_answer(), "");
  PolicyAnswer p{PolicyKind::TempFail, "TEMP x", "x and more", "TEMP x"};
  Verdict pv(p);
  EXPECT_EQ(pv.reason(), "x and more");
}

// ------------------------------------------------------------------------------------------------------
// PolicyService with an injected evaluator

using test::TempDir;

DestinationFacts facts_for(const std::string& key) {
  return test::dane_only_facts(key);
}

// Waits for `done` callbacks (they run on worker threads).
struct Answers {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::pair<VerdictPtr, bool>> got;
  PolicyService::Done callback() {
    return [this](const VerdictPtr& v, bool cached) {
      std::lock_guard lock(mutex);
      got.emplace_back(v, cached);
      cv.notify_all();
    };
  }
  bool wait_for(std::size_t n) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, 60s, [&] { return got.size() >= n; });
  }
};

Prober no_probes() {
  return [](const std::vector<ProbeRequest>&) { return std::vector<ProbeReport>{}; };
}

struct ServiceRig {
  // With a prober, --probe is on.
  using Blocking = std::function<DestinationFacts(const std::string&)>;
  explicit ServiceRig(bool log_cache_hits, Blocking evaluator = facts_for, Prober prober = nullptr) {
    settings.mode = Mode::Native;
    settings.log_cache_hits = log_cache_hits;
    settings.probe = prober != nullptr;
    settings.state_dir = dir.path();
    settings.workers = 2;
    LogOptions lo;
    lo.verdict_log = dir.path() + "/verdicts.jsonl";
    lo.to_syslog = false;
    auto opened = LogWriter::open(lo);
    if (opened) {
      log = std::move(*opened);
      log->start();
    }
    service = std::make_unique<PolicyService>(settings, test::blocking_evaluator(std::move(evaluator)),
                                              prober ? std::move(prober) : no_probes(), *log, stats);
  }
  ~ServiceRig() {
    service.reset();
    log.reset();
  }
  std::vector<nlohmann::json> lines() {
    log->flush();
    std::vector<nlohmann::json> out;
    std::ifstream in(dir.path() + "/verdicts.jsonl");
    for (std::string line; std::getline(in, line);) {
      out.push_back(nlohmann::json::parse(line));
    }
    return out;
  }

  TempDir dir;
  Settings settings;
  Stats stats;
  std::unique_ptr<LogWriter> log;
  std::unique_ptr<PolicyService> service;
};

TEST(PolicyService, CachedVerdictKeepsTheAnswerButNotTheFacts) {
  ServiceRig rig(/*log_cache_hits=*/false);
  ASSERT_TRUE(rig.log);
  Answers answers;
  rig.service->lookup("Example.TEST", answers.callback());
  ASSERT_TRUE(answers.wait_for(1));
  rig.service->lookup("example.test", answers.callback());
  ASSERT_TRUE(answers.wait_for(2));
  const auto& [first, first_cached] = answers.got[0];
  const auto& [second, second_cached] = answers.got[1];
  EXPECT_FALSE(first_cached);
  EXPECT_TRUE(second_cached);
  EXPECT_EQ(first.get(), second.get()) << "the hit hands out the cached verdict";
  EXPECT_EQ(second->answer(), "OK dane-only");
  EXPECT_EQ(second->policy(), PolicyKind::DaneOnly);
  EXPECT_EQ(second->reason(), "the MX host has usable TLSA records");
  EXPECT_EQ(second->facts(), nullptr) << "the DNS facts are dropped once logged";
  EXPECT_EQ(rig.stats.evaluations(), 1u);
  auto lines = rig.lines();
  ASSERT_EQ(lines.size(), 1u) << "cache hits are not logged without --log-cache-hits";
  EXPECT_EQ(lines[0]["destination"], "example.test");
  ASSERT_EQ(lines[0]["hosts"].size(), 1u) << "the evaluation's line has the full facts";
  EXPECT_EQ(lines[0]["hosts"][0]["name"], "mx.example.test");
  auto stats = nlohmann::json::parse(rig.stats.to_json());
  EXPECT_EQ(stats["cache"]["entries"], 1);
  EXPECT_EQ(stats["cache"]["hits"], 1);
}

TEST(PolicyService, LogCacheHitsKeepsTheFactsForTheHitLines) {
  ServiceRig rig(/*log_cache_hits=*/true);
  ASSERT_TRUE(rig.log);
  Answers answers;
  rig.service->lookup("example.test", answers.callback());
  ASSERT_TRUE(answers.wait_for(1));
  rig.service->lookup("example.test", answers.callback());
  ASSERT_TRUE(answers.wait_for(2));
  ASSERT_NE(answers.got[1].first->facts(), nullptr);
  auto lines = rig.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["cached"], false);
  EXPECT_EQ(lines[1]["cached"], true);
  for (const char* field : {"destination", "mode", "policy", "answer", "reason", "hosts", "outcome", "ttl"}) {
    EXPECT_EQ(lines[1][field], lines[0][field]) << field << ": a hit line says what the evaluation's line said";
  }
}

TEST(PolicyService, ParentKeyNeedsNoEvaluationAndAThrowingEvaluatorGivesTemp) {
  ServiceRig rig(false, [](const std::string& key) -> DestinationFacts {
    throw std::runtime_error("resolver exploded for " + key);
  });
  ASSERT_TRUE(rig.log);
  Answers answers;
  rig.service->lookup(".example.test", answers.callback());
  ASSERT_TRUE(answers.wait_for(1));
  EXPECT_EQ(answers.got[0].first->answer(), "NOTFOUND ");
  EXPECT_EQ(rig.stats.evaluations(), 0u);
  rig.service->lookup("example.test", answers.callback());
  ASSERT_TRUE(answers.wait_for(2));
  const VerdictPtr& v = answers.got[1].first;
  EXPECT_EQ(v->policy(), PolicyKind::TempFail);
  EXPECT_EQ(v->answer(), "TEMP 4.7.5 internal error: resolver exploded for example.test");
  EXPECT_EQ(v->reason(), "internal error: resolver exploded for example.test");
}

TEST(PolicyService, DetailedLookupKeepsTheFactsAndReevaluatesACompactEntry) {
  ServiceRig rig(/*log_cache_hits=*/false);
  ASSERT_TRUE(rig.log);
  Answers answers;
  rig.service->lookup("example.test", answers.callback()); // as Postfix: cached without facts
  ASSERT_TRUE(answers.wait_for(1));
  EXPECT_EQ(answers.got[0].first->facts(), nullptr);
  rig.service->lookup_detailed("Example.Test", answers.callback());
  ASSERT_TRUE(answers.wait_for(2));
  ASSERT_NE(answers.got[1].first->facts(), nullptr) << "a detailed lookup gets the DNS facts";
  EXPECT_FALSE(answers.got[1].second) << "the compact entry was not good enough: evaluated again";
  EXPECT_EQ(answers.got[1].first->facts()->hosts.at(0).name, "mx.example.test");
  EXPECT_EQ(rig.stats.evaluations(), 2u);

  rig.service->lookup_detailed("example.test", answers.callback());
  ASSERT_TRUE(answers.wait_for(3));
  EXPECT_TRUE(answers.got[2].second) << "now the cache holds the detailed verdict";
  EXPECT_NE(answers.got[2].first->facts(), nullptr);
  rig.service->lookup("example.test", answers.callback());
  ASSERT_TRUE(answers.wait_for(4));
  EXPECT_TRUE(answers.got[3].second);
  EXPECT_EQ(answers.got[3].first->answer(), "OK dane-only") << "ordinary lookups get the same answer";
  EXPECT_EQ(rig.stats.evaluations(), 2u);
}

TEST(PolicyService, ForgetMakesTheNextLookupEvaluate) {
  ServiceRig rig(/*log_cache_hits=*/false);
  ASSERT_TRUE(rig.log);
  Answers answers;
  rig.service->lookup("a.test", answers.callback());
  rig.service->lookup("b.test", answers.callback());
  ASSERT_TRUE(answers.wait_for(2));
  EXPECT_EQ(rig.service->forget("A.TEST"), 1u) << "keys are normalised as lookups are";
  EXPECT_EQ(rig.service->forget("a.test"), 0u);
  EXPECT_EQ(nlohmann::json::parse(rig.stats.to_json())["cache"]["entries"], 1) << "the gauge follows a flush";
  rig.service->lookup("a.test", answers.callback());
  ASSERT_TRUE(answers.wait_for(3));
  EXPECT_FALSE(answers.got[2].second);
  EXPECT_EQ(rig.stats.evaluations(), 3u);
  EXPECT_EQ(rig.service->forget_all(), 2u);
  rig.service->lookup("b.test", answers.callback());
  ASSERT_TRUE(answers.wait_for(4));
  EXPECT_FALSE(answers.got[3].second);
  EXPECT_EQ(rig.stats.evaluations(), 4u);
}

TEST(PolicyService, AnEvaluationRacingAFlushAnswersButIsNotCached) {
  // The first evaluation blocks until released, so the flush surely happens while it runs.
  std::mutex mutex;
  std::condition_variable cv;
  bool started = false;
  bool release = false;
  int calls = 0;
  ServiceRig rig(false, [&](const std::string& key) {
    std::unique_lock lock(mutex);
    if (++calls == 1) {
      started = true;
      cv.notify_all();
      cv.wait(lock, [&] { return release; });
    }
    return facts_for(key);
  });
  ASSERT_TRUE(rig.log);
  Answers answers;
  rig.service->lookup("race.test", answers.callback());
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 60s, [&] { return started; }));
  }
  EXPECT_EQ(rig.service->forget_all(), 1u) << "the running evaluation is forgotten";
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(answers.wait_for(1)) << "the lookup that was waiting still gets its answer";
  EXPECT_EQ(answers.got[0].first->answer(), "OK dane-only");
  rig.service->lookup("race.test", answers.callback());
  ASSERT_TRUE(answers.wait_for(2));
  EXPECT_FALSE(answers.got[1].second) << "the result evaluated before the flush was not cached";
  EXPECT_EQ(rig.stats.evaluations(), 2u);
}

// ------------------------------------------------------------------------------------------------------
// The error boundary (error_boundary.hpp): an unexpected exception costs one request, one answer or
// one probe round, is counted, and the service goes on.

std::uint64_t internal_errors_in_json(const Stats& stats) {
  return nlohmann::json::parse(stats.to_json()).at("internal_errors").get<std::uint64_t>();
}

TEST(ErrorBoundary, AnEvaluatorThrowingANonStandardExceptionGivesTempAndIsCounted) {
  ServiceRig rig(false, [](const std::string& key) -> DestinationFacts {
    if (key == "boom.test") {
      throw 42; // not a std::exception: nothing in the evaluation path expects it
    }
    return facts_for(key);
  });
  ASSERT_TRUE(rig.log);
  EXPECT_EQ(internal_errors_in_json(rig.stats), 0u);
  Answers answers;
  rig.service->lookup("boom.test", answers.callback());
  ASSERT_TRUE(answers.wait_for(1));
  EXPECT_EQ(answers.got[0].first->policy(), PolicyKind::TempFail) << "never weaker than TEMP";
  EXPECT_EQ(answers.got[0].first->answer(), "TEMP 4.7.5 internal error: unknown exception");
  EXPECT_EQ(rig.stats.internal_errors(), 1u);
  EXPECT_EQ(internal_errors_in_json(rig.stats), 1u) << "the stats JSON shows the counter";
  rig.service->lookup("fine.test", answers.callback());
  ASSERT_TRUE(answers.wait_for(2));
  EXPECT_EQ(answers.got[1].first->answer(), "OK dane-only") << "the next destination is served as ever";
  EXPECT_EQ(rig.stats.internal_errors(), 1u);
}

TEST(ErrorBoundary, AWaiterThatThrowsCostsTheOtherWaitersNothing) {
  // The evaluation blocks until both lookups joined it, so both wait for the same result.
  std::mutex mutex;
  std::condition_variable cv;
  bool started = false;
  bool release = false;
  ServiceRig rig(false, [&](const std::string& key) {
    std::unique_lock lock(mutex);
    started = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return facts_for(key);
  });
  ASSERT_TRUE(rig.log);
  rig.service->lookup("shared.test", [](const VerdictPtr&, bool) { throw std::logic_error("a broken callback"); });
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 60s, [&] { return started; }));
  }
  Answers answers;
  rig.service->lookup("shared.test", answers.callback());
  EXPECT_EQ(std::as_const(rig.stats).cache_coalesced(), 1u) << "the second lookup joined the running evaluation";
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(answers.wait_for(1)) << "the second waiter is answered although the first one threw";
  EXPECT_EQ(answers.got[0].first->answer(), "OK dane-only");
  rig.service.reset(); // joins the workers: the boundary has surely counted by now
  EXPECT_EQ(rig.stats.internal_errors(), 1u);
}

TEST(ErrorBoundary, AProberThatThrowsLosesOnlyItsOwnRound) {
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<std::string> probed; // the first address's owner of each round
  std::uint64_t errors_seen_by_second_round = 0;
  Stats* stats = nullptr;
  ServiceRig rig(false, facts_for, [&](const std::vector<ProbeRequest>& requests) -> std::vector<ProbeReport> {
    std::lock_guard lock(mutex);
    probed.push_back(requests.at(0).reference_names.back());
    cv.notify_all();
    if (probed.size() == 1) {
      throw 7; // the first round fails in a way nobody expected
    }
    // Rounds run one after the other on one thread: the first one's failure is counted by now.
    errors_seen_by_second_round = stats->internal_errors();
    return {};
  });
  ASSERT_TRUE(rig.log);
  stats = &rig.stats;
  Answers answers;
  rig.service->lookup("one.test", answers.callback());
  ASSERT_TRUE(answers.wait_for(1));
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 60s, [&] { return probed.size() == 1; }));
  }
  rig.service->lookup("two.test", answers.callback());
  ASSERT_TRUE(answers.wait_for(2));
  EXPECT_EQ(answers.got[1].first->answer(), "OK dane-only") << "lookups go on after the failed probe";
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 60s, [&] { return probed.size() == 2; })) << "the next round still runs";
    EXPECT_EQ(probed[0], "mx.one.test");
    EXPECT_EQ(probed[1], "mx.two.test");
  }
  rig.service.reset(); // joins the probe thread
  EXPECT_EQ(errors_seen_by_second_round, 1u);
  EXPECT_EQ(rig.stats.internal_errors(), 1u);
}

} // namespace
} // namespace dane::policyd
