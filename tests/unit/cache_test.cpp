// Unit tests of the verdict cache (src/daemon/include/dane/daemon/cache.hpp):
// TTL expiry with an injected clock, clamping, TEMP lifetime, LRU eviction,
// coalescing of concurrent lookups, background refresh, flushing one key or all
// (also while an evaluation runs), detailed lookups.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <list>
#include <map>
#include <string>
#include <thread>

#include "dane/daemon/cache.hpp"

namespace dane::policyd {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::steady_clock::time_point;

struct FakeClock {
  TimePoint now{std::chrono::hours(1000)};
  Cache<int>::Clock fn() {
    return [this] { return now; };
  }
};

CacheLimits limits(std::size_t max = 100) {
  CacheLimits l;
  l.max_entries = max;
  l.min_ttl = 5s;
  l.max_ttl = 3600s;
  l.temp_ttl = 2s;
  return l;
}

// Look a key up; when the cache asks us to evaluate, complete it with `value`.
int fetch(Cache<int>& cache, const std::string& key, int value, std::chrono::seconds ttl, bool* evaluated = nullptr,
          bool temporary = false) {
  int got = -1;
  auto r = cache.lookup(key, [&](const int& v) { got = v; });
  if (r.kind == Cache<int>::Kind::Hit) {
    if (evaluated != nullptr) {
      *evaluated = false;
    }
    return *r.value;
  }
  EXPECT_EQ(r.kind, Cache<int>::Kind::Evaluate);
  for (auto& w : cache.complete(key, value, ttl, temporary)) {
    w(value);
  }
  if (evaluated != nullptr) {
    *evaluated = true;
  }
  return got;
}

TEST(Cache, HitUntilTtlThenExpires) {
  FakeClock clock;
  Cache<int> cache(limits(), clock.fn());
  bool evaluated = false;
  EXPECT_EQ(fetch(cache, "example.test", 1, 60s, &evaluated), 1);
  EXPECT_TRUE(evaluated);
  clock.now += 59s;
  EXPECT_EQ(fetch(cache, "example.test", 2, 60s, &evaluated), 1);
  EXPECT_FALSE(evaluated);
  clock.now += 1s; // exactly at expiry: gone
  EXPECT_EQ(fetch(cache, "example.test", 3, 60s, &evaluated), 3);
  EXPECT_TRUE(evaluated);
}

TEST(Cache, TtlIsClampedToMinAndMax) {
  FakeClock clock;
  Cache<int> cache(limits(), clock.fn());
  bool evaluated = false;
  fetch(cache, "zero.test", 1, 0s);
  clock.now += 4s;
  EXPECT_EQ(fetch(cache, "zero.test", 2, 0s, &evaluated), 1) << "min_ttl 5s applies to a 0 TTL";
  EXPECT_FALSE(evaluated);
  clock.now += 1s;
  EXPECT_EQ(fetch(cache, "zero.test", 2, 0s, &evaluated), 2);
  EXPECT_TRUE(evaluated);

  fetch(cache, "long.test", 1, std::chrono::seconds(86400 * 7));
  clock.now += 3599s;
  EXPECT_EQ(fetch(cache, "long.test", 2, 60s, &evaluated), 1);
  clock.now += 1s;
  EXPECT_EQ(fetch(cache, "long.test", 2, 60s, &evaluated), 2) << "max_ttl 3600s caps a week-long TTL";
  EXPECT_TRUE(evaluated);
}

TEST(Cache, TemporaryFailuresAreCachedOnlyBriefly) {
  FakeClock clock;
  Cache<int> cache(limits(), clock.fn());
  bool evaluated = false;
  fetch(cache, "temp.test", 1, 3600s, nullptr, /*temporary=*/true);
  clock.now += 1s;
  EXPECT_EQ(fetch(cache, "temp.test", 2, 3600s, &evaluated), 1);
  EXPECT_FALSE(evaluated);
  clock.now += 1s; // temp_ttl 2s, whatever the DNS TTL said
  EXPECT_EQ(fetch(cache, "temp.test", 2, 3600s, &evaluated), 2);
  EXPECT_TRUE(evaluated);
}

TEST(Cache, ZeroTempTtlNeverCachesTemporaryFailures) {
  FakeClock clock;
  auto l = limits();
  l.temp_ttl = 0s;
  Cache<int> cache(l, clock.fn());
  bool evaluated = false;
  fetch(cache, "temp.test", 1, 60s, nullptr, true);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(fetch(cache, "temp.test", 2, 60s, &evaluated), 2);
  EXPECT_TRUE(evaluated);
}

TEST(Cache, EvictsLeastRecentlyUsedBeyondMaxEntries) {
  FakeClock clock;
  Cache<int> cache(limits(3), clock.fn());
  bool evaluated = false;
  fetch(cache, "a", 1, 60s);
  fetch(cache, "b", 2, 60s);
  fetch(cache, "c", 3, 60s);
  EXPECT_EQ(fetch(cache, "a", 0, 60s, &evaluated), 1); // a is now most recently used
  EXPECT_FALSE(evaluated);
  fetch(cache, "d", 4, 60s); // evicts b, the least recently used
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.evictions(), 1u);
  EXPECT_EQ(fetch(cache, "a", 0, 60s, &evaluated), 1);
  EXPECT_FALSE(evaluated);
  EXPECT_EQ(fetch(cache, "c", 0, 60s, &evaluated), 3);
  EXPECT_FALSE(evaluated);
  EXPECT_EQ(fetch(cache, "d", 0, 60s, &evaluated), 4);
  EXPECT_FALSE(evaluated);
  EXPECT_EQ(fetch(cache, "b", 20, 60s, &evaluated), 20);
  EXPECT_TRUE(evaluated) << "b was evicted";
}

