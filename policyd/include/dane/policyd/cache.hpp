// dane/policyd/cache.hpp — TTL-bounded, size-bounded cache that coalesces lookups.
//
// Keyed by the normalised lookup key. An entry lives for the smallest DNS TTL of
// the evaluation clamped to [min_ttl, max_ttl]; a temporary failure (TEMP) only
// `temp_ttl` (0: not cached at all). At most `max_entries` finished entries are
// kept; the least recently used is evicted first (entries being evaluated are
// never evicted). Concurrent lookups of one key while it is being evaluated join
// that evaluation (one DNS evaluation, many waiters). With `refresh` on, a hit on
// an entry that was used at least `refresh_min_hits` times and is in the last
// tenth of its lifetime asks the caller to re-evaluate it in the background; the
// old value keeps being served until it expires.
//
// The cache is pure bookkeeping: it never runs evaluations or calls waiters while
// holding its lock — complete() hands the waiters back to the caller. The clock is
// injected so tests control time. Thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dane::policyd {

struct CacheLimits {
  std::size_t max_entries = 10000; // 0: cache nothing (lookups are still coalesced)
  std::chrono::seconds min_ttl{5};
  std::chrono::seconds max_ttl{3600};
  std::chrono::seconds temp_ttl{5};
  bool refresh = false;
  unsigned refresh_min_hits = 2;
};

template <typename V> class Cache {
public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using Clock = std::function<TimePoint()>;
  using Waiter = std::function<void(const V&)>;

  enum class Kind {
    Hit,      // `value` is fresh; waiter not stored
    Joined,   // an evaluation of this key is running; the waiter will get its result
    Evaluate, // the caller must evaluate and then call complete(); the waiter is stored
  };
  struct LookupResult {
    Kind kind = Kind::Evaluate;
    std::optional<V> value; // for Hit
    bool refresh = false;   // Hit only: caller should re-evaluate in the background, then complete()
  };

  explicit Cache(CacheLimits limits, Clock clock = [] { return std::chrono::steady_clock::now(); })
      : m_limits(limits), m_clock(std::move(clock)) {}

  LookupResult lookup(const std::string& key, Waiter waiter) {
    std::lock_guard lock(m_mutex);
    TimePoint now = m_clock();
    auto it = m_entries.find(key);
    if (it != m_entries.end()) {
      Entry& e = it->second;
      if (e.value && now < e.expires) {
        ++e.hits;
        touch(it);
        LookupResult r{Kind::Hit, e.value, false};
        if (m_limits.refresh && !e.evaluating && e.hits >= m_limits.refresh_min_hits &&
            (e.expires - now) * 10 <= e.lifetime) {
          e.evaluating = true;
          r.refresh = true;
        }
        return r;
      }
      if (e.value) { // expired: forget the value
        e.value.reset();
        unlink(e);
      }
      e.waiters.push_back(std::move(waiter));
      if (e.evaluating) {
        return LookupResult{Kind::Joined, std::nullopt, false};
      }
      e.evaluating = true;
      return LookupResult{Kind::Evaluate, std::nullopt, false};
    }
    Entry& e = m_entries[key];
    e.evaluating = true;
    e.waiters.push_back(std::move(waiter));
    return LookupResult{Kind::Evaluate, std::nullopt, false};
  }

  // Stores the result of an evaluation (ttl: smallest DNS TTL; temporary: a TEMP
  // answer) and returns the waiters to call, outside any lock, with `value`.
  std::vector<Waiter> complete(const std::string& key, const V& value, std::chrono::seconds ttl, bool temporary) {
    std::lock_guard lock(m_mutex);
    auto it = m_entries.find(key);
    if (it == m_entries.end()) {
      it = m_entries.emplace(key, Entry{}).first;
    }
    Entry& e = it->second;
    std::vector<Waiter> waiters = std::move(e.waiters);
    e.waiters.clear();
    e.evaluating = false;
    std::chrono::seconds lifetime =
        temporary ? m_limits.temp_ttl : std::clamp(ttl, m_limits.min_ttl, m_limits.max_ttl);
    if (m_limits.max_entries == 0 || lifetime.count() <= 0) {
      unlink(e);
      m_entries.erase(it);
      return waiters;
    }
    e.value = value;
    e.lifetime = lifetime;
    e.expires = m_clock() + lifetime;
    e.hits = 0;
    touch(it);
    evict();
    return waiters;
  }

  // Finished entries currently held (fresh or not yet purged).
  std::size_t size() const {
    std::lock_guard lock(m_mutex);
    return m_lru.size();
  }
  std::size_t evictions() const {
    std::lock_guard lock(m_mutex);
    return m_evictions;
  }

private:
  struct Entry {
    std::optional<V> value;
    TimePoint expires{};
    std::chrono::seconds lifetime{0};
    bool evaluating = false;
    unsigned hits = 0;
    std::vector<Waiter> waiters;
    bool linked = false;
    typename std::list<std::string>::iterator lru{};
  };
  using Map = std::unordered_map<std::string, Entry>;

  void touch(typename Map::iterator it) {
    Entry& e = it->second;
    if (e.linked) {
      m_lru.splice(m_lru.begin(), m_lru, e.lru);
    } else {
      m_lru.push_front(it->first);
      e.lru = m_lru.begin();
      e.linked = true;
    }
  }
  void unlink(Entry& e) {
    if (e.linked) {
      m_lru.erase(e.lru);
      e.linked = false;
    }
  }
  void evict() {
    auto pos = m_lru.end();
    while (m_lru.size() > m_limits.max_entries && pos != m_lru.begin()) {
      --pos;
      auto it = m_entries.find(*pos);
      if (it->second.evaluating) { // a refresh is running: keep it
        continue;
      }
      pos = m_lru.erase(pos);
      m_entries.erase(it);
      ++m_evictions;
    }
  }

  CacheLimits m_limits;
  Clock m_clock;
  mutable std::mutex m_mutex;
  Map m_entries;
  std::list<std::string> m_lru; // most recently used first
  std::size_t m_evictions = 0;
};

} // namespace dane::policyd