TEST(Cache, ZeroSizeCachesNothingButStillCoalesces) {
  FakeClock clock;
  Cache<int> cache(limits(0), clock.fn());
  std::vector<int> got;
  auto r1 = cache.lookup("k", [&](const int& v) { got.push_back(v); });
  auto r2 = cache.lookup("k", [&](const int& v) { got.push_back(v); });
  EXPECT_EQ(r1.kind, Cache<int>::Kind::Evaluate);
  EXPECT_EQ(r2.kind, Cache<int>::Kind::Joined);
  for (auto& w : cache.complete("k", 7, 60s, false)) {
    w(7);
  }
  EXPECT_EQ(got, (std::vector<int>{7, 7}));
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.lookup("k", [](const int&) {}).kind, Cache<int>::Kind::Evaluate);
}

TEST(Cache, ConcurrentLookupsOfOneKeyShareOneEvaluation) {
  FakeClock clock;
  Cache<int> cache(limits(), clock.fn());
  std::atomic<int> evaluations{0};
  std::atomic<int> answered{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  std::atomic<int> lookups_done{0};
  std::vector<Cache<int>::Kind> kinds(100);
  for (int i = 0; i < 100; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) {
        std::this_thread::yield();
      }
      auto r = cache.lookup("same.test", [&](const int& v) {
        answered.fetch_add(1);
        if (v != 42) {
          wrong.fetch_add(1);
        }
      });
      kinds[static_cast<std::size_t>(i)] = r.kind;
      if (r.kind == Cache<int>::Kind::Evaluate) {
        evaluations.fetch_add(1);
      } else if (r.kind == Cache<int>::Kind::Hit) {
        answered.fetch_add(1);
      }
      lookups_done.fetch_add(1);
    });
  }
  go = true;
  while (lookups_done.load() < 100) {
    std::this_thread::yield();
  }
  // Nobody has completed the evaluation yet: everybody but the first joined it.
  EXPECT_EQ(evaluations.load(), 1);
  EXPECT_EQ(answered.load(), 0);
  for (auto& w : cache.complete("same.test", 42, 60s, false)) {
    w(42);
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(answered.load(), 100);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), Cache<int>::Kind::Joined), 99);
}

TEST(Cache, DifferentKeysAreNotCoalesced) {
  FakeClock clock;
  Cache<int> cache(limits(), clock.fn());
  EXPECT_EQ(cache.lookup("a.test", [](const int&) {}).kind, Cache<int>::Kind::Evaluate);
  EXPECT_EQ(cache.lookup("b.test", [](const int&) {}).kind, Cache<int>::Kind::Evaluate);
  EXPECT_EQ(cache.lookup("a.test", [](const int&) {}).kind, Cache<int>::Kind::Joined);
}

TEST(Cache, RefreshIsRequestedOnceForPopularEntriesNearExpiry) {
  FakeClock clock;
  auto l = limits();
  l.refresh = true;
  l.refresh_min_hits = 2;
  Cache<int> cache(l, clock.fn());
  fetch(cache, "hot.test", 1, 100s);
  auto r = cache.lookup("hot.test", [](const int&) {});
  EXPECT_EQ(r.kind, Cache<int>::Kind::Hit);
  EXPECT_FALSE(r.refresh) << "not near expiry yet";
  clock.now += 91s; // last tenth of the lifetime
  r = cache.lookup("hot.test", [](const int&) {});
  EXPECT_EQ(r.kind, Cache<int>::Kind::Hit);
  EXPECT_TRUE(r.refresh);
  r = cache.lookup("hot.test", [](const int&) {});
  EXPECT_EQ(r.kind, Cache<int>::Kind::Hit);
  EXPECT_FALSE(r.refresh) << "one refresh at a time";
  EXPECT_TRUE(cache.complete("hot.test", 2, 100s, false).empty());
  clock.now += 50s; // the old entry would have expired; the refreshed one is fresh
  r = cache.lookup("hot.test", [](const int&) {});
  EXPECT_EQ(r.kind, Cache<int>::Kind::Hit);
  EXPECT_EQ(*r.value, 2);
}

TEST(Cache, UnpopularEntriesAreNotRefreshed) {
  FakeClock clock;
  auto l = limits();
  l.refresh = true;
  l.refresh_min_hits = 5;
  Cache<int> cache(l, clock.fn());
  fetch(cache, "cold.test", 1, 100s);
  clock.now += 95s;
  auto r = cache.lookup("cold.test", [](const int&) {});
  EXPECT_EQ(r.kind, Cache<int>::Kind::Hit);
  EXPECT_FALSE(r.refresh);
}

TEST(Cache, LookupAfterExpiryDuringRefreshJoinsIt) {
  FakeClock clock;
  auto l = limits();
  l.refresh = true;
  l.refresh_min_hits = 1;
  Cache<int> cache(l, clock.fn());
  fetch(cache, "hot.test", 1, 10s);
  clock.now += 9s;
  ASSERT_TRUE(cache.lookup("hot.test", [](const int&) {}).refresh);
  clock.now += 2s; // expired while the refresh runs
  int got = 0;
  EXPECT_EQ(cache.lookup("hot.test", [&](const int& v) { got = v; }).kind, Cache<int>::Kind::Joined);
  for (auto& w : cache.complete("hot.test", 5, 10s, false)) {
    w(5);
  }
  EXPECT_EQ(got, 5);
}

// The LRU list lives inside the map nodes: check it against a plain model (a list of
// keys, most recently used first) over a long deterministic sequence of hits, misses,
// expiries and evictions.
TEST(Cache, LeastRecentlyUsedOrderMatchesAModelOverManyOperations) {
  FakeClock clock;
  constexpr std::size_t k_max = 16;
  Cache<int> cache(limits(k_max), clock.fn());
  std::list<std::string> model; // finished entries, most recently used first
  std::map<std::string, TimePoint> expires;
  std::uint32_t seed = 12345;
  auto next = [&seed] {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) & 0x7fff;
  };
  std::size_t evictions = 0;
  for (int step = 0; step < 5000; ++step) {
    std::string key = "k" + std::to_string(next() % 40) + ".test";
    clock.now += std::chrono::milliseconds(next() % 200);
    auto ttl = std::chrono::seconds(5 + next() % 20);
    // Expired entries are dropped from the model when next looked up, as the cache does.
    auto in_model = std::find(model.begin(), model.end(), key);
    bool fresh = in_model != model.end() && clock.now < expires[key];
    if (in_model != model.end()) {
      model.erase(in_model);
    }
    bool evaluated = false;
    int value = step;
    int got = fetch(cache, key, value, ttl, &evaluated);
    ASSERT_EQ(evaluated, !fresh) << "step " << step << " key " << key;
    if (evaluated) {
      ASSERT_EQ(got, value);
      expires[key] = clock.now + ttl;
    }
    model.push_front(key);
    while (model.size() > k_max) {
      model.pop_back();
      ++evictions;
    }
    ASSERT_EQ(cache.size(), model.size()) << "step " << step;
  }
  EXPECT_EQ(cache.evictions(), evictions);
  EXPECT_GT(evictions, 100u) << "the sequence exercised eviction";
  // The model's entries are exactly the cache's: each still-fresh one is a hit.
  for (const auto& key : model) {
    if (clock.now < expires[key]) {
      bool evaluated = true;
      fetch(cache, key, -1, 60s, &evaluated);
      EXPECT_FALSE(evaluated) << key;
    }
  }
}

// --- Flush: erase() and clear() ----------------------------------------------------------

TEST(Cache, EraseForgetsOneKeyAndOnlyThatKey) {
  FakeClock clock;
  Cache<int> cache(limits(), clock.fn());
  fetch(cache, "a.test", 1, 60s);
  fetch(cache, "b.test", 2, 60s);
  EXPECT_TRUE(cache.erase("a.test"));
  EXPECT_FALSE(cache.erase("a.test")) << "nothing left to forget";
  EXPECT_FALSE(cache.erase("never.test"));
  EXPECT_EQ(cache.size(), 1u);
  bool evaluated = false;
  EXPECT_EQ(fetch(cache, "a.test", 10, 60s, &evaluated), 10);
  EXPECT_TRUE(evaluated) << "a flushed key is evaluated again";
  EXPECT_EQ(fetch(cache, "b.test", 20, 60s, &evaluated), 2);
  EXPECT_FALSE(evaluated) << "the other key is still cached";
}

TEST(Cache, ClearForgetsEveryKey) {
  FakeClock clock;
  Cache<int> cache(limits(), clock.fn());
  fetch(cache, "a.test", 1, 60s);
  fetch(cache, "b.test", 2, 60s);
  fetch(cache, "c.test", 3, 60s);
  EXPECT_EQ(cache.clear(), 3u);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.clear(), 0u);
  for (const char* key : {"a.test", "b.test", "c.test"}) {
    bool evaluated = false;
    EXPECT_EQ(fetch(cache, key, 7, 60s, &evaluated), 7);
    EXPECT_TRUE(evaluated) << key;
  }
  // The LRU list was rebuilt from nothing: eviction still works after a clear.
  Cache<int> small(limits(2), clock.fn());
  fetch(small, "x", 1, 60s);
  fetch(small, "y", 2, 60s);
  small.clear();
  fetch(small, "x", 1, 60s);
  fetch(small, "y", 2, 60s);
  fetch(small, "z", 3, 60s);
  EXPECT_EQ(small.size(), 2u);
  EXPECT_EQ(small.evictions(), 1u);
}

TEST(Cache, EvaluationRunningDuringAFlushAnswersItsWaitersButIsNotStored) {
  FakeClock clock;
  Cache<int> cache(limits(), clock.fn());
  std::vector<int> got;
  auto before = cache.lookup("k.test", [&](const int& v) { got.push_back(v); });
  ASSERT_EQ(before.kind, Cache<int>::Kind::Evaluate);
  ASSERT_TRUE(cache.erase("k.test")) << "a running evaluation counts as something to forget";

  // A lookup after the flush does not join the old evaluation: it starts a new one.
  auto after = cache.lookup("k.test", [&](const int& v) { got.push_back(100 + v); });
  ASSERT_EQ(after.kind, Cache<int>::Kind::Evaluate);
  EXPECT_NE(after.ticket, before.ticket);

  // The old evaluation finishes: its own waiter gets the answer, nothing is stored.
  auto old_waiters = cache.complete("k.test", before.ticket, 1, 1, 60s, false);
  ASSERT_EQ(old_waiters.size(), 1u);
  old_waiters[0](1);
  EXPECT_EQ(got, std::vector<int>{1});
  EXPECT_EQ(cache.lookup("k.test", [&](const int& v) { got.push_back(200 + v); }).kind, Cache<int>::Kind::Joined)
      << "the stale result was not stored; the new evaluation is still running";

  auto new_waiters = cache.complete("k.test", after.ticket, 2, 2, 60s, false);
  ASSERT_EQ(new_waiters.size(), 2u);
  for (auto& w : new_waiters) {
    w(2);
  }
  EXPECT_EQ(got, (std::vector<int>{1, 102, 202}));
  auto hit = cache.lookup("k.test", [](const int&) {});
  ASSERT_EQ(hit.kind, Cache<int>::Kind::Hit);
  EXPECT_EQ(*hit.value, 2);
  EXPECT_TRUE(cache.complete("k.test", before.ticket, 9, 9, 60s, false).empty()) << "a ticket completes once";
  EXPECT_EQ(*cache.lookup("k.test", [](const int&) {}).value, 2);
}

TEST(Cache, ClearDuringARefreshDoesNotBringTheOldKeyBack) {
  FakeClock clock;
  auto l = limits();
  l.refresh = true;
  l.refresh_min_hits = 1;
  Cache<int> cache(l, clock.fn());
  fetch(cache, "hot.test", 1, 100s);
  clock.now += 95s; // last tenth of the lifetime
  auto r = cache.lookup("hot.test", [](const int&) {});
  ASSERT_EQ(r.kind, Cache<int>::Kind::Hit);
  ASSERT_TRUE(r.refresh);
  EXPECT_EQ(cache.clear(), 1u);
  EXPECT_TRUE(cache.complete("hot.test", r.ticket, 2, 2, 100s, false).empty());
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.lookup("hot.test", [](const int&) {}).kind, Cache<int>::Kind::Evaluate);
}

// --- Detailed lookups ---------------------------------------------------------------------

bool detailed(const int& v) {
  return v >= 100;
}

TEST(Cache, DetailedLookupReevaluatesACompactValueWhileOthersKeepGettingIt) {
  FakeClock clock;
  Cache<int> cache(limits(), clock.fn());
  fetch(cache, "d.test", 1, 60s); // stores the compact value
  int got = -1;
  auto r = cache.lookup_detailed(
      "d.test", [&]() -> Cache<int>::Waiter { return [&](const int& v) { got = v; }; }, detailed);
  ASSERT_EQ(r.kind, Cache<int>::Kind::Evaluate) << "a compact value does not satisfy a detailed lookup";
  auto plain = cache.lookup("d.test", [](const int&) {});
  ASSERT_EQ(plain.kind, Cache<int>::Kind::Hit) << "ordinary lookups keep the old value meanwhile";
  EXPECT_EQ(*plain.value, 1);
  for (auto& w : cache.complete("d.test", r.ticket, 2, 102, 60s, false)) {
    w(102);
  }
  EXPECT_EQ(got, 102);
  auto again = cache.lookup_detailed(
      "d.test", []() -> Cache<int>::Waiter { return [](const int&) {}; }, detailed);
  ASSERT_EQ(again.kind, Cache<int>::Kind::Hit);
  EXPECT_EQ(*again.value, 102) << "the detailed value was stored";
}

TEST(Cache, DetailedLookupJoiningAnOrdinaryEvaluationGetsTheDetailedValueStored) {
  FakeClock clock;
  Cache<int> cache(limits(), clock.fn());
  auto r = cache.lookup("j.test", [](const int&) {});
  ASSERT_EQ(r.kind, Cache<int>::Kind::Evaluate);
  auto joined = cache.lookup_detailed(
      "j.test", []() -> Cache<int>::Waiter { return [](const int&) {}; }, detailed);
  EXPECT_EQ(joined.kind, Cache<int>::Kind::Joined);
  EXPECT_EQ(cache.complete("j.test", r.ticket, 3, 103, 60s, false).size(), 2u);
  EXPECT_EQ(*cache.lookup("j.test", [](const int&) {}).value, 103);

  // Without a detailed lookup, the compact value is what is kept.
  auto plain = cache.lookup("p.test", [](const int&) {});
  cache.complete("p.test", plain.ticket, 4, 104, 60s, false);
  EXPECT_EQ(*cache.lookup("p.test", [](const int&) {}).value, 4);
}

} // namespace
} // namespace dane::policyd
